// idempotency.test.mjs: Idempotency-Key on creating routes (api/req.c, migrations/0017_idempotency.sql): a retry
// replays the first answer byte for byte, another body is 422, a retry during the first is 409, an error stores
// nothing, keys are per caller, and 20 concurrent retries of a stock adjustment apply it once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, staffLogin, newStaff } from './lib/harness.mjs';

let s, t, loc;
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json, headers, token = t) => s.client.request(method, path, { pk: null, token, json, headers });
let seq = 0;
const uniq = (p) => `${p}-${process.pid}-${++seq}`;
const cat = (name) => ({ name, handle: name.toLowerCase().replace(/[^a-z0-9]+/g, '-') });
const key = () => `key-${process.pid}-${++seq}-${Math.random().toString(36).slice(2)}`;
const count = async (sql, params) => (await s.sql(sql, params))[0].n;

before(async () => {
  s = await startStack();
  t = (await staffLogin(s.client)).access_token;
  loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Idem' })).body.id;
});
after(async () => s && (await s.stop()));

test('a retry replays the first answer; the work is done once', async () => {
  const k = key();
  const body = { title: uniq('Once'), status: 'draft', variants: [{ sku: uniq('ONCE') }] };
  const first = await A('POST', '/v1/admin/products', body, { 'idempotency-key': k });
  assert.equal(first.status, 201, first.text);
  assert.equal(first.headers.get('idempotent-replayed'), null);
  for (let i = 0; i < 3; i++) {
    // the same body with its keys in another order and other blanks is the same request
    const again = await s.client.request('POST', '/v1/admin/products', {
      pk: null, token: t, headers: { 'idempotency-key': k, 'content-type': 'application/json' },
      body: JSON.stringify({ variants: body.variants, status: body.status, title: body.title }, null, 2),
    });
    assert.equal(again.status, 201);
    assert.equal(again.text, first.text, 'byte for byte');
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.equal(again.headers.get('location'), first.headers.get('location'));
  }
  assert.equal(await count('SELECT count(*)::int AS n FROM products WHERE title = $1', [body.title]), 1);
  // the same key with another body, or on another route, is refused
  const other = await A('POST', '/v1/admin/products', { ...body, title: uniq('Other') }, { 'idempotency-key': k });
  assert.equal(other.status, 422);
  assert.equal(other.body.type, type('idempotency-key-reused'));
  const elsewhere = await A('POST', '/v1/admin/categories', cat(uniq('Cat')), { 'idempotency-key': k });
  assert.equal(elsewhere.status, 201, 'keys are scoped to the route');
  // without a key, or on a route that does not take one, nothing changes
  assert.equal((await A('POST', '/v1/admin/products', { ...body, title: uniq('NoKey'), variants: [{ sku: uniq('NK') }] })).status, 201);
});

test('keys belong to their caller', async () => {
  const k = key();
  const other = await newStaff(s.client, t, 'catalog_manager');
  const a = await A('POST', '/v1/admin/categories', cat(uniq('Mine')), { 'idempotency-key': k });
  const b = await A('POST', '/v1/admin/categories', cat(uniq('Theirs')), { 'idempotency-key': k }, other.token);
  assert.equal(a.status, 201);
  assert.equal(b.status, 201);
  assert.notEqual(a.body.id, b.body.id, 'another caller\'s key neither replays nor blocks');
});

test('an error answer stores nothing: the key can be retried with a corrected body', async () => {
  const k = key();
  const bad = await A('POST', '/v1/admin/products', { title: uniq('Bad'), status: 'sideways' }, { 'idempotency-key': k });
  assert.equal(bad.status, 422);
  const good = await A('POST', '/v1/admin/products', { title: uniq('Good'), status: 'draft' }, { 'idempotency-key': k });
  assert.equal(good.status, 201, good.text);
  assert.equal(good.headers.get('idempotent-replayed'), null);
});

test('bad keys are 400; a claim whose holder died is taken over', async () => {
  for (const k of ['x'.repeat(256), 'has space', 'tab\tkey', 'ümlaut']) {
    const r = await A('POST', '/v1/admin/categories', cat(uniq('K')), { 'idempotency-key': k });
    assert.equal(r.status, 400, k);
    assert.equal(r.body.type, type('invalid-parameter'));
  }
  assert.equal((await A('POST', '/v1/admin/categories', cat(uniq('Long')), { 'idempotency-key': 'k'.repeat(255) })).status, 201);
  // a request that claimed the key and died (no answer, lock expired): the next one runs
  const k = key();
  const staff = (await s.sql("SELECT id FROM staff_users ORDER BY created_at LIMIT 1"))[0].id;
  await s.sql(`INSERT INTO idempotency_keys (principal, method, route, key, fingerprint, state, locked_until)
               VALUES ($1, 'POST', '/v1/admin/categories', $2, 'x', 'in_flight', now() - interval '1 second')`, [`staff:${staff}`, k]);
  const r = await A('POST', '/v1/admin/categories', cat(uniq('Dead')), { 'idempotency-key': k });
  assert.equal(r.status, 201, r.text);
  // one that is still running with another body: the body is compared first (422); a running one with the same
  // body is 409 (the concurrency test below)
  const k2 = key();
  await s.sql(`INSERT INTO idempotency_keys (principal, method, route, key, fingerprint, state, locked_until)
               VALUES ($1, 'POST', '/v1/admin/categories', $2, 'x', 'in_flight', now() + interval '1 minute')`, [`staff:${staff}`, k2]);
  const busy = await A('POST', '/v1/admin/categories', cat(uniq('Busy')), { 'idempotency-key': k2 });
  assert.equal(busy.status, 422, busy.text);
});

test('20 concurrent retries of a stock adjustment apply it once (C3 for staff writes)', async () => {
  const p = await A('POST', '/v1/admin/products', { title: uniq('Stock'), status: 'active', variants: [{ sku: uniq('ST'), inventory: [{ location_id: loc, quantity: 10 }] }] });
  assert.equal(p.status, 201, p.text);
  const item = p.body.variants[0].inventory_items[0].inventory_item_id;
  const k = key();
  const rs = await Promise.all(Array.from({ length: 20 }, () =>
    A('POST', `/v1/admin/inventory-items/${item}/adjustments`, { location_id: loc, delta: 5, note: 'delivery' }, { 'idempotency-key': k })));
  const ok = rs.filter((r) => r.status === 200);
  const busy = rs.filter((r) => r.status === 409);
  assert.equal(ok.length + busy.length, 20, rs.map((r) => r.status).join(','));
  assert.ok(ok.length >= 1);
  for (const r of busy) {
    assert.equal(r.body.type, type('idempotency-key-in-use'));
    assert.equal(r.headers.get('retry-after'), '1');
  }
  const replays = ok.filter((r) => r.headers.get('idempotent-replayed') === 'true');
  assert.equal(ok.length - replays.length, 1, 'exactly one request did the work');
  for (const r of replays) assert.equal(r.text, ok.find((x) => !x.headers.get('idempotent-replayed')).text);
  const level = await A('GET', `/v1/admin/inventory-items/${item}`);
  assert.equal(level.body.on_hand, 15, 'applied once');
});

test('a retried add-to-cart adds once', async () => {
  const ch = (await A('GET', '/v1/admin/sales-channels')).body.data.find((c) => c.is_default);
  await A('POST', `/v1/admin/sales-channels/${ch.id}/locations`, { location_id: loc });
  const p = await A('POST', '/v1/admin/products', { title: uniq('Cartable'), status: 'active', variants: [{ sku: uniq('CA'), prices: [{ currency_code: 'eur', amount: 500 }], inventory: [{ location_id: loc, quantity: 50 }] }] });
  assert.equal(p.status, 201, p.text);
  const cart = await s.client.post('/v1/store/carts', { currency_code: 'eur' });
  assert.equal(cart.status, 201, cart.text);
  const k = key();
  const add = () => s.client.post(`/v1/store/carts/${cart.body.id}/line-items`, { variant_id: p.body.variants[0].id, quantity: 2 }, { headers: { 'idempotency-key': k } });
  const first = await add();
  assert.equal(first.status, 200, first.text);
  const again = await add();
  assert.equal(again.status, 200);
  assert.equal(again.headers.get('idempotent-replayed'), 'true');
  const now = await s.client.get(`/v1/store/carts/${cart.body.id}`);
  assert.equal(now.body.items[0].quantity, 2, 'added once');
});

test('a request that times out keeps its key until its work is done: the retry replays it, never runs it again', async () => {
  const q = await startStack({ env: { SOUQ_REQUEST_TIMEOUT_MS: '300' } });
  try {
    // the set-up is not what is tested: on a loaded machine its requests may outlive the 300 ms deadline too, so
    // each is repeated until it gets through (a repeat of one that committed only makes another location or product)
    const patient = async (fn) => {
      for (let i = 0; ; i++) {
        try {
          const r = await fn();
          if (r?.status !== 503 || i >= 20) return r;
        } catch (e) {
          if (!/503/.test(String(e.message)) || i >= 20) throw e;
        }
      }
    };
    const qt = (await patient(() => staffLogin(q.client))).access_token;
    const QA = (method, path, json, headers) => q.client.request(method, path, { pk: null, token: qt, json, headers });
    const l = (await patient(() => QA('POST', '/v1/admin/stock-locations', { name: 'Slow' }))).body.id;
    const p = await patient(() => QA('POST', '/v1/admin/products', { title: uniq('Slow'), status: 'draft', variants: [{ sku: uniq('SL'), inventory: [{ location_id: l, quantity: 10 }] }] }));
    const item = p.body.variants[0].inventory_items[0].inventory_item_id;
    // another transaction holds the stock level for 1.5 s, so the adjustment outlives the 300 ms deadline
    const holder = q.sql('WITH l AS MATERIALIZED (SELECT 1 FROM inventory_levels WHERE inventory_item_id = $1 FOR UPDATE) SELECT pg_sleep(1.5) FROM l', [item]);
    const until = Date.now() + 3000; // until the holder has the lock
    while ((await q.sql("SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event = 'PgSleep'"))[0].n === 0 && Date.now() < until);
    const k = key();
    const adjust = () => QA('POST', `/v1/admin/inventory-items/${item}/adjustments`, { location_id: l, delta: 5 }, { 'idempotency-key': k });
    const first = await adjust();
    assert.equal(first.status, 503, first.text);
    assert.equal(first.body.type, type('request-timeout'));
    let r;
    const seen = new Set();
    const end = Date.now() + 10000;
    do {
      r = await adjust();
      seen.add(r.status);
      if (r.status !== 409 && r.status !== 503) break; // both say: retry shortly
      await new Promise((res) => setTimeout(res, 100));
    } while (Date.now() < end);
    await holder;
    assert.ok([...seen].every((x) => [200, 409, 503].includes(x)), [...seen].join(','));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('idempotent-replayed'), 'true');
    assert.equal((await QA('GET', `/v1/admin/inventory-items/${item}`)).body.on_hand, 15, 'applied once');
  } finally {
    await q.stop();
  }
});

test('keys older than 24 hours are purged by the sweeper', async () => {
  const q = await startStack();
  try {
    const row = (k, age) => q.sql(`INSERT INTO idempotency_keys (principal, method, route, key, fingerprint, state, status, body, created_at, locked_until)
                                   VALUES ('staff:x', 'POST', '/v1/admin/categories', $1, 'f', 'done', 201, '{}', now() - $2::interval, now())`, [k, age]);
    await row('old', '25 hours');
    await row('young', '23 hours');
    const keys = async () => (await q.sql('SELECT key FROM idempotency_keys ORDER BY key')).map((r) => r.key);
    const end = Date.now() + 20000;
    while ((await keys()).includes('old') && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(await keys(), ['young']);
    assert.match(q.server.log, /purged 1 idempotency keys older than 24 hours/);
  } finally {
    await q.stop();
  }
});
