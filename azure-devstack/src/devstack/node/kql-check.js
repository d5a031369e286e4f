"use strict";
// KQL queries checked offline with Microsoft's Kusto language service for JavaScript
// (@kusto/language-service-next): each query parsed and analysed against the tables given, as the
// Log Analytics query editor would, with no cluster or workspace.
//
// stdin:  {"tables": {"<name>": "(Col:type, ...)"}, "queries": {"<name>": "<KQL>"}}
// stdout: {"<query name>": {"diagnostics": ["<severity> <code> at <line>:<column>: <message>"],
//                          "columns": {"<table>": ["<column>", ...]}}}
// `columns` lists each table column a query reads by name (where, project, summarize ...), found by
// the analyser's own name binding, so a caller can tell which columns the query depends on.

// The package is a Bridge.NET build: its runtime first, then the language service, both as globals.
require("@kusto/language-service-next/bridge.min.js");
require("@kusto/language-service-next/Kusto.Language.Bridge.min.js");

const Kusto = global.Kusto.Language;
const Symbols = Kusto.Symbols;

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on("data", chunk => chunks.push(chunk));
    process.stdin.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    process.stdin.on("error", reject);
  });
}

function list(collection) {
  const items = [];
  for (let i = 0; i < collection.Count; i++) {
    items.push(collection.getItem(i));
  }
  return items;
}

function position(text, offset) {
  const before = text.slice(0, offset).split("\n");
  return `${before.length}:${before[before.length - 1].length + 1}`;
}

function check(text, globals, owners) {
  const code = Kusto.KustoCode.ParseAndAnalyze(text, globals);
  const diagnostics = list(code.GetDiagnostics()).map(d =>
    `${d.Severity} ${d.Code} at ${position(text, d.Start)}: ${d.Message}`);
  const columns = {};
  for (const reference of list(code.Syntax.GetDescendants(Kusto.Syntax.NameReference, null))) {
    const table = owners.get(reference.ReferencedSymbol);
    if (table) {
      columns[table] = [...new Set([...(columns[table] || []), reference.SimpleName])].sort();
    }
  }
  return { diagnostics, columns };
}

async function main() {
  const request = JSON.parse(await readStdin());
  const tables = Object.entries(request.tables).map(([name, schema]) => new Symbols.TableSymbol.$ctor7(name, schema, null));
  const owners = new Map();
  for (const table of tables) {
    for (const column of list(table.Columns)) {
      owners.set(column, table.Name);
    }
  }
  const globals = Kusto.GlobalState.Default.WithDatabase(new Symbols.DatabaseSymbol.$ctor2("workspace", null, tables));
  const results = {};
  for (const [name, text] of Object.entries(request.queries)) {
    results[name] = check(text, globals, owners);
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch(error => {
  process.stderr.write(`kql-check: ${error && error.message ? error.message : error}\n`);
  process.exit(2);
});
