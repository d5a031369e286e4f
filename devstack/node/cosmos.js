#!/usr/bin/env node
"use strict";
// Local Cosmos DB for NoSQL for the dev stack, checking real Entra-style tokens.
//
//   COSMOS_MASTER_KEY=<base64> node devstack/node/cosmos.js --host 127.0.0.1 --port P \
//     --cert server.pem --key server-key.pem --issuer-key issuer-public.pem \
//     --issuer https://sts.windows.net/<tid>/ --account-host localhost \
//     --data-contributors <oid>,<oid> [--ignore-stdin]
//
// --port 0 picks a free port. When listening, prints exactly one line to stdout:
//   {"event":"ready","port":P}
// and nothing else there; diagnostics go to stderr and never contain tokens or keys.
// Exits 0 on SIGTERM, SIGINT, or end of stdin: the parent keeps a pipe to our stdin open, so when
// the parent dies, so do we. --ignore-stdin turns that off for runs whose stdin is /dev/null.
// Without COSMOS_MASTER_KEY, master-key requests are refused as with disableLocalAuth.
// --host must be a loopback address: the /_devstack routes (cosmos-devtools.js) have no auth.

const crypto = require("crypto");
const fs = require("fs");
const { parseArgs } = require("util");
const { createCosmosServer } = require("./cosmos-server");

const EXIT_USAGE = 2;
// The /_devstack routes have no auth, so the server only listens where nothing else can reach it.
const LOOPBACK_HOST = /^(?:127(?:\.\d{1,3}){3}|::1|localhost)$/;
// In-flight requests get this long to finish after a stop signal.
const SHUTDOWN_GRACE_MS = 1_000;

class UsageError extends Error {}

function readOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      "issuer-key": { type: "string" },
      issuer: { type: "string" },
      "account-host": { type: "string", default: "localhost" },
      "data-contributors": { type: "string", default: "" },
      "ignore-stdin": { type: "boolean", default: false },
    },
    strict: true,
  });
  for (const name of ["port", "cert", "key", "issuer-key", "issuer"]) {
    if (!values[name]) {
      throw new UsageError(`--${name} is required`);
    }
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

function readFile(path, option) {
  try {
    return fs.readFileSync(path);
  } catch (err) {
    throw new UsageError(`${option}: cannot read ${path}: ${err.code || err.message}`);
  }
}

function loadIssuerKey(path) {
  let key;
  try {
    key = crypto.createPublicKey(readFile(path, "--issuer-key"));
  } catch (err) {
    throw err instanceof UsageError ? err : new UsageError(`--issuer-key: not a PEM public key: ${path}`);
  }
  if (key.asymmetricKeyType !== "rsa") {
    throw new UsageError("--issuer-key: the issuer signs with RS256, so the key must be RSA");
  }
  return key;
}

// Strict base64, because Buffer.from silently skips characters that are not.
function loadMasterKey(text) {
  if (text === undefined || text === "") {
    return null;
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new UsageError("COSMOS_MASTER_KEY must be base64");
  }
  return Buffer.from(text, "base64");
}

function serverConfig(options, env) {
  return {
    cert: readFile(options.cert, "--cert"),
    key: readFile(options.key, "--key"),
    auth: {
      accountHost: options["account-host"],
      issuer: options.issuer,
      issuerKey: loadIssuerKey(options["issuer-key"]),
      masterKey: loadMasterKey(env.COSMOS_MASTER_KEY),
      dataContributors: options["data-contributors"].split(",").map(oid => oid.trim()).filter(Boolean),
    },
  };
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
  let config;
  try {
    options = readOptions(process.argv.slice(2));
    config = serverConfig(options, process.env);
  } catch (err) {
    console.error(`cosmos: ${err.message}`);
    process.exit(EXIT_USAGE);
  }
  const server = createCosmosServer(config);
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
