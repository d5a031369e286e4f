"use strict";
// Time to live, as Azure Cosmos DB applies it (Microsoft's "Time to Live (TTL) in Azure Cosmos DB"):
// - the container's `defaultTtl` absent (or null): nothing expires, whatever an item's `ttl` says;
// - `defaultTtl` -1: items do not expire unless they set `ttl` (seconds, or -1 for never);
// - `defaultTtl` n: an item expires n seconds after its last write (`_ts`), unless its `ttl` says
//   otherwise (-1: never; m: after m seconds);
// - an expired item is gone at once for reads, queries and the change feed, and then deleted.
// A container's `defaultTtl` must be -1 or a positive integer (400 otherwise; azure-cosmos'
// test_ttl.py); an item's `ttl` is checked by the front end (devstack/cosmos_gateway/limits.py), and
// one it let through that is not -1 or positive counts as absent here.
//
// Cost: each write of an item that can expire pushes (expiry, rid, _ts) onto a heap per container.
// Every request that reaches a container first takes its due entries off the heap (nothing to do
// when none is due), and a timer does the same for every container once a second; an entry whose
// item was rewritten or deleted since is dropped when it comes due. No request scans the items.
// @vercel/cosmosdb-server 1.0.1 writes items only through Documents#_set and removes them through
// Documents#delete (cosmos-partitions.js wraps the same two); install() checks they exist.

const path = require("path");

const LIB = path.dirname(require.resolve("@vercel/cosmosdb-server/lib/routes.js", { paths: [__dirname] }));
const Documents = require(path.join(LIB, "account", "documents.js")).default;
const Collections = require(path.join(LIB, "account", "collections.js")).default;

const SWEEP_INTERVAL_MS = 1_000;
const MAX_TTL_SECONDS = 2_147_483_647;

// items (the library's Items of a container) -> { heap: [[expiresAt, rid, ts]], defaultTtl }
const schedules = new Map();

function nowSeconds() {
  return Date.now() / 1000;
}

function isValidTtl(value) {
  return Number.isInteger(value) && (value === -1 || (value > 0 && value <= MAX_TTL_SECONDS));
}

function defaultTtlOf(items) {
  const container = items._parent.read();
  const value = container ? container.defaultTtl : undefined;
  return value === undefined || value === null ? undefined : value;
}

// When `item` expires (epoch seconds), or null if it never does.
function expiryOf(item, defaultTtl) {
  if (defaultTtl === undefined) {
    return null;
  }
  const ttl = Object.hasOwn(item, "ttl") && isValidTtl(item.ttl) ? item.ttl : defaultTtl;
  return ttl === -1 ? null : item._ts + ttl;
}

// --- a binary min-heap of [expiresAt, rid, ts] ----------------------------------------------------

function push(heap, entry) {
  heap.push(entry);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent][0] <= heap[i][0]) break;
    [heap[parent], heap[i]] = [heap[i], heap[parent]];
    i = parent;
  }
}

function pop(heap) {
  const top = heap[0];
  const last = heap.pop();
  if (heap.length > 0) {
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && heap[left][0] < heap[smallest][0]) smallest = left;
      if (right < heap.length && heap[right][0] < heap[smallest][0]) smallest = right;
      if (smallest === i) break;
      [heap[smallest], heap[i]] = [heap[i], heap[smallest]];
      i = smallest;
    }
  }
  return top;
}

// --- the schedule of one container ---------------------------------------------------------------

function schedule(items, data, defaultTtl) {
  const expiresAt = expiryOf(data, defaultTtl);
  if (expiresAt === null) {
    return;
  }
  let entry = schedules.get(items);
  if (!entry) {
    entry = { heap: [], defaultTtl };
    schedules.set(items, entry);
  }
  push(entry.heap, [expiresAt, data._rid, data._ts]);
}

// A container whose defaultTtl changed (a container replace) is scheduled anew from its items.
function rescheduleIfChanged(items, defaultTtl) {
  const entry = schedules.get(items);
  if (entry ? entry.defaultTtl === defaultTtl : defaultTtl === undefined) {
    return;
  }
  schedules.set(items, { heap: [], defaultTtl });
  for (const stored of items._data.values()) {
    schedule(items, stored.read(), defaultTtl);
  }
}

// Deletes the items of `items` that have expired by `now`.
function expireDue(items, now = nowSeconds()) {
  if (!items._parent.read()) {
    schedules.delete(items);
    return;
  }
  const defaultTtl = defaultTtlOf(items);
  rescheduleIfChanged(items, defaultTtl);
  const entry = schedules.get(items);
  if (!entry) {
    return;
  }
  const { heap } = entry;
  while (heap.length > 0 && heap[0][0] <= now) {
    const [, rid, ts] = pop(heap);
    const stored = items._data.get(rid);
    const data = stored && stored.read();
    // Rewritten since (another entry stands for it now) or already deleted: nothing to do.
    if (data && data._ts === ts && expiryOf(data, defaultTtl) !== null && expiryOf(data, defaultTtl) <= now) {
      items.delete(data._rid, items._getPartition(data));
    }
  }
  if (heap.length === 0 && defaultTtl === undefined) {
    schedules.delete(items);
  }
}

// Before a request on a container: its expired items are gone.
function expireDueIn(account, { dbId, collId }) {
  if (dbId === undefined || collId === undefined) {
    return;
  }
  const collection = account.database(dbId).collection(collId);
  if (collection.read()) {
    expireDue(collection.documents);
  }
}

// --- validation of defaultTtl -------------------------------------------------------------------

// Creating or replacing a container with a defaultTtl other than -1 or 1..2^31-1 is refused (400).
function checkingDefaultTtl(write) {
  return function writeContainer(data, ...rest) {
    const value = data ? data.defaultTtl : undefined;
    if (value !== undefined && value !== null && !isValidTtl(value)) {
      const err = new Error(`The value of defaultTtl '${value}' is invalid: use -1 or a positive number of seconds.`);
      err.badRequest = true;
      throw err;
    }
    return write.call(this, data, ...rest);
  };
}

let installed = false;
let timer = null;

function install() {
  if (installed) {
    return;
  }
  const set = Documents.prototype._set;
  if (typeof set !== "function" || typeof Documents.prototype.delete !== "function") {
    throw new Error("cosmos-ttl: the library's Documents has no _set/delete to schedule expiries from");
  }
  Collections.prototype.create = checkingDefaultTtl(Collections.prototype.create);
  Collections.prototype.replace = checkingDefaultTtl(Collections.prototype.replace);
  Documents.prototype._set = function setAndSchedule(data) {
    const stored = set.call(this, data);
    const defaultTtl = defaultTtlOf(this);
    rescheduleIfChanged(this, defaultTtl);
    schedule(this, data, defaultTtl);
    return stored;
  };
  timer = setInterval(() => {
    for (const items of [...schedules.keys()]) {
      expireDue(items);
    }
  }, SWEEP_INTERVAL_MS);
  timer.unref();
  installed = true;
}

module.exports = { expireDue, expireDueIn, expiryOf, install };
