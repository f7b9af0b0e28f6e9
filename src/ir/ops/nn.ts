/** (nn) ops — see index.ts. Convolution, pooling, resampling and quantization live in nn-*.ts. */
import './nn-conv.js';
import './nn-pool.js';
import './nn-resize.js';
import './nn-quant.js';
import './quant-contrib.js';
import './nn-misc.js';
