// MLPerf Tiny keyword spotting: DS-CNN (Hello Edge, arXiv:1711.07128; mlcommons/tiny
// benchmark/training/keyword_spotting). Input 49×10×1 MFCCs, 12 classes. Real BatchNormalization
// nodes are kept so the op is exercised.
import { Builder, sample } from './builder.mjs';

// Random weights give pooled features of small magnitude; a larger classifier gain keeps the
// logits O(1) so the softmax output is not flat (a sharper check of everything before it).
const CLASSIFIER_GAIN = 16;

export function kwsDscnn({ filters = 64, blocks = 4, classes = 12 } = {}) {
  const b = new Builder('kws_dscnn', { seed: 101 });
  let x = b.input('input', [1, 1, 49, 10]);
  // conv 10×4, stride 2, 'same' padding → 25×5×64, BN, ReLU
  x = b.conv(x, filters, [10, 4], { stride: 2, pad: 'same', bn: true, act: 'relu', name: 'conv1' });
  for (let i = 1; i <= blocks; i++) {
    // depthwise 3×3 + BN + ReLU, pointwise 1×1 + BN + ReLU
    x = b.dwconv(x, 3, { pad: 'same', bn: true, act: 'relu', name: `block${i}.dw` });
    x = b.conv(x, filters, 1, { pad: 0, bn: true, act: 'relu', name: `block${i}.pw` });
  }
  // (dropout is the identity at inference) average pool over the whole 25×5 map
  x = b.avgpool(x, [x.shape[2], x.shape[3]], { name: 'avgpool' });
  x = b.flatten(x);
  x = b.gemm(x, classes, { name: 'fc', gain: CLASSIFIER_GAIN });
  return sample('kws-dscnn', b, [b.softmax(x)], { names: ['probs'] });
}
