"use strict";
// The local Cosmos DB for NoSQL endpoint: the store and REST handlers of @vercel/cosmosdb-server,
// with our fixes (cosmos-patches.js), behind an auth gate (cosmos-auth.js), plus the dev routes
// (cosmos-devtools.js). Served over HTTPS with keep-alive.

const patches = require("./cosmos-patches");
const { createAuthorizer } = require("./cosmos-auth");
const { createDevtools } = require("./cosmos-devtools");
const { sendCosmosError } = require("./cosmos-http");
const { describeRequest } = require("./cosmos-resource");

// Longer than any pause between SDK calls, so clients reuse their connections instead of finding
// them closed under them (Node's default is 5 s).
const KEEP_ALIVE_TIMEOUT_MS = 120_000;

function answerInternalError(res, err) {
  console.error(`cosmos: request failed: ${err && err.stack ? err.stack : err}`);
  if (!res.headersSent) {
    sendCosmosError(res, 500, "The local Cosmos server failed to process the request.");
  } else {
    res.destroy();
  }
}

// One line on stderr per request refused by RBAC (the first refused decision), which the stack shows
// on its terminal when the principal is the app's (devstack/refusals.py). Names no token.
function reportRefusal(description) {
  const refused = (description.authorizations || []).find(decision => !decision.allowed);
  if (refused) {
    const { action, scope, principalId } = refused;
    process.stderr.write(`${JSON.stringify({ event: "refused", action, scope, principalId })}\n`);
  }
}

// auth: { accountHost, accountId, issuer, issuerKey (KeyObject), masterKey (Buffer | null), rbac }
function createCosmosServer({ cert, key, auth }) {
  patches.install();
  // Required only now: the library's router captures the handlers when it is first loaded.
  const { createHttpsServer } = require("@vercel/cosmosdb-server");
  const server = createHttpsServer({ cert, key, keepAlive: true, minVersion: "TLSv1.2" });
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1_000;

  // The library registers its handler as the only 'request' listener. Take it out and call it from
  // the gate, so no request reaches the store without passing auth.
  const libraryListeners = server.listeners("request");
  if (libraryListeners.length !== 1) {
    throw new Error(`cosmos: expected one request listener from the library, found ${libraryListeners.length}`);
  }
  const [store] = libraryListeners;
  server.removeAllListeners("request");
  const authorize = createAuthorizer(auth);
  const devtools = createDevtools();

  async function gate(req, res) {
    let description;
    try {
      description = describeRequest(req);
    } catch {
      sendCosmosError(res, 400, "The request path is not valid percent-encoding.");
      return;
    }
    if (devtools.owns(description.pathname)) {
      await devtools.handle(req, res, description.pathname);
      return;
    }
    const verdict = authorize(req, description);
    if (verdict.denial) {
      const { status, message, substatus } = verdict.denial;
      devtools.record(description, status === 401 ? "unauthorized" : "forbidden");
      reportRefusal(description);
      sendCosmosError(res, status, message, { substatus });
      return;
    }
    devtools.record(description, verdict.principal.kind);
    const fault = devtools.takeFault(description);
    if (fault) {
      sendCosmosError(res, fault.status, `Injected by the devstack fault rule (status ${fault.status}).`, {
        substatus: fault.substatus ?? undefined,
        headers: { "x-ms-retry-after-ms": devtools.retryAfterMs },
      });
      return;
    }
    store(req, res);
  }

  server.on("secureConnection", () => devtools.recordConnection());
  server.on("request", (req, res) => {
    gate(req, res).catch(err => answerInternalError(res, err));
  });
  return server;
}

module.exports = { createCosmosServer };
