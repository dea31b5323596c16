// negative.test.mjs: generated from the router table, every route gets the same hostile inputs: wrong
// content type, malformed JSON, an oversized body, unknown fields, malformed ids and bad credentials.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, newCustomer, staffLogin, souq, concretePath } from './lib/harness.mjs';

let s, routes, creds;
before(async () => {
  s = await startStack();
  routes = JSON.parse(souq(['routes']).stdout);
  const c = await newCustomer(s.client);
  const o = await staffLogin(s.client);
  creds = { none: { pk: null }, store: {}, customer: { token: c.token }, admin: { pk: null, token: o.access_token } };
});
after(async () => s && (await s.stop()));

const concrete = concretePath;
const bodyRoutes = () => routes.filter((r) => ['POST', 'PUT', 'PATCH'].includes(r.method));
// routes whose handler reads a JSON body (revoke takes none; uploads take files: imports.test.mjs)
const readsBody = (r) => !r.path.endsWith('/revoke') && !r.upload;
// routes that decode their body into fixed fields (provider callbacks take the provider's event as it is)
const fixedFields = (r) => readsBody(r) && !r.path.startsWith('/v1/hooks/{plugin}');

test('every body route refuses a non-JSON content type with 415', async () => {
  for (const r of bodyRoutes()) {
    const res = await s.client.request(r.method, concrete(r.path), { ...creds[r.auth], body: 'email=a', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(res.status, 415, `${r.method} ${r.path}`);
  }
});

test('every body route answers malformed JSON with 400 invalid-json', async () => {
  for (const r of bodyRoutes().filter(readsBody)) {
    for (const body of ['{"a":', '{"a":1}{"b":2}', '{"a":1,"a":2}', '{"a":1\0}' /* a raw NUL: jansson alone reads it as {"a":1} */]) {
      const res = await s.client.request(r.method, concrete(r.path), { ...creds[r.auth], body, headers: { 'content-type': 'application/json' } });
      assert.equal(res.status, 400, `${r.method} ${r.path} ${body}`);
      assert.equal(res.body.type, 'https://docs.souq.dev/problems/invalid-json');
    }
  }
});

test('every body route refuses unknown fields with 422 unknown-field', async () => {
  for (const r of bodyRoutes().filter(fixedFields)) {
    const res = await s.client.request(r.method, concrete(r.path), { ...creds[r.auth], json: { definitely_not_a_field: 1 } });
    assert.equal(res.status, 422, `${r.method} ${r.path}: ${res.text}`);
    assert.equal(res.body.type, 'https://docs.souq.dev/problems/unknown-field');
    assert.equal(res.body.errors[0].pointer, '/definitely_not_a_field');
  }
});

test('credential routes refuse bodies over 16 KiB with 413; the others take up to 1 MiB', async () => {
  // over max_body_bytes (1 MiB) H2O itself answers 413 before any of our code runs (system.test.mjs)
  for (const r of bodyRoutes()) {
    const mid = await s.client.request(r.method, concrete(r.path), { ...creds[r.auth], body: JSON.stringify({ x: 'y'.repeat(20 * 1024) }), headers: { 'content-type': 'application/json' } });
    if (r.path.includes('/auth/') || r.path === '/v1/store/customers' || r.path.endsWith('/password')) {
      assert.equal(mid.status, 413, `${r.method} ${r.path} 20 KiB`);
      assert.equal(mid.body.type, 'https://docs.souq.dev/problems/payload-too-large');
    } else {
      assert.notEqual(mid.status, 413, `${r.method} ${r.path} 20 KiB is within the general limit`);
    }
  }
});

test('every route with an id answers a malformed id with 404', async () => {
  for (const r of routes.filter((x) => x.path.includes('{id}'))) {
    for (const id of ['x', '1%27%20OR%201%3D1', 'cus_' + 'Z'.repeat(26)]) {
      const res = await s.client.request(r.method, concretePath(r.path).replace(/[a-z]+_01z{24}/, id), { ...creds[r.auth], json: r.method === 'GET' || r.method === 'DELETE' ? undefined : {} });
      assert.equal(res.status, 404, `${r.method} ${r.path} ${id}`);
    }
  }
});

test('every protected route refuses missing and garbage credentials with 401', async () => {
  for (const r of routes.filter((x) => x.auth !== 'none')) {
    const json = r.method === 'GET' || r.method === 'DELETE' ? undefined : {};
    const none = await s.client.request(r.method, concrete(r.path), { pk: null, json });
    assert.equal(none.status, 401, `${r.method} ${r.path} without credentials`);
    const garbage = await s.client.request(r.method, concrete(r.path), { pk: r.auth === 'admin' ? null : 'pk_garbage', token: r.auth === 'store' ? undefined : 'garbage.token.here', json });
    assert.equal(garbage.status, 401, `${r.method} ${r.path} with garbage credentials`);
  }
});
