"use strict";
// An index of each container's items by partition key value, so that a query scoped to one
// partition reads that partition only, as in Cosmos DB, instead of every item of the container.
//
// @vercel/cosmosdb-server 1.0.1 keeps a container's items in one Map (rid -> item) and changes it
// only in Documents#_set (create, and the second half of replace) and Documents#delete. install()
// wraps both to keep a second Map per partition in step. Whoever assigns the Map directly (the
// batch rollback in cosmos-patches.js) calls reindex() afterwards.
// node_modules stays untouched.

const path = require("path");

const LIB = path.dirname(require.resolve("@vercel/cosmosdb-server/lib/routes.js", { paths: [__dirname] }));
const Documents = require(path.join(LIB, "account", "documents.js")).default;
const getValue = require(path.join(LIB, "utils", "get-value.js")).default;
const headerValues = require(path.join(LIB, "utils", "get-partition-from-header.js"));

const NO_ITEMS = new Map();
// items (the library's Items of a container) -> Map(partition token -> Map(rid -> item))
const partitionsOf = new WeakMap();

// A comparable form of a partition key value; `{}` in the header means "no value" (the SDKs'
// PartitionKey.NONE) and matches items without the property.
function partitionToken(value) {
  const isEmptyObject = value !== null && typeof value === "object" && Object.keys(value).length === 0;
  return value === undefined || isEmptyObject ? "<none>" : JSON.stringify(value);
}

// The library's partition key path is the container's first /path (hierarchical keys store only
// their first level there).
function tokenOfItem(items, data) {
  return partitionToken(getValue(items._getPartitionKeyPath(), data));
}

function add(partitions, token, rid, item) {
  let rows = partitions.get(token);
  if (!rows) {
    rows = new Map();
    partitions.set(token, rows);
  }
  rows.set(rid, item);
}

function reindex(items) {
  const partitions = new Map();
  for (const [rid, item] of items._data) {
    add(partitions, tokenOfItem(items, item.read()), rid, item);
  }
  partitionsOf.set(items, partitions);
  return partitions;
}

function partitions(items) {
  return partitionsOf.get(items) || reindex(items);
}

// The items whose partition key is `value`, as a Map(rid -> item) in the order the container holds
// them. The Map is the index itself: read it, never change it.
function itemsInPartition(items, value) {
  return partitions(items).get(partitionToken(value)) || NO_ITEMS;
}

// Hierarchical partition keys (several paths): the library identifies an item by the first level
// and its id, so the same id under two second levels collided. An item's partition is the whole key
// instead, as the header gives it (["WA","Redmond"]) and as read from the item; the index above
// still groups by the first level, which is what a query scoped to a key prefix starts from.
function wholeHierarchicalKeys() {
  const { parsePartitionKey } = headerValues;
  const getPartition = Documents.prototype._getPartition;
  if (typeof parsePartitionKey !== "function" || typeof getPartition !== "function") {
    throw new Error("cosmos-partitions: the library has no parsePartitionKey/_getPartition to extend");
  }
  headerValues.parsePartitionKey = (header, defaultValue) => {
    let parsed;
    try {
      parsed = JSON.parse(header);
    } catch {
      return parsePartitionKey(header, defaultValue); // throws as it did
    }
    return Array.isArray(parsed) && parsed.length > 1 ? JSON.stringify(parsed) : parsePartitionKey(header, defaultValue);
  };
  Documents.prototype._getPartition = function wholeKey(data) {
    const paths = this._partitionKeyPath || [];
    if (paths.length < 2) {
      return getPartition.call(this, data);
    }
    return JSON.stringify(paths.map(p => {
      const value = getValue(p.slice(1).split("/"), data);
      return value === undefined ? {} : value;
    }));
  };
}

let installed = false;

function install() {
  if (installed) {
    return;
  }
  wholeHierarchicalKeys();
  const set = Documents.prototype._set;
  const remove = Documents.prototype.delete;
  if (typeof set !== "function" || typeof remove !== "function") {
    throw new Error("cosmos-partitions: the library's Documents has no _set/delete to index");
  }
  Documents.prototype._set = function setAndIndex(data) {
    const stored = set.call(this, data);
    add(partitions(this), tokenOfItem(this, data), data._rid, this._data.get(data._rid));
    return stored;
  };
  Documents.prototype.delete = function deleteAndUnindex(idOrRid, partition) {
    const existing = this._item("/id", idOrRid, partition).read();
    remove.call(this, idOrRid, partition); // throws when there is no such item
    const token = tokenOfItem(this, existing);
    const rows = partitions(this).get(token);
    if (rows) {
      rows.delete(existing._rid);
      if (rows.size === 0) {
        partitions(this).delete(token);
      }
    }
  };
  installed = true;
}

module.exports = { install, itemsInPartition, partitionToken, partitionsOf: partitions, reindex };
