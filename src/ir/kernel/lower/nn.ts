/** (nn) lowerings. */
export {};
