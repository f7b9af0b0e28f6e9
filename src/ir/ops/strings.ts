/** (strings) ops — see index.ts. */
export {};
