// ResNet-50 as in torchvision (He et al. 2016, "v1.5": stride on the 3×3 conv of the bottleneck),
// 224×224×3, 1000 classes, random weights. BatchNormalization folded into the convolutions.
import { Builder, sample } from './builder.mjs';

export function resnet50({ size = 224, classes = 1000, layers = [3, 4, 6, 3] } = {}) {
  const b = new Builder('resnet50', { seed: 1050, foldBn: true });
  let x = b.input('input', [1, 3, size, size]);
  x = b.conv(x, 64, 7, { stride: 2, pad: 3, bn: true, act: 'relu', name: 'conv1', bias: false });
  x = b.maxpool(x, 3, { stride: 2, pad: 1, name: 'maxpool' });
  layers.forEach((n, li) => {
    const width = 64 * 2 ** li;
    for (let i = 0; i < n; i++) {
      const stride = i === 0 && li > 0 ? 2 : 1;
      const name = `layer${li + 1}.${i}`;
      let y = b.conv(x, width, 1, { pad: 0, bn: true, act: 'relu', name: `${name}.conv1`, bias: false });
      y = b.conv(y, width, 3, { stride, pad: 1, bn: true, act: 'relu', name: `${name}.conv2`, bias: false });
      // gain 0.25 on the last conv of the branch keeps the residual stream O(1) over 16 blocks
      y = b.conv(y, width * 4, 1, { pad: 0, bn: true, name: `${name}.conv3`, bias: false, gain: 0.25 });
      const shortcut = i === 0 ? b.conv(x, width * 4, 1, { stride, pad: 0, bn: true, name: `${name}.downsample`, bias: false, gain: 1 }) : x;
      x = b.relu(b.add(shortcut, y));
    }
  });
  x = b.flatten(b.globalAvgPool(x));
  x = b.gemm(x, classes, { name: 'fc', gain: 1 });
  return sample('resnet50', b, [x], { names: ['logits'] });
}
