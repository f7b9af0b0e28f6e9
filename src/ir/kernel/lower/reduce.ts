/**
 * (reduce) lowerings: reductions, arg-reductions, softmax family and scans (reduce-basic), linear
 * algebra (reduce-linalg), normalizations (reduce-norm) and losses (reduce-loss).
 */
import './reduce-basic.js';
import './reduce-linalg.js';
import './reduce-norm.js';
import './reduce-loss.js';
