#!/usr/bin/env node
import { main } from '../dist/cli/main.js';
// a reader that stops early (`kiln devices | head`) closes the pipe: that ends the output, not in a stack trace
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}
main(process.argv).then((code) => { process.exitCode = code; });
