/** (nn) lowerings: convolution, pooling, resampling, quantization. */
import './nn-conv.js';
import './nn-pool.js';
import './nn-quant.js';
import './nn-quant-contrib.js';
import './nn-resize.js';
import './nn-image.js';
