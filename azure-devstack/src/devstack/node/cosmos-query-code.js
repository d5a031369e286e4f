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
// install() must run before the first query is compiled; node_modules stays untouched.

const path = require("path");

const LIBRARY_DIR = path.dirname(require.resolve("@vercel/cosmosdb-server/package.json", { paths: [__dirname] }));
const QUERY_DIR = path.dirname(require.resolve("@zeit/cosmosdb-query/package.json", { paths: [LIBRARY_DIR] }));
const transformer = require(path.join(QUERY_DIR, "lib", "transformer.js"));
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
  installed = true;
}

module.exports = { install, appendInsteadOfCopy };
