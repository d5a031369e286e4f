"use strict";
// What a Cosmos REST request addresses: resource type, resource link and kind of operation.
// Both the master-key signature and the authorization rules are defined in these terms.

// A path alternates type and id: /dbs/{db}/colls/{coll}/docs/{doc}. An odd number of segments
// addresses a feed (type = last segment, link = its parent), an even number one resource
// (type = second to last, link = the whole path). The root is the database account: "" and "".
// Ids in the link are decoded: the SDKs sign the plain names, and send them percent-encoded.
function resourceOf(pathname) {
  const segments = pathname
    .split("/")
    .filter(segment => segment.length > 0)
    .map(segment => decodeURIComponent(segment));
  if (segments.length === 0) {
    return { segments, resourceType: "", resourceLink: "" };
  }
  const isFeed = segments.length % 2 === 1;
  const resourceType = segments[isFeed ? segments.length - 1 : segments.length - 2];
  const resourceLink = (isFeed ? segments.slice(0, -1) : segments).join("/");
  return { segments, resourceType, resourceLink };
}

function isTrueHeader(req, name) {
  const value = req.headers[name];
  return typeof value === "string" && value.toLowerCase() === "true";
}

// The same precedence as the library's router, so the gate and the handler agree on what a
// request is.
function operationOf(req) {
  const method = req.method;
  if (method === "POST" && (isTrueHeader(req, "x-ms-documentdb-isquery") ||
      req.headers["content-type"] === "application/query+json")) {
    return "query";
  }
  if (isTrueHeader(req, "x-ms-documentdb-is-upsert")) {
    return "upsert";
  }
  if (isTrueHeader(req, "x-ms-cosmos-is-batch-request")) {
    return "batch";
  }
  const byMethod = { GET: "read", POST: "create", PUT: "replace", DELETE: "delete", PATCH: "patch" };
  return byMethod[method] || "other";
}

// Throws URIError for a malformed percent-encoding; the caller answers 400.
function describeRequest(req) {
  const pathname = new URL(req.url, "https://request.invalid").pathname;
  return { method: req.method, pathname, operation: operationOf(req), ...resourceOf(pathname) };
}

// A stable label for statistics and fault rules; the account itself has no resource type.
function resourceLabel(description) {
  return description.resourceType || "account";
}

module.exports = { describeRequest, resourceLabel, resourceOf };
