// promotions_checkout.test.mjs: promotions and gift cards through checkout (POST /carts/{id}/complete, which
// calls souq_checkout_redeem in the order's transaction): the order keeps the discounts and adjustments, the
// usage is counted, the gift card debited with a ledger row; C4 (100 concurrent checkouts with one one-time
// code: exactly one order has it, 99 clean 422s) and C5 (20 concurrent checkouts paying 10.00 each with one
// 100.00 gift card: exactly 10 orders, balance 0).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startStack, staffLogin } from './lib/harness.mjs';

let s, t, loc, ship, ship0;
const A = (method, path, json) => s.client.request(method, path, { pk: null, token: t, json });
let seq = 0;
const uniq = (p) => `${p}-${process.pid}-${++seq}`;
const V = {};
const address = { first_name: 'Ada', last_name: 'L', address_1: 'Unter den Linden 1', city: 'Berlin', postal_code: '10117', country_code: 'de' };
const visa = { payment: { provider: 'test', data: { token: 'tok_visa' } } };
const complete = (cartId, body) => s.client.request('POST', `/v1/store/carts/${cartId}/complete`, { json: body, headers: { 'idempotency-key': crypto.randomUUID() } });

async function readyCart(lines, option = ship) {
  const r = await s.client.post('/v1/store/carts', { email: 'buyer@example.com', shipping_address: address, items: lines.map(([variant_id, quantity]) => ({ variant_id, quantity })) });
  assert.equal(r.status, 201, r.text);
  const m = await s.client.post(`/v1/store/carts/${r.body.id}/shipping-methods`, { option_id: option });
  assert.equal(m.status, 200, m.text);
  return m.body;
}

before(async () => {
  s = await startStack();
  t = (await staffLogin(s.client)).access_token;
  const eu = (await A('POST', '/v1/admin/regions', { name: 'EU', currency_code: 'eur', countries: ['de'] })).body;
  ship = (await A('POST', '/v1/admin/shipping-options', { name: 'Standard', region_id: eu.id, provider: 'flat_rate', amount: 495 })).body.id;
  ship0 = (await A('POST', '/v1/admin/shipping-options', { name: 'Pickup', region_id: eu.id, provider: 'flat_rate', amount: 0 })).body.id;
  loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Berlin' })).body.id;
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
  for (const [name, amount] of [['tee', 2500], ['mug', 1000]]) {
    const r = await A('POST', '/v1/admin/products', { title: uniq(name), status: 'active', variants: [{ sku: uniq(name), prices: [{ currency_code: 'eur', amount }], inventory: [{ location_id: loc, quantity: 10000 }] }] });
    assert.equal(r.status, 201, r.text);
    V[name] = r.body.variants[0].id;
  }
});
after(async () => s && (await s.stop()));

test('an order keeps the discounts, adjustments and free shipping of the cart; checkout counts the usages and debits the gift card', async () => {
  const p = (await A('POST', '/v1/admin/promotions', { code: uniq('TEN').replaceAll('-', ''), type: 'percentage', percent_bp: 1000, usage_limit: 10 })).body;
  const fs = (await A('POST', '/v1/admin/promotions', { code: uniq('SHIP').replaceAll('-', ''), type: 'free_shipping' })).body;
  const g = (await A('POST', '/v1/admin/gift-cards', { currency_code: 'eur', initial_balance: 2000 })).body;
  const c = await readyCart([[V.tee, 2], [V.mug, 1]]); // 6000 + 495 shipping
  assert.equal(c.total, 6495);
  let r = await s.client.post(`/v1/store/carts/${c.id}/promotions`, { code: p.code });
  assert.equal(r.status, 200, r.text);
  r = await s.client.post(`/v1/store/carts/${c.id}/promotions`, { code: fs.code });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.shipping_total, r.body.shipping_discount_total, r.body.shipping_methods[0].discount_total], [495, 495, 495]);
  assert.deepEqual(r.body.promotions.find((x) => x.id === fs.id), { id: fs.id, code: fs.code, kind: 'shipping', amount: 495 });
  r = await s.client.post(`/v1/store/carts/${c.id}/gift-cards`, { code: g.code });
  assert.deepEqual([r.body.total, r.body.gift_card_total, r.body.amount_due], [5400, 2000, 3400]);
  r = await complete(c.id, visa);
  assert.equal(r.status, 201, r.text);
  const o = r.body;
  assert.deepEqual([o.discount_total, o.shipping_discount_total, o.total, o.gift_card_total], [600, 495, 5400, 2000]);
  assert.equal(o.payments[0].amount, 3400, 'the card is charged what the gift card does not pay');
  assert.deepEqual(o.items.map((l) => l.adjustments.map((a) => a.promotion_id)), [[p.id], [p.id]]);
  const u = await s.sql('SELECT promotion_id, order_id, amount FROM promotion_usages WHERE order_id = $1 ORDER BY amount', [o.id]);
  assert.deepEqual(u.map((x) => [x.promotion_id, x.amount]), [[fs.id, '495'], [p.id, '600']]);
  const card = (await A('GET', `/v1/admin/gift-cards/${g.id}`)).body;
  assert.equal(card.balance, 0);
  assert.deepEqual(card.transactions.map((x) => [x.kind, x.amount, x.order_id]), [['issue', 2000, null], ['redeem', -2000, o.id]]);
  assert.equal((await A('GET', `/v1/admin/promotions/${p.id}`)).body.usage_count, 1);
});

test('C4: 100 concurrent checkouts with one one-time code: exactly one order has it, 99 are 422 coupon_invalid with nothing written', async () => {
  const p = (await A('POST', '/v1/admin/promotions', { code: uniq('ONCE').replaceAll('-', ''), type: 'fixed', amounts: { eur: 500 }, usage_limit: 1 })).body;
  const carts = [];
  for (let i = 0; i < 100; i++) {
    const c = await readyCart([[V.mug, 1]]);
    const r = await s.client.post(`/v1/store/carts/${c.id}/promotions`, { code: p.code });
    assert.equal(r.status, 200, r.text);
    carts.push(c.id);
  }
  const orders = (await s.sql('SELECT count(*)::int AS n FROM orders'))[0].n;
  const results = await Promise.all(carts.map((id) => complete(id, visa)));
  const ok = results.filter((r) => r.status === 201);
  const refused = results.filter((r) => r.status === 422);
  assert.equal(ok.length, 1, JSON.stringify(results.map((r) => [r.status, r.body?.errors?.[0]?.code ?? r.body?.type])));
  assert.equal(refused.length, 99);
  for (const r of refused) assert.deepEqual([r.body.errors[0].pointer, r.body.errors[0].code], ['/promotion_codes', 'coupon_invalid'], r.text);
  assert.equal(ok[0].body.discount_total, 500);
  assert.equal((await s.sql('SELECT count(*)::int AS n FROM orders'))[0].n, orders + 1, 'no order without its redemption');
  const [row] = await s.sql('SELECT usage_count, (SELECT count(*)::int FROM promotion_usages WHERE promotion_id = $1) AS n FROM promotions WHERE id = $1', [p.id]);
  assert.deepEqual(row, { usage_count: 1, n: 1 });
  // a refused buyer removes the code and checks out at full price
  let r = await s.client.del(`/v1/store/carts/${carts.find((id) => id !== ok[0].body.cart_id)}/promotions/${p.code}`);
  assert.equal(r.status, 200, r.text);
  r = await complete(r.body.id, visa);
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.discount_total, 0);
});

test('C5: 20 concurrent checkouts paying 10.00 each with one 100.00 gift card: exactly 10 orders, balance 0, never negative', async () => {
  const g = (await A('POST', '/v1/admin/gift-cards', { currency_code: 'eur', initial_balance: 10000 })).body;
  const carts = [];
  for (let i = 0; i < 20; i++) {
    const c = await readyCart([[V.mug, 1]], ship0);
    const r = await s.client.post(`/v1/store/carts/${c.id}/gift-cards`, { code: g.code });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.body.gift_card_total, r.body.amount_due], [1000, 0]);
    carts.push(c.id);
  }
  const results = await Promise.all(carts.map((id) => complete(id, {})));
  const ok = results.filter((r) => r.status === 201);
  assert.equal(ok.length, 10, JSON.stringify(results.map((r) => [r.status, r.body?.errors?.[0]?.code ?? r.body?.type])));
  for (const r of results.filter((x) => x.status !== 201)) {
    assert.equal(r.status, 422, r.text);
    assert.deepEqual([r.body.errors[0].pointer, r.body.errors[0].code], ['/gift_cards', 'insufficient_balance']);
  }
  for (const r of ok) assert.deepEqual([r.body.gift_card_total, r.body.payments.length], [1000, 0], 'nothing left to charge');
  const card = (await A('GET', `/v1/admin/gift-cards/${g.id}`)).body;
  assert.equal(card.balance, 0);
  assert.equal(card.transactions.filter((x) => x.kind === 'redeem').length, 10);
});
