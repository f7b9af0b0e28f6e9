/** (reduce) lowerings. */
export {};
