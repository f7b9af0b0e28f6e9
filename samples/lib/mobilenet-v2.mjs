// MobileNetV2 1.0 at 224×224×3, 1000 classes (Sandler et al. 2018, arXiv:1801.04381, table 2):
// inverted residual blocks (1×1 expand, 3×3 depthwise, 1×1 linear project, residual add where the
// stride is 1 and the width is kept), ReLU6 as Clip(0, 6). BatchNormalization folded into the
// convolutions, random weights (about 3.5 M parameters).
import { Builder, sample } from './builder.mjs';

// [expansion t, output channels c, repeats n, first stride s] of the seven bottleneck stages
const STAGES = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]];

export function mobilenetV2({ size = 224, classes = 1000 } = {}) {
  const b = new Builder('mobilenet_v2', { seed: 2018, foldBn: true });
  let x = b.input('input', [1, 3, size, size]);
  x = b.relu6(b.conv(x, 32, 3, { stride: 2, pad: 1, bn: true, name: 'features.0' }));
  let block = 1;
  for (const [t, c, n, s] of STAGES) {
    for (let i = 0; i < n; i++, block++) {
      const stride = i === 0 ? s : 1;
      const name = `features.${block}`;
      const inC = x.shape[1];
      let y = x;
      if (t !== 1) y = b.relu6(b.conv(y, inC * t, 1, { pad: 0, bn: true, name: `${name}.expand` }));
      y = b.relu6(b.dwconv(y, 3, { stride, pad: 1, bn: true, name: `${name}.dw` }));
      // the linear bottleneck: gain 0.5 keeps the residual stream O(1) over the repeats
      y = b.conv(y, c, 1, { pad: 0, bn: true, name: `${name}.project`, gain: stride === 1 && inC === c ? 0.5 : 1 });
      x = stride === 1 && inC === c ? b.add(x, y) : y;
    }
  }
  x = b.relu6(b.conv(x, 1280, 1, { pad: 0, bn: true, name: `features.${block}` }));
  x = b.flatten(b.globalAvgPool(x));
  x = b.gemm(x, classes, { name: 'classifier', gain: 1 });
  return sample('mobilenet-v2', b, [x], { names: ['logits'] });
}
