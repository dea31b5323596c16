// checkout.test.mjs: POST /v1/store/carts/{id}/complete with the built-in payment providers (test, manual),
// the orders it places, the customer's order history, admin reads and moves (capture, cancel, refunds), and the
// concurrency scenarios C1, C3 and C6 of the reliability reference.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startStack, staffLogin, newCustomer, Client } from './lib/harness.mjs';

let s, t, other, loc, shipping;
const sql = async (text, params) => ({ rows: await s.sql(text, params) });
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json) => s.client.request(method, path, { pk: null, token: t, json });
let seq = 0;
const uniq = (p) => `${p}-${process.pid}-${++seq}`;
const key = () => crypto.randomUUID();
const V = {};
const address = { first_name: 'Ada', last_name: 'L', address_1: 'Unter den Linden 1', city: 'Berlin', postal_code: '10117', country_code: 'de' };

async function variant(stock, amount = 1000, extra = {}) {
  const r = await A('POST', '/v1/admin/products', { title: uniq('Thing'), status: 'active',
    variants: [{ sku: uniq('SKU'), prices: [{ currency_code: 'eur', amount }], inventory: [{ location_id: loc, quantity: stock }], ...extra }] });
  assert.equal(r.status, 201, r.text);
  return r.body.variants[0];
}

before(async () => {
  s = await startStack();
  t = (await staffLogin(s.client)).access_token;
  const eu = (await A('POST', '/v1/admin/regions', { name: 'EU', currency_code: 'eur', countries: ['de'] })).body;
  const so = await A('POST', '/v1/admin/shipping-options', { name: 'Standard', region_id: eu.id, provider: 'flat_rate', amount: 0 });
  assert.equal(so.status, 201, so.text);
  shipping = so.body.id;
  loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Berlin' })).body.id;
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
  const ch2 = await A('POST', '/v1/admin/sales-channels', { name: 'Other' });
  const k = await A('POST', '/v1/admin/api-keys', { type: 'publishable', title: 'other', sales_channel_id: ch2.body.id });
  other = new Client(s.url, k.body.token);
  V.tee = await variant(1000, 2500);
  V.mug = await variant(1000, 1200);
});
after(async () => { if (process.env.SHOWLOG) console.log(s.server.log.split('\n').filter((l) => /sqlstate|ERROR|runtime error|SUMMARY|#[0-3] /.test(l)).slice(0, 14).join('\n')); return s && (await s.stop()); });

/* a cart ready for checkout: lines, email, shipping address */
async function readyCart(lines = [[V.tee.id, 2]], client = s.client, token) {
  const r = await client.request('POST', '/v1/store/carts', { token, json: { email: 'Buyer@Example.com', shipping_address: address,
    items: lines.map(([variant_id, quantity]) => ({ variant_id, quantity })) } });
  assert.equal(r.status, 201, r.text);
  const m = await client.request('POST', `/v1/store/carts/${r.body.id}/shipping-methods`, { token, json: { option_id: shipping } });
  assert.equal(m.status, 200, m.text);
  return m.body;
}
const complete = (cartId, body, { k = key(), client = s.client, token } = {}) =>
  client.request('POST', `/v1/store/carts/${cartId}/complete`, { token, json: body, headers: k ? { 'idempotency-key': k } : {} });
const visa = { payment: { provider: 'test', data: { token: 'tok_visa' } } };
const level = async (variantId) => (await sql(
  'SELECT l.on_hand, l.reserved FROM inventory_levels l JOIN variant_inventory_items v ON v.inventory_item_id = l.inventory_item_id WHERE v.variant_id = $1',
  [variantId])).rows[0];

test('a guest checkout with the test card places an order with a snapshot of the cart, reserves its stock and writes order.placed', async () => {
  const cart = await readyCart([[V.tee.id, 2], [V.mug.id, 1]]);
  const before = await level(V.tee.id);
  const k = key();
  const r = await complete(cart.id, visa, { k });
  assert.equal(r.status, 201, r.text);
  const o = r.body;
  assert.match(o.id, /^order_[0-9a-z]{26}$/);
  assert.ok(Number.isInteger(o.number) && o.number >= 1001);
  assert.equal(o.display_number, `#${o.number}`);
  assert.deepEqual([o.status, o.payment_status, o.fulfillment_status], ['open', 'authorized', 'unfulfilled']);
  assert.equal(o.email, 'buyer@example.com');
  assert.equal(o.cart_id, cart.id);
  assert.deepEqual(o.items.map((l) => [l.variant_id, l.quantity, l.unit_price, l.subtotal]), cart.items.map((l) => [l.variant_id, l.quantity, l.unit_price, l.subtotal]), 'the lines as the cart showed them');
  assert.deepEqual(o.items.map((l) => [l.variant_id, l.quantity, l.unit_price, l.subtotal]).sort((a, b) => b[2] - a[2]), [[V.tee.id, 2, 2500, 5000], [V.mug.id, 1, 1200, 1200]]);
  assert.deepEqual([o.item_subtotal, o.total, o.paid_total], [6200, 6200, 0]);
  assert.equal(o.shipping_address.city, 'Berlin');
  assert.equal(o.payments.length, 1);
  assert.deepEqual([o.payments[0].provider, o.payments[0].status, o.payments[0].amount], ['test', 'authorized', 6200]);
  assert.match(o.customer_id, /^cus_/, 'a guest order belongs to a guest customer record');
  const after = await level(V.tee.id);
  assert.deepEqual([after.on_hand, after.reserved], [before.on_hand, before.reserved + 2], 'reserved, not yet taken');
  const res = await sql("SELECT count(*)::int AS n FROM reservations WHERE reference = $1 AND status = 'active' AND expires_at = 'infinity'", [o.id]);
  assert.equal(res.rows[0].n, 2, 'the reservations now belong to the order');
  const ev = await sql("SELECT payload FROM outbox_events WHERE type = 'order.placed' AND payload->>'order_id' = $1", [o.id]);
  assert.equal(ev.rows.length, 1);
  assert.equal(ev.rows[0].payload.total, 6200);
  // the cart is gone as a cart; the same key replays; another key answers the same order
  assert.equal((await s.client.get(`/v1/store/carts/${cart.id}`)).status, 404);
  const again = await complete(cart.id, visa, { k });
  assert.equal(again.status, 201);
  assert.equal(again.headers.get('idempotent-replayed'), 'true');
  assert.equal(again.body.id, o.id);
  const other = await complete(cart.id, visa);
  assert.equal(other.status, 200, other.text);
  assert.equal(other.body.id, o.id);
  const charges = await sql('SELECT count(*)::int AS n FROM test_gateway_charges WHERE amount = 6200 AND idempotency_key IN (SELECT gateway_key FROM payments WHERE order_id = $1)', [o.id]);
  assert.equal(charges.rows[0].n, 1, 'one charge');
});

test('the order keeps the cart\'s shipping and tax as they were at checkout', async () => {
  const region = (await A('POST', '/v1/admin/regions', { name: 'AT', currency_code: 'eur', countries: ['at'] })).body;
  let r = await A('POST', '/v1/admin/tax-rates', { country_code: 'at', rate_bp: 2000, name: 'USt', code: 'AT20' });
  assert.equal(r.status, 201, r.text);
  const express = (await A('POST', '/v1/admin/shipping-options', { name: 'Express', region_id: region.id, provider: 'flat_rate', amount: 990 })).body;
  let cart = (await s.client.post('/v1/store/carts', { email: 'at@example.com', region_id: region.id, items: [{ variant_id: V.mug.id, quantity: 3 }],
    shipping_address: { ...address, country_code: 'at', city: 'Wien' } })).body;
  cart = (await s.client.post(`/v1/store/carts/${cart.id}/shipping-methods`, { option_id: express.id })).body;
  assert.equal(cart.shipping_total, 990);
  assert.ok(cart.tax_total > 0);
  r = await complete(cart.id, visa);
  assert.equal(r.status, 201, r.text);
  const o = r.body;
  for (const k of ['item_subtotal', 'discount_total', 'shipping_total', 'tax_total', 'total', 'tax_inclusive']) assert.equal(o[k], cart[k], k);
  assert.equal(o.payments[0].amount, cart.amount_due);
  assert.deepEqual(o.items[0].tax_lines, cart.items[0].tax_lines);
  assert.equal(o.shipping_methods[0].amount ?? o.shipping_methods[0].total, cart.shipping_methods[0].amount ?? cart.shipping_methods[0].total);
  // a later rate change does not touch the order
  await A('PATCH', `/v1/admin/tax-rates/${r.body.items[0].tax_lines[0].rate_id}`, { rate_bp: 1000 });
  r = await A('GET', `/v1/admin/orders/${o.id}`);
  assert.equal(r.body.tax_total, o.tax_total);
});

test('checkout refuses what cannot become an order, with field pointers, and changes nothing', async () => {
  let cart = await readyCart();
  let r = await complete(cart.id, visa, { k: null });
  assert.equal(r.status, 400);
  assert.equal(r.body.type, type('invalid-parameter'));
  assert.equal(r.body.errors[0].parameter, 'Idempotency-Key');
  r = await complete(cart.id, {});
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/payment');
  r = await complete(cart.id, { payment: { provider: 'paypal' } });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/payment/provider');
  r = await complete(cart.id, { payment: { provider: 'test', data: {} } });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/payment/data/token');
  r = await complete(cart.id, { payment: { provider: 'manual', data: { token: 'x' } } });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/payment/data');
  r = await complete(cart.id, { payment: { provider: 'test', data: { token: 'tok_visa' } }, extra: 1 });
  assert.equal(r.status, 422);
  assert.equal(r.body.type, type('unknown-field'));
  r = await complete(cart.id, { payment: 'card' });
  assert.equal(r.status, 422);
  // an empty cart, a cart without email, without an address
  const empty = (await s.client.post('/v1/store/carts', { email: 'a@example.com' })).body;
  r = await complete(empty.id, visa);
  assert.equal(r.status, 422, r.text);
  assert.equal(r.body.errors[0].pointer, '/items');
  const noMail = (await s.client.post('/v1/store/carts', { items: [{ variant_id: V.tee.id, quantity: 1 }], shipping_address: address })).body;
  r = await complete(noMail.id, visa);
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/email');
  const noAddr = (await s.client.post('/v1/store/carts', { email: 'a@example.com', items: [{ variant_id: V.tee.id, quantity: 1 }] })).body;
  r = await complete(noAddr.id, visa);
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/shipping_address');
  const noMethod = (await s.client.post('/v1/store/carts', { email: 'a@example.com', shipping_address: address, items: [{ variant_id: V.tee.id, quantity: 1 }] })).body;
  r = await complete(noMethod.id, visa);
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/shipping_methods');
  // unknown, malformed and foreign carts are 404
  r = await complete('cart_' + 'x'.repeat(43), visa);
  assert.equal(r.status, 404);
  r = await complete('nope', visa);
  assert.equal(r.status, 404);
  r = await complete(cart.id, visa, { client: other });
  assert.equal(r.status, 404);
  const n = await sql('SELECT count(*)::int AS n FROM orders WHERE cart_id = ANY($1)', [[cart.id, empty.id, noMail.id, noAddr.id, noMethod.id]]);
  assert.equal(n.rows[0].n, 0);
  const resv = await sql("SELECT count(*)::int AS n FROM reservations WHERE reference = ANY($1) AND status = 'active'", [[cart.id, noMail.id, noAddr.id, noMethod.id]]);
  assert.equal(resv.rows[0].n, 0, 'nothing reserved');
});

test('a declined card answers 402 and gives the stock back; another card then succeeds', async () => {
  const cart = await readyCart([[V.mug.id, 3]]);
  const before = await level(V.mug.id);
  let r = await complete(cart.id, { payment: { provider: 'test', data: { token: 'tok_declined' } } });
  assert.equal(r.status, 402, r.text);
  assert.equal(r.body.type, type('payment-declined'));
  assert.equal(r.body.errors[0].code, 'card_declined');
  assert.deepEqual(await level(V.mug.id), before);
  r = await complete(cart.id, { payment: { provider: 'test', data: { token: 'tok_insufficient_funds' } } });
  assert.equal(r.status, 402);
  assert.equal(r.body.errors[0].code, 'insufficient_funds');
  r = await complete(cart.id, { payment: { provider: 'test', data: { token: 'tok_error' } } });
  assert.equal(r.status, 502);
  assert.equal(r.body.type, type('payment-provider-error'));
  assert.deepEqual(await level(V.mug.id), before);
  r = await complete(cart.id, visa);
  assert.equal(r.status, 201, r.text);
  const after = await level(V.mug.id);
  assert.equal(after.reserved, before.reserved + 3);
});

test('3-D Secure: 202 requires_action, the buyer authenticates, complete again with a new key places the order with the same charge', async () => {
  const cart = await readyCart([[V.mug.id, 1]]);
  let r = await complete(cart.id, { payment: { provider: 'test', data: { token: 'tok_3ds' } } });
  assert.equal(r.status, 202, r.text);
  assert.equal(r.body.status, 'requires_action');
  assert.equal(r.body.payment.next_action.type, 'redirect_to_url');
  const url = r.body.payment.next_action.url;
  assert.match(url, /^\/v1\/hooks\/test\/charges\/ch_[0-9a-z]{26}\/authenticate$/);
  // not authenticated yet: still requires action
  r = await complete(cart.id, { payment: { provider: 'test', data: { token: 'tok_3ds' } } });
  assert.equal(r.status, 202);
  let h = await s.client.request('POST', url, { pk: null, json: { result: 'maybe' } });
  assert.equal(h.status, 422);
  h = await s.client.request('POST', url, { pk: null, json: { result: 'succeed' } });
  assert.equal(h.status, 200, h.text);
  h = await s.client.request('POST', url, { pk: null, json: { result: 'succeed' } });
  assert.equal(h.status, 404, 'only once');
  r = await complete(cart.id, { payment: { provider: 'test', data: { token: 'tok_3ds' } } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.payment_status, 'authorized');
  const charges = await sql('SELECT count(*)::int AS n FROM test_gateway_charges WHERE id = $1', [url.split('/')[5]]);
  assert.equal(charges.rows[0].n, 1);
  const pays = await sql('SELECT count(*)::int AS n FROM payments WHERE cart_id = $1', [cart.id]);
  assert.equal(pays.rows[0].n, 1, 'one payment across both attempts');
});

test('a retry with the same key after a provider failure or a decline reuses its payment; a changed cart voids the old charge', async () => {
  const cart = await readyCart([[V.mug.id, 1]]);
  const k = key();
  let r = await complete(cart.id, { payment: { provider: 'test', data: { token: 'tok_declined' } } }, { k });
  assert.equal(r.status, 402);
  r = await complete(cart.id, { payment: { provider: 'test', data: { token: 'tok_declined' } } }, { k });
  assert.equal(r.status, 402, 'the same key: the gateway answers the same declined charge');
  assert.equal((await sql('SELECT count(*)::int AS n FROM payments WHERE cart_id = $1', [cart.id])).rows[0].n, 1);
  // 3-D Secure started, then the cart changes: the next attempt opens a new payment and voids the old charge
  r = await complete(cart.id, { payment: { provider: 'test', data: { token: 'tok_3ds' } } });
  assert.equal(r.status, 202);
  const charge = r.body.payment.next_action.url.split('/')[5];
  assert.equal((await s.client.request('POST', `/v1/hooks/test/charges/${charge}/authenticate`, { pk: null, json: { result: 'succeed' } })).status, 200);
  const line = (await s.client.get(`/v1/store/carts/${cart.id}`)).body.items[0];
  assert.equal((await s.client.request('PATCH', `/v1/store/carts/${cart.id}/line-items/${line.id}`, { json: { quantity: 2 } })).status, 200);
  r = await complete(cart.id, visa);
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.payments[0].amount, 2 * 1200);
  const old = await sql('SELECT status FROM test_gateway_charges WHERE id = $1', [charge]);
  for (let i = 0; i < 50 && old.rows[0].status !== 'voided'; i++) {
    await new Promise((res) => setTimeout(res, 20));
    old.rows = (await sql('SELECT status FROM test_gateway_charges WHERE id = $1', [charge])).rows;
  }
  assert.equal(old.rows[0].status, 'voided', 'the 3-D Secure charge for the old cart is released');
});

test('stock short at checkout: 409 insufficient-stock, nothing reserved', async () => {
  const few = await variant(2);
  const cart = await readyCart([[few.id, 2]]);
  await A('POST', `/v1/admin/inventory-items/${few.inventory_item_id ?? (await sql('SELECT inventory_item_id FROM variant_inventory_items WHERE variant_id = $1', [few.id])).rows[0].inventory_item_id}/adjustments`, { location_id: loc, delta: -1 });
  const r = await complete(cart.id, visa);
  assert.equal(r.status, 409, r.text);
  assert.equal(r.body.type, type('insufficient-stock'));
  assert.equal((await level(few.id)).reserved, 0);
});

test('expected_total: a total changed since the buyer confirmed it is a 409 with the new total, and nothing is done', async () => {
  const v = await variant(10, 1000);
  const cart = await readyCart([[v.id, 2]]);
  assert.equal(cart.total, 2000);
  // staff change the price after the buyer saw the cart
  const p = await A('PATCH', `/v1/admin/products/${v.product_id}/variants/${v.id}`, { prices: [{ currency_code: 'eur', amount: 1100 }] });
  assert.equal(p.status, 200, p.text);
  let r = await complete(cart.id, { ...visa, expected_total: cart.total });
  assert.equal(r.status, 409, r.text);
  assert.equal(r.body.type, type('conflict'));
  assert.deepEqual(r.body.errors.map((e) => [e.pointer, e.code]), [['/expected_total', 'total_changed']]);
  assert.match(r.body.errors[0].detail, /2200/);
  assert.equal((await level(v.id)).reserved, 0, 'nothing reserved');
  assert.equal((await sql('SELECT count(*)::int AS n FROM payments WHERE cart_id = $1', [cart.id])).rows[0].n, 0, 'nothing charged');
  // the buyer sees the new total and confirms it
  const seen = await s.client.get(`/v1/store/carts/${cart.id}`);
  assert.equal(seen.body.total, 2200);
  r = await complete(cart.id, { ...visa, expected_total: seen.body.total });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.total, 2200);
  // without expected_total the cart's total at checkout is charged, as before; bad values are 422
  for (const bad of [-1, 'x', 1.5, 1e13]) {
    const b = await complete((await readyCart([[v.id, 1]])).id, { ...visa, expected_total: bad });
    assert.equal(b.status, 422, `${bad}: ${b.text}`);
    assert.equal(b.body.errors[0].pointer, '/expected_total');
  }
});

test('manual payment: pending until staff capture; refunds partial then full, never more than captured; illegal moves are 409', async () => {
  const cart = await readyCart([[V.tee.id, 4]]); // 100.00
  let r = await complete(cart.id, { payment: { provider: 'manual' } });
  assert.equal(r.status, 201, r.text);
  const id = r.body.id;
  assert.equal(r.body.payment_status, 'pending');
  r = await A('POST', `/v1/admin/orders/${id}/refunds`, { amount: 100 });
  assert.equal(r.status, 409, 'nothing captured yet');
  assert.equal(r.body.type, type('invalid-state'));
  r = await A('POST', `/v1/admin/orders/${id}/capture`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.payment_status, r.body.paid_total], ['paid', 10000]);
  r = await A('POST', `/v1/admin/orders/${id}/capture`);
  assert.equal(r.status, 409);
  r = await A('POST', `/v1/admin/orders/${id}/cancel`);
  assert.equal(r.status, 409, 'a paid order is refunded first');
  r = await A('POST', `/v1/admin/orders/${id}/refunds`, { amount: 2500, reason: 'requested_by_customer', note: 'scratched' });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual([r.body.amount, r.body.status, r.body.reason], [2500, 'succeeded', 'requested_by_customer']);
  r = await A('POST', `/v1/admin/orders/${id}/refunds`, { amount: 7501 });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/amount');
  for (const bad of [{}, { amount: 0 }, { amount: -5 }, { amount: '5' }, { amount: 5, reason: 'whim' }, { amount: 5, extra: true }]) {
    r = await A('POST', `/v1/admin/orders/${id}/refunds`, bad);
    assert.equal(r.status, 422, JSON.stringify(bad));
  }
  r = await A('POST', `/v1/admin/orders/${id}/refunds`, { amount: 7500 });
  assert.equal(r.status, 201);
  r = await A('GET', `/v1/admin/orders/${id}`);
  assert.deepEqual([r.body.payment_status, r.body.refunded_total], ['refunded', 10000]);
  assert.deepEqual(r.body.timeline.map((e) => e.type), ['order.placed', 'order.paid', 'refund.created', 'refund.created']);
  assert.ok(r.body.timeline.every((e) => e.created_at));
  r = await A('POST', `/v1/admin/orders/${id}/refunds`, { amount: 1 });
  assert.equal(r.status, 409);
});

test('cancel voids the authorization and releases the stock; a canceled order cannot be captured or canceled again', async () => {
  const cart = await readyCart([[V.mug.id, 2]]);
  const before = await level(V.mug.id);
  let r = await complete(cart.id, visa);
  assert.equal(r.status, 201);
  const o = r.body;
  r = await A('POST', `/v1/admin/orders/${o.id}/cancel`, { reason: 'whim' });
  assert.equal(r.status, 422);
  r = await A('POST', `/v1/admin/orders/${o.id}/cancel`, { reason: 'customer' });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.status, r.body.payment_status], ['canceled', 'voided']);
  assert.ok(r.body.canceled_at);
  assert.deepEqual(await level(V.mug.id), before);
  const ch = await sql("SELECT c.status FROM test_gateway_charges c JOIN payments p ON p.provider_ref = c.id WHERE p.order_id = $1", [o.id]);
  assert.equal(ch.rows[0].status, 'voided');
  for (const move of ['cancel', 'capture']) {
    r = await A('POST', `/v1/admin/orders/${o.id}/${move}`);
    assert.equal(r.status, 409, move);
    assert.equal(r.body.type, type('invalid-state'));
  }
  for (const path of ['/v1/admin/orders/order_00000000000000000000000000/cancel', '/v1/admin/orders/nope/capture']) {
    r = await A('POST', path);
    assert.equal(r.status, 404);
  }
  const ev = await sql("SELECT count(*)::int AS n FROM outbox_events WHERE type = 'order.canceled' AND payload->>'order_id' = $1", [o.id]);
  assert.equal(ev.rows[0].n, 1);
});

test('customers see only their own orders; staff list and filter orders', async () => {
  const a = await newCustomer(s.client), b = await newCustomer(s.client);
  a.id = a.customer.id;
  const cart = await readyCart([[V.mug.id, 1]], s.client, a.token);
  let r = await complete(cart.id, visa, { token: b.token });
  assert.equal(r.status, 404, 'another customer\'s cart');
  r = await complete(cart.id, visa, { token: a.token });
  assert.equal(r.status, 201, r.text);
  const o = r.body;
  assert.equal(o.customer_id, a.id);
  r = await s.client.request('GET', '/v1/store/customers/me/orders', { token: a.token });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.data.map((x) => x.id), [o.id]);
  r = await s.client.request('GET', `/v1/store/customers/me/orders/${o.id}`, { token: a.token });
  assert.equal(r.status, 200);
  assert.equal(r.body.timeline, undefined, 'the timeline is for staff');
  r = await s.client.request('GET', `/v1/store/customers/me/orders/${o.id}`, { token: b.token });
  assert.equal(r.status, 404);
  r = await s.client.request('GET', '/v1/store/customers/me/orders', { token: b.token });
  assert.deepEqual(r.body.data, []);
  r = await s.client.request('GET', '/v1/store/customers/me/orders');
  assert.equal(r.status, 401);
  r = await A('GET', `/v1/admin/orders?customer_id=${a.id}`);
  assert.deepEqual(r.body.data.map((x) => x.id), [o.id]);
  r = await A('GET', `/v1/admin/orders?q=%23${o.number}`);
  assert.deepEqual(r.body.data.map((x) => x.id), [o.id]);
  r = await A('GET', `/v1/admin/orders?total_min=${o.total}&total_max=${o.total}&payment_status=authorized&limit=100`);
  assert.ok(r.body.data.some((x) => x.id === o.id));
  assert.ok(r.body.data.every((x) => x.total === o.total && x.payment_status === 'authorized'));
  r = await A('GET', `/v1/admin/orders?placed_after=2999-01-01`);
  assert.deepEqual(r.body.data, []);
  for (const q of ['status=lost', 'total_min=ten', 'placed_after=yesterday', 'payment_status=', 'limit=0', 'color=red']) {
    r = await A('GET', `/v1/admin/orders?${q}`);
    assert.equal(r.status, 400, q);
    assert.equal(r.body.type, type('invalid-parameter'));
  }
  const support = await s.client.request('GET', '/v1/admin/orders', { pk: null });
  assert.equal(support.status, 401);
});

test('C1: 200 buyers race for 10 units: exactly 10 orders and 190 clean 409s, stock never negative', async () => {
  const hot = await variant(10, 500);
  const carts = [];
  for (let i = 0; i < 200; i++) carts.push(await readyCart([[hot.id, 1]]));
  const results = await Promise.all(carts.map((c) => complete(c.id, visa)));
  const by = {};
  for (const r of results) by[r.status] = (by[r.status] ?? 0) + 1;
  assert.deepEqual(by, { 201: 10, 409: 190 }, JSON.stringify(by));
  assert.ok(results.filter((r) => r.status === 409).every((r) => r.body.type === type('insufficient-stock')));
  const l = await level(hot.id);
  assert.deepEqual([l.on_hand, l.reserved], [10, 10]);
  const charges = await sql("SELECT count(*)::int AS n FROM payments WHERE cart_id = ANY($1) AND order_id IS NOT NULL", [carts.map((c) => c.id)]);
  assert.equal(charges.rows[0].n, 10);
});

test('C3: one Idempotency-Key from 50 concurrent requests gives one order and one charge', async () => {
  const cart = await readyCart([[V.mug.id, 1]]);
  const k = key();
  const results = await Promise.all(Array.from({ length: 50 }, () => complete(cart.id, visa, { k })));
  const ok = results.filter((r) => r.status === 201);
  assert.ok(ok.length >= 1);
  assert.ok(results.every((r) => r.status === 201 || (r.status === 409 && r.body.type === type('idempotency-key-in-use'))),
    JSON.stringify(results.map((r) => r.status)));
  assert.ok(ok.every((r) => r.text === ok[0].text), 'replays are byte-identical');
  const n = await sql('SELECT count(*)::int AS n FROM orders WHERE cart_id = $1', [cart.id]);
  assert.equal(n.rows[0].n, 1);
  const c = await sql('SELECT count(*)::int AS n FROM test_gateway_charges WHERE idempotency_key IN (SELECT gateway_key FROM payments WHERE cart_id = $1)', [cart.id]);
  assert.equal(c.rows[0].n, 1);
});

test('C6: 10 concurrent refunds of 20.00 on 100.00 captured: exactly 5 succeed, the gateway refunds 100.00', async () => {
  const cart = await readyCart([[V.tee.id, 4]]);
  let r = await complete(cart.id, visa);
  const id = r.body.id;
  r = await A('POST', `/v1/admin/orders/${id}/capture`);
  assert.equal(r.status, 200, r.text);
  const results = await Promise.all(Array.from({ length: 10 }, () => A('POST', `/v1/admin/orders/${id}/refunds`, { amount: 2000 })));
  const by = {};
  for (const x of results) by[x.status] = (by[x.status] ?? 0) + 1;
  assert.equal(by[201], 5, JSON.stringify(by));
  assert.equal((by[422] ?? 0) + (by[409] ?? 0), 5);
  const g = await sql("SELECT c.refunded, (SELECT count(*)::int FROM test_gateway_operations o WHERE o.charge_id = c.id AND o.kind = 'refund') AS n FROM test_gateway_charges c JOIN payments p ON p.provider_ref = c.id WHERE p.order_id = $1", [id]);
  assert.deepEqual([Number(g.rows[0].refunded), g.rows[0].n], [10000, 5]);
  r = await A('GET', `/v1/admin/orders/${id}`);
  assert.deepEqual([r.body.refunded_total, r.body.payment_status], [10000, 'refunded']);
});
