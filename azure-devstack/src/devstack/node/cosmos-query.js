"use strict";
// The clauses of Cosmos DB's NoSQL query language that @zeit/cosmosdb-query 0.7.2 cannot parse, run
// around it: DISTINCT (and DISTINCT VALUE), GROUP BY with COUNT/SUM/MIN/MAX/AVG, OFFSET ... LIMIT,
// TOP after DISTINCT, and LIKE; parameters named like keywords (@value). The query's clauses are
// found at its top level (outside strings, brackets and subqueries); what the library can run is
// handed to it, and the rest is applied to its rows here, in the order Cosmos DB applies them
// (Microsoft's "SELECT", "GROUP BY", "OFFSET LIMIT" and "Keywords" pages): FROM/WHERE, GROUP BY,
// SELECT, DISTINCT, ORDER BY, OFFSET/LIMIT or TOP.
//
// A query the library runs alone pages with the library's continuation; one that needs this layer
// is evaluated whole and paged by position ({"offset": n}), as a query plan's client would.
//
// Also here: what the Python SDK does on top of Cosmos DB for a query over every partition (no
// partition key), which this one-range server answers whole: a VALUE aggregate over nothing is
// [null] (azure-cosmos _execution_context/aggregators.py), and an aggregate without VALUE is refused
// with 400 ("Cross partition query only supports 'VALUE <AggregateFunc>' for aggregates").

const AGGREGATES = new Set(["COUNT", "SUM", "MIN", "MAX", "AVG"]);
const PARAMETER_PREFIX = "devstack_";

class QueryError extends Error {
  constructor(message) {
    super(message);
    this.badRequest = true;
  }
}

// The words and the bracket depth of a query, outside strings and comments. Each word:
// { word (upper case), start, end, depth, afterDot }.
function scan(sql) {
  const words = [];
  const parameters = [];
  let depth = 0;
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    if (c === "'" || c === '"') {
      i += 1;
      while (i < sql.length && sql[i] !== c) {
        i += sql[i] === "\\" ? 2 : 1;
      }
      i += 1;
    } else if (c === "-" && sql[i + 1] === "-") {
      while (i < sql.length && sql[i] !== "\n") {
        i += 1;
      }
    } else if ("([{".includes(c)) {
      depth += 1;
      i += 1;
    } else if (")]}".includes(c)) {
      depth -= 1;
      i += 1;
    } else if (c === "@") {
      const start = i;
      i += 1;
      while (i < sql.length && /[A-Za-z0-9_]/.test(sql[i])) {
        i += 1;
      }
      parameters.push({ start, end: i });
    } else if (/[A-Za-z_]/.test(c)) {
      const start = i;
      while (i < sql.length && /[A-Za-z0-9_$]/.test(sql[i])) {
        i += 1;
      }
      const before = sql.slice(0, start).trimEnd();
      words.push({ word: sql.slice(start, i).toUpperCase(), start, end: i, depth, afterDot: before.endsWith(".") });
    } else {
      i += 1;
    }
  }
  return { words, parameters };
}

// @value and friends are keywords to the library's grammar: every parameter gets a prefix, in the
// query and in its parameter list alike.
function renameParameters(sql, parameters, list) {
  let out = "";
  let last = 0;
  for (const { start, end } of parameters) {
    out += `${sql.slice(last, start)}@${PARAMETER_PREFIX}${sql.slice(start + 1, end)}`;
    last = end;
  }
  out += sql.slice(last);
  const renamed = (list || []).map(p => ({ ...p, name: typeof p.name === "string" ? `@${PARAMETER_PREFIX}${p.name.replace(/^@/, "")}` : p.name }));
  return { sql: out, parameters: renamed };
}

// Words the library's grammar reserves, which it refuses as property names after a dot (c.value), and
// also with digits after them (c.value1: its keyword rule only checks that no letter follows).
const RESERVED = new Set(["SELECT", "TOP", "FROM", "WHERE", "ORDER", "BY", "AS", "JOIN", "IN", "VALUE", "BETWEEN", "TRUE",
  "FALSE", "NULL", "AND", "OR", "NOT", "ASC", "DESC", "EXISTS", "ARRAY", "UDF"]);

// c.value -> c["value"], which means the same in Cosmos DB's grammar.
function quoteReservedProperties(sql) {
  const { words } = scan(sql);
  let out = sql;
  for (const w of [...words].reverse()) {
    if (w.afterDot && RESERVED.has(w.word.replace(/[0-9]+$/, ""))) {
      const dot = sql.lastIndexOf(".", w.start);
      out = `${out.slice(0, dot)}["${sql.slice(w.start, w.end)}"]${out.slice(w.end)}`;
    }
  }
  return out;
}

// `<left> [NOT] LIKE <pattern> [ESCAPE <char>]` becomes DEVSTACK_LIKE(<left>, <pattern>, <char>, <not>),
// a function the library calls like a built-in. <left> is what precedes LIKE up to the operator,
// keyword or bracket before it; <pattern> a string or parameter.
function rewriteLike(sql) {
  for (;;) {
    const { words } = scan(sql);
    const like = words.find(w => w.word === "LIKE" && !w.afterDot);
    if (!like) {
      return sql;
    }
    const index = words.indexOf(like);
    const negated = index > 0 && words[index - 1].word === "NOT" && words[index - 1].depth === like.depth;
    const leftEnd = negated ? words[index - 1].start : like.start;
    const leftStart = operandStart(sql, leftEnd);
    const pattern = operandAfter(sql, like.end);
    let end = pattern.end;
    let escape = "undefined";
    const rest = sql.slice(end).match(/^\s+ESCAPE\s+/i);
    if (rest) {
      const escaped = operandAfter(sql, end + rest[0].length);
      escape = escaped.text;
      end = escaped.end;
    }
    const left = sql.slice(leftStart, leftEnd).trim();
    sql = `${sql.slice(0, leftStart)}DEVSTACK_LIKE(${left}, ${pattern.text}, ${escape}, ${negated})${sql.slice(end)}`;
  }
}

function operandStart(sql, end) {
  let depth = 0;
  let i = end - 1;
  while (i >= 0 && /\s/.test(sql[i])) {
    i -= 1;
  }
  for (; i >= 0; i -= 1) {
    const c = sql[i];
    if (")]}".includes(c)) {
      depth += 1;
    } else if ("([{".includes(c)) {
      if (depth === 0) {
        return i + 1;
      }
      depth -= 1;
    } else if (depth === 0 && (/[\s,=<>!+*%/|&^?:-]/.test(c))) {
      return i + 1;
    } else if (depth === 0 && (c === "'" || c === '"')) {
      const open = sql.lastIndexOf(c, i - 1);
      i = open < 0 ? 0 : open;
    }
  }
  return 0;
}

function operandAfter(sql, start) {
  let i = start;
  while (/\s/.test(sql[i] || "")) {
    i += 1;
  }
  const begin = i;
  const c = sql[i];
  if (c === "'" || c === '"') {
    i += 1;
    while (i < sql.length && sql[i] !== c) {
      i += sql[i] === "\\" ? 2 : 1;
    }
    i += 1;
  } else {
    while (i < sql.length && /[@A-Za-z0-9_.]/.test(sql[i])) {
      i += 1;
    }
  }
  if (i === begin) {
    throw new QueryError("LIKE needs a pattern: a string or a parameter.");
  }
  return { text: sql.slice(begin, i), end: i };
}

// LIKE's pattern as a regular expression: % any run, _ any one character, [...] a set (Microsoft's
// "LIKE" keyword page).
function likeRegExp(pattern, escape) {
  let source = "";
  for (let i = 0; i < pattern.length; i += 1) {
    const c = pattern[i];
    if (escape && c === escape && i + 1 < pattern.length) {
      i += 1;
      source += pattern[i].replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    } else if (c === "%") {
      source += "[\\s\\S]*";
    } else if (c === "_") {
      source += "[\\s\\S]";
    } else if (c === "[") {
      const close = pattern.indexOf("]", i + 1);
      if (close < 0) {
        source += "\\[";
      } else {
        const inner = pattern.slice(i + 1, close);
        source += `[${inner.startsWith("^") ? `^${inner.slice(1).replace(/\\/g, "\\\\")}` : inner.replace(/\\/g, "\\\\")}]`;
        i = close;
      }
    } else {
      source += c.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    }
  }
  return new RegExp(`^${source}$`);
}

function like(value, pattern, escape, negated) {
  if (typeof value !== "string" || typeof pattern !== "string") {
    return undefined;
  }
  const matched = likeRegExp(pattern, typeof escape === "string" ? escape : undefined).test(value);
  return negated ? !matched : matched;
}

// The top-level clauses of a SELECT, as text.
function clausesOf(sql) {
  const { words } = scan(sql);
  const top = words.filter(w => w.depth === 0 && !w.afterDot);
  if (top.length === 0 || top[0].word !== "SELECT") {
    return null;
  }
  const clause = { distinct: false, top: null, value: false, list: "", from: null, where: null, groupBy: null, orderBy: null, offset: null, limit: null };
  let position = top[0].end;
  let k = 1;
  const next = () => top[k] && sql.slice(position, top[k].start).trim() === "" ? top[k] : null;
  if (next() && next().word === "DISTINCT") {
    clause.distinct = true;
    position = top[k].end;
    k += 1;
  }
  if (next() && next().word === "TOP") {
    const match = sql.slice(top[k].end).match(/^\s*(\d+|@[A-Za-z0-9_]+)/);
    if (!match) {
      throw new QueryError("TOP needs a number or a parameter.");
    }
    clause.top = match[1];
    position = top[k].end + match[0].length;
    k += 1;
  }
  if (next() && next().word === "VALUE") {
    clause.value = true;
    position = top[k].end;
    k += 1;
  }
  const rest = top.slice(k).filter(w => w.start >= position);
  const marks = [];
  for (let j = 0; j < rest.length; j += 1) {
    const w = rest[j];
    const following = rest[j + 1];
    if (["FROM", "WHERE", "OFFSET", "LIMIT"].includes(w.word)) {
      marks.push({ name: w.word, start: w.start, bodyStart: w.end });
    } else if ((w.word === "GROUP" || w.word === "ORDER") && following && following.word === "BY") {
      marks.push({ name: w.word, start: w.start, bodyStart: following.end });
      j += 1;
    }
  }
  const firstOf = name => marks.find(m => m.name === name);
  const used = ["FROM", "WHERE", "GROUP", "ORDER", "OFFSET", "LIMIT"].map(firstOf).filter(Boolean);
  const ends = used.map(m => m.start).concat(sql.length).sort((a, b) => a - b);
  const body = mark => sql.slice(mark.bodyStart, ends.find(e => e > mark.start)).trim();
  clause.list = sql.slice(position, ends[0]).trim();
  const names = { FROM: "from", WHERE: "where", GROUP: "groupBy", ORDER: "orderBy", OFFSET: "offset", LIMIT: "limit" };
  for (const mark of used) {
    clause[names[mark.name]] = body(mark);
  }
  return clause;
}

function librarySql({ top, value, list, from, where, orderBy }) {
  return [
    "SELECT",
    top !== null ? `TOP ${top}` : "",
    value ? "VALUE" : "",
    list,
    from !== null ? `FROM ${from}` : "",
    where !== null ? `WHERE ${where}` : "",
    orderBy !== null ? `ORDER BY ${orderBy}` : "",
  ].filter(Boolean).join(" ");
}

// Splits on top-level commas.
function splitList(text) {
  const parts = [];
  let depth = 0;
  let last = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (c === "'" || c === '"') {
      i += 1;
      while (i < text.length && text[i] !== c) {
        i += text[i] === "\\" ? 2 : 1;
      }
    } else if ("([{".includes(c)) {
      depth += 1;
    } else if (")]}".includes(c)) {
      depth -= 1;
    } else if (c === "," && depth === 0) {
      parts.push(text.slice(last, i).trim());
      last = i + 1;
    }
  }
  parts.push(text.slice(last).trim());
  return parts.filter(part => part.length > 0);
}

// `expr [AS] alias` -> { expr, alias }; an item without an alias gets one from implicitName().
const NOT_AN_ALIAS_AFTER = /(?:^|\s)(?:AND|OR|NOT|IN|BETWEEN|LIKE|AS)$/i;

function selectItem(text) {
  const trimmed = text.trim();
  const match = trimmed.match(/^([\s\S]*?\S)\s+(?:AS\s+)?([A-Za-z_][A-Za-z0-9_]*)$/i);
  if (match && !NOT_AN_ALIAS_AFTER.test(match[1]) && !/^(AND|OR|NOT|IN|BETWEEN|LIKE)$/i.test(match[2])) {
    return { expr: match[1].replace(/\s+AS$/i, "").trim(), alias: match[2] };
  }
  return { expr: trimmed, alias: null };
}

function aggregateCall(expr) {
  const match = expr.match(/^([A-Za-z]+)\s*\(([\s\S]*)\)$/);
  if (!match || !AGGREGATES.has(match[1].toUpperCase())) {
    return null;
  }
  // The whole expression must be the one call: COUNT(1) + SUM(x) is two.
  let depth = 0;
  const inner = match[2];
  for (let i = 0; i < inner.length; i += 1) {
    if (inner[i] === "(") depth += 1;
    if (inner[i] === ")") depth -= 1;
    if (depth < 0) return null;
  }
  return { name: match[1].toUpperCase(), argument: inner.trim() };
}

function containsAggregate(text) {
  return scan(text).words.some(w => w.depth === 0 && AGGREGATES.has(w.word) && !w.afterDot && text.slice(w.end).trimStart().startsWith("("));
}

function normalised(expr) {
  return expr.replace(/\s+/g, "").toLowerCase();
}

// The name Cosmos DB gives an unaliased select item: a property's last name, else $1, $2, ...
function implicitName(expr, counter) {
  const property = expr.match(/\.([A-Za-z_][A-Za-z0-9_]*)$/) || expr.match(/\[\s*["']([^"']+)["']\s*\]$/);
  if (property) {
    return property[1];
  }
  counter.n += 1;
  return `$${counter.n}`;
}

// --- Cosmos DB's semantics for aggregates and for comparing values -----------------------------

const TYPE_RANK = { undefined: 0, null: 1, boolean: 2, number: 3, string: 4, array: 5, object: 6 };

function typeOf(v) {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

// A key equal for values Cosmos DB's DISTINCT and GROUP BY treat as equal (objects whatever the
// order of their properties).
function canonical(v) {
  const t = typeOf(v);
  if (t === "undefined") return "u";
  if (t === "array") return `[${v.map(canonical).join(",")}]`;
  if (t === "object") return `{${Object.keys(v).sort().map(k => `${JSON.stringify(k)}:${canonical(v[k])}`).join(",")}}`;
  return JSON.stringify(v);
}

// Microsoft's MIN/MAX pages: undefined ignored; across types null < boolean < number < string;
// an object or array makes the result undefined.
function extreme(values, sign) {
  let best;
  for (const v of values) {
    const t = typeOf(v);
    if (t === "undefined") continue;
    if (t === "object" || t === "array") return undefined;
    if (best === undefined) {
      best = v;
      continue;
    }
    const bt = typeOf(best);
    const order = TYPE_RANK[t] === TYPE_RANK[bt] ? (v < best ? -1 : v > best ? 1 : 0) : TYPE_RANK[t] - TYPE_RANK[bt];
    if (order * sign > 0) best = v;
  }
  return best;
}

// SUM and AVG: undefined ignored; any other non-number makes the result undefined (Microsoft's SUM
// and AVG pages). SUM of nothing is 0; AVG of nothing undefined.
function aggregate(name, values) {
  switch (name) {
    case "COUNT":
      return values.filter(v => v !== undefined).length;
    case "MIN":
      return extreme(values, -1);
    case "MAX":
      return extreme(values, 1);
    case "SUM":
    case "AVG": {
      const defined = values.filter(v => v !== undefined);
      if (defined.some(v => typeof v !== "number")) return undefined;
      const sum = defined.reduce((s, v) => s + v, 0);
      if (name === "SUM") return sum;
      return defined.length ? sum / defined.length : undefined;
    }
    default:
      throw new QueryError(`Unknown aggregate ${name}.`);
  }
}

function stripUndefined(v) {
  if (Array.isArray(v)) return v.filter(x => x !== undefined).map(stripUndefined);
  if (v && typeof v === "object") {
    const out = {};
    for (const [k, x] of Object.entries(v)) {
      if (x !== undefined) out[k] = stripUndefined(x);
    }
    return out;
  }
  return v;
}

// --- running a query ----------------------------------------------------------------------------

function needsThisLayer(clause) {
  return clause.distinct || clause.groupBy !== null || clause.offset !== null || clause.limit !== null;
}

function resolveNumber(text, parameters, what) {
  if (text === null) return null;
  const value = text.startsWith("@")
    ? ((parameters || []).find(p => p.name === text) || {}).value
    : Number(text);
  if (!Number.isInteger(value) || value < 0) {
    throw new QueryError(`${what} must be a non-negative integer.`);
  }
  return value;
}

// All rows of a query the library can run, unpaged.
function allRows(items, sql, parameters) {
  const page = items.query({ query: sql, parameters }, { maxItemCount: null, continuation: null });
  return page === null ? null : page.result;
}

function groupRows(items, clause, parameters) {
  const groups = splitList(clause.groupBy);
  const selected = clause.value ? [{ expr: clause.list, alias: null }] : splitList(clause.list).map(selectItem);
  if (clause.orderBy !== null) {
    throw new QueryError("ORDER BY is not supported with GROUP BY.");
  }
  const aggregates = [];
  const plan = selected.map(item => {
    const call = aggregateCall(item.expr);
    if (call) {
      aggregates.push(call);
      return { ...item, aggregate: aggregates.length - 1 };
    }
    const group = groups.findIndex(g => normalised(g) === normalised(item.expr));
    if (group < 0) {
      throw new QueryError(`'${item.expr}' is neither an aggregate nor one of the GROUP BY expressions.`);
    }
    return { ...item, group };
  });
  const fields = [...groups.map((g, i) => `"g${i}": ${g}`), ...aggregates.map((a, i) => `"a${i}": ${a.argument}`)];
  const rows = allRows(items, librarySql({ ...clause, top: null, value: true, list: `{${fields.join(", ")}}`, orderBy: null }), parameters);
  if (rows === null) return null;
  const byKey = new Map();
  for (const row of rows) {
    const key = groups.map((_, i) => canonical(row[`g${i}`])).join("|");
    let entry = byKey.get(key);
    if (!entry) {
      entry = { keys: groups.map((_, i) => row[`g${i}`]), values: aggregates.map(() => []) };
      byKey.set(key, entry);
    }
    aggregates.forEach((_, i) => entry.values[i].push(row[`a${i}`]));
  }
  const counter = { n: 0 };
  const names = plan.map(item => item.alias || implicitName(item.expr, counter));
  return [...byKey.values()].map(entry => {
    const valueOf = item => (item.aggregate !== undefined
      ? aggregate(aggregates[item.aggregate].name, entry.values[item.aggregate])
      : entry.keys[item.group]);
    if (clause.value) {
      return valueOf(plan[0]);
    }
    const out = {};
    plan.forEach((item, i) => {
      out[names[i]] = valueOf(item);
    });
    return out;
  });
}

function distinct(rows) {
  const seen = new Set();
  return rows.filter(row => {
    const key = canonical(row);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

// Evaluates a query that needs this layer, whole: an array of rows, or null for a missing container.
function evaluate(items, clause, parameters) {
  let rows;
  if (clause.groupBy !== null) {
    rows = groupRows(items, clause, parameters);
  } else {
    rows = allRows(items, librarySql({ ...clause, top: null }), parameters);
  }
  if (rows === null) return null;
  rows = stripUndefined(rows).filter(row => row !== undefined);
  if (clause.distinct) rows = distinct(rows);
  const offset = resolveNumber(clause.offset, parameters, "OFFSET");
  const limit = resolveNumber(clause.limit, parameters, "LIMIT");
  if ((offset === null) !== (limit === null)) {
    throw new QueryError("OFFSET and LIMIT go together: OFFSET <n> LIMIT <m>.");
  }
  if (offset !== null) rows = rows.slice(offset, offset + limit);
  const top = resolveNumber(clause.top, parameters, "TOP");
  if (top !== null) rows = rows.slice(0, top);
  return rows;
}

function pageOf(rows, { maxItemCount, continuation }) {
  const start = continuation && Number.isInteger(continuation.offset) ? continuation.offset : 0;
  const size = maxItemCount > 0 ? maxItemCount : rows.length;
  const end = start + size;
  return { result: rows.slice(start, end), continuation: end < rows.length ? { offset: end } : null };
}

function isValueAggregate(clause) {
  return clause.value && clause.groupBy === null && aggregateCall(clause.list) !== null;
}

// Runs `body` ({query, parameters}) over `items` (the library's Items, or a view of one partition).
// crossPartition: no partition key was given, so the SDK's pipeline rules above apply.
function runQuery(items, body, paging, { crossPartition = false } = {}) {
  if (typeof body.query !== "string") {
    throw new QueryError("The query body must carry a 'query' string.");
  }
  const renamed = renameParameters(body.query, scan(body.query).parameters, body.parameters);
  const sql = rewriteLike(quoteReservedProperties(renamed.sql.trim()));
  const parameters = renamed.parameters;
  const clause = clausesOf(sql);
  if (clause && crossPartition && !clause.value && containsAggregate(clause.list)) {
    throw new QueryError("Cross partition query only supports 'VALUE <AggregateFunc>' for aggregates.");
  }
  if (!clause || !needsThisLayer(clause)) {
    const page = items.query({ ...body, query: clause ? librarySql(clause) : sql, parameters }, paging);
    if (page && crossPartition && clause && isValueAggregate(clause) && page.result.length === 0 && !paging.continuation) {
      return { ...page, result: [null] };
    }
    return page;
  }
  const rows = evaluate(items, clause, parameters);
  return rows === null ? null : pageOf(rows, paging);
}

// --- the query plan (POST with x-ms-cosmos-is-query-plan-request), for an SDK that asks for one ----

function queryPlan(query) {
  const renamed = renameParameters(query, scan(query).parameters, []);
  const clause = clausesOf(rewriteLike(quoteReservedProperties(renamed.sql.trim())));
  if (!clause) {
    throw new QueryError("The query must start with SELECT.");
  }
  const orderBy = clause.orderBy === null ? [] : splitList(clause.orderBy);
  const aggregates = (clause.value ? [clause.list] : splitList(clause.list).map(item => selectItem(item).expr))
    .map(aggregateCall).filter(Boolean)
    .map(call => ({ COUNT: "Count", SUM: "Sum", MIN: "Min", MAX: "Max", AVG: "Average" })[call.name]);
  const number = text => (text === null || text.startsWith("@") ? null : Number(text));
  return {
    partitionedQueryExecutionInfoVersion: 2,
    queryInfo: {
      distinctType: clause.distinct ? (orderBy.length ? "Ordered" : "Unordered") : "None",
      top: number(clause.top),
      offset: number(clause.offset),
      limit: number(clause.limit),
      orderBy: orderBy.map(item => (/\s+DESC$/i.test(item) ? "Descending" : "Ascending")),
      orderByExpressions: orderBy.map(item => item.replace(/\s+(ASC|DESC)$/i, "")),
      groupByExpressions: clause.groupBy === null ? [] : splitList(clause.groupBy),
      groupByAliases: [],
      aggregates,
      groupByAliasToAggregateType: {},
      rewrittenQuery: query,
      hasSelectValue: clause.value,
      hasNonStreamingOrderBy: false,
    },
    queryRanges: [{ min: "", max: "FF", isMinInclusive: true, isMaxInclusive: false }],
  };
}

module.exports = { QueryError, clausesOf, like, queryPlan, runQuery };
