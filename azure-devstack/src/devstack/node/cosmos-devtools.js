"use strict";
// Dev-only routes under /_devstack/, a prefix Cosmos never uses. No auth: the server binds to
// loopback and these only steer or observe it.
//   POST   /_devstack/faults  {"status": 503, "count": 2 | null, "method"?: "GET",
//                             "resourceType"?: "docs", "substatus"?: 3200}
//          While the rule is active, matching authenticated requests get that status with a Cosmos
//          error body and x-ms-retry-after-ms: 100; count goes down per answered request, null
//          means until cleared. A new rule replaces the old one.
//   GET    /_devstack/faults  the active rule, or null
//   DELETE /_devstack/faults  clears the rule
//   GET    /_devstack/stats   request counts by auth outcome and by resource type, requests
//                             answered by a fault, and TLS connections accepted (keep-alive check)
//   DELETE /_devstack/stats   resets the counts
//   GET    /_devstack/authorizations  the RBAC decisions taken on token requests so far, one entry
//                             per distinct {action, scope, principalId, allowed, role, source} with its
//                             count; role and source are those of the assignment that allowed it
//   DELETE /_devstack/authorizations  forgets them

const { BodyTooLarge, readBody, sendCosmosError, sendJson } = require("./cosmos-http");
const { resourceLabel } = require("./cosmos-resource");

const PREFIX = "/_devstack";
const RULE_BODY_LIMIT_BYTES = 16 * 1024;
const RULE_FIELDS = new Set(["status", "count", "method", "resourceType", "substatus"]);
const METHODS = new Set(["GET", "POST", "PUT", "PATCH", "DELETE"]);
// Small enough that an SDK honouring it retries quickly in tests.
const RETRY_AFTER_MS = "100";

function isInteger(value, min, max) {
  return Number.isInteger(value) && value >= min && value <= max;
}

function validateRule(rule) {
  const unknown = Object.keys(rule).filter(name => !RULE_FIELDS.has(name));
  if (unknown.length > 0) {
    return `unknown fields: ${unknown.join(", ")}`;
  }
  if (!isInteger(rule.status, 400, 599)) {
    return "status must be an integer from 400 to 599";
  }
  if (rule.count !== undefined && rule.count !== null && !isInteger(rule.count, 1, Number.MAX_SAFE_INTEGER)) {
    return "count must be a positive integer or null";
  }
  if (rule.method !== undefined && !METHODS.has(rule.method)) {
    return `method must be one of ${[...METHODS].join(", ")}`;
  }
  if (rule.resourceType !== undefined && (typeof rule.resourceType !== "string" || rule.resourceType === "")) {
    return "resourceType must be a non-empty string such as docs, colls, dbs, pkranges or account";
  }
  if (rule.substatus !== undefined && !isInteger(rule.substatus, 0, 99999)) {
    return "substatus must be a non-negative integer";
  }
  return null;
}

// Returns { rule } or { problem }.
function parseFaultRule(text) {
  let rule;
  try {
    rule = JSON.parse(text);
  } catch {
    return { problem: "the body is not valid JSON" };
  }
  if (rule === null || typeof rule !== "object" || Array.isArray(rule)) {
    return { problem: "the body must be a JSON object" };
  }
  const problem = validateRule(rule);
  if (problem) {
    return { problem };
  }
  return { rule: { method: null, resourceType: null, substatus: null, ...rule, count: rule.count ?? null } };
}

function emptyStats() {
  return {
    requests: 0,
    auth: { aad: 0, master: 0, unauthorized: 0, forbidden: 0 },
    resourceTypes: {},
    faults: 0,
    connections: 0,
  };
}

// RBAC decisions (cosmos-rbac.js), counted per distinct outcome, in the order first seen.
function createDecisionLog() {
  let entries = new Map();
  return {
    add({ action, scope, principalId, allowed, role, source }) {
      const key = JSON.stringify([action, scope, principalId, allowed, role, source]);
      const entry = entries.get(key);
      if (entry) {
        entry.count += 1;
      } else {
        entries.set(key, { action, scope, principalId, allowed, role, source, count: 1 });
      }
    },
    list: () => [...entries.values()],
    clear() {
      entries = new Map();
    },
  };
}

function createDevtools() {
  let rule = null;
  let stats = emptyStats();
  const decisions = createDecisionLog();

  async function setRule(req, res) {
    let text;
    try {
      text = await readBody(req, RULE_BODY_LIMIT_BYTES);
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        sendCosmosError(res, 413, err.message);
        return;
      }
      throw err;
    }
    const parsed = parseFaultRule(text);
    if (parsed.problem) {
      sendCosmosError(res, 400, `Invalid fault rule: ${parsed.problem}.`);
      return;
    }
    rule = parsed.rule;
    sendJson(res, 200, { fault: rule });
  }

  const routes = {
    "POST /_devstack/faults": setRule,
    "GET /_devstack/faults": (req, res) => sendJson(res, 200, { fault: rule }),
    "DELETE /_devstack/faults": (req, res) => {
      rule = null;
      sendJson(res, 200, { fault: null });
    },
    "GET /_devstack/stats": (req, res) => sendJson(res, 200, stats),
    "DELETE /_devstack/stats": (req, res) => {
      stats = emptyStats();
      sendJson(res, 200, stats);
    },
    "GET /_devstack/authorizations": (req, res) => sendJson(res, 200, { decisions: decisions.list() }),
    "DELETE /_devstack/authorizations": (req, res) => {
      decisions.clear();
      sendJson(res, 200, { decisions: [] });
    },
  };

  return {
    owns(pathname) {
      return pathname === PREFIX || pathname.startsWith(`${PREFIX}/`);
    },

    async handle(req, res, pathname) {
      const route = routes[`${req.method} ${pathname.replace(/\/+$/, "")}`];
      if (!route) {
        sendCosmosError(res, 404, `No devstack route for ${req.method} ${pathname}.`);
        return;
      }
      await route(req, res);
    },

    // outcome: "aad" | "master" | "unauthorized" | "forbidden". description.authorizations: the
    // RBAC decisions cosmos-auth.js took for the request, if it took any.
    record(description, outcome) {
      stats.requests += 1;
      stats.auth[outcome] += 1;
      const label = resourceLabel(description);
      stats.resourceTypes[label] = (stats.resourceTypes[label] || 0) + 1;
      for (const decision of description.authorizations || []) {
        decisions.add(decision);
      }
    },

    recordConnection() {
      stats.connections += 1;
    },

    // The rule that answers this request instead of the store, or null; counts it down.
    takeFault(description) {
      if (!rule) {
        return null;
      }
      if ((rule.method && rule.method !== description.method) ||
          (rule.resourceType && rule.resourceType !== resourceLabel(description))) {
        return null;
      }
      const answering = rule;
      if (rule.count !== null) {
        rule = rule.count > 1 ? { ...rule, count: rule.count - 1 } : null;
      }
      stats.faults += 1;
      return answering;
    },

    retryAfterMs: RETRY_AFTER_MS,
  };
}

module.exports = { createDevtools, parseFaultRule };
