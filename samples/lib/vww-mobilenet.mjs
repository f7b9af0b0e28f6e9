// MLPerf Tiny visual wake words: MobileNetV1 with width multiplier 0.25 at 96×96×3, 2 classes
// (mlcommons/tiny benchmark/training/visual_wake_words; Howard et al. arXiv:1704.04861).
// BatchNormalization is folded into the convolutions (Conv with bias), as deployed models are.
import { Builder, sample } from './builder.mjs';

// [pointwise filters at width 1.0, depthwise stride] of the 13 depthwise-separable blocks
const BLOCKS = [[64, 1], [128, 2], [128, 1], [256, 2], [256, 1], [512, 2], [512, 1], [512, 1], [512, 1], [512, 1], [512, 1], [1024, 2], [1024, 1]];

// Random weights give pooled features of small magnitude; a larger classifier gain keeps the
// logits O(1) so the softmax output is not flat (a sharper check of everything before it).
const CLASSIFIER_GAIN = 100;

export function vwwMobilenet({ alpha = 0.25, size = 96, classes = 2 } = {}) {
  const b = new Builder('vww_mobilenet_v1_025', { seed: 303, foldBn: true });
  let x = b.input('input', [1, 3, size, size]);
  x = b.conv(x, 32 * alpha, 3, { stride: 2, bn: true, act: 'relu', name: 'conv1' });
  BLOCKS.forEach(([f, s], i) => {
    x = b.dwconv(x, 3, { stride: s, bn: true, act: 'relu', name: `block${i + 1}.dw` });
    x = b.conv(x, f * alpha, 1, { pad: 0, bn: true, act: 'relu', name: `block${i + 1}.pw` });
  });
  x = b.avgpool(x, [x.shape[2], x.shape[3]], { name: 'avgpool' });
  x = b.flatten(x);
  x = b.gemm(x, classes, { name: 'fc', gain: CLASSIFIER_GAIN });
  return sample('vww-mobilenet', b, [b.softmax(x)], { names: ['probs'] });
}
