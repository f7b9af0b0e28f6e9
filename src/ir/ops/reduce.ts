/** (reduce) ops — see index.ts. */
export {};
