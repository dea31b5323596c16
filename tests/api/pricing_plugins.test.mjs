// pricing_plugins.test.mjs: cart pricing adjustments from Lua plugins through the running server (the bridge
// plugins/host/adjust.c, the stage after discounts in core/cart.c): the pricing-fixture plugin of tests/plugins and the
// bundled pricing-bulk-discount. Adjustments on the lines and totals, tax and shipping thresholds on the adjusted
// amounts, what the plugin is given, clamping after a promotion, priority order, the order's snapshot and charge, every
// failure (bad answers, raise, spin) leaving the cart without that plugin's adjustments and counted, sales channel
// restriction, disabling.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startStack, staffLogin, newCustomer, ROOT } from './lib/harness.mjs';

let s, t, eu, loc, variant, cheap, option;
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json) => s.client.request(method, path, { pk: null, token: t, json });
const address = { first_name: 'Ada', last_name: 'L', address_1: 'Unter den Linden 1', city: 'Berlin', postal_code: '10117', country_code: 'de' };
const fixture = (body) => A('PATCH', '/v1/admin/plugins/pricing-fixture', body);
const bulk = (body) => A('PATCH', '/v1/admin/plugins/pricing-bulk-discount', body);
const getCart = async (id) => {
  const r = await s.client.request('GET', `/v1/store/carts/${id}`);
  assert.equal(r.status, 200, r.text);
  return r.body;
};
const metrics = async () => (await s.client.request('GET', '/metrics', { raw: true, pk: null })).text;
const failures = async (plugin, reason) => {
  const m = new RegExp(`^souq_plugin_failures_total\\{plugin="${plugin}",reason="${reason}"\\} (\\d+)$`, 'm').exec(await metrics());
  return m ? Number(m[1]) : 0;
};
const checkout = (id) => s.client.request('POST', `/v1/store/carts/${id}/complete`, { json: { payment: { provider: 'manual' } },
  headers: { 'idempotency-key': crypto.randomUUID() } });
const plugins = (line) => line.adjustments.filter((a) => a.kind === 'plugin');

before(async () => {
  s = await startStack({ env: { SOUQ_PLUGIN_DIRS: `${ROOT}/plugins,${ROOT}/tests/plugins` } });
  t = (await staffLogin(s.client)).access_token;
  eu = (await A('POST', '/v1/admin/regions', { name: 'EU', currency_code: 'eur', countries: ['de'] })).body;
  // free from 2800: a 3000 cart qualifies, the same cart 10% off does not
  option = (await A('POST', '/v1/admin/shipping-options', { name: 'Standard', region_id: eu.id, provider: 'flat_rate', amount: 500, free_over: 2800 })).body.id;
  loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Berlin' })).body.id;
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
  const mk = async (sku, amount) => {
    const r = await A('POST', '/v1/admin/products', { title: `Thing ${sku}`, status: 'active',
      variants: [{ sku: `${sku}-${process.pid}`, prices: [{ currency_code: 'eur', amount }], inventory: [{ location_id: loc, quantity: 1000 }] }] });
    assert.equal(r.status, 201, r.text);
    return r.body.variants[0].id;
  };
  variant = await mk('ADJ', 1000);
  cheap = await mk('ADJ-CHEAP', 100);
  const rate = await A('POST', '/v1/admin/tax-rates', { country_code: 'de', rate_bp: 1900, name: 'MwSt. 19%', code: 'MWST' });
  assert.equal(rate.status, 201, rate.text);
});
after(async () => s && (await s.stop()));

async function readyCart(items = [{ variant_id: variant, quantity: 3 }], token) {
  const r = await s.client.request('POST', '/v1/store/carts', { token, json: { email: 'buyer@example.com', shipping_address: address, items } });
  assert.equal(r.status, 201, r.text);
  const m = await s.client.request('POST', `/v1/store/carts/${r.body.id}/shipping-methods`, { token, json: { option_id: option } });
  assert.equal(m.status, 200, m.text);
  return m.body;
}

test('without an enabled pricing plugin a cart has no plugin adjustments (both are unconfigured)', async () => {
  for (const name of ['pricing-fixture', 'pricing-bulk-discount']) {
    const r = await A('GET', `/v1/admin/plugins/${name}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.status, 'unconfigured');
  }
  const c = await readyCart();
  assert.deepEqual(c.items[0].adjustments, []);
  assert.deepEqual([c.discount_total, c.shipping_total, c.tax_total, c.total], [0, 0, 570, 3570]);
});

test('bad settings are 422 with the field pointer and change nothing', async () => {
  for (const [call, config, pointer] of [[fixture, { mode: 'nonsense' }, '/config/mode'], [bulk, { min_quantity: 1, percent_bp: 1000 }, '/config/min_quantity'],
    [bulk, { min_quantity: 3, percent_bp: 0 }, '/config/percent_bp'], [bulk, { min_quantity: 3, percent_bp: 10001 }, '/config/percent_bp'],
    [bulk, { min_quantity: 3, percent_bp: 1000, code: 'x'.repeat(65) }, '/config/code']]) {
    const r = await call({ config });
    assert.equal(r.status, 422, r.text);
    assert.equal(r.body.type, type('validation-failed'));
    assert.equal(r.body.errors[0].pointer, pointer, r.text);
  }
  assert.equal((await A('GET', '/v1/admin/plugins/pricing-bulk-discount')).body.status, 'unconfigured');
  const r = await bulk({ enabled: true });
  assert.equal(r.status, 422, 'enabling without the required settings is refused');
});

test('an enabled pricing plugin discounts the lines: adjustments, totals, tax on the adjusted amount, shipping threshold', async () => {
  const r = await fixture({ config: { mode: 'ok' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'active');
  const c = await readyCart();
  const l = c.items[0];
  assert.deepEqual(l.adjustments, [{ promotion_id: null, code: 'FX10', amount: 300, description: 'Fixture 10%', kind: 'plugin', plugin: 'pricing-fixture' }]);
  assert.equal(l.discount_total, 300);
  // tax-inclusive? no: the region is exclusive by default; 19% of 2700 and of the shipping that is no longer free
  assert.equal(l.tax_total, 513);
  assert.deepEqual([c.discount_total, c.shipping_total, c.shipping_tax_total], [300, 500, 95]);
  assert.equal(c.total, 3000 - 300 + 500 + 513 + 95);
  // the shipping options list rates on the same adjusted amount
  const o = await s.client.request('GET', `/v1/store/carts/${c.id}/shipping-options`);
  assert.equal(o.status, 200, o.text);
  assert.equal(o.body.data.find((x) => x.id === option).amount, 500);
});

test('checkout charges the adjusted total and the order keeps the plugin adjustments; promotion usage is untouched', async () => {
  await fixture({ config: { mode: 'ok' } });
  const code = `TEN${process.pid}`;
  const p = await A('POST', '/v1/admin/promotions', { code, type: 'percentage', percent_bp: 1000 });
  assert.equal(p.status, 201, p.text);
  const c0 = await readyCart([{ variant_id: variant, quantity: 2 }, { variant_id: cheap, quantity: 5 }]);
  const ap = await s.client.request('POST', `/v1/store/carts/${c0.id}/promotions`, { json: { code } });
  assert.equal(ap.status, 200, ap.text);
  const c = ap.body;
  // promotion 10% first (200 and 50), then the plugin's 10% of the subtotals (200 and 50)
  assert.deepEqual(c.items.map((l) => l.discount_total), [400, 100]);
  assert.deepEqual(c.items[0].adjustments.map((a) => [a.promotion_id, a.code, a.amount, a.kind ?? null]),
    [[p.body.id, code, 200, null], [null, 'FX10', 200, 'plugin']]);
  const o = await checkout(c.id);
  assert.equal(o.status, 201, o.text);
  assert.deepEqual([o.body.discount_total, o.body.total], [c.discount_total, c.total]);
  assert.deepEqual(o.body.items.map((l) => l.adjustments), c.items.map((l) => l.adjustments));
  assert.deepEqual(o.body.items.map((l) => [l.discount_total, l.total]), c.items.map((l) => [l.discount_total, l.total]));
  const pay = await s.sql('SELECT amount FROM payments WHERE order_id = $1', [o.body.id]);
  assert.deepEqual(pay.map((x) => Number(x.amount)), [c.amount_due]);
  const used = await s.sql('SELECT promotion_id, amount FROM promotion_usages WHERE order_id = $1', [o.body.id]);
  assert.deepEqual(used.map((u) => [u.promotion_id, Number(u.amount)]), [[p.body.id, 250]], 'only the promotion is a usage, with its own amount');
});

test('the plugin gets the cart as it stands: currency, region, channel, customer and groups, lines with discounts so far', async () => {
  await fixture({ config: { mode: 'echo' } });
  let c = await readyCart();
  let seen = JSON.parse(plugins(c.items[0])[0].description);
  assert.deepEqual(seen, { c: 'eur', r: true, ch: true, cu: false, g: 0, n: 1, s: 3000, d: 0, i: [1, 3, 1000, 3000, 0], v: true });
  const ann = await newCustomer(s.client);
  const g = await A('POST', '/v1/admin/customer-groups', { name: `Adj ${process.pid}` });
  assert.equal(g.status, 201, g.text);
  assert.equal((await A('POST', `/v1/admin/customer-groups/${g.body.id}/customers`, { add: [ann.customer.id] })).status, 200);
  c = await readyCart([{ variant_id: variant, quantity: 3 }, { variant_id: cheap, quantity: 1 }], ann.token);
  seen = JSON.parse(plugins(c.items[0])[0].description);
  assert.deepEqual([seen.cu, seen.g, seen.n, seen.s], [true, 1, 2, 3100]);
});

test('an adjustment never takes a line below zero: cut to what is left after a promotion, the rest dropped', async () => {
  await fixture({ config: { mode: 'clamp' } });
  const code = `HALF${process.pid}`;
  assert.equal((await A('POST', '/v1/admin/promotions', { code, type: 'percentage', percent_bp: 5000 })).status, 201);
  const c0 = await readyCart();
  const c = (await s.client.request('POST', `/v1/store/carts/${c0.id}/promotions`, { json: { code } })).body;
  const l = c.items[0];
  assert.deepEqual(plugins(l).map((a) => [a.code, a.amount]), [['ALL', 1500]]);
  assert.deepEqual([l.discount_total, l.tax_total, l.total], [3000, 0, 0]);
  assert.equal(c.total, 500 + 95, 'only the shipping (no longer free) and its tax');
});

test('several pricing plugins run highest priority first, each on the cart as the ones before left it', async () => {
  await fixture({ config: { mode: 'ok' } }); // priority 200
  let r = await bulk({ config: { min_quantity: 3, percent_bp: 1000 } }); // priority 100
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'active');
  const c = await readyCart([{ variant_id: variant, quantity: 3 }, { variant_id: cheap, quantity: 2 }]);
  assert.deepEqual(plugins(c.items[0]).map((a) => [a.plugin, a.code, a.amount, a.description]),
    [['pricing-fixture', 'FX10', 300, 'Fixture 10%'], ['pricing-bulk-discount', 'BULK', 270, '10% off 3+ units']]);
  assert.deepEqual(plugins(c.items[1]).map((a) => a.plugin), ['pricing-fixture'], 'below min_quantity: the bulk plugin gives nothing');
  r = await bulk({ enabled: false });
  assert.equal(r.status, 200, r.text);
});

test('a failing or misbehaving plugin is skipped: the cart answers without its adjustments, the failure is counted', async () => {
  await bulk({ config: { min_quantity: 3, percent_bp: 1000 }, enabled: true });
  const c = await readyCart(), other = await readyCart();
  for (const [mode, reason] of [['big', 'error'], ['wrong', 'error'], ['shape', 'error'], ['raise', 'error'], ['spin', 'timeout']]) {
    await fixture({ config: { mode } });
    const before = await failures('pricing-fixture', reason);
    const g = await getCart(c.id);
    assert.deepEqual(plugins(g.items[0]).map((a) => a.plugin), ['pricing-bulk-discount'], `${mode}: only the other plugin's`);
    assert.equal(g.items[0].discount_total, 300, mode);
    assert.equal(g.total, 3000 - 300 + 500 + 513 + 95, mode);
    assert.equal(await failures('pricing-fixture', reason), before + 1, `${mode}: counted as ${reason}`);
    assert.doesNotMatch(JSON.stringify(g), /pricing service down/);
    // a change to the cart answers too
    const add = await s.client.request('POST', `/v1/store/carts/${other.id}/line-items`, { json: { variant_id: cheap, quantity: 1 } });
    assert.equal(add.status, 200, `${mode}: ${add.text}`);
    assert.deepEqual(plugins(add.body.items[0]).map((a) => a.plugin), ['pricing-bulk-discount'], mode);
    assert.ok(add.body.items.every((l) => plugins(l).every((a) => a.plugin !== 'pricing-fixture')), mode);
  }
  // checkout while the plugin fails: the order is placed at the total that computation gives (without its adjustments)
  await fixture({ config: { mode: 'raise' } });
  const c2 = await readyCart();
  const o = await checkout(c2.id);
  assert.equal(o.status, 201, o.text);
  assert.deepEqual([o.body.discount_total, o.body.total], [300, 3000 - 300 + 500 + 513 + 95]);
  assert.deepEqual(o.body.items[0].adjustments.map((a) => a.plugin), ['pricing-bulk-discount']);
  // nil and an empty list are answers, not failures
  const before = await failures('pricing-fixture', 'error');
  for (const mode of ['none', 'empty']) {
    await fixture({ config: { mode } });
    assert.equal((await getCart(c.id)).items[0].discount_total, 300, mode);
  }
  assert.equal(await failures('pricing-fixture', 'error'), before);
  await bulk({ enabled: false });
  assert.equal((await s.client.request('GET', '/healthz', { pk: null })).status, 200);
});

test('a pricing plugin restricted to other sales channels adjusts nothing in this one; disabling it removes its adjustments', async () => {
  await fixture({ config: { mode: 'ok' } });
  assert.equal((await bulk({ enabled: false })).status, 200);
  const other = await A('POST', '/v1/admin/sales-channels', { name: `Wholesale adj ${process.pid}` });
  assert.equal(other.status, 201, other.text);
  const c = await readyCart();
  assert.equal(c.items[0].discount_total, 300);
  let r = await fixture({ sales_channels: [other.body.id] });
  assert.equal(r.status, 200, r.text);
  let g = await getCart(c.id);
  assert.deepEqual([g.items[0].adjustments, g.discount_total, g.shipping_total], [[], 0, 0]);
  r = await fixture({ sales_channels: [other.body.id, s.channel] });
  assert.equal(r.status, 200, r.text);
  assert.equal((await getCart(c.id)).items[0].discount_total, 300);
  r = await fixture({ sales_channels: null });
  assert.equal(r.status, 200, r.text);
  r = await fixture({ enabled: false });
  assert.equal(r.status, 200, r.text);
  g = await getCart(c.id);
  assert.deepEqual([g.items[0].adjustments, g.discount_total, g.total], [[], 0, 3000 + 570]);
});
