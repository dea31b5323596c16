// store_customers.test.mjs: the customer's profile (ETag, If-Match) and addresses, scoped to the caller.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, newCustomer, staffLogin } from './lib/harness.mjs';

let s, a, b;
before(async () => {
  s = await startStack();
  a = await newCustomer(s.client);
  b = await newCustomer(s.client);
});
after(async () => s && (await s.stop()));

const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const addr = { address_1: '1 Main St', city: 'Berlin', country_code: 'DE', postal_code: '10115' };

test('GET /me needs a customer token and the publishable key', async () => {
  let r = await s.client.get('/v1/store/customers/me');
  assert.equal(r.status, 401);
  assert.equal(r.headers.get('www-authenticate'), 'Bearer');
  r = await s.client.get('/v1/store/customers/me', { token: a.token, pk: null });
  assert.equal(r.status, 401);
  r = await s.client.get('/v1/store/customers/me', { token: 'not.a.jwt' });
  assert.equal(r.status, 401);
  assert.match(r.headers.get('www-authenticate'), /invalid_token/);
  const staff = await staffLogin(s.client);
  r = await s.client.get('/v1/store/customers/me', { token: staff.access_token });
  assert.equal(r.status, 401, 'a staff token is not a customer token');
  r = await s.client.get('/v1/store/customers/me', { token: a.token });
  assert.equal(r.status, 200);
  assert.equal(r.body.id, a.customer.id);
});

test('GET /me has a strong ETag and answers 304 to If-None-Match', async () => {
  const r = await s.client.get('/v1/store/customers/me', { token: a.token });
  const etag = r.headers.get('etag');
  assert.match(etag, /^"[0-9a-f]{32}"$/);
  assert.equal(r.headers.get('cache-control'), 'private, no-cache');
  let r2 = await s.client.get('/v1/store/customers/me', { token: a.token, headers: { 'if-none-match': etag } });
  assert.equal(r2.status, 304);
  assert.equal(r2.text, '');
  r2 = await s.client.get('/v1/store/customers/me', { token: a.token, headers: { 'if-none-match': `W/${etag}, "other"` } });
  assert.equal(r2.status, 304, 'weak comparison and lists');
  r2 = await s.client.get('/v1/store/customers/me', { token: a.token, headers: { 'if-none-match': '"nope"' } });
  assert.equal(r2.status, 200);
});

test('PATCH /me updates fields, merges metadata, deletes keys set to null', async () => {
  let r = await s.client.patch('/v1/store/customers/me', { first_name: 'Anna', phone: '+49 30 1234567', metadata: { a: '1', b: 2 } }, { token: a.token });
  assert.equal(r.status, 200);
  assert.equal(r.body.first_name, 'Anna');
  assert.equal(r.body.phone, '+49 30 1234567');
  r = await s.client.patch('/v1/store/customers/me', { metadata: { b: null, c: true } }, { token: a.token });
  assert.deepEqual(r.body.metadata, { a: '1', c: true });
  r = await s.client.patch('/v1/store/customers/me', { phone: null, metadata: null }, { token: a.token });
  assert.equal(r.body.phone, null);
  assert.deepEqual(r.body.metadata, {});
  assert.equal(r.body.first_name, 'Anna', 'absent fields are untouched');
  const [ev] = await s.sql("SELECT count(*)::int AS n FROM outbox_events WHERE type = 'customer.updated' AND payload->>'id' = $1", [a.customer.id]);
  assert.equal(ev.n, 3, 'each update wrote its customer.updated event');
});

test('PATCH /me with If-Match: current ETag applies, a stale one is 412 and changes nothing', async () => {
  const cur = await s.client.get('/v1/store/customers/me', { token: a.token });
  const etag = cur.headers.get('etag');
  let r = await s.client.patch('/v1/store/customers/me', { last_name: 'First' }, { token: a.token, headers: { 'if-match': etag } });
  assert.equal(r.status, 200);
  r = await s.client.patch('/v1/store/customers/me', { last_name: 'Second' }, { token: a.token, headers: { 'if-match': etag } });
  assert.equal(r.status, 412);
  assert.equal(r.body.type, type('precondition-failed'));
  r = await s.client.patch('/v1/store/customers/me', { last_name: 'Third' }, { token: a.token, headers: { 'if-match': 'W/"weak"' } });
  assert.equal(r.status, 412, 'weak ETags never match If-Match');
  const now = await s.client.get('/v1/store/customers/me', { token: a.token });
  assert.equal(now.body.last_name, 'First');
});

test('PATCH /me refuses unknown and server-owned fields, bad values, and a taken email', async () => {
  let r = await s.client.patch('/v1/store/customers/me', { has_account: false }, { token: a.token });
  assert.equal(r.status, 422);
  assert.equal(r.body.type, type('unknown-field'));
  r = await s.client.patch('/v1/store/customers/me', { email: null }, { token: a.token });
  assert.equal(r.status, 422);
  r = await s.client.patch('/v1/store/customers/me', { email: b.email }, { token: a.token });
  assert.equal(r.status, 409);
  assert.equal(r.body.errors[0].pointer, '/email');
  r = await s.client.patch('/v1/store/customers/me', { first_name: ['x'] }, { token: a.token });
  assert.equal(r.status, 422);
  const me = await s.client.get('/v1/store/customers/me', { token: a.token });
  assert.equal(me.body.email, a.email);
});

test('addresses: create, list, get, update, delete, all scoped to the caller', async () => {
  const c = await newCustomer(s.client);
  let r = await s.client.post('/v1/store/customers/me/addresses', { ...addr, first_name: 'C', is_default_shipping: true }, { token: c.token });
  assert.equal(r.status, 201);
  assert.equal(r.body.country_code, 'de', 'country codes are stored lower-case');
  assert.equal(r.body.customer_id, c.customer.id);
  const id = r.body.id;
  assert.match(id, /^addr_/);
  r = await s.client.get(`/v1/store/customers/me/addresses/${id}`, { token: c.token });
  assert.equal(r.status, 200);
  r = await s.client.patch(`/v1/store/customers/me/addresses/${id}`, { city: 'Hamburg', address_2: null }, { token: c.token });
  assert.equal(r.status, 200);
  assert.equal(r.body.city, 'Hamburg');
  assert.equal(r.body.address_1, '1 Main St');
  r = await s.client.get('/v1/store/customers/me/addresses', { token: c.token });
  assert.equal(r.status, 200);
  assert.equal(r.body.object, 'list');
  assert.equal(r.body.data.length, 1);
  r = await s.client.del(`/v1/store/customers/me/addresses/${id}`, { token: c.token });
  assert.equal(r.status, 204);
  r = await s.client.get(`/v1/store/customers/me/addresses/${id}`, { token: c.token });
  assert.equal(r.status, 404);
  r = await s.client.del(`/v1/store/customers/me/addresses/${id}`, { token: c.token });
  assert.equal(r.status, 404);
});

test("another customer's address is a 404 for every method, and stays unchanged", async () => {
  const mine = await s.client.post('/v1/store/customers/me/addresses', addr, { token: a.token });
  const id = mine.body.id;
  let r = await s.client.get(`/v1/store/customers/me/addresses/${id}`, { token: b.token });
  assert.equal(r.status, 404);
  const notFound = r.body;
  r = await s.client.get('/v1/store/customers/me/addresses/addr_01zzzzzzzzzzzzzzzzzzzzzzzz', { token: b.token });
  assert.equal(r.status, 404);
  assert.equal(r.body.detail, notFound.detail, 'same answer as a missing id');
  r = await s.client.patch(`/v1/store/customers/me/addresses/${id}`, { city: 'Stolen' }, { token: b.token });
  assert.equal(r.status, 404);
  r = await s.client.del(`/v1/store/customers/me/addresses/${id}`, { token: b.token });
  assert.equal(r.status, 404);
  const list = await s.client.get('/v1/store/customers/me/addresses', { token: b.token });
  assert.ok(!list.body.data.some((x) => x.id === id));
  const still = await s.client.get(`/v1/store/customers/me/addresses/${id}`, { token: a.token });
  assert.equal(still.body.city, 'Berlin');
});

test('malformed address ids are 404 without a query', async () => {
  for (const id of ['1', 'cus_01zzzzzzzzzzzzzzzzzzzzzzzz', "addr_' OR 1=1 --", 'addr_01ZZZZZZZZZZZZZZZZZZZZZZZZ', 'addr_' + 'u'.repeat(26)]) {
    const r = await s.client.get(`/v1/store/customers/me/addresses/${encodeURIComponent(id)}`, { token: a.token });
    assert.equal(r.status, 404, id);
  }
});

test('address validation: required fields, country codes, unknown fields', async () => {
  let r = await s.client.post('/v1/store/customers/me/addresses', { city: 'X' }, { token: a.token });
  assert.equal(r.status, 422);
  assert.deepEqual(r.body.errors.map((e) => e.pointer).sort(), ['/address_1', '/country_code']);
  r = await s.client.post('/v1/store/customers/me/addresses', { ...addr, country_code: 'XX' }, { token: a.token });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/country_code');
  r = await s.client.post('/v1/store/customers/me/addresses', { ...addr, customer_id: b.customer.id }, { token: a.token });
  assert.equal(r.status, 422);
  assert.equal(r.body.type, type('unknown-field'));
  r = await s.client.post('/v1/store/customers/me/addresses', { ...addr, is_default_billing: 'yes' }, { token: a.token });
  assert.equal(r.status, 422);
});

test('a new default address takes the default flag from the previous one', async () => {
  const c = await newCustomer(s.client);
  const one = await s.client.post('/v1/store/customers/me/addresses', { ...addr, is_default_shipping: true, is_default_billing: true }, { token: c.token });
  const two = await s.client.post('/v1/store/customers/me/addresses', { ...addr, city: 'Paris', country_code: 'fr', is_default_shipping: true }, { token: c.token });
  assert.equal(two.status, 201);
  let r = await s.client.get(`/v1/store/customers/me/addresses/${one.body.id}`, { token: c.token });
  assert.equal(r.body.is_default_shipping, false);
  assert.equal(r.body.is_default_billing, true);
  r = await s.client.patch(`/v1/store/customers/me/addresses/${one.body.id}`, { is_default_shipping: true }, { token: c.token });
  assert.equal(r.body.is_default_shipping, true);
  r = await s.client.get(`/v1/store/customers/me/addresses/${two.body.id}`, { token: c.token });
  assert.equal(r.body.is_default_shipping, false);
});

test('addresses are capped at 50 per customer; the 51st is 409 and writes nothing', async () => {
  const c = await newCustomer(s.client);
  await s.sql(
    "INSERT INTO customer_addresses (customer_id, address_1, city, country_code) SELECT $1, 'x', 'y', 'de' FROM generate_series(1, 50)",
    [c.customer.id],
  );
  const r = await s.client.post('/v1/store/customers/me/addresses', { ...addr, is_default_shipping: true }, { token: c.token });
  assert.equal(r.status, 409);
  assert.match(r.body.detail, /at most 50/);
  const [n] = await s.sql('SELECT count(*)::int AS n FROM customer_addresses WHERE customer_id = $1', [c.customer.id]);
  assert.equal(n.n, 50);
});

test('cursor pagination: limit, has_more, next_cursor; bad limits and cursors are 400', async () => {
  const c = await newCustomer(s.client);
  await s.sql(
    "INSERT INTO customer_addresses (customer_id, address_1, city, country_code) SELECT $1, 'Street ' || g, 'City', 'de' FROM generate_series(1, 7) g",
    [c.customer.id],
  );
  const seen = [];
  let cursor = null;
  let pages = 0;
  do {
    const r = await s.client.get(`/v1/store/customers/me/addresses?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token: c.token });
    assert.equal(r.status, 200);
    seen.push(...r.body.data.map((x) => x.id));
    assert.equal(r.body.has_more, r.body.next_cursor !== null);
    cursor = r.body.next_cursor;
    pages++;
  } while (cursor);
  assert.equal(pages, 3);
  assert.equal(seen.length, 7);
  assert.equal(new Set(seen).size, 7);
  assert.deepEqual([...seen].sort().reverse(), seen, 'newest first');
  for (const q of ['limit=0', 'limit=101', 'limit=1000', 'limit=abc', 'limit=', 'cursor=garbage', 'cursor=YWRkcl8x.AAAAAAAAAAAAAAAA', 'offset=5', 'limit=1&limit=2']) {
    const r = await s.client.get(`/v1/store/customers/me/addresses?${q}`, { token: c.token });
    assert.equal(r.status, 400, q);
    assert.equal(r.body.type, type('invalid-parameter'));
  }
});

test("a cursor from another customer's list cannot read their data", async () => {
  // cursors only carry a position; the query stays scoped to the caller
  const c = await newCustomer(s.client);
  await s.sql("INSERT INTO customer_addresses (customer_id, address_1, city, country_code) SELECT $1, 'S', 'C', 'de' FROM generate_series(1, 3)", [c.customer.id]);
  const page = await s.client.get('/v1/store/customers/me/addresses?limit=1', { token: c.token });
  const r = await s.client.get(`/v1/store/customers/me/addresses?cursor=${encodeURIComponent(page.body.next_cursor)}`, { token: b.token });
  assert.equal(r.status, 200);
  assert.ok(r.body.data.every((x) => x.customer_id === b.customer.id));
});
