// shipping_plugins.test.mjs: shipping rates from Lua plugins through the running server: the shipping bridge
// (plugins/host/shipping.c) with the ship-fixture plugin (what the plugin gets, every kind of failure only taking
// its option off the cart, checkout refusing a cart whose chosen method its plugin cannot rate now), and the
// bundled shipping-weight-table plugin (bands per country, region and "*", variants' weights, bad settings).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startStack, staffLogin, ROOT } from './lib/harness.mjs';

let s, t, eu, loc, heavy, light, unweighed;
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json) => s.client.request(method, path, { pk: null, token: t, json });
const key = () => crypto.randomUUID();
const de = { first_name: 'Ada', last_name: 'L', address_1: 'Unter den Linden 1', city: 'Berlin', postal_code: '10117', country_code: 'de' };
const fr = { ...de, city: 'Paris', postal_code: '75001', country_code: 'fr' };
const at = { ...de, city: 'Wien', postal_code: '1010', country_code: 'at' };

async function product(sku, weight_g) {
  const r = await A('POST', '/v1/admin/products', { title: `Thing ${sku}`, status: 'active',
    variants: [{ sku: `${sku}-${process.pid}`, weight_g, prices: [{ currency_code: 'eur', amount: 1000 }], inventory: [{ location_id: loc, quantity: 500 }] }] });
  assert.equal(r.status, 201, r.text);
  return r.body.variants[0].id;
}
async function option(body) {
  const r = await A('POST', '/v1/admin/shipping-options', { region_id: eu.id, ...body });
  assert.equal(r.status, 201, r.text);
  return r.body;
}
async function cart(address, items) {
  const r = await s.client.request('POST', '/v1/store/carts', { json: { email: 'buyer@example.com', shipping_address: address, items } });
  assert.equal(r.status, 201, r.text);
  return r.body;
}
const offered = async (id) => {
  const r = await s.client.request('GET', `/v1/store/carts/${id}/shipping-options`);
  assert.equal(r.status, 200, r.text);
  return Object.fromEntries(r.body.data.map((o) => [o.id, o.amount]));
};
const choose = (id, option_id) => s.client.request('POST', `/v1/store/carts/${id}/shipping-methods`, { json: { option_id } });
const metrics = async () => (await s.client.request('GET', '/metrics', { raw: true, pk: null })).text;
const failures = async (plugin, reason) => {
  const m = new RegExp(`^souq_plugin_failures_total\\{plugin="${plugin}",reason="${reason}"\\} (\\d+)$`, 'm').exec(await metrics());
  return m ? Number(m[1]) : 0;
};

before(async () => {
  s = await startStack({ env: { SOUQ_PLUGIN_DIRS: `${ROOT}/plugins,${ROOT}/tests/plugins` } });
  t = (await staffLogin(s.client)).access_token;
  eu = (await A('POST', '/v1/admin/regions', { name: 'EU', currency_code: 'eur', countries: ['de', 'fr', 'at'] })).body;
  loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Berlin' })).body.id;
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
  heavy = await product('HEAVY', 1200);
  light = await product('LIGHT', 250);
  unweighed = await product('NOWEIGHT', null);
});
after(async () => s && (await s.stop()));

test('an option may name a provider an enabled plugin gives; unknown providers are 422 at /provider', async () => {
  let r = await A('POST', '/v1/admin/shipping-options', { name: 'Nope', region_id: eu.id, provider: 'nope', amount: 1 });
  assert.equal(r.status, 422);
  assert.equal(r.body.type, type('validation-failed'));
  assert.deepEqual(r.body.errors.map((e) => [e.pointer, e.code]), [['/provider', 'invalid_value']]);
  r = await A('POST', '/v1/admin/shipping-options', { name: 'Bad', region_id: eu.id, provider: 'Bad-Id!', amount: 1 });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/provider');
  // weight_table is a plugin's (shipping-weight-table), unconfigured and so disabled: not a provider yet
  r = await A('POST', '/v1/admin/shipping-options', { name: 'Weight', region_id: eu.id, provider: 'weight_table', amount: 0 });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/provider');
  assert.equal(Number((await s.sql("SELECT count(*) AS n FROM shipping_options WHERE provider IN ('nope', 'weight_table')"))[0].n), 0);
  const o = await option({ name: 'Fixture', provider: 'fixture', amount: 300 });
  assert.equal(o.provider, 'fixture');
});

test('a plugin rates the option for the cart: it gets the weight of the shipped lines; the cart, checkout and order follow', async () => {
  const o = await option({ name: 'Fixture rated', provider: 'fixture', amount: 200 });
  const c = await cart(de, [{ variant_id: heavy, quantity: 2 }, { variant_id: light, quantity: 1 }, { variant_id: unweighed, quantity: 3 }]);
  assert.deepEqual(c.items.map((l) => l.weight_g), [1200, 250, null], 'lines show their variant\'s weight');
  // 2 x 1200 + 250 = 2650 g -> 27 started hundreds; rate = 2 x 200 + 27
  assert.equal((await offered(c.id))[o.id], 427);
  const m = await choose(c.id, o.id);
  assert.equal(m.status, 200, m.text);
  assert.deepEqual([m.body.shipping_total, m.body.shipping_methods[0].provider, m.body.shipping_methods[0].amount], [427, 'fixture', 427]);
  // a line changes: the rate follows on the next answer
  const line = m.body.items.find((l) => l.variant_id === heavy).id;
  const u = await s.client.request('PATCH', `/v1/store/carts/${c.id}/line-items/${line}`, { json: { quantity: 1 } });
  assert.equal(u.status, 200, u.text);
  assert.equal(u.body.shipping_total, 2 * 200 + 15); // 1450 g
  const r = await s.client.request('POST', `/v1/store/carts/${c.id}/complete`, { json: { payment: { provider: 'manual' } }, headers: { 'idempotency-key': key() } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.shipping_total, 415);
  assert.equal(r.body.total, u.body.total);
});

test('a plugin that fails, spins, answers garbage or declines only takes its option off the cart; the cart still answers', async () => {
  const good = await option({ name: 'Good', provider: 'fixture', amount: 100 });
  const bad = {};
  for (const [what, amount] of [['raises', 666], ['spins', 13], ['number', 7], ['unavailable', 8], ['negative', 9]])
    bad[what] = (await option({ name: `Fixture ${what}`, provider: 'fixture', amount })).id;
  const c = await cart(de, [{ variant_id: light, quantity: 1 }]);
  const before = { error: await failures('ship-fixture', 'error'), timeout: await failures('ship-fixture', 'timeout') };
  const got = await offered(c.id);
  assert.equal(got[good.id], 203);
  for (const [what, id] of Object.entries(bad)) assert.equal(got[id], undefined, `${what}: not offered`);
  assert.equal(await failures('ship-fixture', 'error'), before.error + 3, 'raise, number and negative are counted failures');
  assert.equal(await failures('ship-fixture', 'timeout'), before.timeout + 1);
  // a method the plugin cannot rate is refused when chosen, and an address it does not serve offers nothing
  for (const id of Object.values(bad)) {
    const r = await choose(c.id, id);
    assert.equal(r.status, 200, 'the choice is stored (the database knows the option fits the cart)');
    assert.deepEqual(r.body.shipping_methods, [], 'but the priced cart shows no method');
    assert.equal(r.body.shipping_total, 0);
  }
  const f = await cart(fr, [{ variant_id: light, quantity: 1 }]);
  assert.equal((await offered(f.id))[good.id], undefined, 'nil: not offered for France');
  const h = await s.client.request('GET', '/healthz', { pk: null });
  assert.equal(h.status, 200);
  for (const id of Object.values(bad)) assert.equal((await A('PATCH', `/v1/admin/shipping-options/${id}`, { is_active: false })).status, 200);
});

test('checkout refuses a cart whose chosen method its plugin cannot rate now (422 /shipping_methods); nothing is written', async () => {
  const o = await option({ name: 'Changes', provider: 'fixture', amount: 50 });
  const c = await cart(de, [{ variant_id: light, quantity: 2 }]);
  assert.equal((await choose(c.id, o.id)).status, 200);
  const r0 = await A('PATCH', `/v1/admin/shipping-options/${o.id}`, { amount: 666 });
  assert.equal(r0.status, 200, r0.text);
  const stock = async () => (await s.sql(
    'SELECT l.reserved FROM inventory_levels l JOIN variant_inventory_items v ON v.inventory_item_id = l.inventory_item_id WHERE v.variant_id = $1', [light]))[0].reserved;
  const reserved = await stock();
  const r = await s.client.request('POST', `/v1/store/carts/${c.id}/complete`, { json: { payment: { provider: 'manual' } }, headers: { 'idempotency-key': key() } });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.body.errors[0].pointer, '/shipping_methods');
  assert.equal(Number((await s.sql('SELECT count(*) AS n FROM orders WHERE cart_id = $1', [c.id]))[0].n), 0);
  assert.equal(await stock(), reserved, 'no stock reserved');
  assert.equal((await A('PATCH', `/v1/admin/shipping-options/${o.id}`, { is_active: false })).status, 200);
});

test('shipping-weight-table: bands per country, then region, then "*"; the option amount is a handling fee; free_over applies', async () => {
  let r = await A('PATCH', '/v1/admin/plugins/shipping-weight-table', { config: { zones: {
    de: [{ max_g: 1000, amount: 490 }, { max_g: 5000, amount: 790 }, { amount: 1890 }],
    [eu.id]: [{ max_g: 2000, amount: 1200 }],
    '*': [{ max_g: 500, amount: 2500 }],
  } } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'active');
  const std = await option({ name: 'By weight', provider: 'weight_table', amount: 0 });
  const exp = await option({ name: 'By weight, express', provider: 'weight_table', amount: 500, free_over: 50000 });
  const cases = [
    [de, [{ variant_id: light, quantity: 2 }], 490, 990],            // 500 g in the first German band
    [de, [{ variant_id: light, quantity: 4 }], 490, 990],            // exactly 1000 g: still the first band
    [de, [{ variant_id: light, quantity: 5 }], 790, 1290],           // 1250 g
    [de, [{ variant_id: heavy, quantity: 10 }], 1890, 2390],         // 12 kg: the open-ended band
    [de, [{ variant_id: unweighed, quantity: 9 }], 490, 990],        // no weight counts 0 g (default_weight_g)
    [fr, [{ variant_id: heavy, quantity: 1 }], 1200, 1700],          // France: the region's bands
    [fr, [{ variant_id: heavy, quantity: 2 }], undefined, undefined], // 2400 g: heavier than every band of the zone
  ];
  for (const [addr, items, a, b] of cases) {
    const c = await cart(addr, items);
    const got = await offered(c.id);
    assert.deepEqual([got[std.id], got[exp.id]], [a, b], JSON.stringify([addr.country_code, items]));
  }
  // free_over: express is free once the items reach 500.00 EUR (60 x 10.00)
  const big = await cart(de, [{ variant_id: unweighed, quantity: 60 }]);
  assert.equal((await offered(big.id))[exp.id], 0);
  // unweighed goods get a weight from default_weight_g
  r = await A('PATCH', '/v1/admin/plugins/shipping-weight-table', { config: { default_weight_g: 600 } });
  assert.equal(r.status, 200, r.text);
  const c = await cart(de, [{ variant_id: unweighed, quantity: 2 }]);
  assert.equal((await offered(c.id))[std.id], 790);
  // Austria has no country key: the region's bands serve it before "*"
  const a = await cart(at, [{ variant_id: light, quantity: 1 }]);
  assert.equal((await offered(a.id))[std.id], 1200);
  for (const id of [std.id, exp.id]) assert.equal((await A('PATCH', `/v1/admin/shipping-options/${id}`, { is_active: false })).status, 200);
});

test('shipping-weight-table: settings of the wrong shape never price shipping (the option is not offered, the failure is counted)', async () => {
  const o = await option({ name: 'By weight 2', provider: 'weight_table', amount: 0 });
  let r = await A('PATCH', '/v1/admin/plugins/shipping-weight-table', { config: { zones: 'everywhere' } });
  assert.equal(r.status, 422, 'zones must be an object');
  assert.equal(r.body.errors[0].pointer, '/config/zones');
  r = await A('PATCH', '/v1/admin/plugins/shipping-weight-table', { config: { default_weight_g: -1 } });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/config/default_weight_g');
  for (const zones of [{ de: [{ max_g: 1000, amount: 1.5 }] }, { de: [{ max_g: 1000, amount: 100 }, { max_g: 900, amount: 200 }] },
    { de: [{ amount: 1 }, { max_g: 10, amount: 2 }] }, { de: [] }]) {
    r = await A('PATCH', '/v1/admin/plugins/shipping-weight-table', { config: { zones, default_weight_g: 0 } });
    assert.equal(r.status, 200, r.text);
    const before = await failures('shipping-weight-table', 'error');
    const c = await cart(de, [{ variant_id: heavy, quantity: 1 }]);
    assert.equal((await offered(c.id))[o.id], undefined, JSON.stringify(zones));
    assert.equal(await failures('shipping-weight-table', 'error'), before + 1);
  }
  // disabled: its options are not offered, and no new option may name it
  r = await A('PATCH', '/v1/admin/plugins/shipping-weight-table', { enabled: false, config: { zones: { '*': [{ amount: 100 }] } } });
  assert.equal(r.status, 200, r.text);
  const c = await cart(de, [{ variant_id: light, quantity: 1 }]);
  assert.equal((await offered(c.id))[o.id], undefined);
  r = await A('POST', '/v1/admin/shipping-options', { name: 'Weight again', region_id: eu.id, provider: 'weight_table', amount: 0 });
  assert.equal(r.status, 422);
  r = await A('PATCH', '/v1/admin/plugins/shipping-weight-table', { enabled: true });
  assert.equal(r.status, 200, r.text);
  assert.equal((await offered(c.id))[o.id], 100);
});

test('a plugin\'s tracking answer is checked: its own shipping id, a known status, a tracking number; else 502 and nothing recorded', async () => {
  const hook = (body) => s.client.request('POST', '/v1/hooks/ship-fixture', { pk: null, json: body });
  const cases = [
    [{ id: 'evt_a', provider: 'easypost', tracking_number: 'T1', status: 'delivered' }, 'another plugin\'s provider id'],
    [{ id: 'evt_b', provider: 'flat_rate', tracking_number: 'T1', status: 'delivered' }, 'a built-in provider'],
    [{ id: 'evt_c', tracking_number: 'T1', status: 'delivered' }, 'no provider'],
    [{ id: 'evt_d', provider: 'fixture', tracking_number: 'T1', status: 'teleported' }, 'an unknown status'],
    [{ id: 'evt_e', provider: 'fixture', status: 'delivered' }, 'no tracking number'],
  ];
  for (const [body, what] of cases) {
    const r = await hook(body);
    assert.equal(r.status, 502, `${what}: ${r.text}`);
    assert.equal(r.body.type, type('plugin-failed'));
  }
  assert.equal(Number((await s.sql("SELECT count(*) AS n FROM plugin_webhook_events WHERE plugin = 'ship-fixture'"))[0].n), 0);
  const r = await hook({ id: 'evt_ok', provider: 'fixture', tracking_number: 'T1', status: 'in_transit' });
  assert.deepEqual([r.status, r.body.status], [200, 'applied']);
  assert.deepEqual([(await hook({ id: 'evt_ok', provider: 'fixture', tracking_number: 'T1', status: 'in_transit' })).body.status], ['duplicate']);
});

test('a shipping plugin restricted to other sales channels offers nothing in this one (sales_channels setting)', async () => {
  const o = await option({ name: 'Fixture per channel', provider: 'fixture', amount: 10 });
  const other = await A('POST', '/v1/admin/sales-channels', { name: `Wholesale ${process.pid}` });
  assert.equal(other.status, 201, other.text);
  const c = await cart(de, [{ variant_id: light, quantity: 1 }]);
  assert.equal((await offered(c.id))[o.id], 23);
  let r = await A('PATCH', '/v1/admin/plugins/ship-fixture', { sales_channels: [other.body.id] });
  assert.equal(r.status, 200, r.text);
  assert.equal((await offered(c.id))[o.id], undefined);
  assert.equal((await choose(c.id, o.id)).body.shipping_total, 0, 'a chosen method of that plugin is not charged (nor shown)');
  r = await A('PATCH', '/v1/admin/plugins/ship-fixture', { sales_channels: [other.body.id, s.channel] });
  assert.equal(r.status, 200, r.text);
  assert.equal((await offered(c.id))[o.id], 23);
  r = await A('PATCH', '/v1/admin/plugins/ship-fixture', { sales_channels: null });
  assert.equal(r.status, 200, r.text);
  assert.equal((await A('PATCH', `/v1/admin/shipping-options/${o.id}`, { is_active: false })).status, 200);
});
