// The anomaly-detection autoencoder (MLPerf Tiny, see ad-autoencoder.mjs) as an int8 deployment:
// the same ten dense layers with BatchNormalization folded, each as QLinearMatMul + com.microsoft
// QLinearAdd of the bias (ReLU as saturation at zero point -128); int8 input, the reconstruction
// dequantized to f32.
import { QBuilder } from './qbuilder.mjs';

export function adAutoencoderInt8({ inputs = 640, hidden = 128, bottleneck = 8 } = {}) {
  const b = new QBuilder('ad_autoencoder_int8', { seed: 414 });
  let x = b.input('input', [1, inputs]);
  const dims = [hidden, hidden, hidden, hidden, bottleneck, hidden, hidden, hidden, hidden];
  dims.forEach((d, i) => {
    x = b.dense(x, d, { bn: true, relu: true, name: `dense${i + 1}` });
  });
  x = b.dense(x, inputs, { gain: 1, name: 'dense10' });
  return b.finish('ad-autoencoder-int8', [b.dequantize(x, { name: 'output' })], ['reconstruction']);
}
