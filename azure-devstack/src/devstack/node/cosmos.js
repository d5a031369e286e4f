#!/usr/bin/env node
"use strict";
// Local Cosmos DB for NoSQL for the dev stack, checking real Entra-style tokens.
//
//   COSMOS_MASTER_KEY=<base64> node devstack/node/cosmos.js --host 127.0.0.1 --port P \
//     --cert server.pem --key server-key.pem --issuer-key issuer-public.pem \
//     --issuer https://sts.windows.net/<tid>/ --account-host localhost \
//     --account-id /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.DocumentDB/databaseAccounts/<name> \
//     --access-file access.json [--ignore-stdin]
//
// --port 0 picks a free port. When listening, prints exactly one line to stdout:
//   {"event":"ready","port":P}
// and nothing else there; diagnostics go to stderr and never contain tokens or keys.
// Exits 0 on SIGTERM, SIGINT, or end of stdin: the parent keeps a pipe to our stdin open, so when
// the parent dies, so do we. --ignore-stdin turns that off for runs whose stdin is /dev/null.
// Without COSMOS_MASTER_KEY, master-key requests are refused as with disableLocalAuth.
// --access-file: the role assignments, as infra_model.authorization.Authorizer.to_json() writes them;
// tokens get exactly the data actions that assignments within --account-id grant (cosmos-rbac.js).
// --host must be a loopback address: the /_devstack routes (cosmos-devtools.js) have no auth.

const crypto = require("crypto");
const fs = require("fs");
const { parseArgs } = require("util");
const { bufferBatchBodies } = require("./cosmos-auth");
const { AccessFileError, createRbac } = require("./cosmos-rbac");
const { createCosmosServer } = require("./cosmos-server");

const EXIT_USAGE = 2;
// The /_devstack routes have no auth, so the server only listens where nothing else can reach it.
const LOOPBACK_HOST = /^(?:127(?:\.\d{1,3}){3}|::1|localhost)$/;
// An ARM resource id of a Cosmos DB account; data-plane scopes are this id and paths below it.
const ACCOUNT_RESOURCE_ID = /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.DocumentDB\/databaseAccounts\/[^/]+$/i;
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
      "account-id": { type: "string" },
      "access-file": { type: "string" },
      "ignore-stdin": { type: "boolean", default: false },
    },
    strict: true,
  });
  for (const name of ["port", "cert", "key", "issuer-key", "issuer", "account-id", "access-file"]) {
    if (!values[name]) {
      throw new UsageError(`--${name} is required`);
    }
  }
  if (!LOOPBACK_HOST.test(values.host)) {
    throw new UsageError(`--host must be a loopback address (127.0.0.1, ::1, localhost), got ${values.host}`);
  }
  if (!ACCOUNT_RESOURCE_ID.test(values["account-id"])) {
    throw new UsageError("--account-id must be an account's resource id, /subscriptions/<sub>/resourceGroups/<rg>/" +
      `providers/Microsoft.DocumentDB/databaseAccounts/<name>; got ${values["account-id"]}`);
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

function loadRbac(path, accountId) {
  try {
    return createRbac(JSON.parse(readFile(path, "--access-file").toString("utf8")), { accountId });
  } catch (err) {
    if (err instanceof SyntaxError || err instanceof AccessFileError) {
      throw new UsageError(`--access-file: ${path}: ${err.message}`);
    }
    throw err;
  }
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
      accountId: options["account-id"],
      rbac: loadRbac(options["access-file"], options["account-id"]),
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
  // Azure Cosmos DB for NoSQL documents notDataActions as unsupported; applied here as Azure RBAC
  // applies it, but a role that relies on it may not behave the same in Azure.
  for (const role of config.auth.rbac.rolesUsingNotDataActions) {
    console.error(`cosmos: warning: role ${role} uses notDataActions, which Cosmos DB's own RBAC does not support`);
  }
  const server = createCosmosServer(config);
  bufferBatchBodies(server);
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
