// ResNet-8 (MLPerf Tiny image classification, see resnet8.mjs) as an int8 deployment: the same
// layer shapes with BatchNormalization folded, QLinearConv layers, residual sums as com.microsoft
// QLinearAdd (ReLU as saturation at zero point -128), QLinearGlobalAveragePool for the 8×8 average
// pool and the classifier as QLinearMatMul + QLinearAdd; int8 input, f32 softmax output.
import { QBuilder } from './qbuilder.mjs';

const CLASSIFIER_GAIN = 49;

export function resnet8Int8({ filters = 16, classes = 10 } = {}) {
  const b = new QBuilder('resnet8_int8', { seed: 212 });
  let x = b.input('input', [1, 3, 32, 32]);
  x = b.conv(x, filters, 3, { bn: true, relu: true, name: 'stem' });
  for (let s = 0; s < 3; s++) {
    const f = filters * 2 ** s;
    const stride = s === 0 ? 1 : 2;
    let y = b.conv(x, f, 3, { stride, bn: true, relu: true, name: `stack${s + 1}.conv1` });
    y = b.conv(y, f, 3, { bn: true, bnGamma: 0.5, name: `stack${s + 1}.conv2` });
    const shortcut = s === 0 ? x : b.conv(x, f, 1, { stride: 2, gain: 1, name: `stack${s + 1}.shortcut` });
    x = b.add(shortcut, y, { relu: true, name: `stack${s + 1}.add` });
  }
  x = b.flatten(b.globalAvgPool(x, { name: 'avgpool' }));
  x = b.dense(x, classes, { gain: CLASSIFIER_GAIN, name: 'fc' });
  return b.finish('resnet8-int8', [b.softmax(b.dequantize(x, { name: 'logits' }))], ['probs']);
}
