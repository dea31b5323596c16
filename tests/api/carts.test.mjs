// carts.test.mjs: storefront carts: guest and customer carts, line items priced by the server (tiers, sales,
// customer-group overrides, currency changes), totals, stock checks, expiry, If-Match, and every refusal.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startStack, staffLogin, newCustomer, Client } from './lib/harness.mjs';

let s, t, other; // other: a client of a second sales channel
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json) => s.client.request(method, path, { pk: null, token: t, json });
let seq = 0;
const uniq = (p) => `${p}-${process.pid}-${++seq}`;
const V = {}; // variant ids by name
let sale, group, eu, us;

async function product(body) {
  const r = await A('POST', '/v1/admin/products', { title: uniq('Thing'), status: 'active', ...body });
  assert.equal(r.status, 201, r.text);
  return r.body;
}

before(async () => {
  s = await startStack();
  t = (await staffLogin(s.client)).access_token;
  eu = (await A('POST', '/v1/admin/regions', { name: 'EU', currency_code: 'eur', countries: ['de'] })).body;
  us = (await A('POST', '/v1/admin/regions', { name: 'US', currency_code: 'usd', countries: ['us'] })).body;
  const loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Berlin' })).body.id;
  const stock = (n) => [{ location_id: loc, quantity: n }];
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
  const ch2 = await A('POST', '/v1/admin/sales-channels', { name: 'Wholesale' });
  assert.equal(ch2.status, 201, ch2.text);
  const key = await A('POST', '/v1/admin/api-keys', { type: 'publishable', title: 'B2B shop', sales_channel_id: ch2.body.id });
  assert.equal(key.status, 201, key.text);
  other = new Client(s.url, key.body.token);
  await A('POST', `/v1/admin/sales-channels/${ch2.body.id}/locations`, { location_id: loc, priority: 0 });
  const tee = await product({
    options: [{ title: 'Size', values: ['M', 'L'] }],
    variants: [
      { sku: uniq('TEE'), options: { Size: 'M' }, prices: [{ currency_code: 'eur', amount: 1000 }, { currency_code: 'eur', amount: 900, min_quantity: 10 }, { currency_code: 'usd', amount: 1200 }], inventory: stock(100) },
      { sku: uniq('TEE-L'), options: { Size: 'L' }, prices: [{ currency_code: 'eur', amount: 500 }, { currency_code: 'usd', amount: 600 }], inventory: stock(100) },
    ],
  });
  [V.tee, V.teeL] = tee.variants.map((v) => v.id);
  V.euOnly = (await product({ variants: [{ sku: uniq('EU'), prices: [{ currency_code: 'eur', amount: 300 }], inventory: stock(100) }] })).variants[0].id;
  V.draft = (await product({ status: 'draft', variants: [{ sku: uniq('DRAFT'), prices: [{ currency_code: 'eur', amount: 100 }], inventory: stock(5) }] })).variants[0].id;
  V.elsewhere = (await product({ sales_channel_ids: [ch2.body.id], variants: [{ sku: uniq('B2B'), prices: [{ currency_code: 'eur', amount: 100 }], inventory: stock(5) }] })).variants[0].id;
  V.few = (await product({ variants: [{ sku: uniq('FEW'), prices: [{ currency_code: 'eur', amount: 100 }], inventory: stock(2) }] })).variants[0].id;
  V.backorder = (await product({ variants: [{ sku: uniq('BO'), allow_backorder: true, prices: [{ currency_code: 'eur', amount: 100 }], inventory: stock(0) }] })).variants[0].id;
  V.sale = (await product({ variants: [{ sku: uniq('SALE'), prices: [{ currency_code: 'eur', amount: 2000 }], inventory: stock(10) }] })).variants[0].id;
  V.unpriced = (await product({ variants: [{ sku: uniq('NOPRICE'), prices: [], inventory: stock(10) }] })).variants[0].id;
  sale = (await A('POST', '/v1/admin/price-lists', { title: 'Winter sale', kind: 'sale' })).body;
  let r = await A('POST', `/v1/admin/price-lists/${sale.id}/prices`, { upsert: [{ variant_id: V.sale, currency_code: 'eur', amount: 1500 }] });
  assert.equal(r.status, 200, r.text);
  group = (await A('POST', '/v1/admin/customer-groups', { name: uniq('VIP') })).body;
  const vip = await A('POST', '/v1/admin/price-lists', { title: 'VIP', kind: 'override', rules: { customer_group: [group.id] } });
  assert.equal(vip.status, 201, vip.text);
  r = await A('POST', `/v1/admin/price-lists/${vip.body.id}/prices`, { upsert: [{ variant_id: V.teeL, currency_code: 'eur', amount: 450 }] });
  assert.equal(r.status, 200, r.text);
});
after(async () => s && (await s.stop()));

const guestCart = async (body = {}) => {
  const r = await s.client.post('/v1/store/carts', body);
  assert.equal(r.status, 201, r.text);
  return r.body;
};
const line = (cart, variant) => cart.items.find((l) => l.variant_id === variant);

test('a guest cart: id, channel, currency, empty totals, ETag', async () => {
  const r = await s.client.post('/v1/store/carts', { email: 'Guest@Example.com', metadata: { source: 'ad' } });
  assert.equal(r.status, 201, r.text);
  const c = r.body;
  assert.match(c.id, /^cart_[A-Za-z0-9_-]{43}$/);
  assert.equal(c.sales_channel_id, s.channel);
  assert.equal(c.customer_id, null);
  assert.equal(c.email, 'guest@example.com');
  assert.equal(c.currency_code, 'eur', 'the first region\'s currency');
  assert.deepEqual([c.items, c.item_subtotal, c.discount_total, c.shipping_total, c.tax_total, c.total], [[], 0, 0, 0, 0, 0]);
  assert.deepEqual([c.shipping_methods, c.promotion_codes, c.shipping_address], [[], [], null]);
  assert.ok(new Date(c.expires_at) - new Date(c.updated_at) === 30 * 86400 * 1000, 'expires 30 days after the last change');
  assert.match(r.headers.get('etag'), /^"[0-9a-f]{32}"$/);
  const g = await s.client.get(`/v1/store/carts/${c.id}`);
  assert.equal(g.status, 200);
  assert.deepEqual(g.body, c);
  assert.equal(g.headers.get('etag'), r.headers.get('etag'), 'the same representation, the same ETag');
  assert.equal((await s.client.get(`/v1/store/carts/${c.id}`, { headers: { 'if-none-match': g.headers.get('etag') } })).status, 304);
  const b = await guestCart();
  assert.notEqual(b.id, c.id);
});

test('lines: server prices, same variant adds up, tiers follow the quantity, totals', async () => {
  let c = await guestCart({ items: [{ variant_id: V.tee, quantity: 2 }, { variant_id: V.teeL, quantity: 1 }, { variant_id: V.tee, quantity: 1 }] });
  assert.equal(c.items.length, 2, 'the same variant twice is one line');
  let tee = line(c, V.tee);
  assert.deepEqual([tee.quantity, tee.unit_price, tee.subtotal, tee.total, tee.discount_total, tee.tax_total], [3, 1000, 3000, 3000, 0, 0]);
  assert.deepEqual([tee.price_type, tee.price_list_id, tee.compare_at_unit_price, tee.sellable], ['base', null, null, true]);
  assert.deepEqual([tee.adjustments, tee.tax_lines], [[], []]);
  assert.match(tee.id, /^cali_/);
  assert.equal(tee.product_id.startsWith('prod_'), true);
  assert.deepEqual([c.item_count, c.item_subtotal, c.total], [4, 3500, 3500]);
  let r = await s.client.post(`/v1/store/carts/${c.id}/line-items`, { variant_id: V.tee, quantity: 7 });
  assert.equal(r.status, 200, r.text);
  tee = line(r.body, V.tee);
  assert.deepEqual([tee.quantity, tee.unit_price, tee.subtotal], [10, 900, 9000], '10 units reach the 900 tier');
  assert.equal(r.body.total, 9500);
  assert.equal(r.body.items.length, 2);
  r = await s.client.patch(`/v1/store/carts/${c.id}/line-items/${tee.id}`, { quantity: 9 });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([line(r.body, V.tee).unit_price, r.body.total], [1000, 9500], 'back below the tier');
  r = await s.client.patch(`/v1/store/carts/${c.id}/line-items/${tee.id}`, { quantity: 0 });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.items.map((l) => l.variant_id), [V.teeL], 'quantity 0 removes the line');
  assert.equal(r.body.total, 500);
  const l = r.body.items[0];
  r = await s.client.del(`/v1/store/carts/${c.id}/line-items/${l.id}`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.items, r.body.total, r.body.item_count], [[], 0, 0]);
  assert.equal((await s.client.del(`/v1/store/carts/${c.id}/line-items/${l.id}`)).status, 404, 'already gone');
});

test('a sale shows its list and the was-price', async () => {
  const c = await guestCart({ items: [{ variant_id: V.sale, quantity: 2 }] });
  const l = c.items[0];
  assert.deepEqual([l.unit_price, l.compare_at_unit_price, l.price_list_id, l.price_type, l.subtotal], [1500, 2000, sale.id, 'sale', 3000]);
});

test('currency and region changes reprice every line; a line without a price in the new currency refuses it', async () => {
  const c = await guestCart({ region_id: eu.id, items: [{ variant_id: V.tee, quantity: 2 }] });
  assert.deepEqual([c.region_id, c.currency_code, c.total], [eu.id, 'eur', 2000]);
  let r = await s.client.patch(`/v1/store/carts/${c.id}`, { currency_code: 'USD', note: 'gift wrap', metadata: { a: '1' } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.currency_code, r.body.region_id, line(r.body, V.tee).unit_price, r.body.total], ['usd', null, 1200, 2400]);
  assert.deepEqual([r.body.note, r.body.metadata], ['gift wrap', { a: '1' }]);
  r = await s.client.patch(`/v1/store/carts/${c.id}`, { region_id: eu.id, metadata: { a: null, b: 2 } });
  assert.deepEqual([r.body.currency_code, r.body.region_id, r.body.total, r.body.metadata], ['eur', eu.id, 2000, { b: 2 }]);
  r = await s.client.post(`/v1/store/carts/${c.id}/line-items`, { variant_id: V.euOnly, quantity: 1 });
  assert.equal(r.status, 200, r.text);
  for (const body of [{ currency_code: 'usd' }, { region_id: us.id }]) {
    r = await s.client.patch(`/v1/store/carts/${c.id}`, body);
    assert.equal(r.status, 422, r.text);
    assert.deepEqual(r.body.errors.map((e) => [e.pointer, e.code]), [['/currency_code', 'not_priced']]);
  }
  r = await s.client.patch(`/v1/store/carts/${c.id}`, { region_id: eu.id, currency_code: 'usd' });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.body.errors[0].pointer, '/currency_code');
  r = await s.client.patch(`/v1/store/carts/${c.id}`, { region_id: 'reg_01zzzzzzzzzzzzzzzzzzzzzzzz' });
  assert.deepEqual([r.status, r.body.errors[0].pointer], [422, '/region_id']);
  r = await s.client.post('/v1/store/carts', { currency_code: 'usd', items: [{ variant_id: V.euOnly, quantity: 1 }] });
  assert.deepEqual([r.status, r.body.errors[0].pointer, r.body.errors[0].code], [422, '/items/0/variant_id', 'not_priced']);
  const after = (await s.client.get(`/v1/store/carts/${c.id}`)).body;
  assert.deepEqual([after.currency_code, after.total], ['eur', 2300], 'refused changes changed nothing');
});

test('a customer cart: the customer\'s prices and email; only the customer reaches it', async () => {
  const ann = await newCustomer(s.client);
  const bob = await newCustomer(s.client);
  assert.equal((await A('POST', `/v1/admin/customer-groups/${group.id}/customers`, { add: [ann.customer.id] })).status, 200);
  const r = await s.client.post('/v1/store/carts', { items: [{ variant_id: V.teeL, quantity: 2 }] }, { token: ann.token });
  assert.equal(r.status, 201, r.text);
  const c = r.body;
  assert.deepEqual([c.customer_id, c.email], [ann.customer.id, ann.email]);
  assert.deepEqual([c.items[0].unit_price, c.items[0].price_type, c.total], [450, 'override', 900], 'the VIP group price');
  assert.equal((await s.client.get(`/v1/store/carts/${c.id}`, { token: ann.token })).status, 200);
  for (const token of [bob.token, undefined]) {
    const who = token ? 'another customer' : 'an anonymous caller';
    for (const [m, p, body] of [
      ['GET', `/v1/store/carts/${c.id}`],
      ['PATCH', `/v1/store/carts/${c.id}`, { note: 'mine now' }],
      ['POST', `/v1/store/carts/${c.id}/line-items`, { variant_id: V.tee, quantity: 1 }],
      ['PATCH', `/v1/store/carts/${c.id}/line-items/${c.items[0].id}`, { quantity: 3 }],
      ['DELETE', `/v1/store/carts/${c.id}/line-items/${c.items[0].id}`],
    ]) {
      const x = await s.client.request(m, p, { token, json: body });
      assert.equal(x.status, 404, `${who}: ${m} ${p}: ${x.text}`);
      assert.equal(x.body.type, type('not-found'));
    }
  }
  const still = await s.client.get(`/v1/store/carts/${c.id}`, { token: ann.token });
  assert.deepEqual([still.body.note, still.body.items.length, still.body.items[0].quantity], [null, 1, 2], 'nothing changed');
  const guest = await guestCart({ items: [{ variant_id: V.teeL, quantity: 1 }] });
  const g = await s.client.get(`/v1/store/carts/${guest.id}`, { token: bob.token });
  assert.deepEqual([g.status, g.body.customer_id], [200, null], 'a guest cart is reachable by its id, also when logged in');
  assert.equal((await s.client.get(`/v1/store/carts/${c.id}`, { token: 'not.a.jwt' })).status, 401, 'a bad token is never anonymous');
});

test('another sales channel: its carts and products are not this channel\'s', async () => {
  const c = await guestCart({ items: [{ variant_id: V.tee, quantity: 1 }] });
  for (const [m, p, body] of [
    ['GET', `/v1/store/carts/${c.id}`],
    ['PATCH', `/v1/store/carts/${c.id}`, { note: 'x' }],
    ['POST', `/v1/store/carts/${c.id}/line-items`, { variant_id: V.tee, quantity: 1 }],
    ['PATCH', `/v1/store/carts/${c.id}/line-items/${c.items[0].id}`, { quantity: 3 }],
    ['DELETE', `/v1/store/carts/${c.id}/line-items/${c.items[0].id}`],
  ]) {
    const x = await other.request(m, p, { json: body });
    assert.equal(x.status, 404, `${m} ${p}: ${x.text}`);
  }
  const mine = await other.post('/v1/store/carts', { items: [{ variant_id: V.elsewhere, quantity: 1 }] });
  assert.equal(mine.status, 201, mine.text);
  assert.notEqual(mine.body.sales_channel_id, s.channel);
  const r = await s.client.post(`/v1/store/carts/${c.id}/line-items`, { variant_id: V.elsewhere, quantity: 1 });
  assert.deepEqual([r.status, r.body.errors[0].pointer, r.body.errors[0].code], [422, '/variant_id', 'not_found']);
  assert.equal((await s.client.request('GET', `/v1/store/carts/${c.id}`, { pk: null })).status, 401, 'no publishable key');
});

test('variants that cannot be sold are refused with a pointer', async () => {
  const c = await guestCart();
  for (const [variant, code] of [[V.draft, 'not_found'], [V.elsewhere, 'not_found'], ['var_01zzzzzzzzzzzzzzzzzzzzzzzz', 'not_found'], [V.unpriced, 'not_priced']]) {
    const r = await s.client.post(`/v1/store/carts/${c.id}/line-items`, { variant_id: variant, quantity: 1 });
    assert.equal(r.status, 422, r.text);
    assert.equal(r.body.type, type('validation-failed'));
    assert.deepEqual(r.body.errors.map((e) => [e.pointer, e.code]), [['/variant_id', code]]);
  }
  const r = await s.client.post('/v1/store/carts', { items: [{ variant_id: V.tee, quantity: 1 }, { variant_id: V.draft, quantity: 1 }] });
  assert.deepEqual([r.status, r.body.errors[0].pointer], [422, '/items/1/variant_id']);
  assert.deepEqual((await s.client.get(`/v1/store/carts/${c.id}`)).body.items, []);
});

test('stock: short stock is a 409 insufficient-stock, backorders are allowed, nothing is reserved', async () => {
  const c = await guestCart({ items: [{ variant_id: V.few, quantity: 2 }] });
  let r = await s.client.post(`/v1/store/carts/${c.id}/line-items`, { variant_id: V.few, quantity: 1 });
  assert.equal(r.status, 409, r.text);
  assert.equal(r.body.type, type('insufficient-stock'));
  assert.deepEqual(r.body.errors.map((e) => [e.pointer, e.code]), [['/quantity', 'insufficient_stock']]);
  r = await s.client.patch(`/v1/store/carts/${c.id}/line-items/${c.items[0].id}`, { quantity: 3 });
  assert.equal(r.status, 409, r.text);
  r = await s.client.post('/v1/store/carts', { items: [{ variant_id: V.few, quantity: 3 }] });
  assert.deepEqual([r.status, r.body.errors[0].pointer], [409, '/items/0/quantity']);
  const other2 = await guestCart({ items: [{ variant_id: V.few, quantity: 2 }] });
  assert.equal(other2.items[0].quantity, 2, 'a cart holds no stock: another cart gets the same units');
  r = await s.client.patch(`/v1/store/carts/${c.id}/line-items/${c.items[0].id}`, { quantity: 1 });
  assert.equal(r.status, 200, 'lowering is always allowed');
  const bo = await guestCart({ items: [{ variant_id: V.backorder, quantity: 50 }] });
  assert.equal(bo.items[0].quantity, 50);
  const level = await A('GET', `/v1/admin/inventory-items?sku=${encodeURIComponent(bo.items[0].sku)}`);
  assert.equal(level.body.data[0].reserved, 0);
});

test('bad input on every route', async () => {
  const c = await guestCart({ items: [{ variant_id: V.tee, quantity: 1 }] });
  const li = c.items[0].id;
  const bad = [
    ['POST', '/v1/store/carts', { items: [{ variant_id: V.tee, quantity: 1, unit_price: 1 }] }, 422, 'unknown-field', '/items/0/unit_price'],
    ['POST', '/v1/store/carts', { total: 0 }, 422, 'unknown-field', '/total'],
    ['POST', '/v1/store/carts', { currency_code: 'xyz' }, 422, 'validation-failed', '/currency_code'],
    ['POST', '/v1/store/carts', { email: 'nope' }, 422, 'validation-failed', '/email'],
    ['POST', '/v1/store/carts', { items: [{ variant_id: V.tee }] }, 422, 'validation-failed', '/items/0/quantity'],
    ['POST', '/v1/store/carts', { items: Array.from({ length: 251 }, () => ({ variant_id: V.tee, quantity: 1 })) }, 422, 'validation-failed', '/items'],
    ['POST', '/v1/store/carts', { items: [{ variant_id: V.backorder, quantity: 6000 }, { variant_id: V.backorder, quantity: 5000 }] }, 422, 'validation-failed', '/items/1/quantity'],
    ['PATCH', `/v1/store/carts/${c.id}`, { unit_price: 1 }, 422, 'unknown-field', '/unit_price'],
    ['PATCH', `/v1/store/carts/${c.id}`, { customer_id: 'cus_01zzzzzzzzzzzzzzzzzzzzzzzz' }, 422, 'unknown-field', '/customer_id'],
    ['PATCH', `/v1/store/carts/${c.id}`, { note: 'x'.repeat(1001) }, 422, 'validation-failed', '/note'],
    ['PATCH', `/v1/store/carts/${c.id}`, { currency_code: null }, 422, 'validation-failed', '/currency_code'],
    ['POST', `/v1/store/carts/${c.id}/line-items`, { variant_id: V.tee, quantity: 1, unit_price: 1 }, 422, 'unknown-field', '/unit_price'],
    ['POST', `/v1/store/carts/${c.id}/line-items`, { variant_id: 'x', quantity: 1 }, 422, 'validation-failed', '/variant_id'],
    ['POST', `/v1/store/carts/${c.id}/line-items`, { variant_id: V.tee, quantity: 10000 }, 422, 'validation-failed', '/quantity'],
    ['PATCH', `/v1/store/carts/${c.id}/line-items/${li}`, { quantity: 1, price: 5 }, 422, 'unknown-field', '/price'],
    ['PATCH', `/v1/store/carts/${c.id}/line-items/${li}`, {}, 422, 'validation-failed', '/quantity'],
  ];
  for (const q of [0, -1, 10001, '2', 1.5, null]) {
    bad.push(['POST', `/v1/store/carts/${c.id}/line-items`, { variant_id: V.tee, quantity: q }, 422, 'validation-failed', '/quantity']);
    bad.push(['POST', '/v1/store/carts', { items: [{ variant_id: V.tee, quantity: q }] }, 422, 'validation-failed', '/items/0/quantity']);
    if (q !== 0) bad.push(['PATCH', `/v1/store/carts/${c.id}/line-items/${li}`, { quantity: q }, 422, 'validation-failed', '/quantity']);
  }
  for (const [m, p, body, status, slug, pointer] of bad) {
    const r = await s.client.request(m, p, { json: body });
    assert.equal(r.status, status, `${m} ${p} ${JSON.stringify(body).slice(0, 80)}: ${r.text}`);
    assert.equal(r.body.type, type(slug), r.text);
    assert.ok(r.body.errors.some((e) => e.pointer === pointer), `${JSON.stringify(body).slice(0, 80)}: ${r.text}`);
  }
  for (const [m, p] of [['POST', '/v1/store/carts'], ['PATCH', `/v1/store/carts/${c.id}`], ['POST', `/v1/store/carts/${c.id}/line-items`]]) {
    const r = await s.client.request(m, p, { body: '{"items": [', headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 400, r.text);
  }
  const after = (await s.client.get(`/v1/store/carts/${c.id}`)).body;
  assert.deepEqual([after.items.length, after.items[0].quantity, after.total, after.note], [1, 1, 1000, null], 'nothing changed');
});

test('unknown, malformed and expired carts are 404 on every route', async () => {
  const c = await guestCart({ items: [{ variant_id: V.tee, quantity: 1 }] });
  const li = c.items[0].id;
  const routes = (id, line) => [
    ['GET', `/v1/store/carts/${id}`],
    ['PATCH', `/v1/store/carts/${id}`, { note: 'x' }],
    ['POST', `/v1/store/carts/${id}/line-items`, { variant_id: V.tee, quantity: 1 }],
    ['PATCH', `/v1/store/carts/${id}/line-items/${line}`, { quantity: 2 }],
    ['DELETE', `/v1/store/carts/${id}/line-items/${line}`],
  ];
  const missing = 'cart_' + 'A'.repeat(43);
  for (const id of [missing, 'cart_short', 'x'.repeat(300), c.id.slice(0, -1) + (c.id.endsWith('A') ? 'B' : 'A')]) {
    for (const [m, p, body] of routes(id, li)) {
      const r = await s.client.request(m, p, { json: body });
      assert.equal(r.status, 404, `${m} ${p}: ${r.text}`);
      assert.equal(r.body.detail, 'The cart does not exist.');
    }
  }
  for (const lineId of ['cali_01zzzzzzzzzzzzzzzzzzzzzzzz', 'nope']) {
    for (const [m, p, body] of routes(c.id, lineId).slice(3)) {
      const r = await s.client.request(m, p, { json: body });
      assert.equal(r.status, 404, `${m} ${p}: ${r.text}`);
      assert.equal(r.body.detail, 'The line item does not exist.');
    }
  }
  const foreign = await guestCart({ items: [{ variant_id: V.teeL, quantity: 1 }] });
  const r = await s.client.patch(`/v1/store/carts/${c.id}/line-items/${foreign.items[0].id}`, { quantity: 2 });
  assert.equal(r.status, 404, 'a line of another cart');
  await s.sql("UPDATE carts SET updated_at = now() - interval '30 days 1 minute' WHERE id = $1", [c.id]);
  for (const [m, p, body] of routes(c.id, li)) {
    const x = await s.client.request(m, p, { json: body });
    assert.equal(x.status, 404, `expired: ${m} ${p}: ${x.text}`);
  }
  await s.sql("UPDATE carts SET updated_at = now() - interval '29 days' WHERE id = $1", [c.id]);
  assert.equal((await s.client.get(`/v1/store/carts/${c.id}`)).status, 200, 'not yet expired');
});

test('If-Match: the current ETag passes, a stale or malformed one is a 412 and changes nothing', async () => {
  const c = await guestCart({ items: [{ variant_id: V.tee, quantity: 1 }] });
  const g = await s.client.get(`/v1/store/carts/${c.id}`);
  const etag = g.headers.get('etag');
  let r = await s.client.post(`/v1/store/carts/${c.id}/line-items`, { variant_id: V.teeL, quantity: 1 }, { headers: { 'if-match': etag } });
  assert.equal(r.status, 200, r.text);
  const next = r.headers.get('etag');
  assert.notEqual(next, etag);
  const li = r.body.items[0].id;
  for (const [m, p, body] of [
    ['PATCH', `/v1/store/carts/${c.id}`, { note: 'late' }],
    ['POST', `/v1/store/carts/${c.id}/line-items`, { variant_id: V.tee, quantity: 1 }],
    ['PATCH', `/v1/store/carts/${c.id}/line-items/${li}`, { quantity: 5 }],
    ['DELETE', `/v1/store/carts/${c.id}/line-items/${li}`],
  ]) {
    for (const im of [etag, '"0123456789abcdef0123456789abcdef"', 'W/"x"', 'garbage']) {
      const x = await s.client.request(m, p, { json: body, headers: { 'if-match': im } });
      assert.equal(x.status, 412, `${m} ${p} If-Match ${im}: ${x.text}`);
      assert.equal(x.body.type, type('precondition-failed'));
    }
  }
  const now = await s.client.get(`/v1/store/carts/${c.id}`);
  assert.equal(now.headers.get('etag'), next, 'nothing changed');
  r = await s.client.patch(`/v1/store/carts/${c.id}/line-items/${li}`, { quantity: 2 }, { headers: { 'if-match': next } });
  assert.equal(r.status, 200, r.text);
  assert.equal((await s.client.patch(`/v1/store/carts/${c.id}`, { note: 'n' }, { headers: { 'if-match': next } })).status, 412);
  assert.equal((await s.client.patch(`/v1/store/carts/${c.id}`, { note: 'n' })).status, 200, 'If-Match is optional');
});

test('a product that leaves the channel stays in the cart, not sellable and out of the totals', async () => {
  const p = await product({ variants: [{ sku: uniq('GONE'), prices: [{ currency_code: 'eur', amount: 700 }], inventory: [] , manage_inventory: false }] });
  const c = await guestCart({ items: [{ variant_id: p.variants[0].id, quantity: 2 }, { variant_id: V.tee, quantity: 1 }] });
  assert.equal(c.total, 2400);
  const cur = await A('GET', `/v1/admin/products/${p.id}`);
  const arch = await s.client.request('PATCH', `/v1/admin/products/${p.id}`, { pk: null, token: t, json: { status: 'archived' }, headers: { 'if-match': cur.headers.get('etag') } });
  assert.equal(arch.status, 200, arch.text);
  const g = (await s.client.get(`/v1/store/carts/${c.id}`)).body;
  const gone = line(g, p.variants[0].id);
  assert.deepEqual([gone.sellable, gone.quantity], [false, 2]);
  assert.deepEqual([g.item_subtotal, g.total, g.item_count], [1000, 1000, 1]);
  const r = await s.client.patch(`/v1/store/carts/${c.id}/line-items/${gone.id}`, { quantity: 3 });
  assert.deepEqual([r.status, r.body.errors?.[0]?.pointer], [422, '/variant_id'], 'raising an unsellable line is refused');
  assert.equal((await s.client.patch(`/v1/store/carts/${c.id}/line-items/${gone.id}`, { quantity: 0 })).status, 200, 'removing it is fine');
});

test('percentage lists, time windows and region rules: the resolver decides, per cart', async () => {
  const pct = await product({ variants: [{ sku: uniq('PCT'), prices: [{ currency_code: 'eur', amount: 1000 }, { currency_code: 'usd', amount: 1100 }], inventory: [], manage_inventory: false }] });
  const v = pct.variants[0].id;
  const off = await A('POST', '/v1/admin/price-lists', { title: 'Quarter off', kind: 'sale', percent_off_bp: 2500, product_ids: [pct.id] });
  assert.equal(off.status, 201, off.text);
  const later = await A('POST', '/v1/admin/price-lists', { title: 'Next year', kind: 'sale', starts_at: '2099-01-01T00:00:00Z', product_ids: [pct.id] });
  assert.equal(later.status, 201, later.text);
  await A('POST', `/v1/admin/price-lists/${later.body.id}/prices`, { upsert: [{ variant_id: v, currency_code: 'eur', amount: 10 }] });
  const usOnly = await A('POST', '/v1/admin/price-lists', { title: 'US deal', kind: 'override', rules: { region: [us.id] } });
  await A('POST', `/v1/admin/price-lists/${usOnly.body.id}/prices`, { upsert: [{ variant_id: v, currency_code: 'usd', amount: 999 }] });
  const c = await guestCart({ items: [{ variant_id: v, quantity: 2 }] });
  const l = c.items[0];
  assert.deepEqual([l.unit_price, l.compare_at_unit_price, l.price_list_id, l.price_type, c.total], [750, 1000, off.body.id, 'sale', 1500],
    'a quarter off; the list that starts in 2099 does not apply');
  let r = await s.client.patch(`/v1/store/carts/${c.id}`, { currency_code: 'usd' });
  assert.deepEqual([r.body.items[0].unit_price, r.body.items[0].price_list_id], [825, off.body.id], 'no region: the US override does not apply');
  r = await s.client.patch(`/v1/store/carts/${c.id}`, { region_id: us.id });
  assert.deepEqual([r.body.items[0].unit_price, r.body.items[0].price_type, r.body.total], [999, 'override', 1998], 'in the US region it does');
});

test('a cart holds at most 250 lines', async () => {
  const [{ id: pid }] = await s.sql("INSERT INTO products (title, handle, status) VALUES ('Many', $1, 'active') RETURNING id", [uniq('many')]);
  await s.sql('INSERT INTO product_sales_channels (product_id, sales_channel_id) VALUES ($1, $2)', [pid, s.channel]);
  const vs = await s.sql("INSERT INTO product_variants (product_id, title, sku, manage_inventory) SELECT $1, 'v' || g, $2 || g, false FROM generate_series(1, 251) g RETURNING id", [pid, uniq('MANY')]);
  await s.sql("INSERT INTO prices (variant_id, currency_code, amount) SELECT id, 'eur', 100 FROM product_variants WHERE product_id = $1", [pid]);
  const ids = vs.map((x) => x.id).sort();
  const c = await guestCart({ items: ids.slice(0, 250).map((variant_id) => ({ variant_id, quantity: 1 })) });
  assert.deepEqual([c.items.length, c.total, c.item_count], [250, 25000, 250]);
  let r = await s.client.post(`/v1/store/carts/${c.id}/line-items`, { variant_id: ids[250], quantity: 1 });
  assert.equal(r.status, 422, r.text);
  assert.deepEqual(r.body.errors.map((e) => [e.pointer, e.code]), [['/variant_id', 'too_many']]);
  r = await s.client.post(`/v1/store/carts/${c.id}/line-items`, { variant_id: ids[0], quantity: 1 });
  assert.equal(r.status, 200, 'adding to an existing line is still fine');
  assert.equal(r.body.total, 25100);
});

test('concurrent adds to one cart lose nothing: the cart row lock serializes them', async () => {
  const c = await guestCart();
  const rs = await Promise.all(Array.from({ length: 20 }, (_, i) =>
    s.client.post(`/v1/store/carts/${c.id}/line-items`, { variant_id: i % 2 ? V.tee : V.teeL, quantity: 1 })));
  assert.deepEqual([...new Set(rs.map((r) => r.status))], [200], rs.map((r) => r.text).join('\n').slice(0, 500));
  const g = (await s.client.get(`/v1/store/carts/${c.id}`)).body;
  assert.deepEqual(g.items.map((l) => [l.variant_id, l.quantity]).sort(), [[V.tee, 10], [V.teeL, 10]].sort());
  assert.equal(g.total, 10 * 900 + 10 * 500, 'the tee line reached its 10-unit tier');
});

test('the version check under If-Match: a change between the read and the write is refused (SQ412)', async () => {
  const c = await guestCart({ items: [{ variant_id: V.tee, quantity: 1 }] });
  const [{ version }] = await s.sql('SELECT version FROM carts WHERE id = $1', [c.id]);
  const call = (v) => s.sql("SELECT souq_cart_update($1, $2, NULL, 2592000, $3, '{\"note\":\"x\"}'::jsonb)", [c.id, s.channel, v]);
  await assert.rejects(call(version - 1), (e) => e.code === 'SQ412');
  await call(version);
  await assert.rejects(call(version), (e) => e.code === 'SQ412', 'the change bumped the version');
  assert.equal((await s.client.get(`/v1/store/carts/${c.id}`)).body.note, 'x');
});

test('the cart id is a secret: never cached, shortened in the access log', async () => {
  const r = await s.client.post('/v1/store/carts', {});
  assert.equal(r.headers.get('cache-control'), 'no-store');
  const id = r.body.id;
  const g = await s.client.get(`/v1/store/carts/${id}`);
  assert.equal(g.headers.get('cache-control'), 'no-store');
  await s.client.patch(`/v1/store/carts/${id}`, { note: 'n' });
  await s.client.get(`/v1/store/carts/${id}/line-items/nope`, { raw: true });
  await new Promise((res) => setTimeout(res, 100)); // let the log lines arrive (not a timing assertion)
  assert.match(s.server.log, new RegExp(`"path":"/v1/store/carts/${id.slice(0, 9).replace(/[-]/g, '\\-')}\\.\\.\\.","route":"/v1/store/carts/\\{id\\}"`));
  assert.ok(!s.server.log.includes(id), 'the whole id never reaches the log');
});

// Creations coalesced (core/db.h, migrations/0042): carts created by concurrent requests go to PostgreSQL many per
// statement; a request the set-based checks refuse runs alone. Every request must get exactly the answer it gets
// alone, and nothing of a refused request may be written.
test('concurrent creations are coalesced, and each answer is the one the request gets alone', async () => {
  const bodies = [
    { items: [{ variant_id: V.tee, quantity: 1 }] },
    { items: [{ variant_id: V.tee, quantity: 2 }, { variant_id: V.teeL, quantity: 1 }, { variant_id: V.tee, quantity: 9 }] },
    { email: 'Mixed@Example.com', note: 'gift', metadata: { k: 'v' }, currency_code: 'usd', items: [{ variant_id: V.teeL, quantity: 3 }] },
    { region_id: eu.id, items: [{ variant_id: V.euOnly, quantity: 1 }, { variant_id: V.sale, quantity: 1 }] },
    { items: [{ variant_id: V.backorder, quantity: 40 }] },
    { shipping_address: { first_name: 'A', last_name: 'B', address_1: 'Main 1', city: 'Berlin', postal_code: '10115', country_code: 'de' }, items: [{ variant_id: V.tee, quantity: 1 }] },
    {},
    // refusals, each with its pointer
    { items: [{ variant_id: V.tee, quantity: 1 }, { variant_id: V.draft, quantity: 1 }] },
    { items: [{ variant_id: V.unpriced, quantity: 1 }] },
    { items: [{ variant_id: V.few, quantity: 2 }, { variant_id: V.few, quantity: 1 }] },
    { items: [{ variant_id: V.elsewhere, quantity: 1 }] },
    { items: [{ variant_id: 'var_01zzzzzzzzzzzzzzzzzzzzzzzz', quantity: 1 }] },
    { currency_code: 'usd', items: [{ variant_id: V.euOnly, quantity: 1 }] },
    { region_id: 'reg_01zzzzzzzzzzzzzzzzzzzzzzzz' },
    { region_id: eu.id, currency_code: 'usd' },
    { items: [{ variant_id: V.backorder, quantity: 6000 }, { variant_id: V.backorder, quantity: 5000 }] },
  ];
  // what a cart answer says, without what differs between two carts of one body
  const shape = (r) => {
    if (r.status !== 201) return { status: r.status, body: r.body };
    const { id, created_at, updated_at, expires_at, ...rest } = r.body;
    return { status: 201, cart: { ...rest, items: rest.items.map(({ id: _i, created_at: _c, updated_at: _u, ...l }) => l) } };
  };
  // the baseline: what the one-by-one path (souq_cart_create, 0012/0016) makes of each body, read back through the API;
  // refusals are always answered by that path (a refused call runs alone), so their baseline is a lone request's
  const alone = [];
  for (const b of bodies) {
    const lone = await s.client.post('/v1/store/carts', b);
    if (lone.status !== 201) { alone.push(shape(lone)); continue; }
    const id = `cart_${randomBytes(32).toString('base64url').slice(0, 43)}`;
    await s.sql('SELECT souq_cart_create($1, $2, NULL, $3::jsonb)', [id, s.channel, JSON.stringify(b)]);
    const made = await s.client.get(`/v1/store/carts/${id}`);
    assert.equal(made.status, 200, made.text);
    assert.deepEqual(shape({ ...made, status: 201 }), shape(lone), 'a lone request makes the cart souq_cart_create makes');
    alone.push(shape(lone));
  }
  assert.deepEqual(alone.map((a) => a.status), [201, 201, 201, 201, 201, 201, 201, 422, 422, 409, 422, 422, 422, 422, 422, 422]);
  const cartsNow = async () => Number((await s.sql('SELECT count(*) AS n FROM carts'))[0].n);
  let shared = false; // some carts of one round were created by one statement (one transaction: one xmin)
  for (let round = 0; round < 5 && !shared; round++) {
    const n0 = await cartsNow();
    const order = [...bodies.keys(), ...bodies.keys(), ...bodies.keys()].sort(() => Math.random() - 0.5);
    const answers = await Promise.all(order.map((i) => s.client.post('/v1/store/carts', bodies[i])));
    answers.forEach((r, j) => {
      const got = shape(r);
      // error bodies name their request
      if (got.status !== 201) { delete got.body.request_id; delete alone[order[j]].body?.request_id; }
      assert.deepEqual(got, alone[order[j]], `body ${order[j]}`);
    });
    const created = answers.filter((r) => r.status === 201);
    assert.equal(await cartsNow(), n0 + created.length, 'a refused request writes nothing');
    // since 0043 a creation's answer is the view over the rows its statement inserted (cart_create_many), and its first
    // line's id is made in C: every answer must be what the tables then show, with ids of souq_id's format
    for (const r of created) {
      assert.deepEqual((await s.client.get(`/v1/store/carts/${r.body.id}`)).body, r.body);
      for (const l of r.body.items) assert.match(l.id, /^cali_[0-9a-hjkmnp-tv-z]{26}$/);
    }
    const tx = await s.sql('SELECT count(DISTINCT xmin::text) AS n FROM carts WHERE id = ANY($1)', [created.map((r) => r.body.id)]);
    shared = Number(tx[0].n) < created.length;
  }
  assert.ok(shared, 'some carts of concurrent requests were created together, by one statement');
  const m = await (await fetch(`${s.url}/metrics`)).text();
  assert.match(m, /^souq_db_coalesced_calls_total\{thread="\d+"\} [1-9]\d*$/m);
});
