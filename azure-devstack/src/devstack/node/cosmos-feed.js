"use strict";
// The change feed ("latest version" mode) as Azure Cosmos DB serves it to the SDKs (Microsoft's
// "Change feed in Azure Cosmos DB" and "Change feed modes" pages; the request headers are the
// Python SDK's, azure/cosmos/_change_feed):
// - a GET on a container's docs feed with `A-IM: Incremental feed`;
// - the feed lists the items changed since the continuation, each once (its latest version), in the
//   order of their last writes, and never deleted ones;
// - the continuation is the ETag of the answer (the position of its last item), sent back as
//   If-None-Match; `*` means "from now"; If-Modified-Since starts at a point in time (items whose
//   _ts is at or after it); without either, the feed starts at the beginning;
// - scope: a partition key (x-ms-documentdb-partitionkey), an effective-partition-key range
//   (x-ms-start-epk / x-ms-end-epk, which the SDKs send for a partition key's feed), or the whole
//   container, whose one partition key range is "0";
// - no change: 304 Not Modified, with the ETag to continue from.
// Point operations and batches answer the container's current logical sequence number (LSN) in the
// `lsn` header: each request that writes advances it by one, a batch included (azure-cosmos'
// test_cosmos_responses.py and test_transactional_batch.py expect exactly that).
//
// Effective partition keys are hashed by Microsoft's own code: @azure/cosmos's hashPartitionKey
// (dist/commonjs/utils/hashing/hash.js; not exported by the package, so required by path, behind
// a version check).

const path = require("path");
const partitions = require("./cosmos-partitions");

const LIB = path.dirname(require.resolve("@vercel/cosmosdb-server/lib/routes.js", { paths: [__dirname] }));
const Documents = require(path.join(LIB, "account", "documents.js")).default;
const getValue = require(path.join(LIB, "utils", "get-value.js")).default;
const SDK_DIR = path.dirname(require.resolve("@azure/cosmos/package.json", { paths: [__dirname] }));
const SDK_VERSION = "4.10.1";

const DEFAULT_PAGE_SIZE = 100;
const INCREMENTAL_FEED = "incremental feed";

// items -> { lsn: the container's LSN, changed: whether the request in progress wrote,
//            position: last position given, of: Map(rid -> position of the item's last write) }
const sequences = new WeakMap();
let hashPartitionKey = null;

function sequenceOf(items) {
  let sequence = sequences.get(items);
  if (!sequence) {
    sequence = { lsn: 0, changed: false, position: 0, of: new Map() };
    sequences.set(items, sequence);
  }
  return sequence;
}

// After a request on the container: its LSN, advanced by one if the request wrote.
function settledLsn(items) {
  const sequence = sequenceOf(items);
  if (sequence.changed) {
    sequence.lsn += 1;
    sequence.changed = false;
  }
  return sequence.lsn;
}

function isChangeFeedRequest(req) {
  const aim = req.headers["a-im"];
  return typeof aim === "string" && aim.toLowerCase() === INCREMENTAL_FEED;
}

// The continuation a request carries: { after: LSN } | { now: true } | {}.
function startOf(req) {
  const etag = req.headers["if-none-match"];
  if (typeof etag === "string" && etag !== "") {
    if (etag.trim() === "*") {
      return { now: true };
    }
    const lsn = Number(etag.replace(/"/g, ""));
    return Number.isInteger(lsn) && lsn >= 0 ? { after: lsn } : { invalid: etag };
  }
  return {};
}

function sinceOf(req) {
  const value = req.headers["if-modified-since"];
  const time = typeof value === "string" ? Date.parse(value) : NaN;
  return Number.isNaN(time) ? null : time / 1000;
}

// The container's partition key definition as hashPartitionKey takes it.
function definitionOf(collection) {
  const { partitionKey } = collection.read() || {};
  return partitionKey || { paths: ["/id"], kind: "Hash" };
}

function effectivePartitionKey(data, definition) {
  const values = definition.paths.map(p => {
    const value = getValue(p.slice(1).split("/"), data);
    return value === undefined ? {} : value; // {} is "no value", as the SDKs write PartitionKey.NONE
  });
  return hashPartitionKey(values, definition);
}

// The EPK range a request is scoped to (x-ms-start-epk, x-ms-end-epk), or null.
function epkRangeOf(req) {
  const start = req.headers["x-ms-start-epk"];
  const end = req.headers["x-ms-end-epk"];
  return typeof start === "string" && typeof end === "string" ? { start, end } : null;
}

// The items in scope: Map(rid -> item) per partition, filtered to the EPK range when one is given.
function itemsInScope(req, collection) {
  const items = collection.documents;
  const key = req.headers["x-ms-documentdb-partitionkey"];
  if (typeof key === "string") {
    const parsed = JSON.parse(key);
    return [partitions.itemsInPartition(items, Array.isArray(parsed) ? parsed[0] : parsed)];
  }
  const range = epkRangeOf(req);
  return range ? itemsInEpkRange(collection, range) : [items._data];
}

// The items whose effective partition key is in [start, end), as Maps (rid -> item).
function itemsInEpkRange(collection, { start, end }) {
  const items = collection.documents;
  const definition = definitionOf(collection);
  const inRange = [];
  if (definition.paths.length > 1) {
    // Hierarchical keys: the partition index groups by the first level only, so hash each item.
    const rows = [...items._data].filter(([, item]) => {
      const epk = effectivePartitionKey(item.read(), definition);
      return epk >= start && epk < end;
    });
    return [new Map(rows)];
  }
  for (const rows of partitions.partitionsOf(items).values()) {
    const first = rows.values().next().value;
    if (first) {
      const epk = effectivePartitionKey(first.read(), definition);
      if (epk >= start && epk < end) {
        inRange.push(rows);
      }
    }
  }
  return inRange;
}

// Answers a change feed request: { status, body, headers }.
function readChangeFeed(req, collection) {
  const items = collection.documents;
  const sequence = sequenceOf(items);
  const start = startOf(req);
  if (start.invalid !== undefined) {
    return { status: 400, body: { code: "BadRequest", message: `Invalid change feed continuation (If-None-Match) '${start.invalid}'.` } };
  }
  if (start.now) {
    return { status: 304, headers: { etag: `"${sequence.position}"` } };
  }
  const after = start.after ?? 0;
  const since = sinceOf(req);
  const changed = [];
  for (const rows of itemsInScope(req, collection)) {
    for (const [rid, item] of rows) {
      const position = sequence.of.get(rid) ?? 0;
      if (position > after) {
        const data = item.read();
        if (since === null || data._ts >= since) {
          changed.push([position, data]);
        }
      }
    }
  }
  changed.sort((a, b) => a[0] - b[0]);
  const requested = Number.parseInt(req.headers["x-ms-max-item-count"], 10);
  const page = changed.slice(0, requested > 0 ? requested : DEFAULT_PAGE_SIZE);
  if (page.length === 0) {
    // Nothing new: continue from the latest LSN, so later changes are what comes next.
    return { status: 304, headers: { etag: `"${Math.max(after, sequence.position)}"` } };
  }
  const last = page[page.length - 1][0];
  const documents = page.map(([, data]) => data);
  return {
    status: 200,
    body: { _rid: (collection.read() || {})._rid, Documents: documents, _count: documents.length },
    headers: { etag: `"${last}"`, "x-ms-item-count": String(documents.length) },
  };
}

// The library's read-documents handler, with change feed requests answered here.
function changeFeed(handler) {
  return async (account, req, res, params) => {
    const collection = account.database(params.dbId).collection(params.collId);
    if (!isChangeFeedRequest(req) || !collection.read()) {
      return handler(account, req, res, params);
    }
    const answer = readChangeFeed(req, collection);
    // The library's server (lib/index.js) turns every 200 to an A-IM request that has If-None-Match
    // into a 304 and sets `etag: 1` afterwards: this answer is final, so it must not see the header.
    delete req.headers["a-im"];
    res.statusCode = answer.status;
    for (const [name, value] of Object.entries(answer.headers || {})) {
      res.setHeader(name, value);
    }
    return answer.body;
  };
}

let installed = false;

function install() {
  if (installed) {
    return;
  }
  const { version } = require(path.join(SDK_DIR, "package.json"));
  if (version !== SDK_VERSION) {
    throw new Error(`cosmos-feed: written for @azure/cosmos ${SDK_VERSION}'s hashing, found ${version}`);
  }
  ({ hashPartitionKey } = require(path.join(SDK_DIR, "dist", "commonjs", "utils", "hashing", "hash.js")));
  const set = Documents.prototype._set;
  const remove = Documents.prototype.delete;
  if (typeof set !== "function" || typeof remove !== "function" || typeof hashPartitionKey !== "function") {
    throw new Error("cosmos-feed: the library's Documents has no _set/delete, or @azure/cosmos no hashPartitionKey");
  }
  Documents.prototype._set = function setAndSequence(data) {
    const stored = set.call(this, data);
    const sequence = sequenceOf(this);
    sequence.position += 1;
    sequence.changed = true;
    sequence.of.set(data._rid, sequence.position);
    return stored;
  };
  Documents.prototype.delete = function deleteAndSequence(idOrRid, partition) {
    const existing = this._item("/id", idOrRid, partition).read();
    remove.call(this, idOrRid, partition);
    const sequence = sequenceOf(this);
    sequence.changed = true;
    if (existing) {
      sequence.of.delete(existing._rid);
    }
  };
  installed = true;
}

module.exports = { changeFeed, epkRangeOf, install, isChangeFeedRequest, itemsInEpkRange, settledLsn };
