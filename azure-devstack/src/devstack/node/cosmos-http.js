"use strict";
// Small HTTP helpers shared by the Cosmos engine's modules: JSON replies and Cosmos-shaped errors.

const { randomUUID } = require("crypto");
const http = require("http");

// Error codes as Cosmos writes them in the `code` field of an error body.
const ERROR_CODES = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  408: "RequestTimeout",
  409: "Conflict",
  410: "Gone",
  412: "PreconditionFailed",
  413: "RequestEntityTooLarge",
  424: "FailedDependency",
  429: "TooManyRequests",
  449: "RetryWith",
  500: "InternalServerError",
  503: "ServiceUnavailable",
};

function errorCode(status) {
  if (ERROR_CODES[status]) {
    return ERROR_CODES[status];
  }
  return (http.STATUS_CODES[status] || "Error").replace(/[^A-Za-z]/g, "");
}

function sendJson(res, status, body, headers = {}) {
  const payload = body === undefined ? "" : JSON.stringify(body);
  res.statusCode = status;
  res.setHeader("content-type", "application/json");
  res.setHeader("x-ms-activity-id", randomUUID());
  for (const [name, value] of Object.entries(headers)) {
    res.setHeader(name, value);
  }
  res.end(payload);
}

// `substatus` becomes x-ms-substatus, which the SDKs read to tell, say, a missing role (5301) from
// a control-plane request made with a token (5300).
function sendCosmosError(res, status, message, { substatus, headers = {} } = {}) {
  const extra = { ...headers, "x-ms-request-charge": "0" };
  if (substatus !== undefined) {
    extra["x-ms-substatus"] = String(substatus);
  }
  sendJson(res, status, { code: errorCode(status), message }, extra);
}

module.exports = { errorCode, sendCosmosError, sendJson };
