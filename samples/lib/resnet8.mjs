// MLPerf Tiny image classification: ResNet-8 for CIFAR-10 (mlcommons/tiny
// benchmark/training/image_classification, resnet_v1_eembc): 3×3 conv stem and three residual
// stacks of 16/32/64 filters, 1×1 stride-2 projection shortcuts, average pool, dense 10.
// Real BatchNormalization nodes.
import { Builder, sample } from './builder.mjs';

// Random weights give pooled features of small magnitude; a larger classifier gain keeps the
// logits O(1) so the softmax output is not flat (a sharper check of everything before it).
const CLASSIFIER_GAIN = 49;

export function resnet8({ filters = 16, classes = 10 } = {}) {
  const b = new Builder('resnet8', { seed: 202 });
  let x = b.input('input', [1, 3, 32, 32]);
  x = b.conv(x, filters, 3, { bn: true, act: 'relu', name: 'stem' });
  for (let s = 0; s < 3; s++) {
    const f = filters * 2 ** s;
    const stride = s === 0 ? 1 : 2;
    let y = b.conv(x, f, 3, { stride, bn: true, act: 'relu', name: `stack${s + 1}.conv1` });
    // small BN scale on the last conv of the branch keeps the residual sum O(1)
    y = b.conv(y, f, 3, { name: `stack${s + 1}.conv2` });
    y = b.bn(y, { name: `stack${s + 1}.conv2.bn`, gammaScale: 0.5 });
    const shortcut = s === 0 ? x : b.conv(x, f, 1, { stride: 2, name: `stack${s + 1}.shortcut`, gain: 1 });
    x = b.relu(b.add(shortcut, y));
  }
  x = b.avgpool(x, [x.shape[2], x.shape[3]], { name: 'avgpool' });
  x = b.flatten(x);
  x = b.gemm(x, classes, { name: 'fc', gain: CLASSIFIER_GAIN });
  return sample('resnet8', b, [b.softmax(x)], { names: ['probs'] });
}
