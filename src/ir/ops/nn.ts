/** (nn) ops — see index.ts. */
export {};
