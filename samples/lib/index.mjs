// The sample registry: committed samples (small) and the on-demand large CNNs.
import { mlp } from './mlp.mjs';
import { kwsDscnn } from './kws-dscnn.mjs';
import { resnet8 } from './resnet8.mjs';
import { vwwMobilenet } from './vww-mobilenet.mjs';
import { adAutoencoder } from './ad-autoencoder.mjs';
import { transformerBlock } from './transformer-block.mjs';
import { resnet50 } from './resnet50.mjs';
import { densenet121 } from './densenet121.mjs';
import { inceptionV1 } from './inception-v1.mjs';

/** Committed samples: name → builder (each returns { name, module, inputs, parameters }). */
export const SAMPLES = {
  mlp,
  'kws-dscnn': kwsDscnn,
  resnet8,
  'vww-mobilenet': vwwMobilenet,
  'ad-autoencoder': adAutoencoder,
  'transformer-block': transformerBlock,
};

/** Real-size CNNs built on demand with --large (not committed). */
export const LARGE = {
  resnet50,
  densenet121,
  'inception-v1': inceptionV1,
};

export { Builder, lcg } from './builder.mjs';
