"use strict";
// Authentication and authorization as a Cosmos DB account with `disableLocalAuth` does them, except
// that the stack's own master key still works (Bicep creates the database and container with the
// resource provider in Azure; locally that key plays the resource provider's part). Tokens are
// authorized with Cosmos DB's data-plane RBAC over the assignments infra/ makes (cosmos-rbac.js).
//
// Messages and sub-status codes follow what the real service answers (seen in SDK issue threads):
//   401 "Request blocked by Auth <account> : Provided AAD token has been expired since [...] ..."
//   403/5300 "... The given request [POST /dbs] cannot be authorized by AAD token in data plane."
//   403/5301 "... principal [<oid>] does not have required RBAC permissions to perform action [...]
//            on resource [dbs/<db>]. Learn more: https://aka.ms/cosmos-native-rbac." (resource: the
//            request's resource link, "/" for the account; azure-cosmos-dotnet-v3#2891, #3638)
//   401 "The input authorization token can't serve the request. The wrong key is being used ..."
// Token text never appears in a message or a log line.

const crypto = require("crypto");
const { PassThrough } = require("stream");
const { BodyTooLarge, readBody, sendCosmosError } = require("./cosmos-http");
const { describeRequest } = require("./cosmos-resource");

const CLOCK_SKEW_SECONDS = 300;
// Cosmos accepts a master-key signature for 15 minutes around its x-ms-date.
const MASTER_DATE_WINDOW_SECONDS = 15 * 60;
const RBAC_HELP = "Learn more: https://aka.ms/cosmos-native-rbac.";
const SUBSTATUS_AAD_CONTROL_PLANE = 5300;
const SUBSTATUS_RBAC_DENIED = 5301;
// Real accounts also accept this audience; the SDKs fall back to it (scope
// https://cosmos.azure.com/.default) when the account-specific one is refused.
const GLOBAL_COSMOS_AUDIENCE = "https://cosmos.azure.com";
// Data actions as "Azure Cosmos DB for NoSQL data plane actions reference" lists them
// (learn.microsoft.com/azure/cosmos-db/nosql/security/reference-data-plane-actions).
const ACCOUNT_ACTIONS = "Microsoft.DocumentDB/databaseAccounts";
const CONTAINER_ACTIONS = `${ACCOUNT_ACTIONS}/sqlDatabases/containers`;
const READ_METADATA = `${ACCOUNT_ACTIONS}/readMetadata`;
const EXECUTE_QUERY = `${CONTAINER_ACTIONS}/executeQuery`;
const READ_CHANGE_FEED = `${CONTAINER_ACTIONS}/readChangeFeed`;
const EXECUTE_STORED_PROCEDURE = `${CONTAINER_ACTIONS}/executeStoredProcedure`;
const MANAGE_CONFLICTS = `${CONTAINER_ACTIONS}/manageConflicts`;
const itemAction = verb => `${CONTAINER_ACTIONS}/items/${verb}`;
// Patch has no action of its own in that list; it changes an existing item and never creates one,
// as a replace does, so it needs items/replace (not confirmed against the service).
const PATCH_ACTION = itemAction("replace");
// A request on a container's items (`docs`), by operation.
const ITEM_REQUEST_ACTIONS = {
  create: itemAction("create"),
  upsert: itemAction("upsert"),
  replace: itemAction("replace"),
  delete: itemAction("delete"),
  patch: PATCH_ACTION,
  query: EXECUTE_QUERY,
};
// operationType of each operation in a transactional batch body (REST "Transactional batch").
const BATCH_OPERATION_ACTIONS = {
  Create: itemAction("create"),
  Upsert: itemAction("upsert"),
  Replace: itemAction("replace"),
  Read: itemAction("read"),
  Delete: itemAction("delete"),
  Patch: PATCH_ACTION,
};
// "Azure Cosmos DB service quotas": the largest request is 2 MB, a batch included.
const MAX_REQUEST_BYTES = 2 * 1024 * 1024;
const BATCH_BODY = Symbol("cosmos-auth: batch body");

function normaliseAudience(audience) {
  return audience.replace(/\/+$/, "").toLowerCase();
}

function acceptedAudiences(accountHost) {
  const audiences = ["https://localhost", `https://${accountHost}`, GLOBAL_COSMOS_AUDIENCE];
  return [...new Set(audiences.map(normaliseAudience))];
}

// The header is URL-encoded as a whole: type=aad&ver=1.0&sig=<jwt> or type=master&ver=1.0&sig=<b64>.
// decodeURIComponent (not form decoding) keeps '+' in base64 signatures intact.
function parseAuthorization(value) {
  let decoded;
  try {
    decoded = decodeURIComponent(value);
  } catch {
    return null;
  }
  const fields = {};
  for (const part of decoded.split("&")) {
    const separator = part.indexOf("=");
    if (separator <= 0) {
      return null;
    }
    fields[part.slice(0, separator).toLowerCase()] = part.slice(separator + 1);
  }
  if (!fields.type || !fields.sig) {
    return null;
  }
  return { type: fields.type.toLowerCase(), signature: fields.sig };
}

function isoTime(epochSeconds) {
  return new Date(epochSeconds * 1000).toISOString();
}

function decodeJwtPart(part) {
  const value = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TypeError("not a JSON object");
  }
  return value;
}

function signatureIsValid(parts, issuerKey) {
  try {
    const signed = Buffer.from(`${parts[0]}.${parts[1]}`, "ascii");
    return crypto.verify("sha256", signed, issuerKey, Buffer.from(parts[2], "base64url"));
  } catch {
    return false;
  }
}

function lifetimeProblem(claims, now) {
  if (typeof claims.exp !== "number") {
    return "The AAD token has no expiry time (exp).";
  }
  if (now > claims.exp + CLOCK_SKEW_SECONDS) {
    return `Provided AAD token has been expired since [${isoTime(claims.exp)}]. ` +
      `Current server time is [${isoTime(now)}]. Please refresh the AAD token.`;
  }
  if (typeof claims.nbf === "number" && now + CLOCK_SKEW_SECONDS < claims.nbf) {
    return `Provided AAD token is not valid before [${isoTime(claims.nbf)}]. ` +
      `Current server time is [${isoTime(now)}].`;
  }
  return null;
}

function audienceProblem(claims, audiences) {
  const presented = (Array.isArray(claims.aud) ? claims.aud : [claims.aud]).filter(a => typeof a === "string");
  if (presented.some(audience => audiences.includes(normaliseAudience(audience)))) {
    return null;
  }
  return `Provided AAD token is intended for [${presented.join(", ").slice(0, 200)}]. ` +
    `This database account accepts tokens intended for [${audiences.join(", ")}].`;
}

// Returns { claims } or { problem }. Order: shape, algorithm, signature, then the claims, so an
// unsigned or foreign token is never judged on claims it could have made up.
function verifyAadToken(token, { issuer, issuerKey, audiences }, now) {
  const parts = token.split(".");
  let header;
  let claims;
  try {
    if (parts.length !== 3) {
      throw new TypeError("not three parts");
    }
    header = decodeJwtPart(parts[0]);
    claims = decodeJwtPart(parts[1]);
  } catch {
    return { problem: "The AAD token is malformed." };
  }
  if (header.alg !== "RS256") {
    return { problem: "The AAD token must be signed with RS256." };
  }
  if (!signatureIsValid(parts, issuerKey)) {
    return { problem: "The AAD token signature is invalid for the issuer's signing keys." };
  }
  if (claims.iss !== issuer) {
    return { problem: "The AAD token was issued by an issuer this account does not trust." };
  }
  const problem = lifetimeProblem(claims, now) || audienceProblem(claims, audiences);
  if (problem) {
    return { problem };
  }
  if (typeof claims.oid !== "string" || claims.oid === "") {
    return { problem: "The AAD token carries no object id (oid)." };
  }
  return { claims };
}

// Where a request is checked: the account, one database or one container (the three scopes a
// Cosmos DB role assignment can have). Null when the path has no such level.
function scopeAt(accountId, segments, level) {
  const database = segments[0] === "dbs" ? segments[1] : undefined;
  const container = database !== undefined && segments[2] === "colls" ? segments[3] : undefined;
  if (level === "account") {
    return accountId;
  }
  if (level === "database") {
    return database === undefined ? null : `${accountId}/dbs/${database}`;
  }
  return container === undefined ? null : `${accountId}/dbs/${database}/colls/${container}`;
}

// Metadata reads and the scope each needs readMetadata at ("Required metadata" in the reference
// above): databases are listed at the account, a database read and its containers listed at the
// database, a container read and its partition key ranges at the container.
function metadataCheck(description) {
  const isFeed = description.segments.length % 2 === 1;
  switch (description.resourceType) {
    case "":
      return { action: READ_METADATA, level: "account", anyScopeBelow: true };
    case "dbs":
      return { action: READ_METADATA, level: isFeed ? "account" : "database" };
    case "colls":
      return { action: READ_METADATA, level: isFeed ? "database" : "container" };
    case "pkranges":
      return { action: READ_METADATA, level: "container" };
    default:
      return null;
  }
}

// The actions a transactional batch needs: that of every operation in it. Operations of an unknown
// type need nothing here; the store refuses the whole batch (400) without applying any.
function batchActions(req) {
  if (!Object.hasOwn(req, BATCH_BODY)) {
    throw new Error("cosmos-auth: a batch reached authorization unread; the server needs bufferBatchBodies()");
  }
  let operations;
  try {
    operations = JSON.parse(req[BATCH_BODY]);
  } catch {
    return [];
  }
  const types = Array.isArray(operations) ? operations.map(operation => operation && operation.operationType) : [];
  const known = types.filter(type => typeof type === "string" && Object.hasOwn(BATCH_OPERATION_ACTIONS, type));
  return [...new Set(known.map(type => BATCH_OPERATION_ACTIONS[type]))];
}

function itemActions(description, req) {
  const { operation } = description;
  if (operation === "read") {
    // Reading the items feed without a query is a ReadFeed, which Cosmos DB authorizes as a change
    // feed read, A-IM header or not (azure-cosmos-dotnet-v3#2927); a point read is items/read.
    return [description.segments.length % 2 === 1 ? READ_CHANGE_FEED : itemAction("read")];
  }
  if (operation === "batch") {
    return batchActions(req);
  }
  return Object.hasOwn(ITEM_REQUEST_ACTIONS, operation) ? [ITEM_REQUEST_ACTIONS[operation]] : null;
}

// The checks a request needs, [{ action, level, anyScopeBelow? }], or null when a token may not make
// it at all: creating, replacing or deleting databases and containers, throughput, and any request
// on stored procedures, triggers and user-defined functions other than executing a stored procedure
// are control plane, for Azure Resource Manager ("Configure role-based access control with
// Microsoft Entra ID", permission model). Anything not known to be data plane is refused the same way.
function requiredChecks(description, req) {
  const { operation, resourceType, segments } = description;
  const atContainer = actions => actions && actions.map(action => ({ action, level: "container" }));
  switch (resourceType) {
    case "docs":
      return atContainer(itemActions(description, req));
    case "sprocs": {
      const isExecution = operation === "create" && segments.length % 2 === 0;
      return isExecution ? atContainer([EXECUTE_STORED_PROCEDURE]) : null;
    }
    case "conflicts":
      return ["read", "query", "delete"].includes(operation) ? atContainer([MANAGE_CONFLICTS]) : null;
    default: {
      const check = operation === "read" || operation === "query" ? metadataCheck(description) : null;
      return check && [check];
    }
  }
}

// requiredChecks() with the scope each check is made at, or null as there.
function scopedChecks(description, req, accountId) {
  const checks = requiredChecks(description, req);
  const scoped = checks && checks.map(check => ({ ...check, scope: scopeAt(accountId, description.segments, check.level) }));
  return scoped && scoped.every(check => check.scope !== null) ? scoped : null;
}

// The string Cosmos signs: verb, resource type, resource link, x-ms-date, Date, each followed by a
// newline; everything but the link lower-cased (ids are case-sensitive). The Python SDK puts the
// Date header (usually absent, so "") in the fifth line; a client that sends only Date signs it in
// the fourth. Both are accepted.
function signingPayloads(req, description) {
  const xDate = (req.headers["x-ms-date"] || "").toLowerCase();
  const httpDate = (req.headers.date || "").toLowerCase();
  const head = `${req.method.toLowerCase()}\n${description.resourceType.toLowerCase()}\n${description.resourceLink}\n`;
  const dates = xDate ? [`${xDate}\n${httpDate}\n`, `${xDate}\n\n`] : [`${httpDate}\n\n`];
  return [...new Set(dates)].map(dateLines => head + dateLines);
}

function signatureMatches(payload, signature, key) {
  const expected = crypto.createHmac("sha256", key).update(payload, "utf8").digest();
  const presented = Buffer.from(signature, "base64");
  return presented.length === expected.length && crypto.timingSafeEqual(presented, expected);
}

// rbac: from cosmos-rbac.js createRbac(). accountId: the account's ARM resource id, the root of every
// data-plane scope. The RBAC decisions taken for a request are added to its description as
// `authorizations`, where the gate's statistics (cosmos-devtools.js) pick them up.
function createAuthorizer({ accountHost, accountId, issuer, issuerKey, masterKey, rbac, clock = () => Date.now() / 1000 }) {
  const account = accountHost.split(":")[0].split(".")[0];
  const aad = { issuer, issuerKey, audiences: acceptedAudiences(accountHost) };

  const deny = (status, message, substatus) => ({ denial: { status, message, substatus } });
  const blocked = reason => `Request blocked by Auth ${account} : ${reason}`;

  function controlPlaneDenial(description) {
    const request = `${description.method} ${description.pathname.replace(/\/+$/, "") || "/"}`;
    const reason = `The given request [${request}] cannot be authorized by AAD token in data plane. ${RBAC_HELP}`;
    return deny(403, blocked(reason), SUBSTATUS_AAD_CONTROL_PLANE);
  }

  function rbacDenial(description, decision) {
    const resource = description.resourceLink || "/";
    const reason = `Request is blocked because principal [${decision.principalId}] does not have required RBAC ` +
      `permissions to perform action [${decision.action}] on resource [${resource}]. ${RBAC_HELP}`;
    return deny(403, blocked(reason), SUBSTATUS_RBAC_DENIED);
  }

  function authorizeAad(req, description, token) {
    const { claims, problem } = verifyAadToken(token, aad, clock());
    if (problem) {
      return deny(401, blocked(problem));
    }
    const checks = scopedChecks(description, req, accountId);
    if (!checks) {
      return controlPlaneDenial(description);
    }
    const decisions = checks.map(({ action, scope, anyScopeBelow }) =>
      rbac.decide(claims.oid, action, scope, { anyScopeBelow }));
    description.authorizations = decisions;
    const refused = decisions.find(decision => !decision.allowed);
    if (refused) {
      return rbacDenial(description, refused);
    }
    return { principal: { kind: "aad", oid: claims.oid } };
  }

  function authorizeMaster(req, description, signature) {
    if (!masterKey) {
      return deny(401, "Local Authorization is disabled. Use an AAD token to authorize all requests.");
    }
    const dateText = req.headers["x-ms-date"] || req.headers.date;
    const sentAt = Date.parse(dateText || "") / 1000;
    if (Number.isNaN(sentAt)) {
      return deny(401, "The request has no valid x-ms-date header, which master-key signatures cover.");
    }
    const now = clock();
    if (Math.abs(now - sentAt) > MASTER_DATE_WINDOW_SECONDS) {
      const utc = seconds => new Date(seconds * 1000).toUTCString();
      return deny(403, "The authorization token is not valid at the current time. Please create another token " +
        `and retry (token start time: ${utc(sentAt)}, token expiry time: ` +
        `${utc(sentAt + MASTER_DATE_WINDOW_SECONDS)}, current server time: ${utc(now)}).`);
    }
    const payloads = signingPayloads(req, description);
    if (!payloads.some(payload => signatureMatches(payload, signature, masterKey))) {
      // Like the real service, show the payload (never the key or signature) to debug signing code.
      const shown = payloads[0].replace(/\n/g, "\\n");
      return deny(401, "The input authorization token can't serve the request. The wrong key is being used or " +
        `the expected payload is not built as per the protocol. Server used the following payload to sign: '${shown}'`);
    }
    return { principal: { kind: "master" } };
  }

  // Returns { principal } for an accepted request, { denial: { status, message, substatus? } } otherwise.
  return function authorize(req, description) {
    const header = req.headers.authorization;
    if (!header) {
      return deny(401, "Required Header authorization is missing. Ensure a valid Authorization token is passed.");
    }
    const auth = parseAuthorization(header);
    if (!auth) {
      return deny(401, "The authorization header is malformed; expected type=aad|master&ver=1.0&sig=..., URL-encoded.");
    }
    if (auth.type === "aad") {
      return authorizeAad(req, description, auth.signature);
    }
    if (auth.type === "master") {
      return authorizeMaster(req, description, auth.signature);
    }
    return deny(401, "Only AAD tokens (type=aad) and the stack's master key (type=master) are accepted.");
  };
}

// A batch request whose body has been read in full, readable again by the handler that runs it.
function replayable(req, body) {
  const replay = new PassThrough();
  replay.end(body);
  return Object.assign(replay, {
    method: req.method,
    url: req.url,
    headers: req.headers,
    rawHeaders: req.rawHeaders,
    httpVersion: req.httpVersion,
    socket: req.socket,
    [BATCH_BODY]: body,
  });
}

function isBatch(req) {
  try {
    return describeRequest(req).operation === "batch";
  } catch {
    return false; // a malformed path: the gate answers it
  }
}

// The gate (cosmos-server.js) authorizes a request synchronously, before anything reads its body.
// A transactional batch is the one request whose permissions depend on its body (the action of each
// operation in it), so batch requests are read in full before the server's request listener sees
// them, and handed on with their body replayed.
function bufferBatchBodies(server) {
  const listeners = server.listeners("request");
  if (listeners.length !== 1) {
    throw new Error(`cosmos-auth: expected one request listener on the server, found ${listeners.length}`);
  }
  const [listener] = listeners;
  server.removeAllListeners("request");
  server.on("request", (req, res) => {
    if (!isBatch(req)) {
      listener(req, res);
      return;
    }
    readBody(req, MAX_REQUEST_BYTES).then(
      body => listener(replayable(req, body), res),
      err => {
        if (err instanceof BodyTooLarge) {
          sendCosmosError(res, 413, `The request is larger than ${MAX_REQUEST_BYTES} bytes.`);
        } else {
          res.destroy();
        }
      },
    );
  });
}

module.exports = { acceptedAudiences, bufferBatchBodies, createAuthorizer, parseAuthorization, verifyAadToken };
