// Inception-v1 / GoogLeNet as in the paper (Szegedy et al. 2015, Table 1) and the ONNX model zoo
// BVLC GoogLeNet: conv+bias+ReLU (no BatchNorm), LRN after the stem, 5×5 branch convolutions,
// ceil-mode max pools, 224×224×3, 1000 classes, random weights. Auxiliary heads are omitted
// (inference only).
import { Builder, sample } from './builder.mjs';

// name, [#1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj]
const INCEPTION = {
  '3a': [64, 96, 128, 16, 32, 32],
  '3b': [128, 128, 192, 32, 96, 64],
  '4a': [192, 96, 208, 16, 48, 64],
  '4b': [160, 112, 224, 24, 64, 64],
  '4c': [128, 128, 256, 24, 64, 64],
  '4d': [112, 144, 288, 32, 64, 64],
  '4e': [256, 160, 320, 32, 128, 128],
  '5a': [256, 160, 320, 32, 128, 128],
  '5b': [384, 192, 384, 48, 128, 128],
};

export function inceptionV1({ size = 224, classes = 1000 } = {}) {
  const b = new Builder('inception_v1', { seed: 1001 });
  const cr = (x, c, k, name, opts = {}) => b.conv(x, c, k, { pad: Math.floor(k / 2), act: 'relu', name, ...opts });
  const module = (x, name) => {
    const [c1, r3, c3, r5, c5, pp] = INCEPTION[name];
    const p = `inception_${name}`;
    const b1 = cr(x, c1, 1, `${p}.1x1`);
    const b2 = cr(cr(x, r3, 1, `${p}.3x3_reduce`), c3, 3, `${p}.3x3`);
    const b3 = cr(cr(x, r5, 1, `${p}.5x5_reduce`), c5, 5, `${p}.5x5`);
    const b4 = cr(b.maxpool(x, 3, { stride: 1, pad: 1, name: `${p}.pool` }), pp, 1, `${p}.pool_proj`);
    return b.concat([b1, b2, b3, b4]);
  };
  let x = b.input('input', [1, 3, size, size]);
  x = cr(x, 64, 7, 'conv1.7x7_s2', { stride: 2 });
  x = b.lrn(b.maxpool(x, 3, { stride: 2, ceil: true, name: 'pool1' }));
  x = cr(x, 64, 1, 'conv2.3x3_reduce');
  x = b.lrn(cr(x, 192, 3, 'conv2.3x3'));
  x = b.maxpool(x, 3, { stride: 2, ceil: true, name: 'pool2' });
  x = module(module(x, '3a'), '3b');
  x = b.maxpool(x, 3, { stride: 2, ceil: true, name: 'pool3' });
  for (const m of ['4a', '4b', '4c', '4d', '4e']) x = module(x, m);
  x = b.maxpool(x, 3, { stride: 2, ceil: true, name: 'pool4' });
  x = module(module(x, '5a'), '5b');
  x = b.flatten(b.globalAvgPool(x));
  x = b.gemm(x, classes, { name: 'loss3.classifier', gain: 1 });
  return sample('inception-v1', b, [x], { names: ['logits'] });
}
