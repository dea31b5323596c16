// tax_plugin.test.mjs: a plugin providing tax replaces the built-in table provider while it is enabled (the
// tax-fixture plugin of tests/plugins, through the tax bridge plugins/host/tax.c): its lines and totals on the
// cart, checkout and order; a tax service on loopback asked through souq.http; every failure (raise, spin, an
// answer that breaks the contract, the service down) failing the cart's totals with 502/504 and never giving a
// total without tax; checkout writing nothing then; disabling it brings the table back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { startStack, staffLogin, ROOT } from './lib/harness.mjs';

let s, t, eu, loc, variant, option, fake;
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json) => s.client.request(method, path, { pk: null, token: t, json });
const address = { first_name: 'Ada', last_name: 'L', address_1: 'Unter den Linden 1', city: 'Berlin', postal_code: '10117', country_code: 'de' };
const configure = (body) => A('PATCH', '/v1/admin/plugins/tax-fixture', body);
const getCart = (id) => s.client.request('GET', `/v1/store/carts/${id}`);

before(async () => {
  fake = { requests: [], mode: 'up', rate_bp: 500 };
  fake.server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      fake.requests.push({ method: req.method, raw });
      if (fake.mode === 'down') return req.socket.destroy();
      if (fake.mode === 'error') { res.writeHead(500); return res.end('{}'); }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ rate_bp: fake.rate_bp }));
    });
  });
  await new Promise((r) => fake.server.listen(0, '127.0.0.1', r));
  s = await startStack({ env: { SOUQ_PLUGIN_DIRS: `${ROOT}/plugins,${ROOT}/tests/plugins`, SOUQ_OUTBOUND_ALLOW_CIDRS: '127.0.0.1/32' } });
  t = (await staffLogin(s.client)).access_token;
  eu = (await A('POST', '/v1/admin/regions', { name: 'EU', currency_code: 'eur', countries: ['de'] })).body;
  option = (await A('POST', '/v1/admin/shipping-options', { name: 'Standard', region_id: eu.id, provider: 'flat_rate', amount: 500 })).body.id;
  loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Berlin' })).body.id;
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
  const r = await A('POST', '/v1/admin/products', { title: 'Taxed thing', status: 'active',
    variants: [{ sku: `TAX-${process.pid}`, prices: [{ currency_code: 'eur', amount: 1000 }], inventory: [{ location_id: loc, quantity: 500 }] }] });
  assert.equal(r.status, 201, r.text);
  variant = r.body.variants[0].id;
  const rate = await A('POST', '/v1/admin/tax-rates', { country_code: 'de', rate_bp: 1900, name: 'MwSt. 19%', code: 'MWST' });
  assert.equal(rate.status, 201, rate.text);
});
after(async () => { if (s) await s.stop(); if (fake) fake.server.close(); });

async function readyCart(quantity = 3) {
  const r = await s.client.request('POST', '/v1/store/carts', { json: { email: 'buyer@example.com', shipping_address: address,
    items: [{ variant_id: variant, quantity }] } });
  assert.equal(r.status, 201, r.text);
  const m = await s.client.request('POST', `/v1/store/carts/${r.body.id}/shipping-methods`, { json: { option_id: option } });
  assert.equal(m.status, 200, m.text);
  return m.body;
}

test('without an enabled tax plugin the table provider taxes the cart (the fixture is unconfigured)', async () => {
  const r = await A('GET', '/v1/admin/plugins/tax-fixture');
  assert.equal(r.body.status, 'unconfigured');
  const c = await readyCart();
  assert.deepEqual([c.items[0].tax_total, c.shipping_tax_total, c.tax_total, c.total], [570, 95, 665, 3000 + 500 + 665]);
  assert.equal(c.items[0].tax_lines[0].code, 'MWST');
});

test('an enabled tax plugin replaces the table: its lines on items and shipping, the totals, checkout and the order follow', async () => {
  let r = await configure({ config: { mode: 'nonsense' } });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/config/mode');
  r = await configure({ config: { mode: 'ok' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'active');
  const c = await readyCart();
  assert.deepEqual(c.items[0].tax_lines, [{ rate_id: 'fx_standard', code: 'FX', name: 'Fixture tax', rate_bp: 1000, amount: 300 }]);
  assert.deepEqual(c.shipping_methods[0].tax_lines, [{ rate_id: 'fx_shipping', code: 'FX', name: 'Fixture tax', rate_bp: 1000, amount: 50 }]);
  assert.deepEqual([c.tax_total, c.total], [350, 3000 + 500 + 350]);
  const o = await s.client.request('POST', `/v1/store/carts/${c.id}/complete`, { json: { payment: { provider: 'manual' } },
    headers: { 'idempotency-key': crypto.randomUUID() } });
  assert.equal(o.status, 201, o.text);
  assert.deepEqual([o.body.tax_total, o.body.total], [350, 3850]);
});

test('a tax plugin answering no lines ({lines = {}}: Lua\'s empty table) leaves the cart untaxed, checkout included', async () => {
  const r = await configure({ config: { mode: 'none' } });
  assert.equal(r.status, 200, r.text);
  const c = await readyCart(2);
  assert.deepEqual(c.items[0].tax_lines, []);
  assert.deepEqual(c.shipping_methods[0].tax_lines, []);
  assert.deepEqual([c.items[0].tax_total, c.shipping_tax_total, c.tax_total, c.total], [0, 0, 0, 2000 + 500]);
  const o = await s.client.request('POST', `/v1/store/carts/${c.id}/complete`, { json: { payment: { provider: 'manual' } },
    headers: { 'idempotency-key': crypto.randomUUID() } });
  assert.equal(o.status, 201, o.text);
  assert.deepEqual([o.body.tax_total, o.body.total], [0, 2500]);
});

test('a tax plugin may ask a tax service (souq.http) for the rate; the answer follows the service', async () => {
  const r = await configure({ config: { mode: 'http', url: `http://127.0.0.1:${fake.server.address().port}/rates` } });
  assert.equal(r.status, 200, r.text);
  const seen = fake.requests.length;
  const c = await readyCart(2);
  assert.deepEqual([c.items[0].tax_total, c.shipping_tax_total], [100, 25]);
  assert.ok(fake.requests.length > seen, 'the service was asked');
  assert.deepEqual(JSON.parse(fake.requests.at(-1).raw), { country: 'de', items: 2 });
  fake.rate_bp = 700;
  const g = await getCart(c.id);
  assert.equal(g.status, 200, g.text);
  assert.deepEqual([g.body.items[0].tax_total, g.body.tax_total], [140, 175]);
});

test('a failing tax plugin fails the cart\'s totals with 502/504 (never a total without tax); checkout writes nothing', async () => {
  await configure({ config: { mode: 'ok' } });
  const c = await readyCart(1);
  const stock = async () => (await s.sql(
    'SELECT l.reserved FROM inventory_levels l JOIN variant_inventory_items v ON v.inventory_item_id = l.inventory_item_id WHERE v.variant_id = $1', [variant]))[0].reserved;
  const modes = [['raise', 502, 'plugin-failed'], ['wrong', 502, 'plugin-failed'], ['notalist', 502, 'plugin-failed'], ['spin', 504, 'plugin-timeout'],
    ['http-down', 502, 'plugin-failed'], ['http-error', 502, 'plugin-failed']];
  for (const [mode, status, slug] of modes) {
    if (mode.startsWith('http')) {
      fake.mode = mode === 'http-down' ? 'down' : 'error';
      await configure({ config: { mode: 'http', url: `http://127.0.0.1:${fake.server.address().port}/rates` } });
    } else {
      await configure({ config: { mode } });
    }
    const g = await getCart(c.id);
    assert.equal(g.status, status, `${mode}: ${g.text}`);
    assert.equal(g.body.type, type(slug));
    assert.doesNotMatch(g.text, /tax service down/, 'plugin text never reaches the client');
    const reserved = await stock();
    const o = await s.client.request('POST', `/v1/store/carts/${c.id}/complete`, { json: { payment: { provider: 'manual' } },
      headers: { 'idempotency-key': crypto.randomUUID() } });
    assert.equal(o.status, status, `${mode} at checkout: ${o.text}`);
    assert.equal(Number((await s.sql('SELECT count(*) AS n FROM orders WHERE cart_id = $1', [c.id]))[0].n), 0);
    assert.equal(await stock(), reserved, `${mode}: no stock held`);
    // a change to the cart is answered the same way (the change is stored; its answer needs the totals)
    const add = await s.client.request('POST', `/v1/store/carts/${c.id}/line-items`, { json: { variant_id: variant, quantity: 1 } });
    assert.equal(add.status, status, `${mode}: ${add.text}`);
  }
  fake.mode = 'up';
  assert.equal((await s.client.request('GET', '/healthz', { pk: null })).status, 200);
});

test('disabling the tax plugin brings the table provider back at once', async () => {
  await configure({ config: { mode: 'ok' } });
  const c = await readyCart(1);
  assert.equal(c.items[0].tax_lines[0].code, 'FX');
  const r = await configure({ enabled: false });
  assert.equal(r.status, 200, r.text);
  const g = await getCart(c.id);
  assert.equal(g.status, 200, g.text);
  assert.equal(g.body.items[0].tax_lines[0].code, 'MWST');
  assert.equal(g.body.items[0].tax_total, g.body.items[0].quantity * 190);
});
