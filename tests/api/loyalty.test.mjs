// loyalty.test.mjs: loyalty points through the running server: the program and tiers (admin), earning when an order
// is paid (with the tier's multiplier), claw-back on refunds, redeeming on a cart (a discount before tax, debited by
// checkout in the order's transaction), release on cancel, staff adjustments, expiry by the loyalty.maintain job,
// the customer's and staff's views, and the balance under concurrency (two checkouts redeeming the same points: one
// wins). Negative tests for every route.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startStack, staffLogin, newCustomer, newStaff } from './lib/harness.mjs';

let s, t, loc, ship, initialProgram;
const A = (method, path, json) => s.client.request(method, path, { pk: null, token: t, json });
const C = (tok, method, path, json, headers) => s.client.request(method, path, { token: tok, json, headers });
let seq = 0;
const uniq = (p) => `${p}-${process.pid}-${++seq}`;
const V = {};
const address = { first_name: 'Ada', last_name: 'L', address_1: 'Unter den Linden 1', city: 'Berlin', postal_code: '10117', country_code: 'de' };
const visa = { payment: { provider: 'test', data: { token: 'tok_visa' } } };
const complete = (tok, cartId) => C(tok, 'POST', `/v1/store/carts/${cartId}/complete`, visa, { 'idempotency-key': crypto.randomUUID() });
const RATES = { eur: { earn_points: 1, earn_per: 100, redeem_points: 100, redeem_value: 100 } }; // 1 point per 1.00; 100 points = 1.00

/** A customer's cart ready for checkout (address, shipping). */
async function readyCart(tok, lines) {
  const r = await C(tok, 'POST', '/v1/store/carts', { shipping_address: address, items: lines.map(([variant_id, quantity]) => ({ variant_id, quantity })) });
  assert.equal(r.status, 201, r.text);
  const m = await C(tok, 'POST', `/v1/store/carts/${r.body.id}/shipping-methods`, { option_id: ship });
  assert.equal(m.status, 200, m.text);
  return m.body;
}

/** A paid order of the customer (checkout with the test card, then captured by staff). */
async function paidOrder(tok, lines) {
  const c = await readyCart(tok, lines);
  const r = await complete(tok, c.id);
  assert.equal(r.status, 201, r.text);
  const p = await A('POST', `/v1/admin/orders/${r.body.id}/capture`);
  assert.equal(p.status, 200, p.text);
  return p.body;
}

const account = async (tok) => {
  const r = await C(tok, 'GET', '/v1/store/customers/me/loyalty');
  assert.equal(r.status, 200, r.text);
  return r.body;
};
const adjust = (cus, points, reason = 'test') => A('POST', `/v1/admin/customers/${cus}/loyalty/adjustments`, { points, reason });
const fieldErr = (r, status, pointer, code) => {
  assert.equal(r.status, status, r.text);
  assert.deepEqual([r.body.errors[0]?.pointer, r.body.errors[0]?.code], [pointer, code], r.text);
};

before(async () => {
  s = await startStack({ env: { SOUQ_JOBS_POLL_MS: '50' } });
  t = (await staffLogin(s.client)).access_token;
  const eu = (await A('POST', '/v1/admin/regions', { name: 'EU', currency_code: 'eur', countries: ['de'] })).body;
  ship = (await A('POST', '/v1/admin/shipping-options', { name: 'Standard', region_id: eu.id, provider: 'flat_rate', amount: 495 })).body.id;
  loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Berlin' })).body.id;
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
  for (const [name, amount] of [['tee', 2500], ['mug', 1000]]) {
    const r = await A('POST', '/v1/admin/products', { title: uniq(name), status: 'active', variants: [{ sku: uniq(name), prices: [{ currency_code: 'eur', amount }], inventory: [{ location_id: loc, quantity: 10000 }] }] });
    assert.equal(r.status, 201, r.text);
    V[name] = r.body.variants[0].id;
  }
  // every test may run alone (SOUQ_TEST_NAME): the program and two tiers are set up here, the defaults kept to check
  initialProgram = (await A('GET', '/v1/admin/loyalty/program')).body;
  let r = await A('PATCH', '/v1/admin/loyalty/program', { enabled: true, currencies: RATES, min_redeem_points: 100 });
  assert.equal(r.status, 200, r.text);
  r = await A('POST', '/v1/admin/loyalty-tiers', { name: 'Silver', min_points: 50, multiplier_bp: 12000 });
  assert.equal(r.status, 201, r.text);
  r = await A('POST', '/v1/admin/loyalty-tiers', { name: 'Gold', min_points: 120, multiplier_bp: 15000 });
  assert.equal(r.status, 201, r.text);
});
after(async () => s && (await s.stop()));

test('program: off by default; PATCH validates every field (types, ranges, currencies and their rates) and writes nothing when refused', async () => {
  assert.deepEqual([initialProgram.enabled, initialProgram.currencies, initialProgram.min_redeem_points, initialProgram.expiry_days, initialProgram.tier_period_days],
                   [false, {}, 1, null, 365]);
  const before = (await A('GET', '/v1/admin/loyalty/program')).body;
  fieldErr(await A('PATCH', '/v1/admin/loyalty/program', { enabled: 'yes' }), 422, '/enabled', 'invalid_type');
  fieldErr(await A('PATCH', '/v1/admin/loyalty/program', { min_redeem_points: 0 }), 422, '/min_redeem_points', 'out_of_range');
  fieldErr(await A('PATCH', '/v1/admin/loyalty/program', { expiry_days: 4000 }), 422, '/expiry_days', 'out_of_range');
  fieldErr(await A('PATCH', '/v1/admin/loyalty/program', { currencies: [] }), 422, '/currencies', 'invalid_type');
  fieldErr(await A('PATCH', '/v1/admin/loyalty/program', { currencies: { zzz: { earn_points: 1, earn_per: 100 } } }), 422, '/currencies', 'invalid_value');
  fieldErr(await A('PATCH', '/v1/admin/loyalty/program', { currencies: { EUR: { earn_points: 1, earn_per: 100 } } }), 422, '/currencies', 'invalid_value');
  fieldErr(await A('PATCH', '/v1/admin/loyalty/program', { enabled: false, currencies: { eur: { earn_points: 1 } } }), 422, '/currencies/eur/earn_per', 'required');
  fieldErr(await A('PATCH', '/v1/admin/loyalty/program', { currencies: { eur: { earn_points: 1, earn_per: 0 } } }), 422, '/currencies/eur/earn_per', 'out_of_range');
  fieldErr(await A('PATCH', '/v1/admin/loyalty/program', { currencies: { eur: { earn_points: 1.5, earn_per: 100 } } }), 422, '/currencies/eur/earn_points', 'out_of_range');
  fieldErr(await A('PATCH', '/v1/admin/loyalty/program', { currencies: { eur: { earn_points: 1, earn_per: 100, bonus: 2 } } }), 422, '/currencies/eur/bonus', 'unknown_field');
  fieldErr(await A('PATCH', '/v1/admin/loyalty/program', { currencies: { eur: { earn_points: 1, earn_per: 100, redeem_points: 100 } } }), 422, '/currencies/eur/redeem_value', 'required');
  let r = await A('PATCH', '/v1/admin/loyalty/program', { bonus: 1 });
  assert.equal(r.status, 422, r.text);
  assert.match(r.body.type, /unknown-field$/);
  r = await A('GET', '/v1/admin/loyalty/program');
  assert.deepEqual(r.body, before, 'nothing was written by the refusals');
  assert.deepEqual([r.body.enabled, r.body.currencies, r.body.min_redeem_points], [true, RATES, 100]);
  r = await A('PATCH', '/v1/admin/loyalty/program', { tier_period_days: 180 });
  assert.deepEqual([r.status, r.body.tier_period_days, r.body.currencies], [200, 180, RATES], 'absent fields stay');
  await A('PATCH', '/v1/admin/loyalty/program', { tier_period_days: 365 });
  // permissions: promotions:read / promotions:write
  const support = await newStaff(s.client, t, 'support');
  r = await s.client.request('PATCH', '/v1/admin/loyalty/program', { pk: null, token: support.token, json: { enabled: false } });
  assert.equal(r.status, 403, r.text);
  r = await s.client.request('GET', '/v1/admin/loyalty/program', { pk: null });
  assert.equal(r.status, 401, r.text);
});

test('tiers: CRUD with unique names and thresholds, ranges checked, unknown ids 404', async () => {
  let r = await A('POST', '/v1/admin/loyalty-tiers', { name: 'Platinum', min_points: 100000, multiplier_bp: 20000 });
  assert.equal(r.status, 201, r.text);
  const plat = r.body;
  assert.deepEqual([plat.name, plat.min_points, plat.multiplier_bp], ['Platinum', 100000, 20000]);
  fieldErr(await A('POST', '/v1/admin/loyalty-tiers', { name: 'Silver', min_points: 70 }), 409, '/name', 'taken');
  r = await A('POST', '/v1/admin/loyalty-tiers', { name: 'Bronze', min_points: 50 });
  assert.equal(r.status, 409, r.text);
  assert.equal(r.body.errors[0].pointer, '/min_points');
  fieldErr(await A('POST', '/v1/admin/loyalty-tiers', { name: 'Tin', min_points: 1, multiplier_bp: 5000 }), 422, '/multiplier_bp', 'out_of_range');
  fieldErr(await A('POST', '/v1/admin/loyalty-tiers', { min_points: 1 }), 422, '/name', 'required');
  fieldErr(await A('POST', '/v1/admin/loyalty-tiers', { name: 'Tin', min_points: -1 }), 422, '/min_points', 'out_of_range');
  r = await A('PATCH', `/v1/admin/loyalty-tiers/${plat.id}`, { multiplier_bp: 25000 });
  assert.deepEqual([r.status, r.body.multiplier_bp, r.body.name], [200, 25000, 'Platinum']);
  fieldErr(await A('PATCH', `/v1/admin/loyalty-tiers/${plat.id}`, { name: 'Gold' }), 409, '/name', 'taken');
  r = await A('GET', '/v1/admin/loyalty-tiers');
  assert.deepEqual(r.body.data.map((x) => x.name).sort(), ['Gold', 'Platinum', 'Silver']);
  assert.equal((await A('GET', '/v1/admin/loyalty-tiers/ltier_nope')).status, 404);
  assert.equal((await A('GET', `/v1/admin/loyalty-tiers/ltier_${'0'.repeat(26)}`)).status, 404);
  assert.equal((await A('PATCH', `/v1/admin/loyalty-tiers/ltier_${'0'.repeat(26)}`, { name: 'X' })).status, 404);
  assert.equal((await A('DELETE', `/v1/admin/loyalty-tiers/${plat.id}`)).status, 204);
  assert.equal((await A('DELETE', `/v1/admin/loyalty-tiers/${plat.id}`)).status, 404);
});

test('earning: nothing until the order is paid; items after discounts without shipping, times the tier multiplier; tier moves write events', async () => {
  const cu = await newCustomer(s.client);
  let a = await account(cu.token);
  assert.deepEqual([a.balance, a.tier, a.transactions, a.program_enabled], [0, null, [], true]);
  const c = await readyCart(cu.token, [[V.tee, 2], [V.mug, 1]]); // 6000 + 495 shipping
  let r = await complete(cu.token, c.id);
  assert.equal(r.status, 201, r.text);
  assert.equal((await account(cu.token)).balance, 0, 'authorized is not paid');
  r = await A('POST', `/v1/admin/orders/${r.body.id}/capture`);
  assert.equal(r.status, 200, r.text);
  const first = r.body;
  a = await account(cu.token);
  assert.equal(a.balance, 60, '6000 of items at 1 point per 1.00; shipping earns nothing');
  assert.deepEqual(a.transactions.map((x) => [x.kind, x.points, x.balance_after, x.order_id]), [['earn', 60, 60, first.id]]);
  assert.equal(a.tier?.name, 'Silver');
  assert.deepEqual([a.tier_points, a.next_tier?.name], [60, 'Gold']);
  // Silver earns 1.2x: 6000 -> 72 points, 132 in the window: Gold
  const second = await paidOrder(cu.token, [[V.tee, 2], [V.mug, 1]]);
  a = await account(cu.token);
  assert.deepEqual([a.balance, a.transactions[0].points, a.tier?.name, a.next_tier], [132, 72, 'Gold', null]);
  const ev = await s.sql("SELECT type, payload FROM outbox_events WHERE type LIKE 'loyalty.%' AND payload->>'customer_id' = $1 ORDER BY id", [cu.customer.id]);
  // (two events of one transaction have ids of the same millisecond: compare them as a set)
  assert.deepEqual(ev.map((e) => e.type).sort(), ['loyalty.points_earned', 'loyalty.points_earned', 'loyalty.tier_changed', 'loyalty.tier_changed']);
  assert.deepEqual(ev.filter((e) => e.type === 'loyalty.points_earned').map((e) => [e.payload.order_id, e.payload.points]).sort(),
                   [[first.id, 60], [second.id, 72]].sort());
  assert.deepEqual(ev.filter((e) => e.type === 'loyalty.tier_changed').map((e) => e.payload.to_tier_id).sort(),
                   [a.tier.id, (await A('GET', '/v1/admin/loyalty-tiers')).body.data.find((x) => x.name === 'Silver').id].sort());
  // staff see the same account
  r = await A('GET', `/v1/admin/customers/${cu.customer.id}/loyalty`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.balance, 132);

  // refunds claw back the refunded share (cumulatively): 20% then the rest of the second order
  r = await A('POST', `/v1/admin/orders/${second.id}/refunds`, { amount: Math.round(second.total / 5), reason: 'other' });
  assert.equal(r.status, 201, r.text);
  a = await account(cu.token);
  assert.equal(a.balance, 132 - Math.floor((72 * Math.round(second.total / 5)) / second.total));
  r = await A('POST', `/v1/admin/orders/${second.id}/refunds`, { amount: second.total - Math.round(second.total / 5), reason: 'return' });
  assert.equal(r.status, 201, r.text);
  a = await account(cu.token);
  assert.equal(a.balance, 60, 'a fully refunded order keeps none of its points');
  assert.deepEqual(a.transactions.filter((x) => x.kind === 'clawback').reduce((n, x) => n + x.points, 0), -72);
  assert.equal(a.tier?.name, 'Silver', 'the claw-back moved the tier back');
});

test('a guest earns nothing; an order in a currency without rates earns nothing', async () => {
  const r = await s.client.post('/v1/store/carts', { email: 'guest@example.com', shipping_address: address, items: [{ variant_id: V.mug, quantity: 1 }] });
  await s.client.post(`/v1/store/carts/${r.body.id}/shipping-methods`, { option_id: ship });
  const o = await s.client.request('POST', `/v1/store/carts/${r.body.id}/complete`, { json: visa, headers: { 'idempotency-key': crypto.randomUUID() } });
  assert.equal(o.status, 201, o.text);
  assert.equal((await A('POST', `/v1/admin/orders/${o.body.id}/capture`)).status, 200);
  const [row] = await s.sql('SELECT count(*)::int AS n FROM loyalty_transactions WHERE order_id = $1', [o.body.id]);
  assert.equal(row.n, 0);
});

test('gift cards sold as products earn no points (a cash equivalent): only the other items; refunding those claws back all', async () => {
  const gp = await A('POST', '/v1/admin/products', { title: uniq('Gift card'), status: 'active', gift_card: true,
    variants: [{ sku: uniq('GC50'), prices: [{ currency_code: 'eur', amount: 5000 }] }] });
  assert.equal(gp.status, 201, gp.text);
  const gc = gp.body.variants[0].id;
  const cu = await newCustomer(s.client);
  // checkout, then capture: a 50.00 card and a 25.00 tee earn on the tee only
  const o = await paidOrder(cu.token, [[gc, 1], [V.tee, 1]]);
  assert.equal(o.item_subtotal, 7500);
  let a = await account(cu.token);
  assert.deepEqual(a.transactions.map((x) => [x.kind, x.points, x.order_id]), [['earn', 25, o.id]], '2500 of goods at 1 point per 1.00');
  const [row] = await s.sql("SELECT (data->>'base')::int AS base FROM loyalty_transactions WHERE order_id = $1 AND kind = 'earn'", [o.id]);
  assert.equal(row?.base, 2500);
  // refunding everything but the card (the tee and the shipping) claws back all 25 points, not 25 x 2995 / 7995
  const r = await A('POST', `/v1/admin/orders/${o.id}/refunds`, { amount: o.total - 5000, reason: 'return' });
  assert.equal(r.status, 201, r.text);
  a = await account(cu.token);
  assert.equal(a.balance, 0);
  assert.deepEqual(a.transactions.map((x) => [x.kind, x.points]), [['clawback', -25], ['earn', 25]]);
  // an order placed as paid (a draft completed as paid: the earning runs at commit, when the lines are there)
  const d = await A('POST', '/v1/admin/draft-orders', { customer_id: cu.customer.id, currency_code: 'eur', items: [{ variant_id: gc, quantity: 2 }, { variant_id: V.mug, quantity: 1 }],
    shipping_address: address });
  assert.equal(d.status, 201, d.text);
  const p = await A('POST', `/v1/admin/draft-orders/${d.body.id}/complete`, { paid: true });
  assert.equal(p.status, 201, p.text);
  assert.equal(p.body.payment_status, 'paid');
  a = await account(cu.token);
  assert.deepEqual([a.balance, a.transactions[0].kind, a.transactions[0].points, a.transactions[0].order_id], [10, 'earn', 10, p.body.id], '1000 of goods; 10000 of cards earn nothing');
  // an order of gift cards only earns nothing at all
  const only = await paidOrder(cu.token, [[gc, 1]]);
  const [n] = await s.sql('SELECT count(*)::int AS n FROM loyalty_transactions WHERE order_id = $1', [only.id]);
  assert.equal(n.n, 0);
  assert.equal((await account(cu.token)).balance, 10);
});

test('redeeming on a cart: a discount on the items before tax, split over the lines; every refusal is a 4xx with its pointer', async () => {
  const cu = await newCustomer(s.client);
  const other = await newCustomer(s.client);
  assert.equal((await adjust(cu.customer.id, 2000)).status, 201);
  const c = await readyCart(cu.token, [[V.tee, 1], [V.mug, 1]]); // 3500 + 495
  const P = `/v1/store/carts/${c.id}/loyalty`;
  // refusals
  assert.equal((await s.client.post(P, { points: 100 })).status, 401, 'customer token required');
  fieldErr(await C(cu.token, 'POST', P, { points: 0 }), 422, '/points', 'out_of_range');
  fieldErr(await C(cu.token, 'POST', P, { points: '100' }), 422, '/points', 'invalid_type');
  fieldErr(await C(cu.token, 'POST', P, {}), 422, '/points', 'required');
  let r = await C(cu.token, 'POST', P, { points: 100, extra: 1 });
  assert.equal(r.status, 422, r.text);
  assert.match(r.body.type, /unknown-field$/);
  fieldErr(await C(cu.token, 'POST', P, { points: 50 }), 422, '/points', 'below_minimum');
  fieldErr(await C(cu.token, 'POST', P, { points: 2001 }), 422, '/points', 'insufficient_points');
  assert.equal((await C(other.token, 'POST', P, { points: 100 })).status, 404, "another customer's cart");
  assert.equal((await C(cu.token, 'POST', '/v1/store/carts/cart_nope/loyalty', { points: 100 })).status, 404);
  assert.equal((await C(cu.token, 'DELETE', P)).status, 404, 'no points on the cart yet');
  assert.equal((await s.client.del(P)).status, 401, 'customer token required');
  assert.equal((await C(cu.token, 'DELETE', '/v1/store/carts/cart_nope/loyalty')).status, 404);
  const guest = (await s.client.post('/v1/store/carts', { items: [{ variant_id: V.mug, quantity: 1 }] })).body;
  fieldErr(await C(cu.token, 'POST', `/v1/store/carts/${guest.id}/loyalty`, { points: 100 }), 422, '/points', 'customer_cart_required');
  r = await C(cu.token, 'GET', `/v1/store/carts/${c.id}`);
  assert.equal(r.body.loyalty, null, 'nothing was written by the refusals');
  // 250 points = 2.50 off 35.00 of items, split 2500:1000 -> 179 + 71
  r = await C(cu.token, 'POST', P, { points: 250 });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.loyalty, { points_requested: 250, points: 250, amount: 250, balance: 2000 });
  assert.deepEqual([r.body.discount_total, r.body.total], [250, 3500 - 250 + 495]);
  assert.deepEqual(r.body.items.map((l) => l.adjustments.map((x) => [x.kind, x.amount])), [[['loyalty', 179]], [['loyalty', 71]]]);
  // a new amount replaces the earlier one
  r = await C(cu.token, 'POST', P, { points: 1000 });
  assert.deepEqual(r.body.loyalty, { points_requested: 1000, points: 1000, amount: 1000, balance: 2000 });
  // more points than the items cost: only the points worth the items are used (shipping is not paid with points)
  const small = await readyCart(cu.token, [[V.mug, 1]]);
  r = await C(cu.token, 'POST', `/v1/store/carts/${small.id}/loyalty`, { points: 1500 });
  assert.deepEqual(r.body.loyalty, { points_requested: 1500, points: 1000, amount: 1000, balance: 2000 });
  assert.equal(r.body.total, 495);
  r = await C(cu.token, 'POST', `/v1/store/carts/${small.id}/loyalty`, { points: 900 });
  assert.deepEqual([r.body.loyalty.amount, r.body.total], [900, 100 + 495]);
  // remove (another customer cannot)
  assert.equal((await C(other.token, 'DELETE', `/v1/store/carts/${small.id}/loyalty`)).status, 404);
  r = await C(cu.token, 'DELETE', `/v1/store/carts/${small.id}/loyalty`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.loyalty, r.body.discount_total], [null, 0]);
  // checkout debits exactly what the cart used, in the order's transaction; the order shows the discount
  r = await C(cu.token, 'POST', P, { points: 300 });
  r = await complete(cu.token, c.id);
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.discount_total, 300);
  const a = await account(cu.token);
  assert.equal(a.balance, 1700);
  assert.deepEqual([a.transactions[0].kind, a.transactions[0].points, a.transactions[0].order_id], ['redeem', -300, r.body.id]);
  // a canceled order gives its points back (release), once
  const cancel = await A('POST', `/v1/admin/orders/${r.body.id}/cancel`);
  assert.equal(cancel.status, 200, cancel.text);
  const after = await account(cu.token);
  assert.deepEqual([after.balance, after.transactions[0].kind, after.transactions[0].points], [2000, 'release', 300]);
});

test('a program switched off stops redemption on carts (422 loyalty_disabled) and shows no discount', async () => {
  const cu = await newCustomer(s.client);
  await adjust(cu.customer.id, 500);
  const c = await readyCart(cu.token, [[V.mug, 1]]);
  let r = await C(cu.token, 'POST', `/v1/store/carts/${c.id}/loyalty`, { points: 200 });
  assert.equal(r.body.loyalty.amount, 200);
  await A('PATCH', '/v1/admin/loyalty/program', { enabled: false });
  try {
    r = await C(cu.token, 'GET', `/v1/store/carts/${c.id}`);
    assert.deepEqual([r.body.loyalty, r.body.discount_total], [null, 0]);
    fieldErr(await C(cu.token, 'POST', `/v1/store/carts/${c.id}/loyalty`, { points: 200 }), 422, '/points', 'loyalty_disabled');
    // the buyer asked for points the cart no longer applies: checkout refuses rather than charge the full price silently
    fieldErr(await complete(cu.token, c.id), 422, '/loyalty', 'loyalty_unavailable');
    assert.equal((await account(cu.token)).balance, 500);
  } finally {
    await A('PATCH', '/v1/admin/loyalty/program', { enabled: true });
  }
  await A('PATCH', '/v1/admin/loyalty/program', { currencies: { eur: { earn_points: 1, earn_per: 100 } } });
  try {
    fieldErr(await C(cu.token, 'POST', `/v1/store/carts/${c.id}/loyalty`, { points: 200 }), 422, '/points', 'loyalty_unavailable');
  } finally {
    await A('PATCH', '/v1/admin/loyalty/program', { currencies: RATES });
  }
});

test('points spent elsewhere after they were put on a cart: the cart keeps showing the discount with the balance, checkout refuses (422 /loyalty)', async () => {
  const cu = await newCustomer(s.client);
  await adjust(cu.customer.id, 400);
  const c = await readyCart(cu.token, [[V.mug, 1]]);
  assert.equal((await C(cu.token, 'POST', `/v1/store/carts/${c.id}/loyalty`, { points: 400 })).status, 200);
  await adjust(cu.customer.id, -300, 'spent in the shop');
  const r = await C(cu.token, 'GET', `/v1/store/carts/${c.id}`);
  assert.deepEqual(r.body.loyalty, { points_requested: 400, points: 400, amount: 400, balance: 100 });
  const orders = (await s.sql('SELECT count(*)::int AS n FROM orders'))[0].n;
  fieldErr(await complete(cu.token, c.id), 422, '/loyalty', 'insufficient_points');
  assert.equal((await s.sql('SELECT count(*)::int AS n FROM orders'))[0].n, orders, 'no order');
  const [pay] = await s.sql("SELECT status FROM payments WHERE cart_id = $1 ORDER BY created_at DESC LIMIT 1", [c.id]);
  assert.notEqual(pay?.status, 'authorized', 'the authorization does not stay open');
  assert.equal((await account(cu.token)).balance, 100);
});

test('two checkouts redeeming the same points: exactly one wins, the other is 422 /loyalty insufficient_points, the balance never negative', async () => {
  const cu = await newCustomer(s.client);
  await adjust(cu.customer.id, 300);
  const carts = [];
  for (let i = 0; i < 2; i++) {
    const c = await readyCart(cu.token, [[V.tee, 1]]);
    const r = await C(cu.token, 'POST', `/v1/store/carts/${c.id}/loyalty`, { points: 300 });
    assert.equal(r.status, 200, r.text);
    carts.push(c.id);
  }
  const results = await Promise.all(carts.map((id) => complete(cu.token, id)));
  assert.deepEqual(results.map((r) => r.status).sort(), [201, 422], JSON.stringify(results.map((r) => r.text)));
  const lost = results.find((r) => r.status === 422);
  assert.deepEqual([lost.body.errors[0].pointer, lost.body.errors[0].code], ['/loyalty', 'insufficient_points']);
  const a = await account(cu.token);
  assert.equal(a.balance, 0);
  assert.equal(a.transactions.filter((x) => x.kind === 'redeem').length, 1);
  // the loser's cart is still open and checks out once the points are removed
  const loser = carts[results.indexOf(lost)];
  assert.equal((await C(cu.token, 'DELETE', `/v1/store/carts/${loser}/loyalty`)).status, 200);
  assert.equal((await complete(cu.token, loser)).status, 201);
});

test('ten checkouts of 100 points each against a balance of 300: exactly three orders, balance 0', async () => {
  const cu = await newCustomer(s.client);
  await adjust(cu.customer.id, 300);
  const carts = [];
  for (let i = 0; i < 10; i++) {
    const c = await readyCart(cu.token, [[V.mug, 1]]);
    assert.equal((await C(cu.token, 'POST', `/v1/store/carts/${c.id}/loyalty`, { points: 100 })).status, 200);
    carts.push(c.id);
  }
  const results = await Promise.all(carts.map((id) => complete(cu.token, id)));
  assert.equal(results.filter((r) => r.status === 201).length, 3, JSON.stringify(results.map((r) => r.status)));
  for (const r of results.filter((x) => x.status !== 201)) assert.equal(r.body.errors[0].code, 'insufficient_points', r.text);
  const [row] = await s.sql('SELECT balance FROM loyalty_accounts WHERE customer_id = $1', [cu.customer.id]);
  assert.equal(row.balance, '0');
  const [sum] = await s.sql('SELECT sum(points)::int AS n FROM loyalty_transactions WHERE customer_id = $1', [cu.customer.id]);
  assert.equal(sum.n, 0, 'the ledger adds up to the balance');
});

test('staff adjustments: with a reason and the actor, never below zero; refusals for bad input and unknown customers', async () => {
  const cu = await newCustomer(s.client);
  let r = await adjust(cu.customer.id, 500, 'goodwill');
  assert.equal(r.status, 201, r.text);
  assert.deepEqual([r.body.balance, r.body.transactions[0].kind, r.body.transactions[0].reason], [500, 'adjust', 'goodwill']);
  const [row] = await s.sql('SELECT actor FROM loyalty_transactions WHERE customer_id = $1', [cu.customer.id]);
  assert.match(row.actor, /^usr_/);
  fieldErr(await adjust(cu.customer.id, -501), 422, '/points', 'insufficient_points');
  fieldErr(await adjust(cu.customer.id, 0), 422, '/points', 'out_of_range');
  fieldErr(await A('POST', `/v1/admin/customers/${cu.customer.id}/loyalty/adjustments`, { points: 5 }), 422, '/reason', 'required');
  fieldErr(await A('POST', `/v1/admin/customers/${cu.customer.id}/loyalty/adjustments`, { points: 5, reason: '' }), 422, '/reason', 'blank');
  assert.equal((await adjust(`cus_${'0'.repeat(26)}`, 5)).status, 404);
  assert.equal((await adjust('cus_nope', 5)).status, 404);
  assert.equal((await A('GET', `/v1/admin/customers/cus_${'0'.repeat(26)}/loyalty`)).status, 404);
  r = await adjust(cu.customer.id, -500, 'correction');
  assert.equal(r.body.balance, 0);
  // the ledger query: a customer's whole history page by page, by kind; bad filters are 400
  r = await A('GET', `/v1/admin/loyalty-transactions?customer_id=${cu.customer.id}&limit=1`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.data.length, r.body.has_more, r.body.data[0].points, r.body.data[0].reason], [1, true, -500, 'correction']);
  r = await A('GET', `/v1/admin/loyalty-transactions?customer_id=${cu.customer.id}&cursor=${encodeURIComponent(r.body.next_cursor)}`);
  assert.deepEqual(r.body.data.map((x) => [x.kind, x.points, x.actor?.slice(0, 4)]), [['adjust', 500, 'usr_']]);
  r = await A('GET', `/v1/admin/loyalty-transactions?kind=adjust&customer_id=${cu.customer.id}`);
  assert.equal(r.body.data.length, 2);
  r = await A('GET', '/v1/admin/loyalty-transactions?kind=gift');
  assert.equal(r.status, 400, r.text);
  assert.equal(r.body.errors[0].parameter, 'kind');
  assert.equal((await s.client.get('/v1/store/customers/me/loyalty')).status, 401);
  // Idempotency-Key: a retry replays the first answer and adjusts once
  const key = crypto.randomUUID();
  const once = () => s.client.request('POST', `/v1/admin/customers/${cu.customer.id}/loyalty/adjustments`, { pk: null, token: t, json: { points: 7, reason: 'once' }, headers: { 'idempotency-key': key } });
  const [x, y] = [await once(), await once()];
  assert.deepEqual([x.status, y.status, y.headers.get('idempotent-replayed')], [201, 201, 'true']);
  assert.equal((await account(cu.token)).balance, 7);
});

test('expiry: the loyalty.maintain job expires balances inactive for expiry_days, and writes the ledger and the event', async () => {
  const cu = await newCustomer(s.client);
  const keep = await newCustomer(s.client);
  await adjust(cu.customer.id, 400);
  await adjust(keep.customer.id, 400);
  await A('PATCH', '/v1/admin/loyalty/program', { expiry_days: 30 });
  try {
    assert.ok((await account(cu.token)).expires_at, 'the account says when it expires');
    await s.sql("UPDATE loyalty_accounts SET last_activity_at = now() - interval '31 days' WHERE customer_id = $1", [cu.customer.id]);
    await s.sql("UPDATE job_schedules SET next_run_at = now() WHERE id = 'loyalty'");
    let a;
    for (let i = 0; i < 200; i++) { // the runner polls every 50 ms; wait for its outcome, not for a time
      a = await account(cu.token);
      if (a.balance === 0) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    assert.deepEqual([a.balance, a.transactions[0].kind, a.transactions[0].points, a.expires_at], [0, 'expire', -400, null]);
    assert.equal((await account(keep.token)).balance, 400, 'active accounts keep their points');
    const ev = await s.sql("SELECT count(*)::int AS n FROM outbox_events WHERE type = 'loyalty.points_expired' AND payload->>'customer_id' = $1", [cu.customer.id]);
    assert.equal(ev[0].n, 1);
    const jobs = await A('GET', '/v1/admin/jobs?kind=loyalty.maintain');
    assert.ok(jobs.body.data.some((j) => j.state === 'completed'), JSON.stringify(jobs.body));
  } finally {
    await A('PATCH', '/v1/admin/loyalty/program', { expiry_days: null });
  }
});
