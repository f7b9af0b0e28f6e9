// MobileNetV1 0.25 at 96×96 for visual wake words (MLPerf Tiny, see vww-mobilenet.mjs) as an int8
// deployment: the same layer shapes as QLinearConv layers with BatchNormalization folded (ReLU as
// saturation at zero point -128; TensorFlow 'same' padding), com.microsoft
// QLinearGlobalAveragePool for the 3×3 average pool and the classifier as QLinearMatMul +
// QLinearAdd; int8 input, f32 softmax output.
import { QBuilder } from './qbuilder.mjs';

const BLOCKS = [[64, 1], [128, 2], [128, 1], [256, 2], [256, 1], [512, 2], [512, 1], [512, 1], [512, 1], [512, 1], [512, 1], [1024, 2], [1024, 1]];
const CLASSIFIER_GAIN = 100;

export function vwwMobilenetInt8({ alpha = 0.25, size = 96, classes = 2 } = {}) {
  const b = new QBuilder('vww_mobilenet_v1_025_int8', { seed: 313 });
  let x = b.input('input', [1, 3, size, size]);
  x = b.conv(x, 32 * alpha, 3, { stride: 2, bn: true, relu: true, name: 'conv1' });
  BLOCKS.forEach(([f, s], i) => {
    x = b.dwconv(x, 3, { stride: s, bn: true, relu: true, name: `block${i + 1}.dw` });
    x = b.conv(x, f * alpha, 1, { pad: 0, bn: true, relu: true, name: `block${i + 1}.pw` });
  });
  x = b.flatten(b.globalAvgPool(x, { name: 'avgpool' }));
  x = b.dense(x, classes, { gain: CLASSIFIER_GAIN, name: 'fc' });
  return b.finish('vww-mobilenet-int8', [b.softmax(b.dequantize(x, { name: 'logits' }))], ['probs']);
}
