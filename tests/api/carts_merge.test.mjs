// carts_merge.test.mjs: cart addresses (the address book's rules, the region's countries, copies from the
// address book) and attaching a guest cart to the logged-in customer, merging the customer's previous cart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, staffLogin, newCustomer, Client } from './lib/harness.mjs';

let s, t, other; // other: a client of a second sales channel
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json) => s.client.request(method, path, { pk: null, token: t, json });
let seq = 0;
const uniq = (p) => `${p}-${process.pid}-${++seq}`;
const V = {};
let eu, us;

async function product(body) {
  const r = await A('POST', '/v1/admin/products', { title: uniq('Thing'), status: 'active', ...body });
  assert.equal(r.status, 201, r.text);
  return r.body;
}

before(async () => {
  s = await startStack();
  t = (await staffLogin(s.client)).access_token;
  eu = (await A('POST', '/v1/admin/regions', { name: 'EU', currency_code: 'eur', countries: ['de', 'fr'] })).body;
  us = (await A('POST', '/v1/admin/regions', { name: 'US', currency_code: 'usd', countries: ['us'] })).body;
  const loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Berlin' })).body.id;
  const stock = (n) => [{ location_id: loc, quantity: n }];
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
  const ch2 = await A('POST', '/v1/admin/sales-channels', { name: 'Wholesale' });
  const key = await A('POST', '/v1/admin/api-keys', { type: 'publishable', title: 'B2B shop', sales_channel_id: ch2.body.id });
  assert.equal(key.status, 201, key.text);
  other = new Client(s.url, key.body.token);
  const both = [s.channel, ch2.body.id];
  const mk = async (sku, prices, inventory, extra = {}) =>
    (await product({ sales_channel_ids: both, variants: [{ sku: uniq(sku), prices, inventory, ...extra }] })).variants[0].id;
  const eur = (n) => [{ currency_code: 'eur', amount: n }, { currency_code: 'usd', amount: n + 100 }];
  V.tee = await mk('TEE', eur(1000), stock(100));
  V.cap = await mk('CAP', eur(500), stock(100));
  V.few = await mk('FEW', eur(100), stock(2));
  V.bo = await mk('BO', eur(100), stock(0), { allow_backorder: true });
  V.euOnly = await mk('EU', [{ currency_code: 'eur', amount: 300 }], stock(100));
  V.gone = await mk('GONE', eur(700), stock(100));
});
after(async () => s && (await s.stop()));

const cartOf = async (body = {}, token, client = s.client) => {
  const r = await client.post('/v1/store/carts', body, { token });
  assert.equal(r.status, 201, r.text);
  return r.body;
};
const qty = (cart) => Object.fromEntries(cart.items.map((l) => [l.variant_id, l.quantity]));
const attach = (id, token, { client = s.client, ...opts } = {}) => client.request('POST', `/v1/store/carts/${id}/customer`, { token, ...opts });
const ADDR = { first_name: 'Ann', last_name: 'Lee', company: null, address_1: 'Unter den Linden 1', address_2: 'Hof 2', city: 'Berlin',
  province: 'BE', postal_code: '10117', country_code: 'DE', phone: '+49 30 1234567' };
const stored = (a) => ({ first_name: null, last_name: null, company: null, address_1: null, address_2: null, city: null, province: null,
  postal_code: null, phone: null, ...a, country_code: a.country_code.toLowerCase() });

test('addresses: set at creation and by PATCH, replaced whole, null clears; country lower-case', async () => {
  const c = await cartOf({ region_id: eu.id, shipping_address: ADDR, billing_address: { country_code: 'US', city: 'Boston' } });
  assert.deepEqual(c.shipping_address, stored(ADDR));
  assert.deepEqual(c.billing_address, stored({ country_code: 'us', city: 'Boston' }), 'billing may be anywhere; unset keys are null');
  let r = await s.client.patch(`/v1/store/carts/${c.id}`, { shipping_address: { country_code: 'fr', postal_code: '75001' } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.shipping_address, stored({ country_code: 'fr', postal_code: '75001' }), 'a new address replaces the old one as a whole');
  assert.deepEqual(r.body.billing_address, stored({ country_code: 'us', city: 'Boston' }), 'untouched');
  r = await s.client.patch(`/v1/store/carts/${c.id}`, { billing_address: null });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.billing_address, null);
  const g = await s.client.get(`/v1/store/carts/${c.id}`);
  assert.deepEqual([g.body.shipping_address.country_code, g.body.billing_address], ['fr', null]);
  assert.equal(g.headers.get('etag'), r.headers.get('etag'));
  const noRegion = await cartOf({ currency_code: 'eur', shipping_address: { country_code: 'jp' } });
  assert.equal(noRegion.shipping_address.country_code, 'jp', 'without a region any country is fine');
});

test('addresses: every bad input is a 422 with its pointer, and changes nothing', async () => {
  const c = await cartOf({ region_id: eu.id, shipping_address: ADDR });
  const etag = (await s.client.get(`/v1/store/carts/${c.id}`)).headers.get('etag');
  const long = (n) => 'x'.repeat(n);
  const bad = [
    [{ shipping_address: { ...ADDR, country_code: 'xx' } }, 'validation-failed', '/shipping_address/country_code', 'invalid_value'],
    [{ shipping_address: { ...ADDR, country_code: 'deu' } }, 'validation-failed', '/shipping_address/country_code'],
    [{ billing_address: { country_code: 'zz' } }, 'validation-failed', '/billing_address/country_code'],
    [{ shipping_address: { ...ADDR, street: 'x' } }, 'unknown-field', '/shipping_address/street', 'unknown_field'],
    [{ shipping_address: { ...ADDR, id: 'addr_01zzzzzzzzzzzzzzzzzzzzzzzz' } }, 'unknown-field', '/shipping_address/id'],
    [{ shipping_address: { ...ADDR, first_name: long(101) } }, 'validation-failed', '/shipping_address/first_name'],
    [{ shipping_address: { ...ADDR, last_name: long(101) } }, 'validation-failed', '/shipping_address/last_name'],
    [{ shipping_address: { ...ADDR, company: long(201) } }, 'validation-failed', '/shipping_address/company'],
    [{ shipping_address: { ...ADDR, address_1: long(201) } }, 'validation-failed', '/shipping_address/address_1'],
    [{ shipping_address: { ...ADDR, address_2: long(201) } }, 'validation-failed', '/shipping_address/address_2'],
    [{ shipping_address: { ...ADDR, city: long(101) } }, 'validation-failed', '/shipping_address/city'],
    [{ shipping_address: { ...ADDR, province: long(101) } }, 'validation-failed', '/shipping_address/province'],
    [{ shipping_address: { ...ADDR, postal_code: long(21) } }, 'validation-failed', '/shipping_address/postal_code'],
    [{ shipping_address: { ...ADDR, phone: 'call me' } }, 'validation-failed', '/shipping_address/phone'],
    [{ shipping_address: { ...ADDR, city: 'Ber\u0007lin' } }, 'validation-failed', '/shipping_address/city'],
    [{ shipping_address: { first_name: 'Ann' } }, 'validation-failed', '/shipping_address/country_code', 'required'],
    [{ shipping_address: { country_code: null } }, 'validation-failed', '/shipping_address/country_code'],
    [{ shipping_address: { ...ADDR, country_code: 49 } }, 'validation-failed', '/shipping_address/country_code', 'invalid_type'],
    [{ shipping_address: { ...ADDR, address_1: 5 } }, 'validation-failed', '/shipping_address/address_1', 'invalid_type'],
    [{ shipping_address: { ...ADDR, first_name: ['Ann'] } }, 'validation-failed', '/shipping_address/first_name', 'invalid_type'],
    [{ shipping_address: 'Unter den Linden 1, Berlin' }, 'validation-failed', '/shipping_address', 'invalid_type'],
    [{ billing_address: [ADDR] }, 'validation-failed', '/billing_address', 'invalid_type'],
    [{ shipping_address_id: 'nope' }, 'validation-failed', '/shipping_address_id'],
    [{ shipping_address_id: null }, 'validation-failed', '/shipping_address_id'],
    [{ shipping_address: { ...ADDR, country_code: 'us' } }, 'validation-failed', '/shipping_address/country_code', 'not_in_region'],
    [{ region_id: us.id }, 'validation-failed', '/region_id', 'not_in_region'],
    [{ region_id: us.id, shipping_address: ADDR }, 'validation-failed', '/shipping_address/country_code', 'not_in_region'],
    [{ shipping_address_id: 'addr_01zzzzzzzzzzzzzzzzzzzzzzzz' }, 'validation-failed', '/shipping_address_id', 'not_found'],
    [{ shipping_address: ADDR, shipping_address_id: 'addr_01zzzzzzzzzzzzzzzzzzzzzzzz' }, 'validation-failed', '/shipping_address_id', 'not_allowed'],
  ];
  for (const [body, slug, pointer, code] of bad) {
    for (const [m, p] of [['PATCH', `/v1/store/carts/${c.id}`], ['POST', '/v1/store/carts']]) {
      if (m === 'POST' && !('shipping_address' in body || 'shipping_address_id' in body || 'billing_address' in body)) continue; // nothing to refuse in a new cart
      const b = m === 'POST' && !('region_id' in body) ? { region_id: eu.id, ...body } : body;
      const r = await s.client.request(m, p, { json: b });
      assert.equal(r.status, 422, `${m} ${JSON.stringify(b).slice(0, 100)}: ${r.text}`);
      assert.equal(r.body.type, type(slug), r.text);
      const e = r.body.errors.find((x) => x.pointer === pointer);
      assert.ok(e, `${JSON.stringify(b).slice(0, 100)}: ${r.text}`);
      if (code) assert.equal(e.code, code, r.text);
    }
  }
  const g = await s.client.get(`/v1/store/carts/${c.id}`);
  assert.equal(g.headers.get('etag'), etag, 'nothing changed');
  assert.deepEqual([g.body.region_id, g.body.shipping_address], [eu.id, stored(ADDR)]);
  const r = await s.client.patch(`/v1/store/carts/${c.id}`, { region_id: us.id, shipping_address: null });
  assert.deepEqual([r.status, r.body.region_id, r.body.shipping_address], [200, us.id, null], 'clearing the address with the region change is fine');
});

test('addresses from the address book: only the customer\'s own, only on the customer\'s cart', async () => {
  const ann = await newCustomer(s.client);
  const bob = await newCustomer(s.client);
  const saved = await s.client.post('/v1/store/customers/me/addresses', { ...ADDR, is_default_shipping: true, metadata: { door: 'blue' } }, { token: ann.token });
  assert.equal(saved.status, 201, saved.text);
  const bobs = await s.client.post('/v1/store/customers/me/addresses', { ...ADDR, city: 'Paris', country_code: 'fr' }, { token: bob.token });
  const c = await cartOf({ region_id: eu.id, shipping_address_id: saved.body.id }, ann.token);
  assert.deepEqual(c.shipping_address, stored(ADDR), 'a copy of the postal fields (no id, flags or metadata)');
  let r = await s.client.patch(`/v1/store/carts/${c.id}`, { billing_address_id: saved.body.id }, { token: ann.token });
  assert.deepEqual([r.status, r.body.billing_address], [200, stored(ADDR)]);
  r = await s.client.patch(`/v1/store/carts/${c.id}`, { billing_address_id: bobs.body.id }, { token: ann.token });
  assert.deepEqual([r.status, r.body.errors?.[0]?.pointer, r.body.errors?.[0]?.code], [422, '/billing_address_id', 'not_found'], 'another customer\'s address');
  const guest = await cartOf({});
  r = await s.client.patch(`/v1/store/carts/${guest.id}`, { shipping_address_id: saved.body.id }, { token: ann.token });
  assert.deepEqual([r.status, r.body.errors?.[0]?.pointer], [422, '/shipping_address_id'], 'not on a guest cart, even the customer\'s own address');
  r = await s.client.patch(`/v1/store/carts/${guest.id}`, { shipping_address_id: saved.body.id });
  assert.equal(r.status, 422, 'anonymous');
  const us1 = await cartOf({ region_id: us.id }, ann.token);
  r = await s.client.patch(`/v1/store/carts/${us1.id}`, { shipping_address_id: saved.body.id }, { token: ann.token });
  assert.deepEqual([r.status, r.body.errors?.[0]?.pointer, r.body.errors?.[0]?.code], [422, '/shipping_address_id', 'not_in_region']);
  assert.equal((await s.client.get(`/v1/store/carts/${c.id}`, { token: ann.token })).body.billing_address.city, 'Berlin', 'unchanged');
});

test('attach: the guest cart becomes the customer\'s and the previous cart\'s lines are merged into it', async () => {
  const ann = await newCustomer(s.client);
  const old = await cartOf({ items: [{ variant_id: V.tee, quantity: 3 }, { variant_id: V.cap, quantity: 1 }], note: 'old', shipping_address: { country_code: 'de' } }, ann.token);
  const older = await cartOf({ items: [{ variant_id: V.euOnly, quantity: 1 }] }, ann.token);
  await s.sql("UPDATE carts SET updated_at = now() - interval '1 hour' WHERE id = $1", [older.id]);
  const g = await cartOf({ email: 'guest@example.com', note: 'mine', items: [{ variant_id: V.tee, quantity: 2 }] });
  const r = await attach(g.id, ann.token);
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('etag'), /^"[0-9a-f]{32}"$/);
  const c = r.body;
  assert.deepEqual([c.id, c.customer_id, c.email, c.note, c.shipping_address], [g.id, ann.customer.id, ann.email, 'mine', null],
    'only lines move; the email becomes the account\'s');
  assert.deepEqual(qty(c), { [V.tee]: 5, [V.cap]: 1 }, 'quantities of the same variant add up');
  assert.deepEqual([c.total, c.item_count], [5 * 1000 + 500, 6]);
  assert.deepEqual([c.last_merge.lines_merged, c.last_merge.dropped], [2, []]);
  assert.equal(c.items[0].variant_id, V.tee, 'the guest cart\'s lines first');
  for (const token of [ann.token, undefined]) assert.equal((await s.client.get(`/v1/store/carts/${old.id}`, { token })).status, 404, 'the merged cart is gone');
  assert.equal((await s.client.patch(`/v1/store/carts/${old.id}`, { note: 'x' }, { token: ann.token })).status, 404);
  assert.deepEqual(qty((await s.client.get(`/v1/store/carts/${older.id}`, { token: ann.token })).body), { [V.euOnly]: 1 }, 'only the latest other cart is merged');
  assert.equal((await s.client.get(`/v1/store/carts/${g.id}`)).status, 404, 'now a customer cart: the id alone no longer reaches it');
  for (const [body, status, slug] of [['{"a":', 400, 'invalid-json'], ['{"x":1}', 422, 'unknown-field'], ['[]', 422, 'validation-failed']]) {
    const x = await attach(g.id, ann.token, { body, headers: { 'content-type': 'application/json' } });
    assert.deepEqual([x.status, x.body.type], [status, type(slug)], `${body}: ${x.text}`);
  }
  const again = await attach(g.id, ann.token, { json: {} });
  assert.equal(again.status, 200, again.text);
  assert.equal(again.headers.get('etag'), (await s.client.get(`/v1/store/carts/${g.id}`, { token: ann.token })).headers.get('etag'));
  assert.deepEqual(qty(again.body), qty(c), 'attaching the customer\'s own cart again changes nothing');
  const [row] = await s.sql('SELECT merged_into, merged_at IS NOT NULL AS merged FROM carts WHERE id = $1', [old.id]);
  assert.deepEqual([row.merged_into, row.merged], [g.id, true]);
  const g2 = await cartOf({ items: [{ variant_id: V.cap, quantity: 2 }] });
  const r2 = await attach(g2.id, ann.token);
  assert.deepEqual(qty(r2.body), { [V.cap]: 3, [V.tee]: 5 }, 'the next guest cart merges the previous one');
  assert.equal((await s.client.get(`/v1/store/carts/${g.id}`, { token: ann.token })).status, 404);
  const fresh = await newCustomer(s.client);
  const g3 = await cartOf({ items: [{ variant_id: V.cap, quantity: 1 }] });
  const r3 = await attach(g3.id, fresh.token);
  assert.deepEqual([r3.status, r3.body.customer_id, r3.body.last_merge, qty(r3.body)], [200, fresh.customer.id, null, { [V.cap]: 1 }], 'nothing to merge');
});

test('merge caps: 10000 units a line, the channel\'s stock, unsellable and unpriced lines dropped and reported', async () => {
  const ann = await newCustomer(s.client);
  await cartOf({ items: [{ variant_id: V.bo, quantity: 6000 }, { variant_id: V.few, quantity: 2 }, { variant_id: V.gone, quantity: 4 },
    { variant_id: V.euOnly, quantity: 2 }, { variant_id: V.tee, quantity: 1 }] }, ann.token);
  await s.sql("UPDATE products SET status = 'archived' WHERE id = (SELECT product_id FROM product_variants WHERE id = $1)", [V.gone]);
  const g = await cartOf({ currency_code: 'usd', items: [{ variant_id: V.bo, quantity: 5000 }, { variant_id: V.few, quantity: 1 }] });
  const r = await attach(g.id, ann.token);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(qty(r.body), { [V.bo]: 10000, [V.few]: 2, [V.tee]: 1 });
  const dropped = Object.fromEntries(r.body.last_merge.dropped.map((d) => [d.variant_id, [d.quantity, d.reason]]));
  assert.deepEqual(dropped, {
    [V.bo]: [1000, 'quantity_limit'], [V.few]: [1, 'insufficient_stock'], [V.gone]: [4, 'not_sellable'], [V.euOnly]: [2, 'not_priced'],
  });
  assert.equal(r.body.last_merge.lines_merged, 3);
  assert.equal((await s.client.get(`/v1/store/carts/${g.id}`, { token: ann.token })).body.last_merge.dropped.length, 4, 'the report stays with the cart');
  await s.sql("UPDATE products SET status = 'active' WHERE id = (SELECT product_id FROM product_variants WHERE id = $1)", [V.gone]);
});

test('merge: at most 250 lines', async () => {
  const ann = await newCustomer(s.client);
  const [{ id: pid }] = await s.sql("INSERT INTO products (title, handle, status) VALUES ('Many', $1, 'active') RETURNING id", [uniq('many')]);
  await s.sql('INSERT INTO product_sales_channels (product_id, sales_channel_id) VALUES ($1, $2)', [pid, s.channel]);
  const vs = await s.sql("INSERT INTO product_variants (product_id, title, sku, manage_inventory) SELECT $1, 'v' || g, $2 || g, false FROM generate_series(1, 251) g RETURNING id", [pid, uniq('MANY')]);
  await s.sql("INSERT INTO prices (variant_id, currency_code, amount) SELECT id, 'eur', 100 FROM product_variants WHERE product_id = $1", [pid]);
  const ids = vs.map((x) => x.id).sort();
  await cartOf({ items: [{ variant_id: ids[0], quantity: 1 }, { variant_id: ids[250], quantity: 1 }] }, ann.token);
  const g = await cartOf({ items: ids.slice(0, 250).map((variant_id) => ({ variant_id, quantity: 1 })) });
  const r = await attach(g.id, ann.token);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.items.length, 250);
  assert.equal(qty(r.body)[ids[0]], 2, 'an existing line still grows');
  assert.deepEqual(r.body.last_merge.dropped, [{ variant_id: ids[250], quantity: 1, reason: 'too_many_lines' }]);
});

test('attach refusals: anonymous 401, another customer\'s, another channel\'s, expired, merged or malformed carts 404', async () => {
  const ann = await newCustomer(s.client);
  const bob = await newCustomer(s.client);
  const bobs = await cartOf({ items: [{ variant_id: V.tee, quantity: 1 }] }, bob.token);
  const g = await cartOf({ items: [{ variant_id: V.tee, quantity: 1 }] });
  let r = await attach(g.id, undefined);
  assert.deepEqual([r.status, r.body.type], [401, type('unauthorized')], r.text);
  assert.equal((await attach(g.id, 'not.a.jwt')).status, 401);
  r = await attach(bobs.id, ann.token);
  assert.deepEqual([r.status, r.body.type], [404, type('not-found')], 'another customer\'s cart is a 404, not a 409');
  assert.equal((await attach(g.id, ann.token, { client: other })).status, 404, 'another channel\'s key');
  for (const id of ['cart_' + 'A'.repeat(43), 'cart_short', g.id.slice(0, -1) + (g.id.endsWith('A') ? 'B' : 'A')]) {
    assert.equal((await attach(id, ann.token)).status, 404, id);
  }
  const expired = await cartOf({ items: [{ variant_id: V.tee, quantity: 1 }] });
  await s.sql("UPDATE carts SET updated_at = now() - interval '30 days 1 minute' WHERE id = $1", [expired.id]);
  assert.equal((await attach(expired.id, ann.token)).status, 404, 'expired');
  const g2 = await cartOf({});
  const etag = (await s.client.get(`/v1/store/carts/${g2.id}`)).headers.get('etag');
  r = await attach(g2.id, ann.token, { headers: { 'if-match': '"0123456789abcdef0123456789abcdef"' } });
  assert.deepEqual([r.status, r.body.type], [412, type('precondition-failed')]);
  const still = await s.client.get(`/v1/store/carts/${g2.id}`);
  assert.deepEqual([still.status, still.body.customer_id, still.headers.get('etag')], [200, null, etag], 'refusals change nothing');
  r = await attach(g2.id, ann.token, { headers: { 'if-match': etag } });
  assert.deepEqual([r.status, r.body.customer_id], [200, ann.customer.id]);
  const bobAfter = await s.client.get(`/v1/store/carts/${bobs.id}`, { token: bob.token });
  assert.deepEqual([bobAfter.status, qty(bobAfter.body)], [200, { [V.tee]: 1 }], 'bob\'s cart is untouched');
});

test('merge scope: the previous cart of another channel, an expired one or a completed one is not merged', async () => {
  const ann = await newCustomer(s.client);
  const elsewhere = await cartOf({ items: [{ variant_id: V.bo, quantity: 1 }] }, ann.token, other); // no stock there: a backorder
  const expired = await cartOf({ items: [{ variant_id: V.cap, quantity: 1 }] }, ann.token);
  await s.sql("UPDATE carts SET updated_at = now() - interval '30 days 1 minute' WHERE id = $1", [expired.id]);
  const done = await cartOf({ items: [{ variant_id: V.few, quantity: 1 }] }, ann.token);
  await s.sql('UPDATE carts SET completed_at = now() WHERE id = $1', [done.id]);
  const g = await cartOf({});
  const r = await attach(g.id, ann.token);
  assert.deepEqual([r.status, r.body.items, r.body.last_merge], [200, [], null], r.text);
  const e = await other.request('GET', `/v1/store/carts/${elsewhere.id}`, { token: ann.token });
  assert.deepEqual([e.status, qty(e.body)], [200, { [V.bo]: 1 }], 'the other channel\'s cart is left alone');
  const [x] = await s.sql('SELECT merged_at FROM carts WHERE id = $1', [expired.id]);
  assert.equal(x.merged_at, null);
});

test('concurrent attaches of one customer run one after another: no line is lost or counted twice', async () => {
  const ann = await newCustomer(s.client);
  await cartOf({ items: [{ variant_id: V.cap, quantity: 1 }] }, ann.token);
  const gs = await Promise.all(Array.from({ length: 6 }, () => cartOf({ items: [{ variant_id: V.tee, quantity: 1 }] })));
  const rs = await Promise.all(gs.map((g) => attach(g.id, ann.token)));
  assert.deepEqual([...new Set(rs.map((r) => r.status))], [200], rs.map((r) => r.text).join('\n').slice(0, 400));
  const live = [];
  for (const g of gs) {
    const r = await s.client.get(`/v1/store/carts/${g.id}`, { token: ann.token });
    if (r.status === 200) live.push(r.body);
  }
  assert.equal(live.length, 1, 'each attach merged the previous one: one active cart is left');
  assert.deepEqual(qty(live[0]), { [V.cap]: 1, [V.tee]: 6 });
});
