// The sample registry: committed samples (small) and the on-demand large CNNs.
import { mlp } from './mlp.mjs';
import { kwsDscnn } from './kws-dscnn.mjs';
import { resnet8 } from './resnet8.mjs';
import { vwwMobilenet } from './vww-mobilenet.mjs';
import { adAutoencoder } from './ad-autoencoder.mjs';
import { transformerBlock } from './transformer-block.mjs';
import { kwsDscnnInt8 } from './kws-dscnn-int8.mjs';
import { resnet8Int8 } from './resnet8-int8.mjs';
import { vwwMobilenetInt8 } from './vww-mobilenet-int8.mjs';
import { adAutoencoderInt8 } from './ad-autoencoder-int8.mjs';
import { qdqTwin } from './qdq.mjs';
import { resnet50 } from './resnet50.mjs';
import { densenet121 } from './densenet121.mjs';
import { inceptionV1 } from './inception-v1.mjs';
import { mobilenetV2 } from './mobilenet-v2.mjs';
import { mlpB450 } from './mlp-b450.mjs';

/** Committed samples: name → builder (each returns { name, module, inputs, parameters }). */
export const SAMPLES = {
  mlp,
  'kws-dscnn': kwsDscnn,
  resnet8,
  'vww-mobilenet': vwwMobilenet,
  'ad-autoencoder': adAutoencoder,
  'transformer-block': transformerBlock,
  // int8 deployments of the MLPerf Tiny models (quantized-operator ONNX, see qbuilder.mjs)
  'kws-dscnn-int8': kwsDscnnInt8,
  'resnet8-int8': resnet8Int8,
  'vww-mobilenet-int8': vwwMobilenetInt8,
  'ad-autoencoder-int8': adAutoencoderInt8,
  // the same int8 models in QDQ form (DequantizeLinear → float op → QuantizeLinear, see qdq.mjs)
  'kws-dscnn-qdq': () => qdqTwin(kwsDscnnInt8(), 'kws-dscnn-qdq'),
  'resnet8-qdq': () => qdqTwin(resnet8Int8(), 'resnet8-qdq'),
  'vww-mobilenet-qdq': () => qdqTwin(vwwMobilenetInt8(), 'vww-mobilenet-qdq'),
  'ad-autoencoder-qdq': () => qdqTwin(adAutoencoderInt8(), 'ad-autoencoder-qdq'),
};

/** Real-size models built on demand with --large (not committed): 224×224 CNNs, a batched MLP. */
export const LARGE = {
  resnet50,
  densenet121,
  'inception-v1': inceptionV1,
  'mobilenet-v2': mobilenetV2,
  'mlp-b450': mlpB450,
};

export { Builder, lcg } from './builder.mjs';
export { QBuilder } from './qbuilder.mjs';
