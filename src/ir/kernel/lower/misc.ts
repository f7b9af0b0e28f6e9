/** (misc) lowerings: attention, recurrent, signal, training and ai.onnx.ml ops (see misc-*.ts). */
import './misc-attention.js';
import './misc-seq.js';
import './misc-rnn.js';
import './misc-signal.js';
import './misc-train.js';
import './misc-ml.js';
