/** Registers the built-in targets (each backend's own definition) through the target API. */
import './interp/target.js';
import './kernel/target.js';
import './c/target.js';
import './mcu/target.js';
import './pim/target.js';
import './wgsl/target.js';
import './hls/target.js';

export * from './target.js';
