"use strict";
// Loaded with `node --require` before Azurite (launchers.py): makes Azurite's in-memory metadata
// lookups use their most selective index, so an upload costs the same at 1,000 blobs as at 100,000.
//
// Why: Azurite 3.35 keeps metadata in LokiJS 1.5 collections with a binary index per field (blobs:
// accountName, containerName, name, snapshot), and looks a blob up with an implicit AND of those
// fields. LokiJS evaluates AND terms in the order written and can use an index only for the first
// one, here accountName, which every blob of the account shares: each lookup then scanned every
// blob three more times (FIELD-NOTES: 2.8 ms of CPU per upload at 2.5k blobs, 20.5 ms at 21k).
//
// The fix runs first the equality term whose index range is narrowest (a binary search per
// indexed term, so O(log n)); the other terms then filter a handful of rows. AND is commutative,
// so the rows found are the same (only terms on strings and numbers are moved). Their order is too:
// every index is maintained adaptively and puts an inserted or updated row first among its equals,
// so rows that are equal on all the terms keep the same relative order in each index. Azurite
// sorts whatever it lists anyway.
// What remains grows with the blob count: LokiJS inserts into each sorted index array with a
// splice, negligible at 10,000 blobs (about 5 µs) and about 0.15 ms per upload at 100,000.
// node_modules stays untouched; the patch replaces one method on LokiJS's Resultset prototype.

const path = require("path");

// The LokiJS that Azurite itself requires (the same module instance, hence the same prototype).
const AZURITE_DIR = path.dirname(require.resolve("azurite/package.json", { paths: [__dirname] }));
const loki = require(require.resolve("lokijs", { paths: [AZURITE_DIR] }));
const SUPPORTED_LOKI = /^1\.5\./;

// The value of a plain equality term ({field: value} or {field: {$eq: value}}) on a scalar, or
// undefined for any other term (operators, objects, several fields).
function equalityTerm(term) {
  const fields = Object.keys(term);
  if (fields.length !== 1) {
    return undefined;
  }
  const [field] = fields;
  let value = term[field];
  if (value !== null && typeof value === "object" && Object.keys(value).length === 1 && "$eq" in value) {
    value = value.$eq;
  }
  return typeof value === "string" || typeof value === "number" ? { field, value } : undefined;
}

// How many rows the collection's binary index on `field` holds for `value`; Infinity without an
// index that is usable as is.
function indexedRowCount(collection, field, value) {
  const index = collection.binaryIndices[field];
  if (!index || index.dirty || collection.adaptiveBinaryIndices !== true) {
    return Infinity;
  }
  const [first, last] = collection.calculateRange("$eq", field, value);
  return last - first + 1;
}

// The AND's terms with the most selective indexed equality first, the rest in their given order.
function mostSelectiveFirst(collection, terms) {
  let best = -1;
  let bestCount = Infinity;
  terms.forEach((term, position) => {
    const equality = term && typeof term === "object" ? equalityTerm(term) : undefined;
    if (equality) {
      const count = indexedRowCount(collection, equality.field, equality.value);
      if (count < bestCount) {
        best = position;
        bestCount = count;
      }
    }
  });
  if (best <= 0) {
    return terms;
  }
  return [terms[best], ...terms.slice(0, best), ...terms.slice(best + 1)];
}

function install() {
  const version = require(require.resolve("lokijs/package.json", { paths: [AZURITE_DIR] })).version;
  const Resultset = loki.Resultset;
  if (!SUPPORTED_LOKI.test(version) || !Resultset || typeof Resultset.prototype.findAnd !== "function") {
    // Another LokiJS: better to stop than to run with lookups that may behave differently.
    throw new Error(`azurite-lookups: written for LokiJS 1.5 (Resultset.prototype.findAnd), found ${version}`);
  }
  const findAnd = Resultset.prototype.findAnd;
  if (findAnd.mostSelectiveFirst) {
    return;
  }
  function findAndMostSelectiveFirst(terms) {
    // Only the first term of a fresh result set can use an index; later ones filter its rows.
    const ordered = this.filterInitialized || !Array.isArray(terms) ? terms : mostSelectiveFirst(this.collection, terms);
    return findAnd.call(this, ordered);
  }
  findAndMostSelectiveFirst.mostSelectiveFirst = true;
  Resultset.prototype.findAnd = findAndMostSelectiveFirst;
  Resultset.prototype.$and = findAndMostSelectiveFirst;
}

install();

module.exports = { install };
