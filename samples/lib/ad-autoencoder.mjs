// MLPerf Tiny anomaly detection: the fully connected autoencoder for ToyADMOS/DCASE 2020 Task 2
// (mlcommons/tiny benchmark/training/anomaly_detection): 640 inputs (5 frames × 128 mel bins),
// four Dense(128)+BN+ReLU, a Dense(8)+BN+ReLU bottleneck, four Dense(128)+BN+ReLU, Dense(640).
// Real BatchNormalization nodes over [N, C].
import { Builder, sample } from './builder.mjs';

export function adAutoencoder({ inputs = 640, hidden = 128, bottleneck = 8 } = {}) {
  const b = new Builder('ad_autoencoder', { seed: 404 });
  let x = b.input('input', [1, inputs]);
  const dims = [hidden, hidden, hidden, hidden, bottleneck, hidden, hidden, hidden, hidden];
  dims.forEach((d, i) => {
    x = b.gemm(x, d, { name: `dense${i + 1}` });
    x = b.relu(b.bn(x, { name: `dense${i + 1}.bn` }));
  });
  x = b.gemm(x, inputs, { name: 'dense10', gain: 1 });
  return sample('ad-autoencoder', b, [x], { names: ['reconstruction'] });
}
