/** (ml) ops — see index.ts. */
export {};
