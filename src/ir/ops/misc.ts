/** (misc) ops — see index.ts. */
export {};
