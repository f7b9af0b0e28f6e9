/** (sequence) ops — see index.ts. */
export {};
