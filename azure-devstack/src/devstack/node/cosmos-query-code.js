"use strict";
// Makes the queries of @vercel/cosmosdb-server cost time in proportion to the items they read.
//
// Its query engine (@zeit/cosmosdb-query 0.7.2) compiles SQL to JavaScript. The FROM clause, and
// each JOIN, becomes a reduce that copies its whole accumulator for every item:
//   items.reduce(($, c) => typeof c !== "undefined" ? [...$, { c }] : $, [])
// which is quadratic: a list of 50 took 3 ms over 1,000 items, 63 ms over 10,000 and 1.2 s over
// 20,000. The rewrite appends instead, `($.push({ c }), $)`, on the same generated syntax tree
// before it is printed. The accumulator is a fresh array that only that reduce ever sees, so
// appending to it gives the same rows in the same order.
//
// And where its semantics differ from Cosmos DB's (each behind the same version check):
// - ORDER BY on one property dropped the items that lack it; Cosmos DB returns them, undefined
//   first ascending (Microsoft's "ORDER BY" page, since 2022), and a continuation after such an item
//   keeps its place (the token's sort values keep `undefined`, which JSON would turn into null);
// - CONTAINS, STARTSWITH and ENDSWITH take a third argument, ignore case (Microsoft's pages of each),
//   and STRINGEQUALS exists;
// - DEVSTACK_LIKE is the LIKE keyword, which cosmos-query.js rewrites into a call.
// install() must run before the first query is compiled; node_modules stays untouched.

const path = require("path");

const LIBRARY_DIR = path.dirname(require.resolve("@vercel/cosmosdb-server/package.json", { paths: [__dirname] }));
const QUERY_DIR = path.dirname(require.resolve("@zeit/cosmosdb-query/package.json", { paths: [LIBRARY_DIR] }));
const transformer = require(path.join(QUERY_DIR, "lib", "transformer.js"));
const helpers = require(path.join(QUERY_DIR, "lib", "helpers.js"));
const builtins = require(path.join(QUERY_DIR, "lib", "builtin-functions.js"));
const continuationToken = require(path.join(QUERY_DIR, "lib", "continuation-token.js"));
const { like } = require("./cosmos-query");
const SUPPORTED_VERSION = "0.7.2";

const ACCUMULATOR = "$";

function isAccumulator(node) {
  return node !== null && typeof node === "object" && node.type === "Identifier" && node.name === ACCUMULATOR;
}

// `[...$, a, ...b]`: the accumulator copied, then the new rows.
function isCopyThenAppend(node) {
  return (
    node !== null &&
    typeof node === "object" &&
    node.type === "ArrayExpression" &&
    node.elements.length > 1 &&
    node.elements[0] !== null &&
    node.elements[0].type === "SpreadElement" &&
    isAccumulator(node.elements[0].argument)
  );
}

// `($.push(a, ...b), $)`
function appendInPlace(node) {
  return {
    type: "SequenceExpression",
    expressions: [
      {
        type: "CallExpression",
        callee: {
          type: "MemberExpression",
          object: { type: "Identifier", name: ACCUMULATOR },
          property: { type: "Identifier", name: "push" },
          computed: false,
        },
        arguments: node.elements.slice(1),
      },
      { type: "Identifier", name: ACCUMULATOR },
    ],
  };
}

// A reducer `($, row) => ...` whose body copies the accumulator, directly or in the branch of a
// conditional that otherwise returns it unchanged.
function rewriteReducer(node) {
  if (node.type !== "ArrowFunctionExpression" || node.params.length !== 2 || !isAccumulator(node.params[0])) {
    return 0;
  }
  const body = node.body;
  if (isCopyThenAppend(body)) {
    node.body = appendInPlace(body);
    return 1;
  }
  if (body.type === "ConditionalExpression" && isCopyThenAppend(body.consequent) && isAccumulator(body.alternate)) {
    body.consequent = appendInPlace(body.consequent);
    return 1;
  }
  return 0;
}

// Rewrites every such reducer in a generated syntax tree, in place; returns how many it rewrote.
function appendInsteadOfCopy(tree) {
  let rewritten = 0;
  const pending = [tree];
  while (pending.length > 0) {
    const node = pending.pop();
    if (node === null || typeof node !== "object") {
      continue;
    }
    if (Array.isArray(node)) {
      pending.push(...node);
      continue;
    }
    rewritten += rewriteReducer(node);
    for (const [key, value] of Object.entries(node)) {
      if (key !== "loc" && value !== null && typeof value === "object") {
        pending.push(value);
      }
    }
  }
  return rewritten;
}

// JSON has no undefined: a sort value that was undefined travels as this marker.
const UNDEFINED_SORT_VALUE = { "$devstackUndefined": true };

function isUndefinedMarker(value) {
  return value !== null && typeof value === "object" && value.$devstackUndefined === true && Object.keys(value).length === 1;
}

function keepUndefinedSortValues() {
  const { encode, decode } = continuationToken;
  continuationToken.encode = token => encode(Array.isArray(token.RTD)
    ? { ...token, RTD: token.RTD.map(v => (v === undefined ? UNDEFINED_SORT_VALUE : v)) }
    : token);
  continuationToken.decode = text => {
    const token = decode(text);
    return Array.isArray(token.RTD) ? { ...token, RTD: token.RTD.map(v => (isUndefinedMarker(v) ? undefined : v)) } : token;
  };
}

// Whether a composite index serves an ORDER BY of several properties: in its order, or with every
// direction inverted (Microsoft's "Indexing policies", composite indexes: "ORDER BY name DESC, age
// ASC" is served by (name ASC, age DESC)). The library accepts only the first.
function servedByCompositeIndex(compositeIndexes, orders) {
  return (compositeIndexes || []).some(indexes => indexes.length === orders.length && [false, true].some(invert =>
    indexes.every((index, i) => {
      const [keys, desc] = orders[i];
      const direction = desc !== invert ? "descending" : "ascending";
      return index.path === `/${keys.slice(1).join("/")}` && (index.order || "ascending") === direction;
    })));
}

// ORDER BY with one property: the library sorts every item (undefined first, as Cosmos DB's type
// order has it) and then drops those without the property; keep them.
function orderByKeepsUndefined() {
  const { sort } = helpers;
  helpers.sort = (collection, getRid, compositeIndexes, ...orders) => {
    if (orders.length !== 1) {
      if (compositeIndexes && !servedByCompositeIndex(compositeIndexes, orders)) {
        throw new Error("The order by query does not have a corresponding composite index that it can be served from.");
      }
      return sort(collection, getRid, null, ...orders);
    }
    // Two orders always keep every item; the second (the item itself) never decides, since _rid does.
    return sort(collection, getRid, null, ...orders, [["$devstack-no-such-path"], false]);
  };
}

function stringFunction(name, test) {
  return (...args) => {
    if (args.length < 2 || args.length > 3) {
      throw new Error(`The ${name} function requires 2 or 3 argument(s)`);
    }
    const [a, b, ignoreCase = false] = args;
    if (typeof a !== "string" || typeof b !== "string" || typeof ignoreCase !== "boolean") {
      return undefined;
    }
    return ignoreCase ? test(a.toLowerCase(), b.toLowerCase()) : test(a, b);
  };
}

function addStringFunctions() {
  builtins.CONTAINS = stringFunction("CONTAINS", (a, b) => a.includes(b));
  builtins.STARTSWITH = stringFunction("STARTSWITH", (a, b) => a.startsWith(b));
  builtins.ENDSWITH = stringFunction("ENDSWITH", (a, b) => a.endsWith(b));
  builtins.STRINGEQUALS = stringFunction("STRINGEQUALS", (a, b) => a === b);
  builtins.DEVSTACK_LIKE = like;
}

let installed = false;

function install() {
  if (installed) {
    return;
  }
  const { version } = require(path.join(QUERY_DIR, "package.json"));
  if (version !== SUPPORTED_VERSION || typeof transformer.default !== "function") {
    // Another engine: its generated code may differ, so better to stop than to guess.
    throw new Error(`cosmos-query-code: written for @zeit/cosmosdb-query ${SUPPORTED_VERSION}, found ${version}`);
  }
  const transform = transformer.default;
  transformer.default = (...args) => {
    const tree = transform(...args);
    appendInsteadOfCopy(tree);
    return tree;
  };
  keepUndefinedSortValues();
  orderByKeepsUndefined();
  addStringFunctions();
  installed = true;
}

module.exports = { install, appendInsteadOfCopy };
