/** Registers every built-in lowering (import for side effects). */
import './elementwise.js';
import './shape.js';
import './reduce.js';
import './nn.js';
import './misc.js';
