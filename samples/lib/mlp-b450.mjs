// A batched MLP: 450 rows of 784 features through three dense layers (784 → 1024 → 1024 → 10,
// ReLU between), as Gemm nodes with transB = 1 (PyTorch's export). Each layer is one GEMM with a
// large M, the shape a serving batch gives (issue 12: "batched GEMM/MLP").
import { Builder, sample } from './builder.mjs';

export function mlpB450({ batch = 450, features = 784, hidden = [1024, 1024], classes = 10 } = {}) {
  const b = new Builder('mlp_b450', { seed: 450 });
  let x = b.input('input', [batch, features]);
  hidden.forEach((h, i) => {
    x = b.relu(b.gemm(x, h, { name: `fc${i + 1}` }));
  });
  x = b.gemm(x, classes, { name: `fc${hidden.length + 1}`, gain: 1 });
  return sample('mlp-b450', b, [x], { names: ['logits'] });
}
