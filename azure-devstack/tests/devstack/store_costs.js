"use strict";
// Measures, in one Node process, what the local stack's stores cost per operation as they fill up,
// for tests/devstack/test_stack_degradation.py. Drives the stores' own code directly (no HTTP), so
// a measurement at 20,000 records takes a second or two. Prints one JSON document on stdout.
//
//   node --require devstack/node/azurite-lookups.js store_costs.js azurite-uploads 1000,10000
//       -> {"1000": µs per upload, "10000": ...}: Azurite's metadata store, uploads at each size
//   node store_costs.js cosmos-list [--unpatched] partition|others <size of the other> <size>,<size>...
//       -> {"<size>": µs per list of 50, ...}: a list query scoped to partition "github", newest first,
//          while that partition (or, with `others`, the rest of the container) grows to each size
//   node store_costs.js cosmos-queries [--unpatched]
//       -> {name: result}: the results of queries of every shape the app and tests use
//   node store_costs.js cosmos-partition-index
//       -> {"mismatches": [...]}: partition reads after writes, replaces, deletes and a rolled-back batch
//   node store_costs.js cosmos-ttl-reads <size>,<size>...
//       -> {"<size>": µs per point read, ...}: reads through the handler (which first expires what is
//          due) in a container with a defaultTtl, as its items, none of them due yet, grow to each size

const path = require("path");
const { Readable } = require("stream");

const NODE_DIR = path.resolve(__dirname, "..", "..", "src", "devstack", "node");
const AZURITE = path.dirname(require.resolve("azurite/package.json", { paths: [NODE_DIR] }));
const COSMOS_LIB = path.dirname(require.resolve("@vercel/cosmosdb-server/lib/routes.js", { paths: [NODE_DIR] }));
// Timings are the fastest of a few batches: the least disturbed by other processes and the GC.
const BATCHES = 5;
const WARM_UP_OPERATIONS = 30;

function elapsedMicroseconds(started) {
  return Number(process.hrtime.bigint() - started) / 1e3;
}

async function fastestPerOperation(operation, batchSize) {
  for (let i = 0; i < WARM_UP_OPERATIONS; i += 1) {
    await operation(); // not timed: lets the JIT settle on the code at this size
  }
  let best = Infinity;
  for (let batch = 0; batch < BATCHES; batch += 1) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < batchSize; i += 1) {
      await operation();
    }
    best = Math.min(best, elapsedMicroseconds(started) / batchSize);
  }
  return best;
}

// --- Azurite -------------------------------------------------------------------------------------

async function azuriteUploads(sizes) {
  const Store = require(path.join(AZURITE, "dist", "src", "blob", "persistence", "LokiBlobMetadataStore.js")).default;
  const store = new Store(path.join(__dirname, "never-written.db"), true); // in memory, as the stack runs it
  await store.init();
  const context = { contextId: "store-costs", startTime: new Date() };
  const account = "stdatalocal";
  await store.createContainer(context, { accountName: account, name: "events", properties: { etag: "0x1", lastModified: new Date() } });
  let count = 0;
  // What a create-only Put Blob of the app stores: a new name, If-None-Match: *.
  async function upload() {
    count += 1;
    const now = new Date();
    const blob = {
      deleted: false,
      accountName: account,
      containerName: "events",
      name: `github/${count}-${(count * 2654435761) % 4294967296}`,
      snapshot: "",
      isCommitted: true,
      properties: { creationTime: now, lastModified: now, etag: `0x${count}`, contentLength: 1100, blobType: "BlockBlob" },
      metadata: { sha256: "0".repeat(64) },
      persistency: { id: `extent-${count}`, offset: 0, count: 1100 },
    };
    await store.createBlob(context, blob, undefined, { ifNoneMatch: "*" });
  }
  const costs = {};
  for (const size of sizes) {
    while (count < size) {
      await upload();
    }
    costs[size] = await fastestPerOperation(upload, 100);
  }
  await store.close();
  return costs;
}

// --- Cosmos --------------------------------------------------------------------------------------

function cosmosAccount(patched, properties = {}) {
  if (patched) {
    require(path.join(NODE_DIR, "cosmos-patches.js")).install();
  }
  const Account = require(path.join(COSMOS_LIB, "account")).default;
  const account = new Account("localhost", 443);
  account.databases.create({ id: "inbox" });
  const database = account.database("inbox");
  database.collections.create({ id: "events", partitionKey: { paths: ["/source"], kind: "Hash" }, ...properties });
  return { account, documents: database.collection("events").documents };
}

function request(body, headers) {
  const req = Readable.from([Buffer.from(JSON.stringify(body))]);
  req.headers = headers;
  return req;
}

// The query handler as the router calls it (patched: scoped to the partition in the header).
async function runHandler(account, file, body, headers) {
  const handler = require(path.join(COSMOS_LIB, "handler", file)).default;
  const res = { statusCode: 200, headers: {}, setHeader(name, value) { this.headers[name] = value; } };
  const answer = await handler(account, request(body, headers), res, { dbId: "inbox", collId: "events" });
  return { status: res.statusCode, headers: res.headers, body: answer };
}

function record(n, source, type = "push") {
  return { id: `event-${n}`, source, type, receivedAt: new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString(), size: 7 };
}

const LIST_QUERY = "SELECT * FROM c WHERE c.source = @source ORDER BY c.receivedAt DESC";

async function cosmosList(patched, growing, fixedSize, sizes) {
  const { account, documents } = cosmosAccount(patched);
  let n = 0;
  const counts = { partition: 0, others: 0 };
  const fill = (which, size) => {
    for (; counts[which] < size; counts[which] += 1, n += 1) {
      documents.create(record(n, which === "partition" ? "github" : `other-${n % 7}`));
    }
  };
  fill(growing === "partition" ? "others" : "partition", fixedSize);
  const list = async () => {
    const body = { query: LIST_QUERY, parameters: [{ name: "@source", value: "github" }] };
    const headers = { "x-ms-documentdb-partitionkey": '["github"]', "x-ms-max-item-count": "50" };
    const answer = await runHandler(account, "query-documents.js", body, headers);
    if (answer.status !== 200 || answer.body.Documents.length !== 50) {
      throw new Error(`the list query failed: ${JSON.stringify(answer).slice(0, 300)}`);
    }
  };
  const costs = {};
  for (const size of sizes) {
    fill(growing, size);
    costs[size] = await fastestPerOperation(list, 4);
  }
  return costs;
}

// Queries run on the container as the library runs them (all partitions), so that the same
// program, with and without the patches, must give the same rows in the same order.
const QUERIES = {
  all: "SELECT * FROM c",
  where: "SELECT * FROM c WHERE c.source = 'github' AND c.type = 'push'",
  orderBy: "SELECT c.id, c.receivedAt FROM c ORDER BY c.receivedAt DESC",
  value: "SELECT VALUE c.type FROM c WHERE c.source = 'demo'",
  join: "SELECT c.id, t FROM c JOIN t IN c.tags",
  joinTwice: "SELECT c.id, t, u FROM c JOIN t IN c.tags JOIN u IN c.tags WHERE t < u",
  joinSubquery: "SELECT c.id FROM c JOIN (SELECT VALUE t FROM t IN c.tags WHERE t = 'b') s",
  nested: "SELECT VALUE c.nested.level FROM c WHERE IS_DEFINED(c.nested)",
  count: "SELECT VALUE COUNT(1) FROM c",
};

async function cosmosQueries(patched) {
  const { documents } = cosmosAccount(patched);
  for (let n = 0; n < 60; n += 1) {
    const item = record(n, n % 3 === 0 ? "demo" : "github", n % 4 === 0 ? "issues" : "push");
    item.tags = ["a", "b", "c"].slice(0, n % 4);
    if (n % 5 === 0) {
      item.nested = { level: n };
    }
    documents.create(item);
  }
  const strip = rows => rows.map(row => (row && typeof row === "object" ? { ...row, _etag: undefined, _ts: undefined } : row));
  const results = {};
  for (const [name, query] of Object.entries(QUERIES)) {
    const pages = [];
    let continuation = null;
    do {
      const page = documents.query({ query }, { maxItemCount: 7, continuation });
      pages.push(strip(page.result));
      continuation = page.continuation;
    } while (continuation && pages.length < 50);
    results[name] = pages;
  }
  return results;
}

async function cosmosPartitionIndex() {
  const { account, documents } = cosmosAccount(true);
  const { itemsInPartition } = require(path.join(NODE_DIR, "cosmos-partitions.js"));
  const sources = ["github", "demo", "other"];
  for (let n = 0; n < 90; n += 1) {
    documents.create(record(n, sources[n % 3]));
  }
  for (let n = 0; n < 90; n += 9) {
    documents.delete(`event-${n}`, sources[n % 3]);
  }
  for (let n = 1; n < 90; n += 9) {
    const original = documents._item("/id", `event-${n}`, sources[n % 3]).read();
    documents.replace({ ...original, type: "replaced" }, original);
  }
  documents.upsert({ ...record(1000, "demo"), type: "upserted" });
  // A batch whose second operation fails (a duplicate id) must leave nothing behind.
  const batch = [
    { operationType: "Create", resourceBody: record(2000, "github") },
    { operationType: "Create", resourceBody: record(3, "github") }, // event-3 is in github already
  ];
  const rolledBack = await runHandler(account, "batch-documents.js", batch, { "x-ms-documentdb-partitionkey": '["github"]' });
  const mismatches = [];
  if (rolledBack.status !== 207) {
    mismatches.push({ batch: rolledBack.status });
  }
  for (const source of [...sources, "nobody"]) {
    const expected = [...documents._data.values()].map(item => item.read()).filter(item => item.source === source);
    const indexed = [...itemsInPartition(documents, source).values()].map(item => item.read());
    const ids = rows => rows.map(row => `${row.id}:${row.type}:${row._etag}`);
    if (JSON.stringify(ids(indexed)) !== JSON.stringify(ids(expected))) {
      mismatches.push({ source, expected: ids(expected), indexed: ids(indexed) });
    }
  }
  return { mismatches };
}

async function cosmosTtlReads(sizes) {
  const { account, documents } = cosmosAccount(true, { defaultTtl: 3600 });
  const handler = require(path.join(COSMOS_LIB, "handler", "read-document.js")).default;
  let n = 0;
  const read = async () => {
    const req = request({}, { "x-ms-documentdb-partitionkey": '["github"]' });
    const res = { statusCode: 200, headers: {}, headersSent: false, setHeader(name, value) { this.headers[name] = value; } };
    const body = await handler(account, req, res, { dbId: "inbox", collId: "events", docId: `event-${n % 500}` });
    if (res.statusCode !== 200 || !body || body.source !== "github") {
      throw new Error(`the read failed: ${res.statusCode} ${JSON.stringify(body).slice(0, 300)}`);
    }
  };
  const costs = {};
  for (const size of sizes) {
    for (; n < size; n += 1) {
      documents.create(record(n, "github"));
    }
    costs[size] = await fastestPerOperation(read, 200);
  }
  return costs;
}

async function main() {
  const args = process.argv.slice(2);
  const command = args.shift();
  const patched = args[0] !== "--unpatched";
  if (!patched) {
    args.shift();
  }
  const numbers = text => text.split(",").map(Number);
  const commands = {
    "azurite-uploads": () => azuriteUploads(numbers(args[0])),
    "cosmos-list": () => cosmosList(patched, args[0], Number(args[1]), numbers(args[2])),
    "cosmos-queries": () => cosmosQueries(patched),
    "cosmos-partition-index": () => cosmosPartitionIndex(),
    "cosmos-ttl-reads": () => cosmosTtlReads(numbers(args[0])),
  };
  if (!Object.hasOwn(commands, command)) {
    throw new Error(`unknown command ${command}; one of ${Object.keys(commands).join(", ")}`);
  }
  process.stdout.write(`${JSON.stringify(await commands[command]())}\n`);
}

main().catch(err => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
