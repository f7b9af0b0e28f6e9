/** (misc) lowerings. */
export {};
