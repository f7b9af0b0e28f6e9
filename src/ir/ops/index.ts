/** Registers every built-in op definition (import for side effects). */
import './elementwise.js';
import './shape.js';
import './reduce.js';
import './nn.js';
import './control.js';
import './sequence.js';
import './strings.js';
import './ml.js';
import './misc.js';
import './sequence-models.js';
