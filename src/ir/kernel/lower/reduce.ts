/**
 * (reduce) lowerings: reductions, arg-reductions, softmax family and scans (reduce-basic), linear
 * algebra (reduce-linalg), normalizations (reduce-norm) and losses (reduce-loss).
 */
import './reduce-basic.js';
