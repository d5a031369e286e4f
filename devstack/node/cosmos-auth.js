"use strict";
// Authentication and authorization as a Cosmos DB account with `disableLocalAuth` does them, except
// that the stack's own master key still works (Bicep creates the database and container with the
// resource provider in Azure; locally that key plays the resource provider's part).
//
// Messages and sub-status codes follow what the real service answers (seen in SDK issue threads):
//   401 "Request blocked by Auth <account> : Provided AAD token has been expired since [...] ..."
//   403/5300 "... The given request [POST /dbs] cannot be authorized by AAD token in data plane."
//   403/5301 "... principal [<oid>] does not have required RBAC permissions to perform action [...]"
//   401 "The input authorization token can't serve the request. The wrong key is being used ..."
// Token text never appears in a message or a log line.

const crypto = require("crypto");

const CLOCK_SKEW_SECONDS = 300;
// Cosmos accepts a master-key signature for 15 minutes around its x-ms-date.
const MASTER_DATE_WINDOW_SECONDS = 15 * 60;
const RBAC_HELP = "Learn more: https://aka.ms/cosmos-native-rbac.";
const SUBSTATUS_AAD_CONTROL_PLANE = 5300;
const SUBSTATUS_RBAC_DENIED = 5301;
// Real accounts also accept this audience; the SDKs fall back to it (scope
// https://cosmos.azure.com/.default) when the account-specific one is refused.
const GLOBAL_COSMOS_AUDIENCE = "https://cosmos.azure.com";
const ACTIONS = "Microsoft.DocumentDB/databaseAccounts";
const ITEMS = `${ACTIONS}/sqlDatabases/containers/items`;

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

// Creating, replacing or deleting databases, containers and their scripts is control plane: with a
// token it must go through Azure Resource Manager. Reads and queries of metadata are data plane.
function isControlPlaneWrite(description) {
  const reads = description.operation === "read" || description.operation === "query";
  return !reads && description.resourceType !== "docs";
}

// The action named in a 5301 message, as in the built-in role definitions.
function rbacAction(description, req) {
  if (description.resourceType !== "docs") {
    return `${ACTIONS}/readMetadata`;
  }
  const isFeed = description.segments.length % 2 === 1;
  switch (description.operation) {
    case "query":
      return `${ACTIONS}/sqlDatabases/containers/executeQuery`;
    case "read":
      return isFeed && req.headers["a-im"] ? `${ACTIONS}/sqlDatabases/containers/readChangeFeed` : `${ITEMS}/read`;
    case "create":
    case "upsert":
    case "replace":
    case "delete":
      return `${ITEMS}/${description.operation}`;
    default:
      return `${ITEMS}/*`;
  }
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

function createAuthorizer({ accountHost, issuer, issuerKey, masterKey, dataContributors, clock = () => Date.now() / 1000 }) {
  const account = accountHost.split(":")[0].split(".")[0];
  const aad = { issuer, issuerKey, audiences: acceptedAudiences(accountHost) };
  const contributors = new Set(dataContributors.map(oid => oid.toLowerCase()));

  const deny = (status, message, substatus) => ({ denial: { status, message, substatus } });
  const blocked = reason => `Request blocked by Auth ${account} : ${reason}`;

  function authorizeAad(req, description, token) {
    const { claims, problem } = verifyAadToken(token, aad, clock());
    if (problem) {
      return deny(401, blocked(problem));
    }
    if (isControlPlaneWrite(description)) {
      const request = `${description.method} ${description.pathname.replace(/\/+$/, "") || "/"}`;
      const reason = `The given request [${request}] cannot be authorized by AAD token in data plane. ${RBAC_HELP}`;
      return deny(403, blocked(reason), SUBSTATUS_AAD_CONTROL_PLANE);
    }
    if (!contributors.has(claims.oid.toLowerCase())) {
      const reason = `Request is blocked because principal [${claims.oid}] does not have required RBAC ` +
        `permissions to perform action [${rbacAction(description, req)}] on resource ` +
        `[/${description.resourceLink}]. ${RBAC_HELP}`;
      return deny(403, blocked(reason), SUBSTATUS_RBAC_DENIED);
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

module.exports = { acceptedAudiences, createAuthorizer, parseAuthorization, verifyAadToken };
