// plugins.test.mjs: Lua plugins through the running server: loading (bad plugins refused, the rest serve), the
// bundled payment-manual plugin at checkout, every fault of the fixture plugins (tests/plugins) failing the
// checkout cleanly with 502/504 problem+json and nothing half-done, the circuit breaker, /metrics, and reloads.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startStack, staffLogin, ROOT, loadablePlugins, REFUSED_PLUGIN_FIXTURES } from './lib/harness.mjs';

let s, t, loc, shipping, variant;
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json) => s.client.request(method, path, { pk: null, token: t, json });
const key = () => crypto.randomUUID();
const address = { first_name: 'Ada', last_name: 'L', address_1: 'Unter den Linden 1', city: 'Berlin', postal_code: '10117', country_code: 'de' };

before(async () => {
  s = await startStack({ env: { SOUQ_PLUGIN_DIRS: `${ROOT}/plugins,${ROOT}/tests/plugins` } });
  t = (await (staffLogin(s.client))).access_token;
  const eu = (await A('POST', '/v1/admin/regions', { name: 'EU', currency_code: 'eur', countries: ['de'] })).body;
  shipping = (await A('POST', '/v1/admin/shipping-options', { name: 'Standard', region_id: eu.id, provider: 'flat_rate', amount: 0 })).body.id;
  loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Berlin' })).body.id;
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
  const r = await A('POST', '/v1/admin/products', { title: 'Plugin thing', status: 'active',
    variants: [{ sku: `PLG-${process.pid}`, prices: [{ currency_code: 'eur', amount: 1500 }], inventory: [{ location_id: loc, quantity: 500 }] }] });
  assert.equal(r.status, 201, r.text);
  variant = r.body.variants[0].id;
});
after(async () => s && (await s.stop()));

async function readyCart(quantity = 2) {
  const r = await s.client.request('POST', '/v1/store/carts', { json: { email: 'buyer@example.com', shipping_address: address,
    items: [{ variant_id: variant, quantity }] } });
  assert.equal(r.status, 201, r.text);
  const m = await s.client.request('POST', `/v1/store/carts/${r.body.id}/shipping-methods`, { json: { option_id: shipping } });
  assert.equal(m.status, 200, m.text);
  return m.body;
}
const complete = (cartId, payment, k = key()) =>
  s.client.request('POST', `/v1/store/carts/${cartId}/complete`, { json: { payment }, headers: { 'idempotency-key': k } });
const level = async () => (await s.sql(
  'SELECT l.on_hand, l.reserved FROM inventory_levels l JOIN variant_inventory_items v ON v.inventory_item_id = l.inventory_item_id WHERE v.variant_id = $1',
  [variant]))[0];
const orders = async (cartId) => Number((await s.sql('SELECT count(*) AS n FROM orders WHERE cart_id = $1', [cartId]))[0].n);
const metrics = async () => (await s.client.request('GET', '/metrics', { raw: true, pk: null })).text;
const metric = (text, name, labels) => {
  const m = new RegExp(`^${name}${labels.replace(/[{}"]/g, (c) => '\\' + c)} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
};
async function healthy() {
  const h = await s.client.request('GET', '/healthz', { pk: null });
  assert.equal(h.status, 200);
  assert.equal(s.server.exited, null, 'the server is still running');
}

test('bad plugins are refused at start-up with a clear message naming the folder; the others load', () => {
  assert.match(s.server.log, /plugin \S*tests\/plugins\/broken-manifest refused: manifest.json: version must be a semantic version/);
  assert.match(s.server.log, /plugin \S*tests\/plugins\/broken-syntax refused: handler.lua: broken-syntax\/handler.lua:2:/);
  for (const name of ['payment-manual', 'faulty', 'flaky', 'slow'])
    assert.match(s.server.log, new RegExp(`plugin ${name} \\S+ loaded from`));
});

test('a manual checkout runs through the bundled payment-manual plugin: pending, then captured by staff', async () => {
  const calls = metric(await metrics(), 'souq_plugin_calls_total', '{plugin="payment-manual"}');
  const cart = await readyCart();
  const r = await complete(cart.id, { provider: 'manual' });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual([r.body.payment_status, r.body.payments[0].provider, r.body.payments[0].status], ['pending', 'manual', 'pending']);
  const c = await A('POST', `/v1/admin/orders/${r.body.id}/capture`);
  assert.equal(c.status, 200, c.text);
  assert.equal(c.body.payment_status, 'paid');
  assert.equal(metric(await metrics(), 'souq_plugin_calls_total', '{plugin="payment-manual"}'), calls + 2, 'authorize and capture ran in Lua');
});

test('a plugin provider gets the checkout\'s idempotency key, validates its payment data, and can ask for the buyer\'s action', async () => {
  const cart = await readyCart(1);
  let r = await complete(cart.id, { provider: 'faulty', data: {} });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/payment/data/mode');
  r = await complete(cart.id, { provider: 'faulty', data: { mode: 'x'.repeat(41) } });
  assert.equal(r.status, 422);
  r = await complete(cart.id, { provider: 'nope' });
  assert.equal(r.status, 422);
  assert.match(r.body.errors[0].detail, /manual, test, faulty/);
  r = await complete(cart.id, { provider: 'faulty', data: { mode: 'requires_action' } });
  assert.equal(r.status, 202, r.text);
  assert.deepEqual(r.body.payment.next_action, { type: 'redirect_to_url', url: `https://bank.example/3ds/${r.body.payment.id}` });
  r = await complete(cart.id, { provider: 'faulty', data: { mode: 'echo' } });
  assert.equal(r.status, 201, r.text);
  const [p] = await s.sql('SELECT provider_ref, gateway_key FROM payments WHERE order_id = $1', [r.body.id]);
  assert.equal(p.provider_ref, p.gateway_key, 'the plugin saw the gateway idempotency key');
  assert.match(p.gateway_key, /^co_[0-9a-f]{64}$/);
});

// mode -> expected status, slug and failure reason
const faults = [
  ['loop', 504, 'plugin-timeout', 'timeout'],
  ['pcall_loop', 504, 'plugin-timeout', 'timeout'],
  ['coroutine_loop', 504, 'plugin-timeout', 'timeout'],
  ['oom', 502, 'plugin-failed', 'memory'],
  ['rep_bomb', 502, 'plugin-failed', 'memory'],
  ['recursion', 502, 'plugin-failed', 'memory'],
  ['error', 502, 'plugin-failed', 'error'],
  ['error_table', 502, 'plugin-failed', 'error'],
  ['pattern', 502, 'plugin-failed', 'error'],
  ['io', 502, 'plugin-failed', 'sandbox_violation'],
  ['os_execute', 502, 'plugin-failed', 'sandbox_violation'],
  ['os_getenv', 502, 'plugin-failed', 'sandbox_violation'],
  ['require', 502, 'plugin-failed', 'sandbox_violation'],
  ['load_bytecode', 502, 'plugin-failed', 'sandbox_violation'],
  ['string_dump', 502, 'plugin-failed', 'sandbox_violation'],
  ['debug', 502, 'plugin-failed', 'sandbox_violation'],
  ['setmetatable_shared', 502, 'plugin-failed', 'sandbox_violation'],
  ['global_write', 502, 'plugin-failed', 'sandbox_violation'],
  ['collectgarbage', 502, 'plugin-failed', 'sandbox_violation'],
  ['huge_output', 502, 'plugin-failed', 'output_too_large'],
  ['bad_return', 502, 'plugin-failed', 'error'],
  ['bad_status', 502, 'plugin-failed', 'error'],
  ['no_next_action', 502, 'plugin-failed', 'error'],
];

test('every fault of a payment plugin fails the checkout with 502/504 problem+json, leaves no order and no reservation, and the server keeps serving', async () => {
  const cart = await readyCart(3);
  const start = await level();
  for (const [mode, status, slug, reason] of faults) {
    const before = metric(await metrics(), 'souq_plugin_failures_total', `{plugin="faulty",reason="${reason}"}`);
    const r = await complete(cart.id, { provider: 'faulty', data: { mode } });
    assert.equal(r.status, status, `${mode}: ${r.text}`);
    assert.equal(r.body.type, type(slug), mode);
    assert.doesNotMatch(r.text, /secret plugin text|boom/, 'no plugin text reaches the client');
    assert.equal(await orders(cart.id), 0, `${mode}: no order`);
    assert.deepEqual(await level(), start, `${mode}: the stock reservation was released`);
    assert.equal(metric(await metrics(), 'souq_plugin_failures_total', `{plugin="faulty",reason="${reason}"}`), before + 1, `${mode} counted as ${reason}`);
    await healthy();
  }
  const logged = s.server.log.match(/plugin=faulty hook=payment_authorize reason=\w+ elapsed_ms=[\d.]+ instructions=\d+/g) ?? [];
  assert.ok(logged.length >= faults.length, 'each failure is logged with plugin, hook, reason, elapsed time and instructions');
  assert.doesNotMatch(s.server.log, /sk_fixture/, 'the secret setting is never logged');
  // the same cart then checks out: the plugin's state was rebuilt and its environment is pristine
  let r = await complete(cart.id, { provider: 'faulty', data: { mode: 'pristine' } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.payments[0].status, 'authorized');
  assert.equal((await level()).reserved, start.reserved + 3);
  const mem = metric(await metrics(), 'souq_plugin_memory_bytes', '{plugin="faulty"}');
  assert.ok(mem > 0 && mem < 4 * 1024 * 1024, `memory returned to a baseline after the memory bombs (${mem} bytes on 2 threads)`);
});

test('the wall-clock budget stops a plugin with a huge instruction budget: 504 plugin-timeout', async () => {
  const cart = await readyCart(1);
  const start = await level();
  const r = await complete(cart.id, { provider: 'slow' });
  assert.equal(r.status, 504, r.text);
  assert.equal(r.body.type, type('plugin-timeout'));
  assert.match(s.server.log, /plugin=slow hook=payment_authorize reason=timeout elapsed_ms=[\d.]+ instructions=\d+ detail=wall-clock budget of 50 ms exceeded/);
  assert.equal(await orders(cart.id), 0);
  assert.deepEqual(await level(), start);
});

test('the circuit breaker opens after 5 failures: the plugin fails fast with 503 plugin-degraded and Retry-After', async () => {
  const cart = await readyCart(1);
  for (let i = 0; i < 5; i++) {
    const r = await complete(cart.id, { provider: 'flaky' });
    assert.equal(r.status, 502, r.text);
    assert.equal(r.body.type, type('plugin-failed'));
  }
  const r = await complete(cart.id, { provider: 'flaky' });
  assert.equal(r.status, 503, r.text);
  assert.equal(r.body.type, type('plugin-degraded'));
  assert.equal(r.headers.get('retry-after'), '30');
  assert.equal(await orders(cart.id), 0);
  const m = await metrics();
  assert.equal(metric(m, 'souq_plugin_degraded', '{plugin="flaky"}'), 1);
  assert.equal(metric(m, 'souq_plugin_failures_total', '{plugin="flaky",reason="degraded"}'), 1);
  assert.equal(metric(m, 'souq_plugin_degraded', '{plugin="faulty"}'), 0, 'other plugins are unaffected');
  const ok = await complete(cart.id, { provider: 'manual' });
  assert.equal(ok.status, 201, ok.text);
});

test('SIGHUP reloads the plugins while the server keeps serving', async () => {
  s.server.proc.kill('SIGHUP');
  for (let i = 0; i < 200 && !/plugins reloaded: generation 2/.test(s.server.log); i++) await new Promise((r) => setTimeout(r, 25));
  const loaded = loadablePlugins(`${ROOT}/plugins`, `${ROOT}/tests/plugins`).length;
  assert.match(s.server.log, new RegExp(`plugins reloaded: generation 2, ${loaded} loaded, ${REFUSED_PLUGIN_FIXTURES.length} refused`));
  const cart = await readyCart(1);
  const r = await complete(cart.id, { provider: 'manual' });
  assert.equal(r.status, 201, r.text);
  await healthy();
});
