// contract.mjs: every API response the tests see is checked against openapi/openapi.json: the route and
// status must be documented, and the body must match the documented schema and media type.
import fs from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const root = process.env.SOUQ_TEST_ROOT ?? path.resolve(import.meta.dirname ?? '.', '../../..');
export const doc = JSON.parse(fs.readFileSync(path.join(root, 'openapi/openapi.json'), 'utf8'));

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(doc, 'openapi.json');

/** Every documented operation as { method, template, regex, op }. */
export const operations = [];
for (const [template, item] of Object.entries(doc.paths ?? {})) {
  for (const [method, op] of Object.entries(item)) {
    if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
    const regex = new RegExp('^' + template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+') + '$');
    operations.push({ method: method.toUpperCase(), template, regex, op });
  }
}

function findOperation(method, pathname) {
  const matches = operations.filter((o) => o.regex.test(pathname));
  // literal segments win over parameters, as in the router
  matches.sort((a, b) => b.template.split('{').length - a.template.split('{').length).reverse();
  return { any: matches.length > 0, op: matches.find((o) => o.method === method) };
}

function rewriteRefs(schema) {
  if (Array.isArray(schema)) return schema.map(rewriteRefs);
  if (schema && typeof schema === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(schema)) {
      out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/') ? 'openapi.json' + v : rewriteRefs(v);
    }
    return out;
  }
  return schema;
}

function resolve(obj) {
  while (obj && obj.$ref) {
    const parts = obj.$ref.replace(/^#\//, '').split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    obj = parts.reduce((o, p) => o?.[p], doc);
  }
  return obj;
}

const cache = new Map();
function validatorFor(schema) {
  const key = JSON.stringify(schema);
  if (!cache.has(key)) cache.set(key, ajv.compile(rewriteRefs(schema)));
  return cache.get(key);
}

const problemSchema = { $ref: '#/components/schemas/Problem' };

/** Throws if the response breaks the contract. res = { status, headers (Headers), body, text }. */
export function validateResponse(method, url, res) {
  const pathname = new URL(url, 'http://x').pathname;
  const { any, op } = findOperation(method, pathname);
  const ctype = (res.headers.get('content-type') ?? '').split(';')[0].trim();
  if (!op) {
    // unknown paths and methods are answered by the router itself: 404/405 problem documents
    if (!((res.status === 404 && !any) || (res.status === 405 && any) || (method === 'OPTIONS' && [204, 403, 404].includes(res.status)) ||
          [400, 406, 413, 414, 415, 431].includes(res.status))) {
      throw new Error(`contract: ${method} ${pathname} is not documented (status ${res.status})`);
    }
    if (res.status === 204) return;
    checkBody(problemSchema, 'application/problem+json', ctype, res, `${method} ${pathname}`);
    return;
  }
  const responses = op.op.responses ?? {};
  const spec = resolve(responses[String(res.status)] ?? responses[`${String(res.status)[0]}XX`] ?? responses.default);
  if (!spec) throw new Error(`contract: status ${res.status} is not documented for ${method} ${op.template}: ${res.text.slice(0, 300)}`);
  const content = spec.content ?? {};
  const types = Object.keys(content);
  if (types.length === 0) {
    if (res.text !== '') throw new Error(`contract: ${method} ${op.template} ${res.status} documents no body but got one`);
    return;
  }
  const mt = types.find((t) => t === ctype) ?? types[0];
  checkBody(content[mt].schema, mt, ctype, res, `${method} ${op.template} ${res.status}`);
}

function checkBody(schema, mt, ctype, res, where) {
  if (ctype !== mt) throw new Error(`contract: ${where}: content-type ${ctype}, documented ${mt}`);
  if (!mt.includes('json')) return;
  const validate = validatorFor(schema);
  if (!validate(res.body)) {
    throw new Error(`contract: ${where}: body does not match the schema: ${ajv.errorsText(validate.errors)}\n${res.text.slice(0, 500)}`);
  }
}
