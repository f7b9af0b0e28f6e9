/** Attention and recurrent sequence-model ops (Attention, RotaryEmbedding, RNN/GRU/LSTM, …). */
import './sequence-models-attention.js';
import './sequence-models-rnn.js';
import './sequence-models-rotary.js';
import './sequence-models-linear.js';
import './sequence-models-flex.js';
