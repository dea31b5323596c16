// tax_shipping.test.mjs: tax rates and shipping options (admin CRUD and its refusals), the cart's shipping options
// and method (amounts, free shipping, zones, replacement, dropped on an address change), tax of lines and shipping
// (exclusive and inclusive, province > country > region, tax classes), souq_cart_shipping_ready, and every refusal:
// bad ids, foreign carts, invalid options, bad rates, missing permissions, stale If-Match.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, staffLogin, newCustomer, Client } from './lib/harness.mjs';

let s, t, other;
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json, o = {}) => s.client.request(method, path, { pk: null, token: t, json, ...o });
let seq = 0;
const uniq = (p) => `${p}-${process.pid}-${++seq}`;
const V = {};
const R = {}; // tax rates
const O = {}; // shipping options
let eu, us;

async function product(body) {
  const r = await A('POST', '/v1/admin/products', { title: uniq('Thing'), status: 'active', ...body });
  assert.equal(r.status, 201, r.text);
  return r.body.variants[0].id;
}
async function rate(body) {
  const r = await A('POST', '/v1/admin/tax-rates', body);
  assert.equal(r.status, 201, r.text);
  return r.body;
}
async function option(body) {
  const r = await A('POST', '/v1/admin/shipping-options', body);
  assert.equal(r.status, 201, r.text);
  return r.body;
}
const cart = async (body, client = s.client) => {
  const r = await client.post('/v1/store/carts', body);
  assert.equal(r.status, 201, r.text);
  return r.body;
};
const line = (c, v) => c.items.find((l) => l.variant_id === v);
const problem = (r, status, slug, pointer) => {
  assert.equal(r.status, status, r.text);
  assert.equal(r.body.type, type(slug), r.text);
  if (pointer !== undefined) assert.deepEqual(r.body.errors.map((e) => e.pointer), [pointer], r.text);
};

before(async () => {
  s = await startStack();
  t = (await staffLogin(s.client)).access_token;
  eu = (await A('POST', '/v1/admin/regions', { name: 'Europe', currency_code: 'eur', tax_inclusive: true, countries: ['de', 'fr', 'at'] })).body;
  us = (await A('POST', '/v1/admin/regions', { name: 'US', currency_code: 'usd', countries: ['us'] })).body;
  const loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Berlin' })).body.id;
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
  const stock = [{ location_id: loc, quantity: 1000 }];
  V.tee = await product({ variants: [{ sku: uniq('TEE'), prices: [{ currency_code: 'eur', amount: 1190 }, { currency_code: 'usd', amount: 1000 }], inventory: stock }] });
  V.book = await product({ variants: [{ sku: uniq('BOOK'), tax_class: 'reduced', prices: [{ currency_code: 'eur', amount: 1070 }, { currency_code: 'usd', amount: 2000 }], inventory: stock }] });
  V.ebook = await product({ variants: [{ sku: uniq('EBOOK'), requires_shipping: false, manage_inventory: false, prices: [{ currency_code: 'eur', amount: 500 }, { currency_code: 'usd', amount: 500 }] }] });
  const ch2 = await A('POST', '/v1/admin/sales-channels', { name: 'Wholesale' });
  const key = await A('POST', '/v1/admin/api-keys', { type: 'publishable', title: 'B2B', sales_channel_id: ch2.body.id });
  other = new Client(s.url, key.body.token);

  R.euStd = await rate({ region_id: eu.id, rate_bp: 2000, name: 'EU VAT', code: 'VAT' });
  R.deStd = await rate({ country_code: 'DE', rate_bp: 1900, name: 'MwSt. 19%', code: 'MWST' });
  R.deRed = await rate({ country_code: 'de', tax_class: 'reduced', rate_bp: 700, name: 'MwSt. 7%', code: 'MWST7' });
  R.caState = await rate({ country_code: 'us', province_code: 'CA', rate_bp: 725, name: 'California', code: 'CA' });
  R.caDistrict = await rate({ country_code: 'us', province_code: 'ca', rate_bp: 225, name: 'Los Angeles "district"', code: 'CA-LA' });
  R.caShip = await rate({ country_code: 'us', province_code: 'ca', tax_class: 'shipping', rate_bp: 0, name: 'Shipping exempt', code: 'CA-SHIP' });

  O.std = await option({ name: 'Standard', region_id: eu.id, amount: 490, free_over: 5000 });
  O.express = await option({ name: 'Express', region_id: eu.id, amount: 990 });
  O.dePost = await option({ name: 'DE Post', region_id: eu.id, countries: ['DE'], amount: 290 });
  O.off = await option({ name: 'Retired', region_id: eu.id, amount: 100, is_active: false });
  O.usGround = await option({ name: 'Ground', region_id: us.id, amount: 800 });
});
after(async () => s && (await s.stop()));

test('tax rates: create, read, list by place, change with If-Match, delete', async () => {
  assert.deepEqual([R.deStd.object, R.deStd.country_code, R.deStd.region_id, R.deStd.province_code, R.deStd.tax_class, R.deStd.rate_bp],
    ['tax_rate', 'de', null, null, 'standard', 1900]);
  assert.match(R.deStd.id, /^txr_/);
  assert.equal(R.caState.province_code, 'ca', 'stored lower-case');
  const x = await rate({ country_code: 'at', rate_bp: 2000, name: 'USt', code: 'UST', metadata: { erp: 'A1' } });
  let r = await A('GET', `/v1/admin/tax-rates/${x.id}`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, x);
  const etag = r.headers.get('etag');
  r = await A('GET', '/v1/admin/tax-rates?country_code=US');
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.data.map((d) => d.id).sort(), [R.caState.id, R.caDistrict.id, R.caShip.id].sort());
  r = await A('GET', `/v1/admin/tax-rates?region_id=${eu.id}`);
  assert.deepEqual(r.body.data.map((d) => d.id), [R.euStd.id]);
  r = await A('PATCH', `/v1/admin/tax-rates/${x.id}`, { rate_bp: 1000 }, { headers: { 'if-match': '"0123456789abcdef0123456789abcdef"' } });
  problem(r, 412, 'precondition-failed');
  r = await A('PATCH', `/v1/admin/tax-rates/${x.id}`, { rate_bp: 1000, tax_class: 'reduced' }, { headers: { 'if-match': etag } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.rate_bp, r.body.tax_class, r.body.metadata], [1000, 'reduced', { erp: 'A1' }]);
  r = await A('PATCH', `/v1/admin/tax-rates/${x.id}`, { country_code: null, region_id: eu.id });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.country_code, r.body.region_id], [null, eu.id], 'moved from the country to the region');
  assert.equal((await A('DELETE', `/v1/admin/tax-rates/${x.id}`)).status, 204);
  problem(await A('GET', `/v1/admin/tax-rates/${x.id}`), 404, 'not-found');
  problem(await A('DELETE', `/v1/admin/tax-rates/${x.id}`), 404, 'not-found');
});

test('tax rates: bad rates and places are 422 with their pointer, a taken code 409, and nothing is written', async () => {
  const before = (await s.sql('SELECT count(*)::int AS n FROM tax_rates'))[0].n;
  const ok = { country_code: 'fr', rate_bp: 2000, name: 'TVA', code: 'TVA' };
  for (const [body, slug, pointer] of [
    [{ ...ok, rate_bp: 10001 }, 'validation-failed', '/rate_bp'],
    [{ ...ok, rate_bp: -1 }, 'validation-failed', '/rate_bp'],
    [{ ...ok, rate_bp: '20' }, 'validation-failed', '/rate_bp'],
    [{ ...ok, rate_bp: 19.5 }, 'validation-failed', '/rate_bp'],
    [{ country_code: 'fr', name: 'TVA', code: 'TVA' }, 'validation-failed', '/rate_bp'],
    [{ ...ok, country_code: undefined }, 'validation-failed', '/region_id'],
    [{ ...ok, region_id: eu.id }, 'validation-failed', '/country_code'],
    [{ ...ok, country_code: 'xx' }, 'validation-failed', '/country_code'],
    [{ ...ok, country_code: undefined, region_id: eu.id, province_code: 'by' }, 'validation-failed', '/province_code'],
    [{ ...ok, province_code: 'a b' }, 'validation-failed', '/province_code'],
    [{ ...ok, tax_class: 'Reduced Rate' }, 'validation-failed', '/tax_class'],
    [{ ...ok, country_code: undefined, region_id: 'reg_01zzzzzzzzzzzzzzzzzzzzzzzz' }, 'validation-failed', '/region_id'],
    [{ ...ok, code: '' }, 'validation-failed', '/code'],
    [{ ...ok, percent: 20 }, 'unknown-field', '/percent'],
    [{ country_code: 'de', rate_bp: 1600, name: 'dup', code: 'MWST' }, 'already-exists', '/code'],
  ]) {
    const r = await A('POST', '/v1/admin/tax-rates', body);
    problem(r, slug === 'already-exists' ? 409 : 422, slug, pointer);
  }
  let r = await A('PATCH', `/v1/admin/tax-rates/${R.deStd.id}`, { region_id: eu.id });
  problem(r, 422, 'validation-failed', '/region_id'); // a rate is for a region or a country, not both
  r = await A('PATCH', `/v1/admin/tax-rates/${R.deStd.id}`, { rate_bp: 20000 });
  problem(r, 422, 'validation-failed', '/rate_bp');
  assert.equal((await s.sql('SELECT count(*)::int AS n FROM tax_rates'))[0].n, before);
  assert.equal((await A('GET', `/v1/admin/tax-rates/${R.deStd.id}`)).body.rate_bp, 1900, 'unchanged');
  for (const id of ['txr_nope', 'reg_01zzzzzzzzzzzzzzzzzzzzzzzz', 'txr_01zzzzzzzzzzzzzzzzzzzzzzzz']) {
    problem(await A('GET', `/v1/admin/tax-rates/${id}`), 404, 'not-found');
    problem(await A('PATCH', `/v1/admin/tax-rates/${id}`, { rate_bp: 1 }), 404, 'not-found');
  }
  problem(await A('GET', '/v1/admin/tax-rates?country_code=deu'), 400, 'invalid-parameter');
});

test('shipping options: create, read, list, change, delete; refusals', async () => {
  assert.deepEqual([O.dePost.object, O.dePost.countries, O.dePost.provider, O.dePost.amount, O.dePost.free_over, O.dePost.is_active],
    ['shipping_option', ['de'], 'flat_rate', 290, null, true]);
  const x = await option({ name: 'Pallet', region_id: us.id, amount: 9900, free_over: 0 });
  let r = await A('GET', `/v1/admin/shipping-options/${x.id}`);
  assert.deepEqual(r.body, x);
  r = await A('GET', `/v1/admin/shipping-options?region_id=${us.id}`);
  assert.deepEqual(r.body.data.map((d) => d.id), [x.id, O.usGround.id]);
  r = await A('PATCH', `/v1/admin/shipping-options/${x.id}`, { amount: 9000, free_over: null, countries: ['US'] }, { headers: { 'if-match': '"00000000000000000000000000000000"' } });
  problem(r, 412, 'precondition-failed');
  r = await A('PATCH', `/v1/admin/shipping-options/${x.id}`, { amount: 9000, free_over: null, countries: ['US'] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.amount, r.body.free_over, r.body.countries], [9000, null, ['us']]);
  const before = (await s.sql('SELECT count(*)::int AS n FROM shipping_options'))[0].n;
  const ok = { name: 'X', region_id: eu.id, amount: 100 };
  for (const [body, slug, pointer] of [
    [{ ...ok, countries: ['us'] }, 'validation-failed', '/countries'],
    [{ ...ok, countries: ['zz'] }, 'validation-failed', '/countries/0'],
    [{ ...ok, region_id: 'reg_01zzzzzzzzzzzzzzzzzzzzzzzz' }, 'validation-failed', '/region_id'],
    [{ ...ok, amount: -1 }, 'validation-failed', '/amount'],
    [{ ...ok, amount: '1.00' }, 'validation-failed', '/amount'],
    [{ ...ok, free_over: -5 }, 'validation-failed', '/free_over'],
    [{ ...ok, provider: 'ups' }, 'validation-failed', '/provider'],
    [{ region_id: eu.id, amount: 100 }, 'validation-failed', '/name'],
    [{ ...ok, price: 1 }, 'unknown-field', '/price'],
  ]) {
    problem(await A('POST', '/v1/admin/shipping-options', body), 422, slug, pointer);
  }
  problem(await A('PATCH', `/v1/admin/shipping-options/${x.id}`, { countries: ['de'] }), 422, 'validation-failed', '/countries');
  assert.equal((await s.sql('SELECT count(*)::int AS n FROM shipping_options'))[0].n, before);
  assert.equal((await A('DELETE', `/v1/admin/shipping-options/${x.id}`)).status, 204);
  for (const id of [x.id, 'so_bad', 'txr_01zzzzzzzzzzzzzzzzzzzzzzzz']) {
    problem(await A('GET', `/v1/admin/shipping-options/${id}`), 404, 'not-found');
    problem(await A('DELETE', `/v1/admin/shipping-options/${id}`), 404, 'not-found');
  }
});

test('admin routes need settings permissions: 403 for a key without the scope, 401 without credentials', async () => {
  const mk = async (scopes) => (await A('POST', '/v1/admin/api-keys', { type: 'secret', title: uniq('k'), scopes })).body.token;
  const none = await mk(['customers:read']), reader = await mk(['settings:read']);
  for (const base of ['/v1/admin/tax-rates', '/v1/admin/shipping-options']) {
    const id = base.includes('tax') ? R.deStd.id : O.std.id;
    for (const [m, p, body] of [['GET', base], ['GET', `${base}/${id}`], ['POST', base, { name: 'x' }], ['PATCH', `${base}/${id}`, { name: 'x' }], ['DELETE', `${base}/${id}`]]) {
      problem(await s.client.request(m, p, { pk: null, token: none, json: body }), 403, 'forbidden');
      const r = await s.client.request(m, p, { pk: null, token: reader, json: body });
      if (m === 'GET') assert.equal(r.status, 200, r.text);
      else problem(r, 403, 'forbidden');
      problem(await s.client.request(m, p, { pk: null, json: body }), 401, 'unauthorized');
    }
  }
  assert.equal((await A('GET', `/v1/admin/tax-rates/${R.deStd.id}`)).status, 200, 'nothing was deleted');
});

test('exclusive tax: the province\'s rates beat the country\'s, every rate applies, shipping has its own class', async () => {
  let c = await cart({ region_id: us.id, shipping_address: { country_code: 'us', province: 'CA' }, items: [{ variant_id: V.tee, quantity: 3 }, { variant_id: V.book, quantity: 1 }] });
  assert.equal(c.tax_inclusive, false);
  const tee = line(c, V.tee), book = line(c, V.book);
  // 3000 x 7.25% = 217.5 -> 218; x 2.25% = 67.5 -> 68 (half up). The book's class "reduced" has no rate here: standard.
  assert.deepEqual(tee.tax_lines.map((x) => [x.rate_id, x.code, x.rate_bp, x.amount]), [[R.caState.id, 'CA', 725, 218], [R.caDistrict.id, 'CA-LA', 225, 68]]);
  assert.equal(tee.tax_lines[1].name, 'Los Angeles "district"');
  assert.deepEqual([tee.tax_total, tee.total], [286, 3286]);
  assert.deepEqual([book.tax_total, book.total], [145 + 45, 2190]);
  assert.deepEqual([c.item_subtotal, c.tax_total, c.shipping_tax_total, c.total], [5000, 476, 0, 5476]);
  let r = await s.client.post(`/v1/store/carts/${c.id}/shipping-methods`, { option_id: O.usGround.id });
  assert.equal(r.status, 200, r.text);
  c = r.body;
  assert.deepEqual(c.shipping_methods.map((m) => [m.shipping_option_id, m.name, m.provider, m.amount, m.tax_total]), [[O.usGround.id, 'Ground', 'flat_rate', 800, 0]]);
  assert.deepEqual(c.shipping_methods[0].tax_lines.map((x) => [x.rate_id, x.amount]), [[R.caShip.id, 0]], 'the shipping class rate, 0 bp');
  assert.deepEqual([c.shipping_total, c.shipping_tax_total, c.tax_total, c.total, c.amount_due], [800, 0, 476, 6276, 6276]);
  // another state: no rate for the place, none for the region either
  r = await s.client.patch(`/v1/store/carts/${c.id}`, { shipping_address: { country_code: 'us', province: 'NY' } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.tax_total, line(r.body, V.tee).tax_lines, r.body.total], [0, [], 5800]);
});

test('inclusive tax: the tax inside the prices, the country\'s classes, the region\'s default elsewhere', async () => {
  const c = await cart({ region_id: eu.id, shipping_address: { country_code: 'de' }, items: [{ variant_id: V.tee, quantity: 1 }, { variant_id: V.book, quantity: 1 }] });
  assert.equal(c.tax_inclusive, true);
  const tee = line(c, V.tee), book = line(c, V.book);
  assert.deepEqual(tee.tax_lines.map((x) => [x.rate_id, x.amount]), [[R.deStd.id, 190]]); // 1190 x 1900 / 11900
  assert.deepEqual(book.tax_lines.map((x) => [x.rate_id, x.amount]), [[R.deRed.id, 70]]); // 1070 x 700 / 10700
  assert.deepEqual([tee.total, book.total, c.tax_total, c.total], [1190, 1070, 260, 2260], 'prices already hold the tax');
  let r = await s.client.patch(`/v1/store/carts/${c.id}`, { shipping_address: { country_code: 'fr' } });
  // France has no rate of its own: the region's default 20% for both classes: 1190 x 2000 / 12000 = 198.3, 1070 -> 178.3
  assert.deepEqual(r.body.items.map((l) => l.tax_lines.map((x) => [x.rate_id, x.amount])), [[[R.euStd.id, 198]], [[R.euStd.id, 178]]]);
  r = await s.client.patch(`/v1/store/carts/${c.id}`, { shipping_address: null });
  assert.deepEqual([r.body.tax_total, r.body.total], [376, 2260], 'no address: the region default');
  // a cart without region_id is taxed in the region of its shipping country (it sells in the cart's currency)
  const g = await cart({ currency_code: 'eur', shipping_address: { country_code: 'de' }, items: [{ variant_id: V.tee, quantity: 1 }] });
  assert.deepEqual([g.region_id, g.tax_inclusive, g.tax_total], [null, true, 190]);
});

test('shipping options of a cart: the region\'s active options, zones need the address, amounts for this cart', async () => {
  const c = await cart({ region_id: eu.id, items: [{ variant_id: V.tee, quantity: 1 }] });
  let r = await s.client.get(`/v1/store/carts/${c.id}/shipping-options`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.data.map((o) => [o.id, o.name, o.amount, o.currency_code, o.selected]), [[O.std.id, 'Standard', 490, 'eur', false], [O.express.id, 'Express', 990, 'eur', false]]);
  assert.equal(r.body.data[0].free_over, 5000);
  const etag = r.headers.get('etag');
  assert.equal((await s.client.get(`/v1/store/carts/${c.id}/shipping-options`, { headers: { 'if-none-match': etag } })).status, 304);
  r = await s.client.patch(`/v1/store/carts/${c.id}`, { shipping_address: { country_code: 'de' } });
  r = await s.client.get(`/v1/store/carts/${c.id}/shipping-options`);
  assert.deepEqual(r.body.data.map((o) => o.id), [O.dePost.id, O.std.id, O.express.id], 'the DE zone option for a German address, cheapest first');
  r = await s.client.post(`/v1/store/carts/${c.id}/line-items`, { variant_id: V.tee, quantity: 4 });
  r = await s.client.get(`/v1/store/carts/${c.id}/shipping-options`);
  assert.deepEqual(r.body.data.map((o) => [o.id, o.amount]), [[O.dePost.id, 290], [O.std.id, 0], [O.express.id, 990]], '5950 reaches free_over');
  const noRegion = await cart({ currency_code: 'usd', shipping_address: { country_code: 'us' } });
  r = await s.client.get(`/v1/store/carts/${noRegion.id}/shipping-options`);
  assert.deepEqual(r.body.data.map((o) => o.id), [O.usGround.id], 'no region_id: the region of the shipping country');
  const nowhere = await cart({ currency_code: 'gbp' });
  r = await s.client.get(`/v1/store/carts/${nowhere.id}/shipping-options`);
  assert.deepEqual(r.body.data, [], 'no region sells in the cart\'s currency: nothing to offer');
});

test('choosing a method: totals, shipping tax, free shipping, replacing, and 422 for options the cart cannot use', async () => {
  let c = await cart({ region_id: eu.id, shipping_address: { country_code: 'de' }, items: [{ variant_id: V.tee, quantity: 1 }] });
  const etag0 = (await s.client.get(`/v1/store/carts/${c.id}`)).headers.get('etag');
  let r = await s.client.post(`/v1/store/carts/${c.id}/shipping-methods`, { option_id: O.std.id });
  assert.equal(r.status, 200, r.text);
  c = r.body;
  const m = c.shipping_methods[0];
  assert.deepEqual([m.object, m.shipping_option_id, m.amount, m.discount_total, m.tax_total], ['cart_shipping_method', O.std.id, 490, 0, 78]); // 490 x 1900 / 11900 = 78.2
  assert.deepEqual(m.tax_lines.map((x) => [x.rate_id, x.amount]), [[R.deStd.id, 78]], 'shipping follows standard (no shipping rate in DE)');
  assert.deepEqual([c.shipping_total, c.shipping_tax_total, c.tax_total, c.total], [490, 78, 268, 1680]);
  assert.notEqual(r.headers.get('etag'), etag0);
  // the stale ETag is refused; the current one is accepted
  r = await s.client.post(`/v1/store/carts/${c.id}/shipping-methods`, { option_id: O.express.id }, { headers: { 'if-match': etag0 } });
  problem(r, 412, 'precondition-failed');
  const etag1 = (await s.client.get(`/v1/store/carts/${c.id}`)).headers.get('etag');
  r = await s.client.post(`/v1/store/carts/${c.id}/shipping-methods`, { option_id: O.express.id }, { headers: { 'if-match': etag1 } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.shipping_methods.map((x) => [x.shipping_option_id, x.amount]), [[O.express.id, 990]], 'replaced, not added');
  r = await s.client.get(`/v1/store/carts/${c.id}/shipping-options`);
  assert.deepEqual(r.body.data.filter((o) => o.selected).map((o) => o.id), [O.express.id]);
  r = await s.client.post(`/v1/store/carts/${c.id}/shipping-methods`, { option_id: O.std.id });
  r = await s.client.post(`/v1/store/carts/${c.id}/line-items`, { variant_id: V.tee, quantity: 4 });
  assert.deepEqual([r.body.shipping_total, r.body.shipping_methods[0].amount, r.body.shipping_tax_total, r.body.total], [0, 0, 0, 5950], 'free over 5000');
  const version = (await s.sql('SELECT version FROM carts WHERE id = $1', [c.id]))[0].version;
  for (const [body, code, slug, pointer] of [
    [{ option_id: O.usGround.id }, 'not_available', 'validation-failed', '/option_id'], // another region's
    [{ option_id: O.off.id }, 'not_available', 'validation-failed', '/option_id'], // inactive
    [{ option_id: 'so_01zzzzzzzzzzzzzzzzzzzzzzzz' }, 'not_found', 'validation-failed', '/option_id'],
    [{ option_id: 'not an id' }, 'invalid_format', 'validation-failed', '/option_id'],
    [{ option_id: 5 }, 'invalid_type', 'validation-failed', '/option_id'],
    [{}, 'required', 'validation-failed', '/option_id'],
    [{ option_id: O.std.id, amount: 0 }, 'unknown_field', 'unknown-field', '/amount'],
  ]) {
    r = await s.client.post(`/v1/store/carts/${c.id}/shipping-methods`, body);
    problem(r, 422, slug, pointer);
    assert.equal(r.body.errors[0].code, code, r.text);
  }
  problem(await s.client.request('POST', `/v1/store/carts/${c.id}/shipping-methods`, { body: '{"option_id":', headers: { 'content-type': 'application/json' } }), 400, 'invalid-json');
  assert.equal((await s.sql('SELECT version FROM carts WHERE id = $1', [c.id]))[0].version, version, 'refusals change nothing');
  // a zone option needs an address in its zone
  const g = await cart({ region_id: eu.id, items: [{ variant_id: V.tee, quantity: 1 }] });
  problem(await s.client.post(`/v1/store/carts/${g.id}/shipping-methods`, { option_id: O.dePost.id }), 422, 'validation-failed', '/option_id');
});

test('an address change that makes the method invalid drops it; a deactivated option is not charged', async () => {
  let c = await cart({ region_id: eu.id, shipping_address: { country_code: 'de' }, items: [{ variant_id: V.tee, quantity: 1 }] });
  let r = await s.client.post(`/v1/store/carts/${c.id}/shipping-methods`, { option_id: O.dePost.id });
  assert.equal(r.body.shipping_total, 290);
  r = await s.client.patch(`/v1/store/carts/${c.id}`, { shipping_address: { country_code: 'at' } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.shipping_methods, r.body.shipping_total], [[], 0], 'DE Post does not ship to Austria');
  assert.equal((await s.sql('SELECT count(*)::int AS n FROM cart_shipping_methods WHERE cart_id = $1', [c.id]))[0].n, 0);
  r = await s.client.post(`/v1/store/carts/${c.id}/shipping-methods`, { option_id: O.std.id });
  r = await s.client.patch(`/v1/store/carts/${c.id}`, { shipping_address: { country_code: 'fr' }, note: 'x' });
  assert.deepEqual(r.body.shipping_methods.map((m) => m.shipping_option_id), [O.std.id], 'still valid in France: kept');
  const x = await option({ name: 'Temp', region_id: eu.id, amount: 111 });
  r = await s.client.post(`/v1/store/carts/${c.id}/shipping-methods`, { option_id: x.id });
  assert.equal(r.body.shipping_total, 111);
  assert.equal((await A('PATCH', `/v1/admin/shipping-options/${x.id}`, { is_active: false })).status, 200);
  r = await s.client.get(`/v1/store/carts/${c.id}`);
  assert.deepEqual([r.body.shipping_methods, r.body.shipping_total], [[], 0], 'not shown, not charged');
  const [{ ready }] = await s.sql('SELECT souq_cart_shipping_ready($1) AS ready', [c.id]);
  assert.equal(ready, false, 'checkout refuses it');
  assert.equal((await A('PATCH', `/v1/admin/shipping-options/${x.id}`, { is_active: true })).status, 200);
  assert.equal((await s.client.get(`/v1/store/carts/${c.id}`)).body.shipping_total, 111, 'back with its option');
  assert.equal((await A('DELETE', `/v1/admin/shipping-options/${x.id}`)).status, 204);
  assert.deepEqual((await s.client.get(`/v1/store/carts/${c.id}`)).body.shipping_methods, []);
});

test('souq_cart_shipping_ready: true without shippable lines or with a valid method', async () => {
  const ready = async (id) => (await s.sql('SELECT souq_cart_shipping_ready($1) AS r', [id]))[0].r;
  const c = await cart({ region_id: eu.id, items: [{ variant_id: V.ebook, quantity: 1 }] });
  assert.equal(await ready(c.id), true, 'nothing to ship');
  await s.client.post(`/v1/store/carts/${c.id}/line-items`, { variant_id: V.tee, quantity: 1 });
  assert.equal(await ready(c.id), false, 'a shippable line and no method');
  await s.client.post(`/v1/store/carts/${c.id}/shipping-methods`, { option_id: O.std.id });
  assert.equal(await ready(c.id), true);
  assert.equal(await ready('cart_nope'), true, 'an unknown cart has nothing to ship (checkout finds no cart first)');
});

test('foreign, unknown and malformed carts are 404 on both routes', async () => {
  const c = await cart({ region_id: eu.id, items: [{ variant_id: V.tee, quantity: 1 }] });
  const ann = await newCustomer(s.client), bob = await newCustomer(s.client);
  const mine = (await s.client.post('/v1/store/carts', { region_id: eu.id }, { token: ann.token })).body;
  for (const [client, id, token] of [
    [other, c.id, undefined], // another sales channel
    [s.client, mine.id, bob.token], // another customer's
    [s.client, mine.id, undefined], // a customer's cart without the token
    [s.client, 'cart_' + 'A'.repeat(43), undefined], // unknown
    [s.client, 'cart_short', undefined], // malformed
  ]) {
    problem(await client.request('GET', `/v1/store/carts/${id}/shipping-options`, { token }), 404, 'not-found');
    problem(await client.request('POST', `/v1/store/carts/${id}/shipping-methods`, { token, json: { option_id: O.std.id } }), 404, 'not-found');
  }
  let r = await s.client.request('POST', `/v1/store/carts/${mine.id}/shipping-methods`, { token: ann.token, json: { option_id: O.std.id } });
  assert.equal(r.status, 200, r.text);
  problem(await s.client.request('GET', `/v1/store/carts/${c.id}/shipping-options`, { pk: null }), 401, 'unauthorized');
  await s.sql("UPDATE carts SET updated_at = now() - interval '31 days' WHERE id = $1", [c.id]);
  problem(await s.client.get(`/v1/store/carts/${c.id}/shipping-options`), 404, 'not-found');
  problem(await s.client.post(`/v1/store/carts/${c.id}/shipping-methods`, { option_id: O.std.id }), 404, 'not-found');
});
