// plugins_admin.test.mjs: the plugin admin API: list and read (secret settings never shown), PATCH (enable,
// disable, config validated against the manifest schema, secrets write-only and never logged), POST reload (the
// stored settings survive, refused plugins are reported, zero failed requests while reloading under load), and
// every route's negative cases.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startStack, startServer, Client, staffLogin, newStaff, newCustomer, ROOT, loadablePlugins, REFUSED_PLUGIN_FIXTURES } from './lib/harness.mjs';
import { eventually } from './lib/receiver.mjs';

let s, t, loc, shipping, variant;
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json, token = t) => s.client.request(method, path, { pk: null, token, json });
const SECRET = 'sk_live_' + crypto.randomBytes(12).toString('hex');
const address = { first_name: 'Ada', last_name: 'L', address_1: 'Unter den Linden 1', city: 'Berlin', postal_code: '10117', country_code: 'de' };

before(async () => {
  s = await startStack({ env: { SOUQ_PLUGIN_DIRS: `${ROOT}/plugins,${ROOT}/tests/plugins` } });
  t = (await staffLogin(s.client)).access_token;
  const eu = (await A('POST', '/v1/admin/regions', { name: 'EU', currency_code: 'eur', countries: ['de'] })).body;
  shipping = (await A('POST', '/v1/admin/shipping-options', { name: 'Standard', region_id: eu.id, provider: 'flat_rate', amount: 0 })).body.id;
  loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Berlin' })).body.id;
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
  const r = await A('POST', '/v1/admin/products', { title: 'Plugin admin thing', status: 'active',
    variants: [{ sku: `PLA-${process.pid}`, prices: [{ currency_code: 'eur', amount: 900 }], inventory: [{ location_id: loc, quantity: 10000 }] }] });
  assert.equal(r.status, 201, r.text);
  variant = r.body.variants[0].id;
});
after(async () => s && (await s.stop()));

async function checkout(payment) {
  const c = await s.client.request('POST', '/v1/store/carts', { json: { email: 'buyer@example.com', shipping_address: address, items: [{ variant_id: variant, quantity: 1 }] } });
  assert.equal(c.status, 201, c.text);
  const m = await s.client.request('POST', `/v1/store/carts/${c.body.id}/shipping-methods`, { json: { option_id: shipping } });
  assert.equal(m.status, 200, m.text);
  return s.client.request('POST', `/v1/store/carts/${c.body.id}/complete`, { json: { payment }, headers: { 'idempotency-key': crypto.randomUUID() } });
}
const stored = async (name) => (await s.sql('SELECT enabled, config FROM plugin_settings WHERE name = $1', [name]))[0];
const calls = async (name) => {
  const m = /souq_plugin_calls_total\{plugin="([^"]+)"\} (\d+)/g;
  const text = (await s.client.request('GET', '/metrics', { raw: true, pk: null })).text;
  for (const x of text.matchAll(m)) if (x[1] === name) return Number(x[2]);
  return 0;
};

test('GET /v1/admin/plugins lists the loaded plugins with status, settings, schema and limits; secret values never appear', async () => {
  const r = await A('GET', '/v1/admin/plugins');
  assert.equal(r.status, 200, r.text);
  const by = Object.fromEntries(r.body.data.map((p) => [p.name, p]));
  assert.deepEqual(Object.keys(by).sort(), loadablePlugins(`${ROOT}/plugins`, `${ROOT}/tests/plugins`));
  const manual = by['payment-manual'];
  assert.deepEqual([manual.version, manual.sdk, manual.status, manual.enabled, manual.provides], ['1.0.0', 1, 'active', true, ['payment:manual']]);
  assert.deepEqual(manual.limits, { instructions: 1000000, background_instructions: 10000000, wall_ms: 200, background_wall_ms: 5000,
    deadline_ms: 8000, background_deadline_ms: 60000, memory_mb: 32,
    breaker_failures: 5, breaker_window_s: 60, breaker_open_s: 30 });
  const faulty = by.faulty;
  assert.equal(faulty.config.label, 'faulty');
  assert.equal(faulty.config.secret_key, undefined, 'secret values are not returned');
  assert.deepEqual(faulty.secrets_set, ['secret_key']);
  assert.equal(faulty.config_schema.secret_key.secret, true);
  assert.equal(faulty.config_schema.secret_key.default, undefined, 'nor a secret default');
  assert.doesNotMatch(r.text, /sk_fixture/);
  assert.equal(by['needs-config'].status, 'unconfigured');
  assert.deepEqual(by['needs-config'].secrets_set, []);
  assert.equal(faulty.limits.memory_mb, 8);
  const one = await A('GET', '/v1/admin/plugins/faulty');
  assert.equal(one.status, 200);
  assert.deepEqual(one.body.config, faulty.config);
});

test('GET /v1/admin/plugins/{name}: 404 for names no plugin has; 401 without credentials, 403 for roles without plugins:read', async () => {
  for (const name of ['nope', 'broken-manifest', 'broken-syntax', 'x'.repeat(300), '%00']) {
    const r = await A('GET', `/v1/admin/plugins/${name}`);
    assert.equal(r.status, 404, name);
    assert.equal(r.body.type, type('not-found'));
  }
  let r = await A('GET', '/v1/admin/plugins/reload'); // the reload action, not a plugin (no plugin may be named reload)
  assert.equal(r.status, 405);
  r = await s.client.request('GET', '/v1/admin/plugins', { pk: null });
  assert.equal(r.status, 401);
  const support = await newStaff(s.client, t, 'support');
  r = await A('GET', '/v1/admin/plugins', undefined, support.token);
  assert.equal(r.status, 403);
  assert.equal(r.body.type, type('forbidden'));
  r = await A('PATCH', '/v1/admin/plugins/faulty', { enabled: false }, support.token);
  assert.equal(r.status, 403);
  r = await A('POST', '/v1/admin/plugins/reload', undefined, support.token);
  assert.equal(r.status, 403);
  const c = await newCustomer(s.client);
  r = await A('GET', '/v1/admin/plugins/faulty', undefined, c.token);
  assert.equal(r.status, 403);
  assert.equal(await stored('faulty'), undefined, 'nothing was written');
});

test('PATCH validates against the manifest schema with per-field errors and writes nothing on failure', async () => {
  const cases = [
    [{ config: { nope: 1 } }, 422, 'unknown-field', '/config'],
    [{ config: { label: 5 } }, 422, 'validation-failed', '/config/label'],
    [{ config: 'x' }, 422, 'validation-failed', '/config'],
    [{ enabled: 'yes' }, 422, 'validation-failed', '/enabled'],
    [{ colour: 'red' }, 422, 'unknown-field', null],
  ];
  for (const [body, status, slug, pointer] of cases) {
    const r = await A('PATCH', '/v1/admin/plugins/faulty', body);
    assert.equal(r.status, status, JSON.stringify(body) + r.text);
    assert.equal(r.body.type, type(slug));
    if (pointer) assert.ok(r.body.errors.some((e) => e.pointer === pointer), JSON.stringify(r.body.errors));
  }
  const pointers = (r) => r.body.errors.map((e) => `${e.pointer} ${e.code}`).sort();
  let r = await A('PATCH', '/v1/admin/plugins/needs-config', { config: { mode: 'staging' } });
  assert.equal(r.status, 422);
  assert.deepEqual(pointers(r), ['/config/api_key required', '/config/mode invalid_value']);
  r = await A('PATCH', '/v1/admin/plugins/needs-config', { enabled: false, config: { retries: 9 } });
  assert.deepEqual(pointers(r), ['/config/retries invalid_value'], 'a disabled plugin may lack required settings, not have invalid ones');
  r = await A('PATCH', '/v1/admin/plugins/needs-config', { config: { api_key: 'k'.repeat(65) } });
  assert.deepEqual(pointers(r), ['/config/api_key invalid_value']);
  assert.doesNotMatch(r.text, /kkkk/, 'no value is echoed');
  r = await A('PATCH', '/v1/admin/plugins/needs-config', { enabled: true }); // a required secret is missing
  assert.equal(r.status, 422);
  assert.deepEqual(r.body.errors.map((e) => [e.pointer, e.code]), [['/config/api_key', 'required']]);
  r = await A('PATCH', '/v1/admin/plugins/nope', { enabled: true });
  assert.equal(r.status, 404);
  r = await s.client.request('PATCH', '/v1/admin/plugins/faulty', { pk: null, token: t, body: '{"enabled":', headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 400);
  assert.equal(r.body.type, type('invalid-json'));
  r = await s.client.request('PATCH', '/v1/admin/plugins/faulty', { pk: null, token: t, body: 'enabled=1', headers: { 'content-type': 'text/plain' } });
  assert.equal(r.status, 415);
  for (const name of ['faulty', 'needs-config', 'nope']) assert.equal(await stored(name), undefined, `${name}: nothing half-written`);
  r = await checkout({ provider: 'needs_config' });
  assert.equal(r.status, 422, 'an unconfigured plugin provides nothing');
});

test('PATCH stores a secret write-only: the plugin gets it, the API and the log never show it', async () => {
  let r = await A('PATCH', '/v1/admin/plugins/needs-config', { config: { api_key: SECRET, mode: 'live' } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.status, r.body.enabled, r.body.config.mode, r.body.config.retries], ['active', true, 'live', 1]);
  assert.deepEqual(r.body.secrets_set, ['api_key']);
  assert.doesNotMatch(r.text, new RegExp(SECRET));
  assert.deepEqual(await stored('needs-config'), { enabled: true, config: { api_key: SECRET, mode: 'live' } }, 'defaults are not stored');
  const o = await checkout({ provider: 'needs_config' });
  assert.equal(o.status, 201, o.text);
  const [p] = await s.sql('SELECT provider_ref FROM payments WHERE order_id = $1', [o.body.id]);
  assert.equal(p.provider_ref, 'live_' + crypto.createHash('sha256').update(SECRET).digest('hex').slice(0, 16), 'the plugin received the secret');
  r = await A('GET', '/v1/admin/plugins/needs-config');
  assert.doesNotMatch(r.text, new RegExp(SECRET));
  // a change of another setting keeps the secret; null resets a setting to its default
  r = await A('PATCH', '/v1/admin/plugins/needs-config', { config: { mode: null, retries: 3 } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.config.mode, r.body.config.retries, r.body.secrets_set], ['sandbox', 3, ['api_key']]);
  assert.deepEqual((await stored('needs-config')).config, { api_key: SECRET, retries: 3 });
  assert.doesNotMatch(s.server.log, new RegExp(SECRET), 'never logged');
});

test('disabling payment-manual falls back to the built-in manual provider; enabling brings the plugin back', async () => {
  let r = await A('PATCH', '/v1/admin/plugins/payment-manual', { enabled: false });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.enabled, r.body.status], [false, 'disabled']);
  const before = await calls('payment-manual');
  let o = await checkout({ provider: 'manual' });
  assert.equal(o.status, 201, o.text);
  assert.equal(o.body.payment_status, 'pending');
  assert.equal(await calls('payment-manual'), before, 'the C provider served');
  r = await A('PATCH', '/v1/admin/plugins/payment-manual', { enabled: true });
  assert.equal(r.body.status, 'active');
  o = await checkout({ provider: 'manual' });
  assert.equal(o.status, 201);
  assert.equal(await calls('payment-manual'), before + 1, 'the plugin served again');
  // a plugin-only provider disappears while its plugin is disabled
  await A('PATCH', '/v1/admin/plugins/faulty', { enabled: false });
  o = await checkout({ provider: 'faulty', data: { mode: 'ok' } });
  assert.equal(o.status, 422);
  assert.equal(o.body.errors[0].pointer, '/payment/provider');
  await A('PATCH', '/v1/admin/plugins/faulty', { enabled: true });
  o = await checkout({ provider: 'faulty', data: { mode: 'ok' } });
  assert.equal(o.status, 201, o.text);
});

test('POST /v1/admin/plugins/reload rebuilds from the folders, reports refused plugins, and keeps the stored settings', async () => {
  let r = await A('POST', '/v1/admin/plugins/reload', { surprise: 1 });
  assert.equal(r.status, 422);
  assert.equal(r.body.type, type('unknown-field'));
  r = await A('POST', '/v1/admin/plugins/reload');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.object, 'plugin_reload');
  assert.ok(r.body.generation >= 2);
  assert.deepEqual(r.body.loaded.sort(), loadablePlugins(`${ROOT}/plugins`, `${ROOT}/tests/plugins`));
  assert.ok(r.body.loaded.includes('payment-manual') && r.body.loaded.includes('faulty'));
  assert.deepEqual(r.body.refused.map((x) => x.folder.split('/').pop()).sort(), REFUSED_PLUGIN_FIXTURES);
  assert.match(r.body.refused.find((x) => x.folder.endsWith('broken-syntax')).error, /handler.lua/);
  const p = await A('GET', '/v1/admin/plugins/needs-config');
  assert.deepEqual([p.body.status, p.body.config.retries, p.body.secrets_set], ['active', 3, ['api_key']], 'settings survive a reload');
});

test('zero failed requests while plugins reload under load', async () => {
  let stop = false;
  const statuses = [];
  const worker = async () => {
    while (!stop) statuses.push((await checkout({ provider: 'manual' })).status);
  };
  const workers = Array.from({ length: 4 }, worker);
  try {
    for (let i = 0; i < 20; i++) {
      const r = await A('POST', '/v1/admin/plugins/reload');
      assert.equal(r.status, 200, r.text);
    }
  } finally {
    stop = true;
    await Promise.all(workers);
  }
  assert.ok(statuses.length >= 4);
  assert.deepEqual([...new Set(statuses)], [201]);
  assert.equal(s.server.exited, null);
});

test('PATCH config merges: a key left out keeps its value, null removes the stored value (the default again), also a key the schema dropped', async () => {
  const P = (body) => A('PATCH', '/v1/admin/plugins/needs-config', body);
  let r = await P({ enabled: true, config: { api_key: SECRET, mode: 'live', retries: 4 } });
  assert.equal(r.status, 200, r.text);
  // left out: kept
  r = await P({ config: { retries: 5 } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.config.mode, r.body.config.retries, r.body.secrets_set], ['live', 5, ['api_key']]);
  assert.deepEqual((await stored('needs-config')).config, { api_key: SECRET, mode: 'live', retries: 5 });
  // null: the stored value goes, the manifest's default applies
  r = await P({ config: { mode: null, retries: null } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.config.mode, r.body.config.retries], ['sandbox', 1]);
  assert.deepEqual((await stored('needs-config')).config, { api_key: SECRET });
  // null of a required setting while enabled: 422 at its pointer, nothing changes
  r = await P({ config: { api_key: null, retries: 2 } });
  assert.equal(r.status, 422, r.text);
  assert.deepEqual([r.body.errors[0].pointer, r.body.errors[0].code], ['/config/api_key', 'required']);
  assert.deepEqual((await stored('needs-config')).config, { api_key: SECRET });
  // a stored value of a setting the plugin's schema no longer has (a new version dropped it) leaves the plugin
  // unconfigured (fail closed, logged) and is refused with every PATCH that keeps it, until null removes it
  await s.sql(`UPDATE plugin_settings SET config = config || '{"legacy": 1}' WHERE name = 'needs-config'`);
  assert.equal((await A('POST', '/v1/admin/plugins/reload')).status, 200);
  assert.equal((await A('GET', '/v1/admin/plugins/needs-config')).body.status, 'unconfigured');
  r = await P({ config: { retries: 2 } });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.body.type, type('unknown-field'));
  r = await P({ config: { legacy: null, retries: 2 } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'active');
  assert.deepEqual((await stored('needs-config')).config, { api_key: SECRET, retries: 2 });
  r = await P({ config: { never_existed: null } }); // null for a name with nothing stored: nothing to remove
  assert.equal(r.status, 200, r.text);
  assert.deepEqual((await stored('needs-config')).config, { api_key: SECRET, retries: 2 });
  r = await P({ config: { never_existed: 1 } });
  assert.equal(r.status, 422, r.text);
  assert.deepEqual([r.body.type, r.body.errors[0].pointer], [type('unknown-field'), '/config']);
  // disabling and removing a required secret together is allowed (a disabled plugin may lack required settings)
  r = await P({ enabled: false, config: { api_key: null } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.status, r.body.secrets_set], ['disabled', []]);
  assert.deepEqual((await stored('needs-config')).config, { retries: 2 });
  // back as the earlier tests left it
  r = await P({ enabled: true, config: { api_key: SECRET, retries: 3 } });
  assert.deepEqual([r.status, r.body.status], [200, 'active']);
});

test('a PATCH on one node reaches the other nodes when it commits (NOTIFY), not at their next reload', async () => {
  const b = await startServer({ dbName: s.dbName, env: { SOUQ_PLUGIN_DIRS: `${ROOT}/plugins,${ROOT}/tests/plugins` } });
  try {
    const B = (method, path, json) => new Client(b.url, null).request(method, path, { pk: null, token: t, json });
    const label = `label-${crypto.randomBytes(4).toString('hex')}`;
    assert.equal((await B('GET', '/v1/admin/plugins/faulty')).body.config.label, 'faulty');
    let r = await A('PATCH', '/v1/admin/plugins/faulty', { enabled: false, config: { label } });
    assert.equal(r.status, 200, r.text);
    const seen = await eventually(async () => {
      const p = (await B('GET', '/v1/admin/plugins/faulty')).body;
      return p.config.label === label ? p : null;
    }, 5000, 'node B applying node A\'s PATCH');
    assert.equal(seen.enabled, false);
    assert.equal(seen.status, 'disabled');
    // and back, from node B this time: node A follows
    r = await B('PATCH', '/v1/admin/plugins/faulty', { enabled: true, config: { label: null } });
    assert.equal(r.status, 200, r.text);
    await eventually(async () => {
      const p = (await A('GET', '/v1/admin/plugins/faulty')).body;
      return p.config.label === 'faulty' && p.enabled ? p : null;
    }, 5000, 'node A applying node B\'s PATCH');
  } finally {
    await b.stop();
  }
});

