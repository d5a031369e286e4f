"use strict";
// Fixes for the gaps of @vercel/cosmosdb-server 1.0.1 that the app runs into (FIELD-NOTES "Broken"):
// a missing item answered 500, queries ignoring the partition key header, transactional batch 500
// and not atomic, and the account advertising the address it bound instead of the one clients use.
// And two costs that grew with the data: a partition-scoped query read every item of the container
// (cosmos-partitions.js indexes them by partition), and compiled to code that is quadratic in the
// items it reads (cosmos-query-code.js).
// And what Microsoft's azure-cosmos suite (tests/conformance) found missing: the query clauses the
// library cannot parse (cosmos-query.js), time to live (cosmos-ttl.js), the change feed and the `lsn`
// header (cosmos-feed.js), whole hierarchical keys (cosmos-partitions.js), _self links, query plans,
// `Prefer: return=minimal`, patch conditions with any alias and Azure's batch size errors (here).
//
// The fixes replace the `default` export of the library's handler modules. Its router copies those
// functions when routes.js is first required, so `install()` must run before anything requires the
// library's index. node_modules stays untouched.

const fs = require("fs");
const path = require("path");
const { errorCode } = require("./cosmos-http");
const partitions = require("./cosmos-partitions");
const cosmosQuery = require("./cosmos-query");
const queryCode = require("./cosmos-query-code");
const ttl = require("./cosmos-ttl");
const feed = require("./cosmos-feed");

const LIB = path.dirname(require.resolve("@vercel/cosmosdb-server/lib/routes.js"));
const HANDLERS = path.join(LIB, "handler");
const documentOperations = require(path.join(HANDLERS, "_document-operations.js"));
const patchOperations = require(path.join(HANDLERS, "_patch-operations.js"));
const readItems = require(path.join(HANDLERS, "_read-items.js")).default;
const readJson = require(path.join(LIB, "json.js")).default;
const getValue = require(path.join(LIB, "utils", "get-value.js")).default;
// Called through the module: cosmos-partitions.js extends it for hierarchical keys.
const headerValues = require(path.join(LIB, "utils", "get-partition-from-header.js"));

const PARTITION_KEY_HEADER = "x-ms-documentdb-partitionkey";
const QUERY_PLAN_HEADER = "x-ms-cosmos-is-query-plan-request";
const CROSS_PARTITION_HEADER = "x-ms-documentdb-query-enablecrosspartition";
const CROSS_PARTITION_DISABLED = "Cross partition query is required but disabled. Please set " +
  "x-ms-documentdb-query-enablecrosspartition to true, specify x-ms-documentdb-partitionkey, or revise your query " +
  "to avoid this exception.";
// This server has one partition key range, "0": a query scoped to it is a query of the container.
const RANGE_HEADER = "x-ms-documentdb-partitionkeyrangeid";
// Cosmos limits a transactional batch to 100 operations.
const MAX_BATCH_OPERATIONS = 100;
const DEFAULT_MESSAGES = {
  400: "The request is invalid.",
  404: "Entity with the specified id does not exist in the system.",
  409: "Entity with the specified id already exists in the system.",
  412: "Operation cannot be performed because one of the specified precondition is not met.",
};

function isTrue(value) {
  return typeof value === "string" && value.toLowerCase() === "true";
}

function fail(res, status, message) {
  res.statusCode = status;
  return { code: errorCode(status), message };
}

// The header as the SDKs send it: a JSON array (["tenant-1"], or [{}] for "no value"). Undefined
// when absent or not an array.
function partitionKeyHeader(req) {
  const raw = req.headers[PARTITION_KEY_HEADER];
  if (typeof raw !== "string") {
    return undefined;
  }
  try {
    const value = JSON.parse(raw);
    return Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

// Answers on a container's items carry its logical sequence number, as Cosmos DB's do (cosmos-feed.js).
function setLsnHeader(account, res, { dbId, collId }) {
  if (dbId === undefined || collId === undefined || res.headersSent) {
    return;
  }
  const collection = account.database(dbId).collection(collId);
  if (collection.read()) {
    res.setHeader("lsn", String(feed.settledLsn(collection.documents)));
  }
}

// An item's `_self` link addresses it by resource ids (dbs/<rid>/colls/<rid>/docs/<rid>), which the
// SDKs use for operations given an item's dict; the library routes by name. Ids that name nothing
// but are a resource's _rid are replaced by its name (the library keys each level by _rid).
function namesForResourceIds(account, params) {
  const { dbId, collId, docId } = params;
  if (dbId === undefined || account.database(dbId).read()) {
    return params;
  }
  const database = account.databases._data.get(dbId);
  if (!database) {
    return params;
  }
  const named = { ...params, dbId: database.read().id };
  const collections = account.database(named.dbId).collections;
  const collection = collId === undefined ? null : collections._data.get(collId);
  if (collection) {
    named.collId = collection.read().id;
    const documents = account.database(named.dbId).collection(named.collId).documents;
    const document = docId === undefined ? null : documents._data.get(docId);
    if (document) {
      named.docId = document.read().id;
    }
  }
  return named;
}

// `Prefer: return=minimal` (the SDKs' no_response=True): a write answers its headers without the item
// (REST "Common Azure Cosmos DB REST request headers").
function returnsMinimal(req) {
  const prefer = req.headers.prefer;
  return typeof prefer === "string" && prefer.toLowerCase().includes("return=minimal") && req.method !== "GET";
}

// Every error body gets Cosmos's {code, message} shape (the library often answers {} or
// {message}); an unparseable request body is the client's fault (400), not a 500.
function withCosmosErrors(handler) {
  return async (account, req, res, addressed) => {
    const params = namesForResourceIds(account, addressed);
    ttl.expireDueIn(account, params);
    let body;
    try {
      body = await handler(account, req, res, params);
      setLsnHeader(account, res, params);
    } catch (err) {
      if (err.badRequest) {
        return fail(res, 400, err.message);
      }
      if (!(err instanceof SyntaxError)) {
        throw err;
      }
      return fail(res, 400, "The request payload is invalid: it is not valid JSON.");
    }
    const isPlainObject = body !== null && typeof body === "object" && !Array.isArray(body);
    if (res.statusCode < 400 && isPlainObject && body._etag && returnsMinimal(req)) {
      res.setHeader("etag", body._etag);
      return undefined;
    }
    if (res.statusCode >= 400 && isPlainObject && !body.code) {
      return { ...body, code: errorCode(res.statusCode), message: body.message || DEFAULT_MESSAGES[res.statusCode] || "" };
    }
    return body;
  };
}

// Point operations on an item cannot work without the partition key; the library would throw
// while parsing the missing header and answer 500.
function requirePartitionKey(handler) {
  return (account, req, res, params) => {
    if (partitionKeyHeader(req) === undefined) {
      return fail(res, 400, "PartitionKey value must be supplied for this operation.");
    }
    return handler(account, req, res, params);
  };
}

// The library's create handler crashes (500) when the container does not exist.
function requireCollection(handler) {
  return (account, req, res, params) => {
    if (!account.database(params.dbId).collection(params.collId).read()) {
      return fail(res, 404, "Resource Not Found. The container does not exist.");
    }
    return handler(account, req, res, params);
  };
}

// The library's read handler dereferences the item before checking it exists (500 instead of 404).
function readDocumentOr404(handler) {
  return (account, req, res, params) => {
    const collection = account.database(params.dbId).collection(params.collId);
    if (collection.read()) {
      const partition = headerValues.parsePartitionKey(req.headers[PARTITION_KEY_HEADER], params.docId);
      if (!collection.document(params.docId, partition).read()) {
        return fail(res, 404, DEFAULT_MESSAGES[404]);
      }
    }
    return handler(account, req, res, params);
  };
}

const { partitionToken } = partitions;

// The library runs a query over every item unless the WHERE clause names the key (and refuses a
// query without WHERE). With a partition key header, Cosmos runs it over that partition only: run
// the query on a view of the container whose data (a private field of the library's Items:
// rid -> item) is that partition's, from the partition index. cosmos-query.js adds the clauses the
// library lacks. A query-plan request gets the plan an SDK would run the query by.
function queryDocuments(handler) {
  return async (account, req, res, params) => {
    const collection = account.database(params.dbId).collection(params.collId);
    const key = partitionKeyHeader(req);
    const crossPartition = !key || key.length === 0;
    const planRequested = isTrue(req.headers[QUERY_PLAN_HEADER]);
    if (!collection.read() || (crossPartition && !planRequested && !isTrue(req.headers[CROSS_PARTITION_HEADER]) &&
        req.headers[RANGE_HEADER] === undefined)) {
      // The library runs it if its WHERE clause names the partition key, as the gateway would route it.
      const answer = await handler(account, req, res, params);
      return answer && answer.message === "missing partition keys" ? { ...answer, message: CROSS_PARTITION_DISABLED } : answer;
    }
    return readItems(req, res, "Documents", async paging => {
      const query = await readJson(req);
      if (!query || typeof query.query !== "string") {
        return fail(res, 400, "The query body must carry a 'query' string.");
      }
      const items = collection.documents;
      try {
        if (planRequested) {
          return cosmosQuery.queryPlan(query.query); // no `result`: readItems hands it over as it is
        }
        const range = feed.epkRangeOf(req);
        if (crossPartition && range) {
          // A prefix of a hierarchical key, or a feed range: the items whose hashed key is in range.
          const rangeView = Object.create(items);
          rangeView._data = new Map(feed.itemsInEpkRange(collection, range).flatMap(rows => [...rows]));
          return cosmosQuery.runQuery(rangeView, query, paging, { crossPartition: true });
        }
        if (crossPartition) {
          return cosmosQuery.runQuery(items, query, paging, { crossPartition: true });
        }
        const partitionView = Object.create(items);
        partitionView._data = itemsWithKey(collection, key);
        return cosmosQuery.runQuery(partitionView, query, paging);
      } catch (err) {
        if (err.badRequest) {
          return fail(res, 400, err.message);
        }
        throw err;
      }
    });
  };
}

// The items whose partition key is `key`: the partition index holds the first level of a
// hierarchical key (what the library stores), the further levels are compared item by item.
function itemsWithKey(collection, key) {
  const rows = partitions.itemsInPartition(collection.documents, key[0]);
  if (key.length < 2) {
    return rows;
  }
  const paths = ((collection.read() || {}).partitionKey || {}).paths || [];
  const matches = data => key.every((value, level) =>
    level >= paths.length || partitionToken(getValue(paths[level].slice(1).split("/"), data)) === partitionToken(value));
  return new Map([...rows].filter(([, item]) => matches(item.read())));
}

// The SDKs ask for a query plan with a POST on the items feed that the library routes as a create.
function queryPlanFirst(handler) {
  const plan = queryDocuments(handler);
  return (account, req, res, params) =>
    (isTrue(req.headers[QUERY_PLAN_HEADER]) ? plan : handler)(account, req, res, params);
}

// Items never mutate stored entries (every write sets a new one), so shallow copies of the two
// maps and the rid counter are a complete snapshot.
function snapshotOf(items) {
  return { data: new Map(items._data), index: new Map(items._index), ridCount: items._ridCount };
}

function restore(items, snapshot) {
  items._data = snapshot.data;
  items._index = snapshot.index;
  items._ridCount = snapshot.ridCount;
  partitions.reindex(items);
}

function patchInBatch(collection, operation) {
  const body = operation.resourceBody || {};
  return patchOperations.patchOperation(collection, {
    id: operation.id,
    partitionKey: operation.partitionKey,
    ifMatch: operation.ifMatch,
    operations: Array.isArray(body.operations) ? body.operations : [],
    condition: body.condition,
  });
}

const BATCH_OPERATIONS = {
  Create: documentOperations.createOperation,
  Upsert: documentOperations.upsertOperation,
  Replace: documentOperations.replaceOperation,
  Read: documentOperations.readOperation,
  Delete: documentOperations.deleteOperation,
  Patch: patchInBatch,
};
const WRITES_WITH_BODY = new Set(["Create", "Upsert", "Replace"]);

function runBatchOperation(collection, operation, rawKey, keyValue) {
  const type = operation && operation.operationType;
  const run = Object.hasOwn(BATCH_OPERATIONS, type) ? BATCH_OPERATIONS[type] : undefined;
  if (!run) {
    return { statusCode: 400, body: { message: `Operation type '${String(type)}' is not supported in a batch.` } };
  }
  if (WRITES_WITH_BODY.has(type)) {
    const itemKey = getValue(collection.documents._getPartitionKeyPath(), operation.resourceBody);
    if (partitionToken(itemKey) !== partitionToken(keyValue)) {
      const message = "PartitionKey extracted from document doesn't match the one specified in the header.";
      return { statusCode: 400, body: { message } };
    }
  }
  // One partition key for the whole batch, from the request header (the Python SDK sends no
  // per-operation key, and the library's operations throw without one).
  return run(collection, { ...operation, partitionKey: rawKey });
}

function batchResult(result) {
  if (result.statusCode >= 400) {
    return { statusCode: result.statusCode, requestCharge: 0 };
  }
  const entry = { statusCode: result.statusCode, requestCharge: 1 };
  if (result.body) {
    entry.eTag = result.body._etag;
    entry.resourceBody = result.body;
  }
  return entry;
}

// A transactional batch: all operations in one partition, all or nothing. On failure Cosmos answers
// 207 Multi-Status with the failing operation's status and 424 Failed Dependency for all others;
// the SDKs raise CosmosBatchOperationError from that array.
async function atomicBatch(account, req, res, { dbId, collId }) {
  const collection = account.database(dbId).collection(collId);
  if (!collection.read()) {
    return fail(res, 404, "Resource Not Found. The container does not exist.");
  }
  const key = partitionKeyHeader(req);
  if (!key || key.length === 0) {
    return fail(res, 400, "A transactional batch needs the partition key header (x-ms-documentdb-partitionkey).");
  }
  const paths = ((collection.read() || {}).partitionKey || {}).paths || [];
  if (paths.length > 1 && key.length !== paths.length) {
    // Cosmos DB's words for a batch given part of a hierarchical key (azure-cosmos' test_transactional_batch.py).
    return fail(res, 400, "Partition key provided either doesn't correspond to definition in the collection or " +
      "doesn't match partition key field values specified in the document.");
  }
  const operations = await readJson(req);
  if (!Array.isArray(operations)) {
    return fail(res, 400, "A batch body is a list of operations.");
  }
  // Cosmos DB's own words (azure-cosmos' test_transactional_batch.py).
  if (operations.length === 0) {
    return fail(res, 400, "Batch request has no operations.");
  }
  if (operations.length > MAX_BATCH_OPERATIONS) {
    return fail(res, 400, `Batch request has more operations than what is supported. At most ${MAX_BATCH_OPERATIONS}.`);
  }
  const snapshot = snapshotOf(collection.documents);
  const results = [];
  for (const operation of operations) {
    const result = runBatchOperation(collection, operation, req.headers[PARTITION_KEY_HEADER], key[0]);
    results.push(batchResult(result));
    if (result.statusCode >= 400) {
      restore(collection.documents, snapshot);
      res.statusCode = 207;
      const failedAt = results.length - 1;
      return operations.map((_, index) => index === failedAt ? results[failedAt] : { statusCode: 424, requestCharge: 0 });
    }
  }
  res.statusCode = 200;
  return results;
}

// Host names as a client may send them: name or IPv4 with a port, or a bracketed IPv6 address.
const HOST_HEADER = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

// The SDKs route every later request to the endpoint the account advertises. The library
// advertises the bound address (127.0.0.1); advertise the host and port this client used instead,
// so a client of https://localhost:P/ keeps talking to https://localhost:P/.
function advertisedAccount(account, req) {
  const properties = account.read();
  const host = req.headers.host;
  if (typeof host !== "string" || !HOST_HEADER.test(host)) {
    return properties;
  }
  const endpoint = `https://${host}/`;
  const relocate = locations => locations.map(location => ({ ...location, databaseAccountEndpoint: endpoint }));
  return {
    ...properties,
    writableLocations: relocate(properties.writableLocations),
    readableLocations: relocate(properties.readableLocations),
  };
}

// A patch's condition is a FROM clause with any alias ("from root where root.n = 3", as the SDKs'
// filter_predicate); the library only understands the alias c. Make it a whole query on the item.
const CONDITION = /^\s*from\s+([A-Za-z_][A-Za-z0-9_]*)\s+where\s+([\s\S]+)$/i;

function anyAliasCondition(patch) {
  return (collection, input) => {
    const match = typeof input.condition === "string" && !/\bselect\b/i.test(input.condition) && input.condition.match(CONDITION);
    if (!match) {
      return patch(collection, input);
    }
    const [, alias, clause] = match;
    return patch(collection, { ...input, condition: `SELECT * FROM ${alias} WHERE (${clause}) AND ${alias}.id = @id` });
  };
}

const REPLACEMENTS = {
  "read-document.js": handler => requirePartitionKey(readDocumentOr404(handler)),
  "replace-document.js": requirePartitionKey,
  "delete-document.js": requirePartitionKey,
  "patch-document.js": requirePartitionKey,
  "create-document.js": handler => queryPlanFirst(requireCollection(handler)),
  "query-documents.js": queryDocuments,
  "read-documents.js": feed.changeFeed,
  "batch-documents.js": () => atomicBatch,
  "read-meta.js": () => advertisedAccount,
};

let installed = false;

function install() {
  if (installed) {
    return;
  }
  if (require.cache[path.join(LIB, "routes.js")]) {
    throw new Error("cosmos-patches: install() must run before @vercel/cosmosdb-server's routes are loaded");
  }
  partitions.install();
  queryCode.install();
  patchOperations.patchOperation = anyAliasCondition(patchOperations.patchOperation);
  ttl.install();
  feed.install();
  const handlerFiles = fs.readdirSync(HANDLERS).filter(file => file.endsWith(".js") && !file.startsWith("_"));
  const missing = Object.keys(REPLACEMENTS).filter(file => !handlerFiles.includes(file));
  if (missing.length > 0) {
    // A different library version: better to stop than to serve with half the fixes.
    throw new Error(`cosmos-patches: handler modules not found: ${missing.join(", ")}`);
  }
  for (const file of handlerFiles) {
    const handlerModule = require(path.join(HANDLERS, file));
    const replace = REPLACEMENTS[file] || (handler => handler);
    handlerModule.default = withCosmosErrors(replace(handlerModule.default));
  }
  installed = true;
}

module.exports = { install };
