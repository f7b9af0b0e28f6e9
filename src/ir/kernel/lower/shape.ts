/** (shape) lowerings: data-movement and shape ops. */
import './shape-move.js';
import './shape-gen.js';
import './shape-index.js';
import './shape-pad.js';
