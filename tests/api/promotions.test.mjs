// promotions.test.mjs: promotions (core/promotion*.c, migrations/0021): admin CRUD and its refusals, discount codes
// on carts (every refusal with its stable code), automatic promotions, targets, buy X get Y, free shipping, the
// stacking rule, adjustments per line that add up, and redemption at checkout (souq_checkout_redeem) with its
// limits, including 40 concurrent redemptions of a one-time code in SQL (C4 through checkout with 100 buyers is in
// promotions_checkout.test.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startStack, staffLogin, newCustomer, SOCK, PGPORT } from './lib/harness.mjs';

let s, t, readOnlyKey, catalogKey;
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json, token = t) => s.client.request(method, path, { pk: null, token, json });
let seq = 0;
const uniq = (p) => `${p}-${process.pid}-${++seq}`;
const code = (p = 'C') => `${p}${process.pid}X${++seq}`;
const V = {};
let cat, col, group;

async function product(body) {
  const r = await A('POST', '/v1/admin/products', { title: uniq('Thing'), status: 'active', ...body });
  assert.equal(r.status, 201, r.text);
  return r.body;
}
async function promo(body) {
  const r = await A('POST', '/v1/admin/promotions', body);
  assert.equal(r.status, 201, r.text);
  return r.body;
}
const cart = async (items, opts = {}) => {
  const r = await s.client.post('/v1/store/carts', { items: items.map(([variant_id, quantity]) => ({ variant_id, quantity })), ...(opts.body ?? {}) }, { token: opts.token });
  assert.equal(r.status, 201, r.text);
  return r.body;
};
const apply = (c, k, token) => s.client.post(`/v1/store/carts/${c.id}/promotions`, { code: k }, { token });
const refused = (r, slug) => {
  assert.equal(r.status, 422, r.text);
  assert.equal(r.body.type, type('validation-failed'));
  assert.equal(r.body.errors[0].pointer, '/code');
  assert.equal(r.body.errors[0].code, slug, r.text);
};
const sum = (xs) => xs.reduce((a, b) => a + b, 0);

before(async () => {
  s = await startStack();
  t = (await staffLogin(s.client)).access_token;
  await A('POST', '/v1/admin/regions', { name: 'EU', currency_code: 'eur', countries: ['de'] });
  await A('POST', '/v1/admin/regions', { name: 'US', currency_code: 'usd', countries: ['us'] });
  const loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Berlin' })).body.id;
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
  cat = (await A('POST', '/v1/admin/categories', { name: 'Shoes', handle: uniq('shoes') })).body;
  col = (await A('POST', '/v1/admin/collections', { title: 'Summer', handle: uniq('summer') })).body;
  const stock = [{ location_id: loc, quantity: 1000 }];
  const v = (sku, eur, usd) => ({ sku: uniq(sku), prices: [{ currency_code: 'eur', amount: eur }, ...(usd ? [{ currency_code: 'usd', amount: usd }] : [])], inventory: stock });
  const pa = await product({ variants: [v('A', 1000, 1100)] });
  V.a = pa.variants[0].id;
  V.aProduct = pa.id;
  V.b = (await product({ variants: [v('B', 2000)] })).variants[0].id;
  V.c = (await product({ variants: [v('C', 3333)] })).variants[0].id;
  const shoe = await product({ category_ids: [cat.id], variants: [v('SHOE', 5000)] });
  V.shoe = shoe.variants[0].id;
  const hat = await product({ variants: [v('HAT', 400)] });
  V.hat = hat.variants[0].id;
  let r = await A('POST', `/v1/admin/collections/${col.id}/products`, { add: [hat.id] });
  assert.equal(r.status, 200, r.text);
  group = (await A('POST', '/v1/admin/customer-groups', { name: uniq('VIP') })).body;
  r = await A('POST', '/v1/admin/api-keys', { type: 'secret', title: 'ro', scopes: ['promotions:read'] });
  readOnlyKey = r.body.token;
  r = await A('POST', '/v1/admin/api-keys', { type: 'secret', title: 'cat', scopes: ['catalog:read', 'catalog:write'] });
  catalogKey = r.body.token;
});
after(async () => s && (await s.stop()));

test('admin CRUD: create, read, list by code (any case), update with If-Match, delete', async () => {
  const k = code('Save');
  const p = await promo({ code: k, type: 'percentage', percent_bp: 1000, description: 'Ten off', usage_limit: 5, priority: 3, combinable: true, metadata: { campaign: 'x' } });
  assert.match(p.id, /^promo_/);
  assert.deepEqual([p.code, p.type, p.percent_bp, p.target, p.status, p.usage_count, p.usage_limit, p.combinable, p.priority],
    [k, 'percentage', 1000, 'order', 'active', 0, 5, true, 3]);
  let r = await A('GET', `/v1/admin/promotions/${p.id}`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, p);
  r = await A('GET', `/v1/admin/promotions?code=${k.toLowerCase()}`);
  assert.deepEqual(r.body.data.map((x) => x.id), [p.id]);
  r = await A('GET', '/v1/admin/promotions?status=disabled');
  assert.ok(!r.body.data.some((x) => x.id === p.id));
  for (const q of ['status=gone', `code=${'x'.repeat(65)}`, 'limit=0', 'cursor=forged', 'nope=1']) {
    r = await A('GET', `/v1/admin/promotions?${q}`);
    assert.equal(r.status, 400, `${q}: ${r.text}`);
  }
  const etag = (await A('GET', `/v1/admin/promotions/${p.id}`)).headers.get('etag');
  r = await s.client.request('PATCH', `/v1/admin/promotions/${p.id}`, { pk: null, token: t, json: { status: 'disabled', description: null }, headers: { 'if-match': etag } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.status, r.body.description, r.body.percent_bp], ['disabled', null, 1000]);
  r = await s.client.request('PATCH', `/v1/admin/promotions/${p.id}`, { pk: null, token: t, json: { status: 'active' }, headers: { 'if-match': etag } });
  assert.equal(r.status, 412, 'stale If-Match');
  r = await A('DELETE', `/v1/admin/promotions/${p.id}`);
  assert.equal(r.status, 204);
  r = await A('GET', `/v1/admin/promotions/${p.id}`);
  assert.equal(r.status, 404);
  for (const [m, path] of [['GET', '/v1/admin/promotions/promo_01zzzzzzzzzzzzzzzzzzzzzzzz'], ['PATCH', '/v1/admin/promotions/promo_01zzzzzzzzzzzzzzzzzzzzzzzz'], ['DELETE', '/v1/admin/promotions/nope']]) {
    r = await A(m, path, m === 'PATCH' ? { status: 'active' } : undefined);
    assert.equal(r.status, 404, `${m} ${path}`);
  }
});

test('admin refusals: every bad field has its pointer, duplicates (any case) 409, and nothing is written', async () => {
  const k = code('Dup');
  await promo({ code: k, type: 'free_shipping' });
  let r = await A('POST', '/v1/admin/promotions', { code: k.toLowerCase(), type: 'free_shipping' });
  assert.equal(r.status, 409, r.text);
  assert.equal(r.body.type, type('already-exists'));
  assert.equal(r.body.errors[0].pointer, '/code');
  const cases = [
    [{ type: 'percentage' }, '/percent_bp', 'required'],
    [{ type: 'fixed', percent_bp: 10 }, '/percent_bp', 'not_allowed'],
    [{ type: 'fixed' }, '/amounts', 'required'],
    [{ type: 'fixed', amounts: { EUR: 100 } }, '/amounts', 'invalid_format'],
    [{ type: 'fixed', amounts: { eur: 0 } }, '/amounts', 'invalid_format'],
    [{ type: 'fixed', amounts: {} }, '/amounts', 'invalid_format'],
    [{ type: 'free_shipping', amounts: { eur: 5 } }, '/amounts', 'not_allowed'],
    [{ type: 'buy_x_get_y', percent_bp: 10000, target: 'items', product_ids: [] }, '/buy_quantity', 'required'],
    [{ type: 'buy_x_get_y', percent_bp: 10000, buy_quantity: 2, get_quantity: 1 }, '/target', 'invalid_value'],
    [{ type: 'percentage', percent_bp: 100, target: 'items' }, '/target', 'invalid_value'],
    [{ type: 'percentage', percent_bp: 10001 }, '/percent_bp', 'out_of_range'],
    [{ type: 'percentage', percent_bp: 100, code: 'has space' }, '/code', 'invalid_format'],
    [{ type: 'percentage', percent_bp: 100, code: 'ab' }, '/code', null],
    [{ type: 'percentage', percent_bp: 100, starts_at: '2030-01-02T00:00:00Z', ends_at: '2030-01-01T00:00:00Z' }, '/ends_at', 'out_of_range'],
    [{ type: 'percentage', percent_bp: 100, target: 'items', product_ids: ['prod_01zzzzzzzzzzzzzzzzzzzzzzzz'] }, '/product_ids', 'not_found'],
    [{ type: 'percentage', percent_bp: 100, customer_group_ids: ['cgrp_01zzzzzzzzzzzzzzzzzzzzzzzz'] }, '/customer_group_ids', 'not_found'],
    [{ type: 'percentage', percent_bp: 100, min_subtotal: { eur: -1 } }, '/min_subtotal', 'invalid_format'],
    [{ type: 'bogus' }, '/type', null],
    [{ type: 'percentage', percent_bp: 100, usage_limit: 0 }, '/usage_limit', 'out_of_range'],
  ];
  const before = (await s.sql('SELECT count(*)::int AS n FROM promotions'))[0].n;
  for (const [body, pointer, c] of cases) {
    r = await A('POST', '/v1/admin/promotions', body);
    assert.equal(r.status, 422, `${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.body.errors[0].pointer, pointer, JSON.stringify(body));
    if (c) assert.equal(r.body.errors[0].code, c, JSON.stringify(body));
  }
  assert.equal((await s.sql('SELECT count(*)::int AS n FROM promotions'))[0].n, before, 'nothing written');
  const p = await promo({ type: 'percentage', percent_bp: 100, status: 'draft' }); // automatic: a draft applies to no cart
  r = await A('PATCH', `/v1/admin/promotions/${p.id}`, { type: 'fixed' });
  assert.equal(r.status, 422, 'the type is create-only');
  assert.equal(r.body.type, type('unknown-field'));
  r = await A('PATCH', `/v1/admin/promotions/${p.id}`, { percent_bp: null });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/percent_bp');
});

test('admin scopes: a key without promotions:write is 403, without promotions:read too', async () => {
  let r = await A('GET', '/v1/admin/promotions', undefined, readOnlyKey);
  assert.equal(r.status, 200);
  r = await A('POST', '/v1/admin/promotions', { type: 'free_shipping' }, readOnlyKey);
  assert.equal(r.status, 403);
  assert.equal(r.body.type, type('forbidden'));
  for (const [m, p, body] of [['GET', '/v1/admin/promotions'], ['POST', '/v1/admin/promotions', { type: 'free_shipping' }], ['GET', '/v1/admin/gift-cards'],
    ['POST', '/v1/admin/gift-cards', { currency_code: 'eur', initial_balance: 100 }], ['DELETE', '/v1/admin/promotions/promo_01zzzzzzzzzzzzzzzzzzzzzzzz']]) {
    r = await A(m, p, body, catalogKey);
    assert.equal(r.status, 403, `${m} ${p}`);
  }
  r = await A('GET', '/v1/admin/promotions', undefined, null);
  assert.equal(r.status, 401);
});

test('a percentage code: split over the lines by largest remainder, adjustments add up, any case, idempotent, removable', async () => {
  const k = code('Pct');
  const p = await promo({ code: k, type: 'percentage', percent_bp: 1000, description: '10% off "all"' });
  const c = await cart([[V.a, 1], [V.b, 1], [V.c, 1]]); // 1000 + 2000 + 3333 = 6333 -> 633.3 -> 633
  let r = await apply(c, k.toLowerCase());
  assert.equal(r.status, 200, r.text);
  const x = r.body;
  const by = (v) => x.items.find((l) => l.variant_id === v);
  assert.deepEqual(x.promotion_codes, [k]);
  assert.deepEqual([by(V.a).discount_total, by(V.b).discount_total, by(V.c).discount_total], [100, 200, 333]);
  assert.equal(x.discount_total, 633);
  assert.equal(x.total, 6333 - 633);
  for (const l of x.items) {
    assert.equal(sum(l.adjustments.map((a) => a.amount)), l.discount_total);
    assert.deepEqual([l.adjustments[0].promotion_id, l.adjustments[0].code, l.adjustments[0].description], [p.id, k, '10% off "all"']);
    assert.equal(l.total, l.subtotal - l.discount_total);
  }
  assert.deepEqual(x.promotions, [{ id: p.id, code: k, kind: 'items', amount: 633 }]);
  r = await apply(c, k);
  assert.equal(r.status, 200, 'applying it again changes nothing');
  assert.deepEqual(r.body.promotion_codes, [k]);
  assert.equal(r.body.discount_total, 633);
  // the cart changes: the discount follows (a line removed)
  r = await s.client.del(`/v1/store/carts/${c.id}/line-items/${by(V.c).id}`);
  assert.equal(r.body.discount_total, 300);
  r = await s.client.del(`/v1/store/carts/${c.id}/promotions/${k.toLowerCase()}`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.promotion_codes, r.body.discount_total, r.body.promotions, r.body.items[0].adjustments], [[], 0, [], []]);
  r = await s.client.del(`/v1/store/carts/${c.id}/promotions/${k}`);
  assert.equal(r.status, 404, 'not on the cart any more');
  r = await s.client.del(`/v1/store/carts/${c.id}/promotions/${encodeURIComponent('bad code!')}`);
  assert.equal(r.status, 404);
});

test('a code on a cart that staff turn into an automatic promotion applies once, and leaves promotion_codes', async () => {
  const p = await promo({ code: code('Auto'), type: 'fixed', amounts: { eur: 100 }, combinable: true });
  const c = await cart([[V.b, 1]]);
  let r = await apply(c, p.code);
  assert.equal(r.body.discount_total, 100);
  r = await A('PATCH', `/v1/admin/promotions/${p.id}`, { code: null });
  assert.equal(r.status, 200, r.text);
  try {
    r = await s.client.get(`/v1/store/carts/${c.id}`);
    assert.deepEqual([r.body.promotion_codes, r.body.discount_total, r.body.promotions.map((x) => [x.id, x.code])], [[], 100, [[p.id, null]]]);
  } finally {
    await A('PATCH', `/v1/admin/promotions/${p.id}`, { status: 'disabled' });
  }
});

test('refusals of a code: each has its stable code at /code and leaves the cart as it was', async () => {
  const c = await cart([[V.a, 2]]); // 2000 eur
  const usd = await cart([[V.a, 1]], { body: { currency_code: 'usd' } });
  const past = await promo({ code: code('Old'), type: 'percentage', percent_bp: 500, ends_at: '2020-01-01T00:00:00Z' });
  const future = await promo({ code: code('New'), type: 'percentage', percent_bp: 500, starts_at: '2099-01-01T00:00:00Z' });
  const draft = await promo({ code: code('Draft'), type: 'percentage', percent_bp: 500, status: 'draft' });
  const used = await promo({ code: code('Used'), type: 'percentage', percent_bp: 500, usage_limit: 1 });
  await s.sql("SELECT souq_checkout_redeem('order_used', NULL, $1::jsonb)", [JSON.stringify({ currency_code: 'eur', promotions: [{ id: used.id, code: used.code, amount: 1 }] })]);
  const eurOnly = await promo({ code: code('Eur'), type: 'fixed', amounts: { eur: 500 } });
  const minSub = await promo({ code: code('Min'), type: 'fixed', amounts: { eur: 500, usd: 500 }, min_subtotal: { eur: 2001 } });
  const shoes = await promo({ code: code('Shoe'), type: 'percentage', percent_bp: 2000, target: 'items', category_ids: [cat.id] });
  const vip = await promo({ code: code('Vip'), type: 'percentage', percent_bp: 2000, customer_group_ids: [group.id] });
  const once = await promo({ code: code('Once'), type: 'percentage', percent_bp: 2000, usage_limit_per_customer: 1 });
  const bxgy = await promo({ code: code('Bxgy'), type: 'buy_x_get_y', percent_bp: 10000, buy_quantity: 2, get_quantity: 1, target: 'items', product_ids: [V.aProduct] });
  const cases = [
    [c, 'NOPE-' + process.pid, 'coupon_invalid'],
    [c, past.code, 'coupon_expired'],
    [c, future.code, 'coupon_not_started'],
    [c, draft.code, 'coupon_invalid'],
    [c, used.code, 'coupon_exhausted'],
    [usd, eurOnly.code, 'coupon_wrong_currency'],
    [usd, minSub.code, 'coupon_wrong_currency'],
    [c, minSub.code, 'coupon_min_subtotal'],
    [c, shoes.code, 'coupon_not_applicable'],
    [c, vip.code, 'coupon_not_eligible'],
    [c, once.code, 'coupon_not_eligible'],
    [c, bxgy.code, 'coupon_not_applicable'],
  ];
  for (const [k, kode, slug] of cases) {
    const r = await apply(k, kode);
    refused(r, slug);
  }
  const now = (await s.client.get(`/v1/store/carts/${c.id}`)).body;
  assert.deepEqual([now.promotion_codes, now.discount_total], [[], 0], 'nothing applied');
  // the threshold is met once the cart grows; bad bodies; other carts
  await s.client.post(`/v1/store/carts/${c.id}/line-items`, { variant_id: V.a, quantity: 1 });
  let r = await apply(c, minSub.code);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.discount_total, 500);
  for (const body of [{}, { code: '' }, { code: 'x'.repeat(65) }, { code: 5 }, { code: 'A', extra: 1 }]) {
    r = await s.client.post(`/v1/store/carts/${c.id}/promotions`, body);
    assert.equal(r.status, 422, JSON.stringify(body));
  }
});

test('carts the caller cannot reach are 404 on the promotion routes (another customer\'s, another channel, malformed, expired)', async () => {
  const k = code('Reach');
  await promo({ code: k, type: 'percentage', percent_bp: 100 });
  const ann = await newCustomer(s.client);
  const bob = await newCustomer(s.client);
  const c = await cart([[V.a, 1]], { token: ann.token });
  let r = await apply(c, k, bob.token);
  assert.equal(r.status, 404, r.text);
  r = await apply(c, k);
  assert.equal(r.status, 404, 'anonymous on a customer cart');
  r = await s.client.del(`/v1/store/carts/${c.id}/promotions/${k}`, { token: bob.token });
  assert.equal(r.status, 404);
  r = await apply(c, k, ann.token);
  assert.equal(r.status, 200, r.text);
  for (const id of ['cart_' + 'A'.repeat(43), 'cart_short']) {
    r = await s.client.post(`/v1/store/carts/${id}/promotions`, { code: k });
    assert.equal(r.status, 404);
    assert.equal(r.body.detail, 'The cart does not exist.');
  }
  const g = await cart([[V.a, 1]]);
  await s.sql("UPDATE carts SET updated_at = now() - interval '31 days' WHERE id = $1", [g.id]);
  r = await apply(g, k);
  assert.equal(r.status, 404, 'expired');
});

test('customer-group and per-customer codes: the member\'s cart gets them; a used-up per-customer code is refused', async () => {
  const ann = await newCustomer(s.client);
  let r = await A('POST', `/v1/admin/customer-groups/${group.id}/customers`, { add: [ann.customer.id] });
  assert.equal(r.status, 200, r.text);
  const vip = await promo({ code: code('Vip'), type: 'percentage', percent_bp: 2000, customer_group_ids: [group.id] });
  const once = await promo({ code: code('Once'), type: 'fixed', amounts: { eur: 100 }, usage_limit_per_customer: 1, combinable: true });
  const c = await cart([[V.b, 1]], { token: ann.token });
  r = await apply(c, vip.code, ann.token);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.discount_total, 400);
  r = await apply(c, once.code, ann.token);
  refused(r, 'coupon_not_combinable'); // the non-combinable 20 % gives more than the combinable 1.00 alone
  await s.client.del(`/v1/store/carts/${c.id}/promotions/${vip.code}`, { token: ann.token });
  r = await apply(c, once.code, ann.token);
  assert.equal(r.status, 200, r.text);
  await s.sql('SELECT souq_checkout_redeem($1, $2, $3::jsonb)', ['order_once1', ann.customer.id, JSON.stringify(r.body)]);
  const again = await cart([[V.b, 1]], { token: ann.token });
  r = await apply(again, once.code, ann.token);
  refused(r, 'coupon_exhausted');
  // the code stays on the first cart but gives nothing now, and checkout would refuse it
  r = await s.client.get(`/v1/store/carts/${c.id}`, { token: ann.token });
  assert.deepEqual([r.body.promotion_codes, r.body.discount_total], [[once.code], 0]);
  await assert.rejects(s.sql('SELECT souq_checkout_redeem($1, $2, $3::jsonb)', ['order_once2', ann.customer.id, JSON.stringify({ currency_code: 'eur', promotions: [{ id: once.id, code: once.code, amount: 100 }] })]),
    (e) => e.code === 'SQ422' && e.message.startsWith('/promotion_codes|coupon_invalid|'));
});

test('automatic promotions, targets (product, category, collection), buy X get Y and free shipping', async () => {
  const shoes = await promo({ type: 'percentage', percent_bp: 2500, target: 'items', category_ids: [cat.id], description: 'Shoe week', combinable: true, priority: 5 });
  const hats = await promo({ type: 'buy_x_get_y', percent_bp: 10000, buy_quantity: 2, get_quantity: 1, target: 'items', collection_ids: [col.id], combinable: true, description: 'Hats 3 for 2' });
  const ship = await promo({ type: 'free_shipping', min_subtotal: { eur: 10000 } });
  try {
    let c = await cart([[V.shoe, 1], [V.hat, 7], [V.a, 1]]); // 5000 + 2800 + 1000
    const [shoe, hat, a] = [V.shoe, V.hat, V.a].map((v) => c.items.find((l) => l.variant_id === v));
    assert.equal(shoe.discount_total, 1250);
    assert.deepEqual(shoe.adjustments, [{ promotion_id: shoes.id, code: null, amount: 1250, description: 'Shoe week' }]);
    assert.equal(hat.discount_total, 800, '7 hats: two free');
    assert.equal(a.discount_total, 0);
    assert.deepEqual(c.promotion_codes, [], 'automatic: no code');
    assert.deepEqual(c.promotions.map((p) => [p.id, p.amount]).sort(), [[hats.id, 800], [shoes.id, 1250]].sort());
    assert.equal(c.shipping_discount_total, 0);
    assert.ok(!c.promotions.some((p) => p.id === ship.id), 'below the free-shipping threshold');
    const r = await s.client.post(`/v1/store/carts/${c.id}/line-items`, { variant_id: V.b, quantity: 1 }); // 10800
    c = r.body;
    assert.deepEqual(c.promotions.find((p) => p.id === ship.id), { id: ship.id, code: null, kind: 'shipping', amount: 0 }, 'free shipping (no method chosen yet: 0)');
    assert.equal(c.total, c.item_subtotal - c.discount_total + c.shipping_total - c.shipping_discount_total);
    // disabled automatic promotions stop at once
    await A('PATCH', `/v1/admin/promotions/${shoes.id}`, { status: 'disabled' });
    c = (await s.client.get(`/v1/store/carts/${c.id}`)).body;
    assert.equal(c.items.find((l) => l.variant_id === V.shoe).discount_total, 0);
  } finally {
    for (const p of [shoes, hats, ship]) await A('PATCH', `/v1/admin/promotions/${p.id}`, { status: 'disabled' });
  }
});

test('stacking: combinable codes stack in priority order; a non-combinable code applies alone when it gives more', async () => {
  const ten = await promo({ code: code('Ten'), type: 'percentage', percent_bp: 1000, combinable: true, priority: 10 });
  const five = await promo({ code: code('Five'), type: 'fixed', amounts: { eur: 500 }, combinable: true, priority: 1 });
  const big = await promo({ code: code('Big'), type: 'percentage', percent_bp: 2000 });
  const small = await promo({ code: code('Small'), type: 'fixed', amounts: { eur: 100 } });
  const c = await cart([[V.b, 5]]); // 10000
  let r = await apply(c, ten.code);
  r = await apply(c, five.code);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.discount_total, 1000 + 500, '10 % first (priority 10), then 5.00');
  assert.deepEqual(r.body.items[0].adjustments.map((a) => [a.promotion_id, a.amount]), [[ten.id, 1000], [five.id, 500]]);
  refused(await apply(c, small.code), 'coupon_not_combinable');
  r = await apply(c, big.code);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.discount_total, 2000, 'the non-combinable 20 % beats the stack (15.00)');
  assert.deepEqual(r.body.promotions.map((p) => p.id), [big.id]);
  assert.deepEqual(r.body.promotion_codes, [ten.code, five.code, big.code]);
});

test('redemption: souq_checkout_redeem counts usages, refuses exhausted codes with SQ422, and 40 concurrent one-time redemptions in SQL give exactly one (C4 through checkout: promotions_checkout.test.mjs)', async () => {
  const p = await promo({ code: code('One'), type: 'percentage', percent_bp: 1000, usage_limit: 1 });
  const c = await cart([[V.a, 1]]);
  const r = await apply(c, p.code);
  assert.equal(r.status, 200, r.text);
  const cartJson = JSON.stringify(r.body);
  const clients = [];
  try {
    for (let i = 0; i < 40; i++) {
      const cl = new pg.Client({ host: SOCK, port: Number(PGPORT), user: 'souq', database: s.dbName });
      await cl.connect();
      await cl.query('BEGIN');
      clients.push(cl);
    }
    // every transaction is open; all redeem at once and commit when their statement returns
    const results = await Promise.all(clients.map(async (cl, i) => {
      try {
        await cl.query('SELECT souq_checkout_redeem($1, NULL, $2::jsonb)', [`order_c4_${i}`, cartJson]);
        await cl.query('COMMIT');
        return 'ok';
      } catch (e) {
        await cl.query('ROLLBACK');
        return e.code === 'SQ422' && e.message.startsWith('/promotion_codes|coupon_invalid|') ? 'refused' : `other: ${e.code} ${e.message}`;
      }
    }));
    assert.equal(results.filter((x) => x === 'ok').length, 1, JSON.stringify(results.filter((x) => x.startsWith('other'))));
    assert.equal(results.filter((x) => x === 'refused').length, 39);
  } finally {
    await Promise.all(clients.map((cl) => cl.end()));
  }
  const [row] = await s.sql('SELECT usage_count, (SELECT count(*)::int FROM promotion_usages WHERE promotion_id = $1) AS usages FROM promotions WHERE id = $1', [p.id]);
  assert.deepEqual(row, { usage_count: 1, usages: 1 });
  // used: the admin cannot delete it, the store refuses the code, the cart that has it gives nothing now
  let x = await A('DELETE', `/v1/admin/promotions/${p.id}`);
  assert.equal(x.status, 409, x.text);
  refused(await apply(await cart([[V.a, 1]]), p.code), 'coupon_exhausted');
  x = await s.client.get(`/v1/store/carts/${c.id}`);
  assert.deepEqual([x.body.discount_total, x.body.promotions], [0, []]);
  x = await A('GET', `/v1/admin/promotions/${p.id}`);
  assert.equal(x.body.usage_count, 1);
});

test('promotions without a usage limit count their usage rows (no shared counter to queue on); a limit set later starts from them', async () => {
  const p = await promo({ code: code('Free'), type: 'fixed', amounts: { eur: 100 } });
  const body = JSON.stringify({ currency_code: 'eur', promotions: [{ id: p.id, code: p.code, amount: 100 }] });
  for (let i = 0; i < 3; i++) await s.sql('SELECT souq_checkout_redeem($1, NULL, $2::jsonb)', [`order_free_${i}`, body]);
  let r = await A('GET', `/v1/admin/promotions/${p.id}`);
  assert.equal(r.body.usage_count, 3);
  r = await A('PATCH', `/v1/admin/promotions/${p.id}`, { usage_limit: 2 });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.body.errors[0].pointer, '/usage_limit');
  r = await A('PATCH', `/v1/admin/promotions/${p.id}`, { usage_limit: 4 });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.usage_limit, r.body.usage_count], [4, 3]);
  await s.sql('SELECT souq_checkout_redeem($1, NULL, $2::jsonb)', ['order_free_3', body]);
  await assert.rejects(s.sql('SELECT souq_checkout_redeem($1, NULL, $2::jsonb)', ['order_free_4', body]), (e) => e.code === 'SQ422');
  r = await A('GET', `/v1/admin/promotions/${p.id}`);
  assert.equal(r.body.usage_count, 4);
  refused(await apply(await cart([[V.a, 1]]), p.code), 'coupon_exhausted');
  // a disabled or ended promotion is refused at checkout as well
  const q = await promo({ code: code('Gone'), type: 'fixed', amounts: { eur: 100 } });
  await A('PATCH', `/v1/admin/promotions/${q.id}`, { status: 'disabled' });
  await assert.rejects(s.sql('SELECT souq_checkout_redeem($1, NULL, $2::jsonb)', ['order_gone', JSON.stringify({ promotions: [{ id: q.id, code: q.code, amount: 1 }] })]),
    (e) => e.code === 'SQ422' && e.message.includes(q.code));
});
