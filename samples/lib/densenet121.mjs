// DenseNet-121 as in torchvision (Huang et al. 2017): growth rate 32, bottleneck width 4×32,
// dense blocks of 6/12/24/16 layers with BN-ReLU-Conv ordering, compression 0.5 transitions,
// 224×224×3, 1000 classes, random weights. The pre-activation BatchNormalization layers cannot be
// folded into a preceding conv, so they stay as real BatchNormalization nodes.
import { Builder, sample } from './builder.mjs';

export function densenet121({ size = 224, classes = 1000, blocks = [6, 12, 24, 16], growth = 32, bnSize = 4 } = {}) {
  const b = new Builder('densenet121', { seed: 1121 });
  let x = b.input('input', [1, 3, size, size]);
  x = b.conv(x, 2 * growth, 7, { stride: 2, pad: 3, bias: false, bn: true, act: 'relu', name: 'features.conv0' });
  x = b.maxpool(x, 3, { stride: 2, pad: 1, name: 'features.pool0' });
  blocks.forEach((n, bi) => {
    const feats = [x];
    for (let i = 0; i < n; i++) {
      const name = `features.denseblock${bi + 1}.layer${i + 1}`;
      const inp = feats.length === 1 ? feats[0] : b.concat(feats);
      let y = b.relu(b.bn(inp, { name: `${name}.norm1` }));
      y = b.conv(y, bnSize * growth, 1, { pad: 0, bias: false, name: `${name}.conv1` });
      y = b.relu(b.bn(y, { name: `${name}.norm2` }));
      y = b.conv(y, growth, 3, { pad: 1, bias: false, name: `${name}.conv2` });
      feats.push(y);
    }
    x = b.concat(feats);
    if (bi < blocks.length - 1) {
      const name = `features.transition${bi + 1}`;
      x = b.relu(b.bn(x, { name: `${name}.norm` }));
      x = b.conv(x, x.shape[1] / 2, 1, { pad: 0, bias: false, name: `${name}.conv` });
      x = b.avgpool(x, 2, { stride: 2, name: `${name}.pool` });
    }
  });
  x = b.relu(b.bn(x, { name: 'features.norm5' }));
  x = b.flatten(b.globalAvgPool(x));
  x = b.gemm(x, classes, { name: 'classifier', gain: 1 });
  return sample('densenet121', b, [x], { names: ['logits'] });
}
