// checkout_coalesce.test.mjs: checkouts coalesced (core/db/db.h, migrations/0045). Concurrent checkouts go to
// PostgreSQL many per statement (souq_checkouts_prepare, souq_checkouts_complete) in the common case; every other
// case runs alone through souq_checkout_prepare / souq_checkout_complete (0019). The group functions must write exactly
// the rows the lone ones write, take nothing they cannot do exactly, and concurrent requests must get exactly the
// answers they get alone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startStack, staffLogin, newCustomer } from './lib/harness.mjs';

let s, t, loc, loc2, shipping;
const A = (method, path, json) => s.client.request(method, path, { pk: null, token: t, json });
let seq = 0;
const uniq = (p) => `${p}-${process.pid}-${++seq}`;
const key = () => crypto.randomUUID();
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const address = { first_name: 'Ada', last_name: 'L', address_1: 'Unter den Linden 1', city: 'Berlin', postal_code: '10117', country_code: 'de' };
const visa = { payment: { provider: 'test', data: { token: 'tok_visa' } } };

async function variant(inventory, amount = 1000, extra = {}) {
  const r = await A('POST', '/v1/admin/products', { title: uniq('Thing'), status: 'active',
    variants: [{ sku: uniq('SKU'), prices: [{ currency_code: 'eur', amount }], inventory, ...extra }] });
  assert.equal(r.status, 201, r.text);
  return r.body.variants[0];
}

before(async () => {
  s = await startStack();
  t = (await staffLogin(s.client)).access_token;
  const eu = (await A('POST', '/v1/admin/regions', { name: 'EU', currency_code: 'eur', countries: ['de'] })).body;
  const so = await A('POST', '/v1/admin/shipping-options', { name: 'Standard', region_id: eu.id, provider: 'flat_rate', amount: 490 });
  assert.equal(so.status, 201, so.text);
  shipping = so.body.id;
  await A('POST', '/v1/admin/tax-rates', { region_id: eu.id, rate_bp: 1900, name: 'VAT', code: 'VAT19' });
  loc = (await A('POST', '/v1/admin/stock-locations', { name: 'First' })).body.id;
  loc2 = (await A('POST', '/v1/admin/stock-locations', { name: 'Second' })).body.id;
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc2, priority: 1 });
});
after(async () => s && (await s.stop()));

async function readyCart(lines, { token, email = 'Buyer@Example.com', code } = {}) {
  const r = await s.client.request('POST', '/v1/store/carts', { token, json: { email, shipping_address: address,
    items: lines.map(([v, quantity]) => ({ variant_id: v.id, quantity })) } });
  assert.equal(r.status, 201, r.text);
  const m = await s.client.request('POST', `/v1/store/carts/${r.body.id}/shipping-methods`, { token, json: { option_id: shipping } });
  assert.equal(m.status, 200, m.text);
  if (code) {
    const p = await s.client.request('POST', `/v1/store/carts/${r.body.id}/promotions`, { token, json: { code } });
    assert.equal(p.status, 200, p.text);
  }
  return m.body;
}

// Everything the checkout steps wrote for a cart and its order, without what differs between two carts of one body
// (ids, numbers, times, keys): the baseline and the group must agree on all the rest.
async function written(cartId) {
  const q = async (text) => s.sql(text, [cartId]);
  const [o] = await q('SELECT * FROM orders WHERE cart_id = $1');
  const oid = o?.id ?? '-';
  const strip = (r, ...keys) => { const x = { ...r }; for (const k of [...keys, 'id', 'created_at', 'updated_at']) delete x[k]; return x; };
  const ref = `(reference = $1 OR reference = (SELECT id FROM orders WHERE cart_id = $1))`;
  const snap = o && { ...o.snapshot, id: undefined, created_at: undefined, updated_at: undefined, expires_at: undefined,
    items: o.snapshot.items.map((l) => strip(l)) };
  return {
    order: o && strip({ ...o, snapshot: snap }, 'number', 'cart_id', 'placed_at'),
    lines: (await s.sql('SELECT * FROM order_line_items WHERE order_id = $1 ORDER BY position', [oid])).map((l) => strip(l, 'order_id')),
    payments: (await q('SELECT * FROM payments WHERE cart_id = $1 ORDER BY id')).map((p) => strip(p, 'cart_id', 'order_id', 'gateway_key')),
    reservations: (await q(`SELECT inventory_item_id, location_id, quantity, backordered, status,
                             expires_at = 'infinity' AS kept, expires_at > now() + interval '10 minutes' AS long
                             FROM reservations WHERE ${ref} ORDER BY inventory_item_id`)),
    ledger: (await q(`SELECT inventory_item_id, location_id, delta_on_hand, delta_reserved, reason FROM inventory_ledger
                      WHERE ${ref} ORDER BY inventory_item_id, id`)),
    events: (await s.sql('SELECT type, data - \'number\' AS data, actor FROM order_events WHERE order_id = $1 ORDER BY id', [oid])),
    outbox: (await s.sql("SELECT type, payload - 'number' - 'order_id' AS payload FROM outbox_events WHERE payload->>'order_id' = $1 ORDER BY id", [oid])),
    completed: (await q('SELECT completed_at IS NOT NULL AS done FROM carts WHERE id = $1'))[0].done,
  };
}

const levels = async (v) => s.sql(`SELECT l.location_id, l.on_hand, l.reserved FROM inventory_levels l
  JOIN variant_inventory_items i ON i.inventory_item_id = l.inventory_item_id WHERE i.variant_id = $1 ORDER BY l.location_id`, [v.id]);

// the priced cart as checkout sends it, and the cart's version
async function priced(id, token) {
  const r = await s.client.request('GET', `/v1/store/carts/${id}`, { token });
  assert.equal(r.status, 200, r.text);
  const [c] = await s.sql('SELECT version FROM carts WHERE id = $1', [id]);
  return { cart: r.body, version: c.version };
}

test('the group functions write exactly what the lone functions write, and take nothing they cannot do exactly', async () => {
  const cu = await newCustomer(s.client);
  const [guest] = await s.sql('SELECT id FROM customers WHERE lower(email) = $1 AND NOT has_account', ['buyer@example.com']);
  if (!guest) await s.sql("INSERT INTO customers (email) VALUES ('buyer@example.com')");
  const a = await variant([{ location_id: loc, quantity: 100 }], 2500);
  const b = await variant([{ location_id: loc, quantity: 100 }], 1200);
  const free = await variant([], 700, { manage_inventory: false });
  const shapes = [
    { lines: [[a, 1]] },
    { lines: [[a, 2], [b, 3], [free, 1]] },
    { lines: [[b, 1]], token: cu.token },
  ];
  for (const shape of shapes) {
    const twins = [await readyCart(shape.lines, shape), await readyCart(shape.lines, shape)];
    const [lone, group] = await Promise.all(twins.map((c) => priced(c.id, shape.token)));
    const who = shape.token ? cu.customer.id : null;
    const before = await Promise.all(shape.lines.map(([v]) => levels(v)));
    // baseline: 0019's lone functions
    const [lp] = await s.sql(`SELECT souq_checkout_prepare($1, $2, $3, 86400, $4, $5::jsonb, 'test', '{"token":"tok_visa"}', $6, 900) AS r`,
      [twins[0].id, s.channel, who, lone.version, JSON.stringify(lone.cart), `gk-${key()}`]);
    const [lc] = await s.sql(`SELECT souq_checkout_complete($1, $2, $3, $4, 'authorized', 'ch_x', $5::jsonb, NULL, NULL, NULL, NULL) AS r`,
      [twins[0].id, s.channel, who, lp.r.payment_id, JSON.stringify(lone.cart)]);
    // the group of one: 0045
    const call = { id: twins[1].id, channel: s.channel, customer: who, ttl: 86400, version: group.version, cart: group.cart,
      provider: 'test', data: { token: 'tok_visa' }, gateway_key: `gk-${key()}`, reserve_ttl: 900 };
    const gp = await s.sql('SELECT ord, answer FROM souq_checkouts_prepare($1::jsonb)', [JSON.stringify([call])]);
    assert.equal(gp.length, 1, 'the common case is taken');
    const pa = JSON.parse(gp[0].answer);
    assert.deepEqual({ ...pa, payment_id: 0, gateway_key: 0 }, { ...lp.r, payment_id: 0, gateway_key: 0 });
    const gc = await s.sql('SELECT ord, answer FROM souq_checkouts_complete($1::jsonb)', [JSON.stringify([{ id: twins[1].id, channel: s.channel,
      customer: who, payment: pa.payment_id, status: 'authorized', provider_ref: 'ch_x', cart: group.cart, idem: null }])]);
    assert.equal(gc.length, 1);
    const norm = (o) => ({ ...o, id: 0, number: 0, display_number: 0, cart_id: 0, placed_at: 0, created_at: 0, updated_at: 0,
      items: o.items.map((l) => ({ ...l, id: 0 })), payments: o.payments.map((p) => ({ ...p, id: 0, created_at: 0 })) });
    assert.deepEqual(norm(JSON.parse(gc[0].answer)), norm(lc.r), 'the same order JSON');
    assert.deepEqual(await written(twins[1].id), await written(twins[0].id), 'the same rows');
    // stock: each twin reserved its lines once
    const after = await Promise.all(shape.lines.map(([v]) => levels(v)));
    shape.lines.forEach(([v, q], i) => {
      if (v === free) return assert.deepEqual(after[i], []);
      assert.equal(after[i][0].reserved - before[i][0].reserved, 2 * q * shape.lines.filter(([w]) => w === v).length);
    });
  }

  // what the group does not take: no row answered, nothing written (each goes alone, which answers it exactly)
  const few = await variant([{ location_id: loc, quantity: 1 }, { location_id: loc2, quantity: 50 }]);
  const promo = (await A('POST', '/v1/admin/promotions', { code: uniq('TEN').replaceAll('-', ''), type: 'percentage', percent_bp: 1000 })).body;
  const refused = [
    { lines: [[few, 2]] },                       // the first location lacks it: the lone path takes the second
    { lines: [[a, 1]], version: -1 },            // priced at another version
    { lines: [[a, 1]], code: promo.code },       // promotions are redeemed alone (prepare is taken, complete is not)
  ];
  for (const r of refused) {
    const c = await readyCart(r.lines, r);
    const p = await priced(c.id);
    const before = await written(c.id);
    const call = { id: c.id, channel: s.channel, customer: null, ttl: 86400, version: r.version ?? p.version, cart: p.cart,
      provider: 'test', data: null, gateway_key: `gk-${key()}`, reserve_ttl: 900 };
    const gp = await s.sql('SELECT ord, answer FROM souq_checkouts_prepare($1::jsonb)', [JSON.stringify([call])]);
    if (r.code) {
      assert.equal(gp.length, 1);
      const pay = JSON.parse(gp[0].answer).payment_id;
      const mid = await written(c.id);
      const gc = await s.sql('SELECT ord, answer FROM souq_checkouts_complete($1::jsonb)', [JSON.stringify([{ id: c.id, channel: s.channel,
        customer: null, payment: pay, status: 'authorized', provider_ref: null, cart: p.cart, idem: null }])]);
      assert.equal(gc.length, 0, 'a cart with a promotion is not completed by the group');
      assert.deepEqual(await written(c.id), mid, 'nothing written');
    } else {
      assert.equal(gp.length, 0, JSON.stringify(r));
      assert.deepEqual(await written(c.id), before, 'nothing written');
    }
  }
  // a completed cart, and two calls for one cart in a group: the group places one order
  const c = await readyCart([[b, 1]]);
  const p = await priced(c.id);
  const calls = [1, 2].map(() => ({ id: c.id, channel: s.channel, customer: null, ttl: 86400, version: p.version, cart: p.cart,
    provider: 'test', data: null, gateway_key: `gk-${key()}`, reserve_ttl: 900 }));
  const gp = await s.sql('SELECT ord, answer FROM souq_checkouts_prepare($1::jsonb)', [JSON.stringify(calls)]);
  assert.deepEqual(gp.map((x) => x.ord), [1], 'one attempt per cart');
  const done = { id: c.id, channel: s.channel, customer: null, payment: JSON.parse(gp[0].answer).payment_id, status: 'captured',
    provider_ref: null, cart: p.cart, idem: null };
  const gc = await s.sql('SELECT ord, answer FROM souq_checkouts_complete($1::jsonb)', [JSON.stringify([done, done])]);
  assert.deepEqual(gc.map((x) => x.ord), [1], 'one order per cart');
  assert.equal(JSON.parse(gc[0].answer).payment_status, 'paid');
  assert.equal((await s.sql('SELECT ord FROM souq_checkouts_complete($1::jsonb)', [JSON.stringify([done])])).length, 0, 'completed: alone');
});

test('concurrent checkouts are coalesced, and each gets the answer it gets alone', async () => {
  const plenty = await variant([{ location_id: loc, quantity: 1000 }], 1500);
  const tight = await variant([{ location_id: loc, quantity: 5 }], 900);
  const split = await variant([{ location_id: loc, quantity: 3 }, { location_id: loc2, quantity: 100 }], 800);
  const promo = (await A('POST', '/v1/admin/promotions', { code: uniq('FIVE').replaceAll('-', ''), type: 'percentage', percent_bp: 500 })).body;
  for (let round = 0, shared = false; ; round++) {
    const kinds = [...Array(40).fill('plenty'), ...Array(8).fill('tight'), ...Array(6).fill('split'), 'promo', 'promo', 'declined'];
    const carts = [];
    for (const k of kinds) {
      const lines = { plenty: [[plenty, 1]], tight: [[tight, 1]], split: [[split, 1]], promo: [[plenty, 2]], declined: [[plenty, 1]] }[k];
      carts.push({ kind: k, cart: await readyCart(lines, { code: k === 'promo' ? promo.code : undefined }) });
    }
    const before = { plenty: await levels(plenty), tight: await levels(tight), split: await levels(split) };
    const answers = await Promise.all(carts.map(({ kind, cart }) => s.client.request('POST', `/v1/store/carts/${cart.id}/complete`, {
      json: kind === 'declined' ? { payment: { provider: 'test', data: { token: 'tok_declined' } } } : visa,
      headers: { 'idempotency-key': key() } })));
    const by = (k) => answers.filter((_, i) => carts[i].kind === k);
    assert.ok(by('plenty').every((r) => r.status === 201), JSON.stringify(by('plenty').map((r) => r.status)));
    assert.deepEqual(by('tight').map((r) => r.status).sort(), [...Array(5).fill(201), ...Array(3).fill(409)].sort(),
      'tight stock: exactly what there is');
    assert.ok(by('tight').filter((r) => r.status === 409).every((r) => r.body.type === type('insufficient-stock')));
    assert.ok(by('split').every((r) => r.status === 201), 'stock from the second location when the first runs out');
    assert.ok(by('promo').every((r) => r.status === 201 && r.body.discount_total > 0 && r.body.promotion_codes.length === 1));
    assert.equal(by('declined')[0].status, 402);
    // every order is what the API shows for it, and stock moved by exactly what was ordered
    for (const r of answers.filter((x) => x.status === 201).slice(0, 10)) {
      const g = await A('GET', `/v1/admin/orders/${r.body.id}`);
      assert.equal(g.status, 200);
      for (const k of ['total', 'items', 'payments', 'payment_status', 'number', 'shipping_methods']) assert.deepEqual(g.body[k], r.body[k], k);
    }
    const moved = async (v, n) => {
      const was = before[v === plenty ? 'plenty' : v === tight ? 'tight' : 'split'];
      const now = await levels(v);
      assert.equal(now.reduce((x, l) => x + l.reserved, 0) - was.reduce((x, l) => x + l.reserved, 0), n);
      assert.ok(now.every((l) => l.reserved <= l.on_hand), 'never oversold');
    };
    await moved(plenty, 40 + 4);
    await moved(tight, 5);
    await moved(split, 6);
    const placed = answers.filter((x) => x.status === 201).map((r) => r.body.id);
    const tx = await s.sql('SELECT count(DISTINCT xmin::text)::int AS n FROM orders WHERE id = ANY($1)', [placed]);
    shared = tx[0].n < placed.length;
    if (shared) break;
    assert.ok(round < 4, 'some orders of concurrent checkouts were placed together, by one statement');
    await s.sql('UPDATE inventory_levels SET on_hand = reserved + 5 WHERE inventory_item_id IN (SELECT inventory_item_id FROM variant_inventory_items WHERE variant_id = $1) AND location_id = $2', [tight.id, loc]);
  }
  // replays answer the stored order, byte for byte
  const c = await readyCart([[plenty, 1]]);
  const k = key();
  const first = await s.client.request('POST', `/v1/store/carts/${c.id}/complete`, { json: visa, headers: { 'idempotency-key': k } });
  const again = await s.client.request('POST', `/v1/store/carts/${c.id}/complete`, { json: visa, headers: { 'idempotency-key': k } });
  assert.equal(first.status, 201);
  assert.equal(again.status, 201);
  assert.equal(again.text, first.text);
});
