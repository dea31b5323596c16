// checkout_races.test.mjs: the concurrency scenarios C2, C7, C8, C9, C10 and C11 of the reliability
// reference (C1, C3 and C6 are in checkout.test.mjs): locks in a global order (no deadlock reaches a client),
// admin stock changes racing checkouts, abandoned reservations swept, bundles summed per inventory item,
// SERIALIZABLE databases, and a stuck lock answered fast with 503 busy.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import pg from 'pg';
import { startStack, staffLogin, SOCK, PGPORT } from './lib/harness.mjs';

const stacks = [];
after(async () => { for (const s of stacks) await s.stop(); });
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const address = { first_name: 'Ada', last_name: 'L', address_1: 'Unter den Linden 1', city: 'Berlin', postal_code: '10117', country_code: 'de' };
const visa = { payment: { provider: 'test', data: { token: 'tok_visa' } } };
let seq = 0;

/* a store with a region, a location, a shipping option; returns helpers bound to it */
async function store(env = {}) {
  const s = await startStack({ env });
  stacks.push(s);
  const t = (await staffLogin(s.client)).access_token;
  const A = (method, path, json) => s.client.request(method, path, { pk: null, token: t, json });
  const eu = (await A('POST', '/v1/admin/regions', { name: 'EU', currency_code: 'eur', countries: ['de'] })).body;
  const shipping = (await A('POST', '/v1/admin/shipping-options', { name: 'Std', region_id: eu.id, provider: 'flat_rate', amount: 0 })).body.id;
  const loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Berlin' })).body.id;
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
  const variant = async (stock) => {
    const r = await A('POST', '/v1/admin/products', { title: `Thing ${++seq}`, status: 'active',
      variants: [{ sku: `SKU-${process.pid}-${seq}`, prices: [{ currency_code: 'eur', amount: 1000 }], inventory: [{ location_id: loc, quantity: stock }] }] });
    assert.equal(r.status, 201, r.text);
    const v = r.body.variants[0];
    v.item = (await s.sql('SELECT inventory_item_id FROM variant_inventory_items WHERE variant_id = $1', [v.id]))[0].inventory_item_id;
    return v;
  };
  const cart = async (lines) => {
    const r = await s.client.post('/v1/store/carts', { email: 'b@example.com', shipping_address: address, items: lines.map(([variant_id, quantity]) => ({ variant_id, quantity })) });
    assert.equal(r.status, 201, r.text);
    const m = await s.client.post(`/v1/store/carts/${r.body.id}/shipping-methods`, { option_id: shipping });
    assert.equal(m.status, 200, m.text);
    return m.body;
  };
  const complete = (id, body = visa) => s.client.request('POST', `/v1/store/carts/${id}/complete`, { json: body, headers: { 'idempotency-key': crypto.randomUUID() } });
  const level = async (item) => (await s.sql('SELECT on_hand, reserved, available FROM inventory_levels WHERE inventory_item_id = $1', [item]))[0];
  return { s, A, loc, variant, cart, complete, level };
}
const tally = (results) => results.reduce((m, r) => ({ ...m, [r.status]: (m[r.status] ?? 0) + 1 }), {});

test('C2: 100 carts hold two SKUs in random order: 50 orders, 50 x 409, no deadlock reaches a client', async () => {
  const st = await store();
  const x = await st.variant(50), y = await st.variant(50);
  const carts = [];
  for (let i = 0; i < 100; i++) carts.push(await st.cart(i % 2 ? [[x.id, 1], [y.id, 1]] : [[y.id, 1], [x.id, 1]]));
  const results = await Promise.all(carts.map((c) => st.complete(c.id)));
  assert.deepEqual(tally(results), { 201: 50, 409: 50 });
  assert.ok(results.filter((r) => r.status === 409).every((r) => r.body.type === type('insufficient-stock')));
  for (const v of [x, y]) assert.deepEqual(await st.level(v.item), { on_hand: 50, reserved: 50, available: 0 });
});

test('C7: an admin +5 adjustment racing 200 checkouts of 10 units: available = 15 - sold, 10 <= sold <= 15, the ledger balances', async () => {
  const st = await store();
  const v = await st.variant(10);
  const carts = [];
  for (let i = 0; i < 200; i++) carts.push(await st.cart([[v.id, 1]]));
  const adjust = (async () => { await new Promise((r) => setTimeout(r, 5)); return st.A('POST', `/v1/admin/inventory-items/${v.item}/adjustments`, { location_id: st.loc, delta: 5 }); })();
  const [results, adj] = await Promise.all([Promise.all(carts.map((c) => st.complete(c.id))), adjust]);
  assert.equal(adj.status, 200, adj.text);
  const by = tally(results);
  const sold = by[201];
  assert.ok(sold >= 10 && sold <= 15, JSON.stringify(by));
  assert.equal(sold + by[409], 200, JSON.stringify(by));
  const l = await st.level(v.item);
  assert.deepEqual([l.on_hand, l.reserved, l.available], [15, sold, 15 - sold]);
  const [ledger] = await st.s.sql('SELECT sum(delta_on_hand)::int AS on_hand, sum(delta_reserved)::int AS reserved FROM inventory_ledger WHERE inventory_item_id = $1', [v.item]);
  assert.deepEqual([ledger.on_hand, ledger.reserved], [l.on_hand, l.reserved], 'the ledger sums to the level');
});

test('C8: reservations of abandoned checkouts (TTL 2 s) are swept back; a checkout after expiry succeeds', async () => {
  const st = await store({ SOUQ_CHECKOUT_RESERVATION_TTL: '2' });
  const v = await st.variant(20);
  const carts = [];
  for (let i = 0; i < 20; i++) carts.push(await st.cart([[v.id, 1]]));
  const late = await st.cart([[v.id, 1]]);
  // each buyer starts 3-D Secure and walks away: the stock waits for them
  const started = await Promise.all(carts.map((c) => st.complete(c.id, { payment: { provider: 'test', data: { token: 'tok_3ds' } } })));
  assert.deepEqual(tally(started), { 202: 20 });
  assert.equal((await st.level(v.item)).available, 0);
  assert.equal((await st.complete(late.id)).status, 409, 'all 20 units are held');
  let l;
  for (let i = 0; i < 100; i++) { // the sweeper runs every 5 s: wait for its effect, not for a time
    l = await st.level(v.item);
    if (l.available === 20) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(l, { on_hand: 20, reserved: 0, available: 20 });
  const r = await st.complete(late.id);
  assert.equal(r.status, 201, r.text);
  // an abandoned buyer who comes back after expiry still gets the order when stock is there (reserved again)
  const url = started[0].body.payment.next_action.url;
  assert.equal((await st.s.client.request('POST', url, { pk: null, json: { result: 'succeed' } })).status, 200);
  const back = await st.complete(carts[0].id, { payment: { provider: 'test', data: { token: 'tok_3ds' } } });
  assert.equal(back.status, 201, back.text);
  assert.equal((await st.level(v.item)).reserved, 2);
});

test('C9: two lines whose variants share one inventory item (stock 1) are summed per item: 409', async () => {
  const st = await store();
  const a = await st.variant(1), b = await st.variant(0);
  // b is a bundle of a's item (the Medusa #16502 regression)
  await st.s.sql('DELETE FROM variant_inventory_items WHERE variant_id = $1', [b.id]);
  await st.s.sql('INSERT INTO variant_inventory_items (variant_id, inventory_item_id, required_quantity) VALUES ($1, $2, 1)', [b.id, a.item]);
  const c = await st.cart([[a.id, 1], [b.id, 1]]).catch(() => null);
  // adding both lines can already be refused at the cart (the cart checks each line against the item's stock):
  // then build the cart line by line to reach checkout
  let cart = c;
  if (cart === null) {
    const r = await st.s.client.post('/v1/store/carts', { email: 'b@example.com', shipping_address: address, items: [{ variant_id: a.id, quantity: 1 }] });
    cart = r.body;
    await st.s.sql('INSERT INTO cart_line_items (cart_id, variant_id, quantity) VALUES ($1, $2, 1)', [cart.id, b.id]);
    const opt = (await st.s.sql('SELECT id FROM shipping_options LIMIT 1'))[0].id;
    await st.s.client.post(`/v1/store/carts/${cart.id}/shipping-methods`, { option_id: opt });
  }
  const r = await st.complete(cart.id);
  assert.equal(r.status, 409, r.text);
  assert.equal(r.body.type, type('insufficient-stock'));
  assert.deepEqual(await st.level(a.item), { on_hand: 1, reserved: 0, available: 1 });
});

test('C10: C1 on a SERIALIZABLE database: 10 orders, 190 x 409, no 5xx (40001 is retried inside)', async () => {
  const st = await store({ PGOPTIONS: '-c default_transaction_isolation=serializable' });
  const [{ iso }] = await st.s.sql("SELECT current_setting('default_transaction_isolation') AS iso");
  assert.equal(iso, 'read committed', 'the test client is not affected');
  const v = await st.variant(10);
  const carts = [];
  for (let i = 0; i < 200; i++) carts.push(await st.cart([[v.id, 1]]));
  const results = await Promise.all(carts.map((c) => st.complete(c.id)));
  assert.deepEqual(tally(results), { 201: 10, 409: 190 }, JSON.stringify(results.find((r) => r.status >= 500)?.body));
  assert.ok(results.filter((r) => r.status === 409).every((r) => r.body.type === type('insufficient-stock')), JSON.stringify(results.find((r) => r.status === 409 && r.body.type !== type('insufficient-stock'))?.body));
  assert.deepEqual(await st.level(v.item), { on_hand: 10, reserved: 10, available: 0 });
});

test('C11: a stock row held by a stuck transaction: checkout answers 503 busy with Retry-After while it is still held', async () => {
  const st = await store({ SOUQ_LOCK_TIMEOUT_MS: '1000' });
  const v = await st.variant(5);
  const cart = await st.cart([[v.id, 1]]);
  const holder = new pg.Client({ host: SOCK, port: Number(PGPORT), user: 'souq', database: st.s.dbName });
  await holder.connect();
  try {
    await holder.query('BEGIN');
    await holder.query("SET LOCAL statement_timeout = '30s'");
    await holder.query('SELECT 1 FROM inventory_levels WHERE inventory_item_id = $1 FOR UPDATE', [v.item]);
    const r = await st.complete(cart.id); // answered while the lock is held (we release it only afterwards)
    assert.equal(r.status, 503, r.text);
    assert.equal(r.body.type, type('busy'));
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
    const [{ n }] = await st.s.sql("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'", [st.s.dbName]);
    assert.equal(n, 0, 'nothing of the checkout still waits on the lock');
  } finally {
    await holder.query('ROLLBACK');
    await holder.end();
  }
  const r = await st.complete(cart.id);
  assert.equal(r.status, 201, 'the same cart checks out once the lock is gone');
});
