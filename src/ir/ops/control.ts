/** (control) ops — see index.ts. */
export {};
