// DS-CNN keyword spotting (MLPerf Tiny, see kws-dscnn.mjs) as an int8 deployment: the same layer
// shapes with BatchNormalization folded into QLinearConv layers (ReLU as saturation at zero point
// -128), com.microsoft QLinearGlobalAveragePool over the 25×5 map and the classifier as
// QLinearMatMul + QLinearAdd; int8 input, f32 softmax output.
import { QBuilder } from './qbuilder.mjs';

const CLASSIFIER_GAIN = 16;

export function kwsDscnnInt8({ filters = 64, blocks = 4, classes = 12 } = {}) {
  const b = new QBuilder('kws_dscnn_int8', { seed: 111 });
  let x = b.input('input', [1, 1, 49, 10]);
  x = b.conv(x, filters, [10, 4], { stride: 2, bn: true, relu: true, name: 'conv1' });
  for (let i = 1; i <= blocks; i++) {
    x = b.dwconv(x, 3, { bn: true, relu: true, name: `block${i}.dw` });
    x = b.conv(x, filters, 1, { pad: 0, bn: true, relu: true, name: `block${i}.pw` });
  }
  x = b.flatten(b.globalAvgPool(x, { name: 'avgpool' }));
  x = b.dense(x, classes, { gain: CLASSIFIER_GAIN, name: 'fc' });
  return b.finish('kws-dscnn-int8', [b.softmax(b.dequantize(x, { name: 'logits' }))], ['probs']);
}
