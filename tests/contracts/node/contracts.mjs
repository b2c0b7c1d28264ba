// Contract checks against the platforms' own machine-readable schemas, for the Python tests.
//
// Reads JSON requests, one per line, on stdin and answers each with one JSON line on stdout, so the
// tests can keep one process per worker (tests/contracts/schemas.py). The sources of truth are the
// exact versions pinned in package-lock.json:
//
// - @vercel/sdk: Vercel's official SDK, generated from Vercel's OpenAPI document. Each operation is a
//   function in esm/funcs/*.js (method, versioned path, query names, request and response schemas);
//   its models are zod schemas. The SDK parses leniently (missing fields become "" or 0, unknown keys
//   are dropped, unknown enum values are kept and counted as "unrecognized"), so this helper walks the
//   schema next to the value and is strict: a value the SDK would only accept by coercion or defaulting
//   is a problem, and a key the schema does not have is "undocumented".
// - @octokit/plugin-rest-endpoint-methods: `github.rest.<scope>.<method>` -> "METHOD /route";
//   @octokit/openapi: GitHub's OpenAPI document, for each route's parameters and request body.
// - supabase-management-js: a community-maintained client generated from Supabase's OpenAPI document; one
//   function per operation. Its response types are checked by tsc (tests/contracts/tsc.py), not here.
//
// Commands ({"cmd": ...}):
//   vercel-operations                              every operation: name, method, path, query, body, responses
//   vercel-request  {method, path, query, body}    which operation; problems with the path, query and body
//   vercel-response {operation, status, body}      problems and undocumented fields of a served response
//   vercel-fields   {operation, status}            every field path the response schema has
//   octokit-endpoint {scope, method}               the route, its parameters and body properties
//   supabase-request {operation, args}             the method and path the SDK's function requests
import { readFileSync, readdirSync } from "node:fs";
import { register } from "node:module";
import { createInterface } from "node:readline";

register("./smart-union-hook.mjs", import.meta.url);

const HERE = new URL(".", import.meta.url);
const SDK = new URL("node_modules/@vercel/sdk/esm/", HERE);
const { startCountingUnrecognized } = await import("@vercel/sdk/types/unrecognized.js");

// --- the Vercel SDK's operations -------------------------------------------------------------------

function parseOperation(file) {
  const source = readFileSync(new URL(`funcs/${file}`, SDK), "utf8");
  const name = /operationID: "([^"]+)"/.exec(source)?.[1];
  const method = /method: "([A-Z]+)"/.exec(source)?.[1];
  const path = /pathToFunc\("([^"]+)"\)/.exec(source)?.[1];
  if (!name || !method || !path) {
    return null;
  }
  const imports = {};
  for (const match of source.matchAll(/import \{([^}]*)\} from "\.\.\/models\/([^"]+)";/g)) {
    for (const symbol of match[1].split(",").map((s) => s.trim()).filter(Boolean)) {
      imports[symbol] = match[2];
    }
  }
  const queryBlock = /const query = ([\s\S]*?)\);\n/.exec(source)?.[1] ?? "";
  const query = [...queryBlock.matchAll(/"([^"]+)":/g)].map((m) => m[1]);
  const bodyKey = /encodeJSON\("body", payload\.(\w+)/.exec(source)?.[1] ?? null;
  const body = /const body = null;/.test(source) ? "none" : bodyKey ? "json" : "other";
  const requestSchema = /\(value\) => (\w+\$outboundSchema)\.parse\(value\)/.exec(source)?.[1] ?? null;
  const responses = {};
  const matchBlock = /M\.match\(([\s\S]*?)\)\(response/.exec(source)?.[1] ?? "";
  for (const m of matchBlock.matchAll(/M\.(json|nil)\((\[[^\]]*\]|\d+|"[^"]+"), ([\w$]+)/g)) {
    const codes = m[2].startsWith("[") ? JSON.parse(m[2]) : [JSON.parse(m[2])];
    for (const code of codes) {
      responses[String(code)] = m[1] === "json" ? m[3] : null;
    }
  }
  return { name, func: file.replace(/\.js$/, ""), method, path, query, body, bodyKey, requestSchema, responses, imports };
}

let operationsCache = null;
function operations() {
  if (operationsCache === null) {
    operationsCache = readdirSync(new URL("funcs/", SDK))
      .filter((file) => file.endsWith(".js"))
      .map(parseOperation)
      .filter(Boolean);
  }
  return operationsCache;
}

function templateRegex(path) {
  const pattern = path.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\\?\{[^}]+\\?\}|\{[^}]+\}/g, "[^/]+");
  return new RegExp(`^${pattern}$`);
}

function findOperation(method, path) {
  const candidates = operations().filter((op) => op.method === method && templateRegex(op.path).test(path));
  // The most specific template wins: "/v1/projects/{id}/rolling-release/start" over ".../{x}/start".
  const literal = (op) => op.path.replace(/\{[^}]+\}/g, "").length;
  candidates.sort((a, b) => literal(b) - literal(a));
  return candidates[0] ?? null;
}

function operationByName(name) {
  const op = operations().find((candidate) => candidate.name === name);
  if (!op) {
    throw new Error(`@vercel/sdk has no operation ${JSON.stringify(name)}`);
  }
  return op;
}

async function schemaOf(op, symbol) {
  const module = op.imports[symbol];
  if (!module) {
    throw new Error(`${op.func} does not import ${symbol} from a model`);
  }
  const exports = await import(`@vercel/sdk/models/${module}`);
  return exports[symbol];
}

async function requestBodySchema(op) {
  let schema = await schemaOf(op, op.requestSchema);
  while (schema._def.typeName === "ZodEffects") {
    schema = schema._def.schema;
  }
  const shape = schema.shape;
  const key = Object.keys(shape).find((k) => k.toLowerCase() === op.bodyKey.toLowerCase());
  if (!key) {
    throw new Error(`${op.requestSchema} has no field for the body (${op.bodyKey})`);
  }
  return shape[key];
}

// --- the strict walk ------------------------------------------------------------------------------

const join = (path, key) => (path ? `${path}.${key}` : key);
const show = (value) => {
  const text = JSON.stringify(value);
  return text === undefined ? "undefined" : text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

function countedParse(schema, value) {
  const counter = startCountingUnrecognized();
  let result;
  try {
    result = schema.safeParse(value);
  } finally {
    result = { ...result, inexact: counter.end(0) };
  }
  return result;
}

function describe(schema) {
  const def = schema._def;
  switch (def.typeName) {
    case "ZodLiteral":
      return JSON.stringify(def.value);
    case "ZodEnum":
      return def.values.map((v) => JSON.stringify(v)).join(" | ");
    case "ZodOptional":
    case "ZodNullable":
    case "ZodDefault":
      return describe(def.innerType);
    case "ZodLazy":
      return describe(def.getter());
    case "ZodEffects":
      return def.smartOptions ? def.smartOptions.map(describe).join(" | ") : "a value (by coercion only)";
    case "ZodUnion":
      return def.options.map(describe).filter((d) => !d.includes("coercion")).join(" | ");
    default:
      return def.typeName.replace(/^Zod/, "").toLowerCase();
  }
}

function plainObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function checkUnion(options, schema, value, path, out) {
  const tries = options.map((option) => {
    const sub = { errors: [], undocumented: new Set() };
    const ok = check(option, value, path, sub);
    return { ok, sub };
  });
  const passed = tries.filter((t) => t.ok).sort((a, b) => a.sub.undocumented.size - b.sub.undocumented.size);
  if (passed.length > 0) {
    passed[0].sub.undocumented.forEach((p) => out.undocumented.add(p));
    return true;
  }
  if (value === undefined) {
    out.errors.push(`${path}: missing (required)`);
    return false;
  }
  const deep = tries.filter((t) => t.sub.errors.some((e) => !e.startsWith(`${path}: `)));
  if (deep.length === 0) {
    out.errors.push(`${path}: ${show(value)} is not ${describe(schema)}`);
  } else {
    deep.sort((a, b) => a.sub.errors.length - b.sub.errors.length);
    out.errors.push(...deep[0].sub.errors);
    deep[0].sub.undocumented.forEach((p) => out.undocumented.add(p));
  }
  return false;
}

function check(schema, value, path, out) {
  const def = schema._def;
  switch (def.typeName) {
    case "ZodOptional":
      return value === undefined || check(def.innerType, value, path, out);
    case "ZodNullable":
      return value === null || check(def.innerType, value, path, out);
    case "ZodDefault":
      return value === undefined || check(def.innerType, value, path, out);
    case "ZodLazy":
      return check(def.getter(), value, path, out);
    case "ZodBranded":
      return check(def.type, value, path, out);
    case "ZodReadonly":
    case "ZodCatch":
      return check(def.innerType, value, path, out);
    case "ZodPipeline":
      return check(def.in, value, path, out);
    case "ZodAny":
    case "ZodUnknown":
      return true;
    case "ZodUnion":
    case "ZodDiscriminatedUnion":
      return checkUnion([...def.options], schema, value, path, out);
    case "ZodEffects": {
      if (def.smartOptions) {
        return checkUnion(def.smartOptions, schema, value, path, out);
      }
      const inner = def.schema;
      const structural = !["ZodAny", "ZodUnknown"].includes(inner._def.typeName) && def.effect.type !== "preprocess";
      const parsed = countedParse(schema, value);
      if (parsed.success && parsed.inexact === 0) {
        return structural ? check(inner, value, path, out) : true;
      }
      // A coercion or a failure: find where, if the inner schema has parts; else it is here.
      if (structural && !["ZodString", "ZodNumber", "ZodBoolean", "ZodNull", "ZodUndefined", "ZodLiteral"].includes(inner._def.typeName)) {
        const before = out.errors.length;
        const ok = check(inner, value, path, out);
        if (!ok || out.errors.length > before) {
          return false;
        }
      }
      out.errors.push(
        value === undefined ? `${path}: missing (required)` : `${path}: ${show(value)} is accepted only by coercion`,
      );
      return false;
    }
    case "ZodObject": {
      if (value === undefined) {
        out.errors.push(`${path}: missing (required)`);
        return false;
      }
      if (!plainObject(value)) {
        out.errors.push(`${path}: ${show(value)} is not an object`);
        return false;
      }
      let ok = true;
      const shape = schema.shape;
      for (const [key, field] of Object.entries(shape)) {
        ok = check(field, value[key], join(path, key), out) && ok;
      }
      const open = def.unknownKeys === "passthrough";
      for (const key of Object.keys(value)) {
        if (key in shape) {
          continue;
        }
        if (def.catchall && def.catchall._def.typeName !== "ZodNever") {
          ok = check(def.catchall, value[key], join(path, key), out) && ok;
        } else if (!open) {
          out.undocumented.add(join(path, key));
        }
      }
      return ok;
    }
    case "ZodArray": {
      if (!Array.isArray(value)) {
        out.errors.push(value === undefined ? `${path}: missing (required)` : `${path}: ${show(value)} is not an array`);
        return false;
      }
      return value.map((item, i) => check(def.type, item, `${path}[${i}]`, out)).every(Boolean);
    }
    case "ZodRecord": {
      if (!plainObject(value)) {
        out.errors.push(value === undefined ? `${path}: missing (required)` : `${path}: ${show(value)} is not an object`);
        return false;
      }
      return Object.entries(value)
        .map(([key, item]) => check(def.valueType, item, join(path, key), out))
        .every(Boolean);
    }
    case "ZodIntersection": {
      const left = { errors: [], undocumented: new Set() };
      const right = { errors: [], undocumented: new Set() };
      const ok = check(def.left, value, path, left) & check(def.right, value, path, right);
      out.errors.push(...left.errors, ...right.errors);
      left.undocumented.forEach((p) => right.undocumented.has(p) && out.undocumented.add(p));
      return Boolean(ok);
    }
    case "ZodTuple": {
      if (!Array.isArray(value)) {
        out.errors.push(`${path}: ${show(value)} is not an array`);
        return false;
      }
      return def.items.map((item, i) => check(item, value[i], `${path}[${i}]`, out)).every(Boolean);
    }
    case "ZodNever":
      out.errors.push(`${path}: no value is allowed here`);
      return false;
    default: {
      if (value === undefined && !["ZodUndefined", "ZodVoid"].includes(def.typeName)) {
        out.errors.push(`${path}: missing (required)`);
        return false;
      }
      if (schema.safeParse(value).success) {
        return true;
      }
      out.errors.push(`${path}: ${show(value)} is not ${describe(schema)}`);
      return false;
    }
  }
}

function strictCheck(schema, value) {
  const out = { errors: [], undocumented: new Set() };
  check(schema, value, "", out);
  const undocumented = [...new Set([...out.undocumented].map((p) => p.replace(/\[\d+\]/g, "[]")))].sort();
  return { problems: out.errors.map((e) => e.replace(/^: /, "(body): ")), undocumented };
}

function fieldPaths(schema, path, depth, out, visited = new WeakMap()) {
  // Recursive schemas (a route has routes) end at a depth no client reads to.
  const seen = visited.get(schema) ?? new Set();
  if (depth > 8 || seen.has(path)) {
    return;
  }
  seen.add(path);
  visited.set(schema, seen);
  const def = schema._def;
  switch (def.typeName) {
    case "ZodOptional":
    case "ZodNullable":
    case "ZodDefault":
    case "ZodReadonly":
    case "ZodCatch":
      return fieldPaths(def.innerType, path, depth, out, visited);
    case "ZodLazy":
      return fieldPaths(def.getter(), path, depth, out, visited);
    case "ZodBranded":
      return fieldPaths(def.type, path, depth, out, visited);
    case "ZodPipeline":
      return fieldPaths(def.in, path, depth, out, visited);
    case "ZodEffects":
      return (def.smartOptions ?? [def.schema]).forEach((s) => fieldPaths(s, path, depth, out, visited));
    case "ZodUnion":
    case "ZodDiscriminatedUnion":
      return [...def.options].forEach((s) => fieldPaths(s, path, depth, out, visited));
    case "ZodIntersection":
      fieldPaths(def.left, path, depth, out, visited);
      return fieldPaths(def.right, path, depth, out, visited);
    case "ZodObject":
      for (const [key, field] of Object.entries(schema.shape)) {
        const child = join(path, key);
        out.add(child);
        fieldPaths(field, child, depth + 1, out, visited);
      }
      return;
    case "ZodArray":
      return fieldPaths(def.type, `${path}[]`, depth + 1, out, visited);
    case "ZodRecord":
      out.add(join(path, "*"));
      return fieldPaths(def.valueType, join(path, "*"), depth + 1, out, visited);
    default:
      return;
  }
}

// --- the commands ---------------------------------------------------------------------------------

async function vercelRequest({ method, path, query = [], body = null }) {
  const op = findOperation(method, path);
  if (!op) {
    const same = operations().filter((o) => o.method === method && templateRegex(o.path.replace(/^\/v\d+/, "/v\\d+")).test(path));
    const hint = same.length ? ` (the SDK has ${same.map((o) => `${o.method} ${o.path}`).join(", ")})` : "";
    return { operation: null, problems: [`${method} ${path} is not an operation of @vercel/sdk${hint}`] };
  }
  const problems = query
    .filter((name) => !op.query.includes(name))
    .map((name) => `query parameter ${JSON.stringify(name)} is not one of ${op.name}'s (${op.query.join(", ")})`);
  let undocumented = [];
  if (body !== null && body !== undefined) {
    if (op.body === "none") {
      problems.push(`${op.name} takes no request body, but one was sent: ${show(body)}`);
    } else {
      const result = strictCheck(await requestBodySchema(op), body);
      problems.push(...result.problems);
      undocumented = result.undocumented;
    }
  } else if (op.body === "json") {
    const schema = await requestBodySchema(op);
    if (schema._def.typeName !== "ZodOptional") {
      problems.push(`${op.name} needs a JSON request body, and none was sent`);
    }
  }
  return { operation: op.name, template: op.path, problems, undocumented };
}

async function vercelResponse({ operation, status, body }) {
  const op = operationByName(operation);
  const key = String(status);
  if (!(key in op.responses)) {
    return { problems: [`${op.name} documents no ${status} response (it has ${Object.keys(op.responses).join(", ")})`], undocumented: [] };
  }
  const symbol = op.responses[key];
  if (symbol === null) {
    const empty = body === null || body === undefined || (plainObject(body) && Object.keys(body).length === 0);
    return { problems: empty ? [] : [`${op.name}'s ${status} response has no body, but one was served: ${show(body)}`], undocumented: [] };
  }
  return strictCheck(await schemaOf(op, symbol), body);
}

async function vercelFields({ operation, status = 200 }) {
  const op = operationByName(operation);
  const symbol = op.responses[String(status)];
  const out = new Set();
  if (symbol) {
    fieldPaths(await schemaOf(op, symbol), "", 0, out);
  }
  return { fields: [...out].sort() };
}

let octokitCache = null;
async function octokit() {
  if (octokitCache === null) {
    const endpoints = await import(new URL("node_modules/@octokit/plugin-rest-endpoint-methods/dist-src/generated/endpoints.js", HERE));
    const spec = JSON.parse(readFileSync(new URL("node_modules/@octokit/openapi/generated/api.github.com.json", HERE), "utf8"));
    octokitCache = { endpoints: endpoints.default, spec };
  }
  return octokitCache;
}

function resolveRef(spec, item) {
  while (item && item.$ref) {
    item = item.$ref
      .replace(/^#\//, "")
      .split("/")
      .reduce((node, part) => node[part.replace(/~1/g, "/").replace(/~0/g, "~")], spec);
  }
  return item;
}

function bodyProperties(spec, schema, out) {
  schema = resolveRef(spec, schema);
  if (!schema) {
    return;
  }
  Object.keys(schema.properties ?? {}).forEach((name) => out.properties.add(name));
  (schema.required ?? []).forEach((name) => out.required.add(name));
  for (const part of [...(schema.allOf ?? []), ...(schema.oneOf ?? []), ...(schema.anyOf ?? [])]) {
    bodyProperties(spec, part, { properties: out.properties, required: new Set() });
  }
}

async function octokitEndpoint({ scope, method }) {
  const { endpoints, spec } = await octokit();
  const entry = endpoints[scope]?.[method];
  if (!entry) {
    return { error: `github.rest.${scope}.${method} is not in @octokit/plugin-rest-endpoint-methods` };
  }
  const [route, , decorations = {}] = entry;
  const [verb, url] = route.split(" ");
  const item = spec.paths[url];
  const operation = item?.[verb.toLowerCase()];
  if (!operation) {
    return { error: `${route} (github.rest.${scope}.${method}) is not in GitHub's OpenAPI document` };
  }
  const parameters = [...(item.parameters ?? []), ...(operation.parameters ?? [])]
    .map((p) => resolveRef(spec, p))
    .map((p) => ({ name: p.name, in: p.in, required: Boolean(p.required) }));
  const body = { properties: new Set(), required: new Set() };
  const content = resolveRef(spec, operation.requestBody)?.content?.["application/json"];
  if (content) {
    bodyProperties(spec, content.schema, body);
  }
  return {
    route,
    operationId: operation.operationId,
    deprecated: Boolean(operation.deprecated || decorations.deprecated),
    renamed: decorations.renamed ?? null,
    parameters,
    body: { properties: [...body.properties].sort(), required: [...body.required].sort() },
  };
}

// --- supabase-management-js ------------------------------------------------------------------------

// The operation's function, called with a fetch that only records: nothing is sent anywhere.
async function supabaseRequest({ operation, args = [] }) {
  const sdk = await import("supabase-management-js");
  if (typeof sdk[operation] !== "function") {
    throw new Error(`supabase-management-js has no operation ${JSON.stringify(operation)}`);
  }
  const seen = [];
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (url, init = {}) => {
    seen.push({ url: new URL(String(url)), method: init.method ?? "GET" });
    return new Response(null, { status: 401 });
  };
  try {
    await sdk[operation](...args, { baseUrl: "http://127.0.0.1:9" });
  } finally {
    globalThis.fetch = realFetch;
  }
  if (seen.length !== 1) {
    throw new Error(`${operation} made ${seen.length} requests, not one`);
  }
  const [{ url, method }] = seen;
  return { method, path: url.pathname, query: [...url.searchParams.keys()].sort() };
}

const COMMANDS = {
  "vercel-operations": async () => ({
    operations: operations().map(({ name, method, path, query, body, responses }) => ({ name, method, path, query, body, responses })),
  }),
  "vercel-request": vercelRequest,
  "vercel-response": vercelResponse,
  "vercel-fields": vercelFields,
  "octokit-endpoint": octokitEndpoint,
  "supabase-request": supabaseRequest,
};

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line.trim()) {
    continue;
  }
  let answer;
  try {
    const request = JSON.parse(line);
    const command = COMMANDS[request.cmd];
    answer = command ? await command(request) : { error: `unknown command ${JSON.stringify(request.cmd)}` };
  } catch (error) {
    answer = { error: String(error?.stack ?? error) };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
