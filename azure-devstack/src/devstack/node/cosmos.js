#!/usr/bin/env node
"use strict";
// The local Cosmos DB for NoSQL data engine: the store and REST handlers of @vercel/cosmosdb-server,
// with our fixes (cosmos-patches.js), over plain HTTP with keep-alive, on loopback only.
//
//   node devstack/node/cosmos.js --host 127.0.0.1 --port P [--ignore-stdin]
//
// It checks no credentials: authentication, RBAC, Azure's limits and errors live in the Python front end
// (devstack/cosmos_gateway), the only client the stack gives it; the stack's host-name proxy sends the
// account's Azure name to that front end, never here.
//
// --port 0 picks a free port. When listening, prints exactly one line to stdout:
//   {"event":"ready","port":P}
// and nothing else there; diagnostics go to stderr. Exits 0 on SIGTERM, SIGINT, or end of stdin: the
// parent keeps a pipe to our stdin open, so when the parent dies, so do we. --ignore-stdin turns that
// off for runs whose stdin is /dev/null.

const { parseArgs } = require("util");
const patches = require("./cosmos-patches");

const EXIT_USAGE = 2;
// Nothing but the front end may reach the engine, so it only listens where nothing else can.
const LOOPBACK_HOST = /^(?:127(?:\.\d{1,3}){3}|::1|localhost)$/;
// Longer than any pause between requests, so the front end reuses its connections instead of finding
// them closed under it (Node's default is 5 s); the front end keeps idle ones for less.
const KEEP_ALIVE_TIMEOUT_MS = 120_000;
// In-flight requests get this long to finish after a stop signal.
const SHUTDOWN_GRACE_MS = 1_000;

class UsageError extends Error {}

function readOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      "ignore-stdin": { type: "boolean", default: false },
    },
    strict: true,
  });
  if (!values.port) {
    throw new UsageError("--port is required");
  }
  if (!LOOPBACK_HOST.test(values.host)) {
    throw new UsageError(`--host must be a loopback address (127.0.0.1, ::1, localhost), got ${values.host}`);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`--port must be an integer from 0 to 65535, got ${values.port}`);
  }
  return { ...values, port };
}

function createEngine() {
  patches.install();
  // Required only now: the library's router captures the handlers when it is first loaded.
  const { createHttpServer } = require("@vercel/cosmosdb-server");
  const server = createHttpServer({ keepAlive: true });
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1_000;
  return server;
}

function stopOnce(server) {
  let stopping = false;
  return () => {
    if (stopping) {
      return;
    }
    stopping = true;
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => {
      server.closeAllConnections();
      process.exit(0);
    }, SHUTDOWN_GRACE_MS).unref();
  };
}

function main() {
  let options;
  try {
    options = readOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`cosmos: ${err.message}`);
    process.exit(EXIT_USAGE);
  }
  const server = createEngine();
  server.on("error", err => {
    console.error(`cosmos: cannot serve on ${options.host}:${options.port}: ${err.message}`);
    process.exit(1);
  });
  server.listen(options.port, options.host, () => {
    process.stdout.write(`${JSON.stringify({ event: "ready", port: server.address().port })}\n`);
  });

  const stop = stopOnce(server);
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  if (!options["ignore-stdin"]) {
    process.stdin.on("end", stop);
    process.stdin.on("error", stop);
    process.stdin.resume();
  }
}

main();
