/** (shape) lowerings. */
export {};
