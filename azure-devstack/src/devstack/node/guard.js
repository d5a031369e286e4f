"use strict";
// Runs a Node program (Azurite's CLI) so that it exits when the stack process that started it dies.
// The stack keeps a pipe on our stdin and never writes to it; end-of-file therefore means the parent
// is gone, even if it was killed with SIGKILL and could not clean up.
//   node guard.js <script.js> [args...]
const path = require("path");

const [script, ...args] = process.argv.slice(2);
if (!script) {
  console.error("usage: node guard.js <script.js> [args...]");
  process.exit(2);
}

process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => process.exit(0));
}

process.argv = [process.argv[0], path.resolve(script), ...args];
require(path.resolve(script));
