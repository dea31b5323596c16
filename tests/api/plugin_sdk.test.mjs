// plugin_sdk.test.mjs: the SDK functions that reach the database (souq.kv with TTLs, limits and isolation between
// plugins; souq.events.emit through the outbox to webhooks), named automation actions and their admin route (input
// validation, failures), the plugin_kv.purge job, and plugin settings per sales channel (payment providers refused at
// checkout outside their channels). Fixtures: tests/plugins-sdk/ (plugins/host/kv.c, actions.c; migrations/0031).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startStack, staffLogin, newStaff, souq, ROOT } from './lib/harness.mjs';
import { startReceiver, eventually } from './lib/receiver.mjs';

let s, t, rx;
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json, token = t) => s.client.request(method, path, { pk: null, token, json });
const run = (action, input, plugin = 'sdk-fixture') => A('POST', `/v1/admin/plugins/${plugin}/actions/${action}`, input === undefined ? undefined : { input });
const kv = async (input) => {
  const r = await run('kv', input);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.object, 'plugin_action_run');
  return r.body.output;
};
const rows = (plugin) => s.sql('SELECT key, encode(value, \'escape\') AS value, expires_at FROM plugin_kv WHERE plugin = $1 ORDER BY key', [plugin]);

before(async () => {
  rx = await startReceiver();
  s = await startStack({ env: { SOUQ_PLUGIN_DIRS: `${ROOT}/plugins,${ROOT}/tests/plugins-sdk`, SOUQ_OUTBOUND_ALLOW_CIDRS: '127.0.0.1/32',
    SOUQ_EVENTS_POLL_MS: '50' } });
  t = (await staffLogin(s.client)).access_token;
});
after(async () => {
  if (s) await s.stop();
  if (rx) await rx.close();
});

test('souq.kv: set, get, delete, and values are bytes', async () => {
  assert.deepEqual(await kv({ op: 'get', key: 'absent' }), { ok: true }, 'a missing key is nil');
  assert.deepEqual(await kv({ op: 'set', key: 'greeting', value: 'héllo' }), { ok: true, value: true });
  assert.deepEqual(await kv({ op: 'get', key: 'greeting' }), { ok: true, value: 'héllo' });
  const bytes = await run('kv_bytes');
  assert.equal(bytes.status, 200, bytes.text);
  assert.deepEqual(bytes.body.output, { same: true, length: 256 }, 'every byte value comes back as stored (NUL included)');
  assert.deepEqual(await kv({ op: 'set', key: 'greeting', value: 'again' }), { ok: true, value: true }, 'a set replaces');
  assert.deepEqual(await kv({ op: 'get', key: 'greeting' }), { ok: true, value: 'again' });
  assert.deepEqual(await kv({ op: 'delete', key: 'greeting' }), { ok: true, value: true });
  assert.deepEqual(await kv({ op: 'delete', key: 'greeting' }), { ok: true, value: false }, 'deleting a missing key answers false');
  assert.deepEqual(await kv({ op: 'get', key: 'greeting' }), { ok: true });
  assert.deepEqual(await kv({ op: 'set', key: 'ключ 🔑', value: 'x' }), { ok: true, value: true }, 'UTF-8 keys');
  assert.deepEqual(await kv({ op: 'get', key: 'ключ 🔑' }), { ok: true, value: 'x' });
});

test('souq.kv: a ttl hides the key once it passes, and the purge job deletes expired rows', async () => {
  assert.deepEqual(await kv({ op: 'set', key: 'session', value: 'v', ttl: 60 }), { ok: true, value: true });
  const [row] = (await rows('sdk-fixture')).filter((r) => r.key === 'session');
  const left = (new Date(row.expires_at) - Date.now()) / 1000;
  assert.ok(left > 50 && left <= 61, `expires in about 60 s (${left})`);
  // age it instead of waiting: expired keys are invisible at once, to get, delete and incr
  await s.sql("UPDATE plugin_kv SET expires_at = now() - interval '1 second' WHERE plugin = 'sdk-fixture' AND key = 'session'");
  assert.deepEqual(await kv({ op: 'get', key: 'session' }), { ok: true });
  assert.deepEqual(await kv({ op: 'delete', key: 'session' }), { ok: true, value: false }, 'an expired key is not there to delete');
  await kv({ op: 'set', key: 'stale', value: 'v', ttl: 60 });
  await s.sql("UPDATE plugin_kv SET expires_at = now() - interval '1 second' WHERE plugin = 'sdk-fixture' AND key = 'stale'");
  assert.deepEqual(await kv({ op: 'incr', key: 'stale' }), { ok: true, value: 1 }, 'incr of an expired key starts from 0');
  assert.equal((await rows('sdk-fixture')).find((r) => r.key === 'stale').expires_at, null, 'and without the old expiry');
  assert.deepEqual(await kv({ op: 'set', key: 'forever', value: 'v', ttl: 60 }), { ok: true, value: true });
  assert.deepEqual(await kv({ op: 'set', key: 'forever', value: 'w' }), { ok: true, value: true });
  assert.equal((await rows('sdk-fixture')).find((r) => r.key === 'forever').expires_at, null, 'a set without ttl clears the expiry');
  // the purge job: scheduled by the migration, run here through the job's SQL and through the runner
  const [sched] = await s.sql("SELECT kind, spec, enabled FROM job_schedules WHERE id = 'plugin_kv.purge'");
  assert.deepEqual(sched, { kind: 'plugin_kv.purge', spec: 'every 5 minutes', enabled: true });
  await kv({ op: 'set', key: 'old-1', value: 'v', ttl: 60 });
  await kv({ op: 'set', key: 'old-2', value: 'v', ttl: 60 });
  await s.sql("UPDATE plugin_kv SET expires_at = now() - interval '1 second' WHERE plugin = 'sdk-fixture' AND key LIKE 'old-%'");
  await s.sql("INSERT INTO jobs (kind) VALUES ('plugin_kv.purge')");
  const job = await eventually(async () => (await s.sql("SELECT state FROM jobs WHERE kind = 'plugin_kv.purge' AND schedule_id IS NULL AND state = 'completed'"))[0], 20000, 'the purge job completed');
  assert.equal(job.state, 'completed');
  const keys = (await rows('sdk-fixture')).map((r) => r.key);
  assert.ok(!keys.includes('old-1') && !keys.includes('old-2') && !keys.includes('session'), `expired keys deleted: ${keys}`);
  assert.ok(keys.includes('forever') && keys.includes('stale'), 'live keys stay');
});

test('souq.kv.incr: atomic counters (concurrent calls all count), steps, fixed windows, and non-integers', async () => {
  const results = await Promise.all(Array.from({ length: 20 }, () => kv({ op: 'incr', key: 'hits' })));
  assert.deepEqual(results.map((r) => r.value).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1), 'every increment counted once');
  assert.deepEqual(await kv({ op: 'incr', key: 'hits', by: -5 }), { ok: true, value: 15 });
  assert.deepEqual(await kv({ op: 'get', key: 'hits' }), { ok: true, value: '15' }, 'a counter reads as its decimal text');
  assert.deepEqual(await kv({ op: 'incr', key: 'window', by: 1, ttl: 60 }), { ok: true, value: 1 });
  const first = (await rows('sdk-fixture')).find((r) => r.key === 'window').expires_at;
  assert.deepEqual(await kv({ op: 'incr', key: 'window', by: 1, ttl: 600 }), { ok: true, value: 2 });
  assert.deepEqual((await rows('sdk-fixture')).find((r) => r.key === 'window').expires_at, first, 'a live counter keeps its expiry (fixed window)');
  await kv({ op: 'set', key: 'word', value: 'abc' });
  const r = await kv({ op: 'incr', key: 'word' });
  assert.equal(r.ok, false);
  assert.match(r.error, /^souq\.kv\.incr: the value at this key is not an integer/);
  assert.deepEqual(await run('kv_bytes').then((x) => x.body.output), { same: true, length: 256 });
  assert.match((await kv({ op: 'incr', key: 'bytes' })).error, /not an integer/, 'binary values are not integers either');
  await kv({ op: 'set', key: 'big', value: '9223372036854775807' });
  const o = await kv({ op: 'incr', key: 'big' });
  assert.equal(o.ok, false, 'overflow is an error');
  assert.match(o.error, /^souq\.kv\.incr: /);
  assert.deepEqual(await kv({ op: 'get', key: 'big' }), { ok: true, value: '9223372036854775807' }, 'and changes nothing');
});

test('souq.kv: bad arguments and limits are clear Lua errors', async () => {
  const r = await run('kv_args', {});
  assert.equal(r.status, 200, r.text);
  const e = r.body.output;
  assert.match(e.key_number, /souq\.kv\.get: the key must be a string/);
  assert.match(e.key_empty, /souq\.kv\.get: the key must be 1-256 bytes of UTF-8 without control characters/);
  assert.match(e.key_long, /1-256 bytes/);
  assert.match(e.key_control, /without control characters/);
  assert.match(e.value_table, /souq\.kv\.set: the value must be a string/);
  assert.match(e.value_large, /souq\.kv\.set: the value is larger than 65536 bytes/);
  assert.match(e.ttl_zero, /ttl must be an integer number of seconds from 1 to/);
  assert.match(e.ttl_float, /ttl must be an integer/);
  assert.match(e.by_float, /souq\.kv\.incr: by must be an integer/);
  assert.match(e.in_coroutine, /can only be called while a hook runs, and not inside a coroutine/);
  assert.match(e.emit_type, /souq\.events\.emit: type must be 1-64 of a-z 0-9 _ \./);
  assert.match(e.emit_dots, /souq\.events\.emit: type must be/);
  assert.match(e.emit_payload, /souq\.events\.emit: payload must be a table/);
  assert.match(e.emit_array, /payload must be a table with string keys/);
  // the largest value is fine, one byte more is not
  assert.deepEqual(await kv({ op: 'set', key: 'max', value: 'v', repeat: 65536 }), { ok: true, value: true });
  assert.equal((await s.sql("SELECT octet_length(value) AS n FROM plugin_kv WHERE plugin = 'sdk-fixture' AND key = 'max'"))[0].n, 65536);
  // 64 store calls per hook call
  const m = await run('kv_many', { n: 70 });
  assert.equal(m.status, 200, m.text);
  assert.equal(m.body.output.ok, 64);
  assert.match(m.body.output.error, /at most 64 souq\.kv and souq\.events calls per hook call/);
});

test('souq.kv: at most 10,000 live keys per plugin; expired keys do not count; rewriting a key is always fine', async () => {
  await s.sql("DELETE FROM plugin_kv WHERE plugin = 'sdk-fixture'");
  await s.sql("INSERT INTO plugin_kv (plugin, key, value) SELECT 'sdk-fixture', 'fill-' || i, '\\x76' FROM generate_series(1, 9999) i");
  assert.deepEqual(await kv({ op: 'set', key: 'the-last', value: 'v' }), { ok: true, value: true }, 'the 10,000th key');
  const over = await kv({ op: 'set', key: 'one-too-many', value: 'v' });
  assert.equal(over.ok, false);
  assert.match(over.error, /^souq\.kv\.set: the plugin already has 10000 keys \(the limit\)/);
  const incr = await kv({ op: 'incr', key: 'one-too-many' });
  assert.match(incr.error, /already has 10000 keys/, 'incr of a new key too');
  assert.deepEqual(await kv({ op: 'set', key: 'fill-1', value: 'rewritten' }), { ok: true, value: true }, 'an existing key can be rewritten');
  assert.deepEqual(await run('set', { key: 'free', value: 'x' }, 'sdk-other').then((r) => r.body.output), { ok: true }, 'another plugin has its own quota');
  await s.sql("UPDATE plugin_kv SET expires_at = now() - interval '1 second' WHERE plugin = 'sdk-fixture' AND key IN ('fill-2', 'fill-3')");
  assert.deepEqual(await kv({ op: 'set', key: 'one-too-many', value: 'v' }), { ok: true, value: true }, 'an expired key frees its place');
  assert.deepEqual(await kv({ op: 'set', key: 'fill-3', value: 'back' }), { ok: true, value: true }, 'an expired key may come back while there is room');
  const back = await kv({ op: 'set', key: 'fill-2', value: 'back' });
  assert.match(back.error ?? '', /already has 10000 keys/, 'but it counts as a new key');
  await s.sql("DELETE FROM plugin_kv WHERE plugin = 'sdk-fixture'");
});

test('souq.kv: plugins never see each other\'s keys', async () => {
  await kv({ op: 'set', key: 'shared-name', value: 'fixture' });
  let r = await run('get', { key: 'shared-name' }, 'sdk-other');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.output, {}, 'the other plugin does not see it');
  r = await run('set', { key: 'shared-name', value: 'other' }, 'sdk-other');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(await kv({ op: 'get', key: 'shared-name' }), { ok: true, value: 'fixture' }, 'nor overwrite it');
  assert.deepEqual((await run('get', { key: 'shared-name' }, 'sdk-other')).body.output, { value: 'other' });
  const all = await s.sql("SELECT plugin, convert_from(value, 'UTF8') AS value FROM plugin_kv WHERE key = 'shared-name' ORDER BY plugin");
  assert.deepEqual(all, [{ plugin: 'sdk-fixture', value: 'fixture' }, { plugin: 'sdk-other', value: 'other' }]);
});

test('souq.kv on the request path: a webhook hook counts its calls', async () => {
  await s.sql("DELETE FROM plugin_kv WHERE plugin = 'sdk-fixture' AND key = 'webhooks'");
  for (const n of [1, 2]) {
    const r = await s.client.request('POST', '/v1/hooks/sdk-fixture', { pk: null, json: { any: 'thing' } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.body.status, r.body.event_id], ['applied', `evt_${n}`]);
  }
});

test('handle_webhook payment moves: malformed ones fail the plugin (502, nothing recorded); a plugin moves only its own providers\' payments', async () => {
  const hook = (json) => s.client.request('POST', '/v1/hooks/sdk-fixture', { pk: null, json });
  for (const [what, move] of [
    ['no action', { provider_ref: 'pi_1' }],
    ['an unknown action', { action: 'stolen', provider_ref: 'pi_1' }],
    ['no provider_ref', { action: 'captured' }],
    ['a negative amount', { action: 'captured', provider_ref: 'pi_1', amount: -1 }],
    ['a float amount', { action: 'captured', provider_ref: 'pi_1', amount: 1.5 }],
    ['a refund without its total', { action: 'refunded', provider_ref: 'pi_1' }],
    ['an upper-case currency', { action: 'captured', provider_ref: 'pi_1', currency: 'EUR' }],
    ['not a table', 'captured'],
  ]) {
    const id = `bad_${crypto.randomBytes(4).toString('hex')}`;
    const r = await hook({ id, move });
    assert.equal(r.status, 502, `${what}: ${r.text}`);
    assert.equal(r.body.type, type('plugin-failed'));
    assert.equal((await s.sql('SELECT count(*)::int AS n FROM plugin_webhook_events WHERE event_id = $1', [id]))[0].n, 0, what);
  }
  assert.match(s.server.log, /hook=handle_webhook reason=error .*payment\.action must be captured, failed or refunded/);
  // a payment of the built-in test provider: sdk-fixture provides no payment ids, so it cannot touch it
  await s.sql("INSERT INTO payments (provider, status, currency_code, amount, gateway_key, provider_ref) VALUES ('test', 'authorized', 'eur', 100, $1, 'ch_other')", [crypto.randomUUID()]);
  const r = await hook({ id: 'evt_isolation', move: { action: 'captured', provider_ref: 'ch_other' } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.status, r.body.payment.result, r.body.payment.detail], ['applied', 'ignored', 'no payment of this plugin has this provider_ref']);
  assert.equal((await s.sql("SELECT status FROM payments WHERE provider_ref = 'ch_other'"))[0].status, 'authorized');
});

test('souq.events.emit: plugin.<plugin>.<type> in the outbox, delivered to subscribed webhooks; payload capped', async () => {
  const wh = await A('POST', '/v1/admin/webhooks', { url: rx.url + '/status/200', event_types: ['plugin.sdk-fixture.*'] });
  assert.equal(wh.status, 201, wh.text);
  const r = await run('emit', { type: 'loyalty.points_earned', payload: { customer: 'cus_1', points: 10 } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.output.ok, true);
  const id = r.body.output.value;
  assert.match(id, /^evt_[0-9a-hjkmnp-tv-z]{26}$/);
  const [ev] = await s.sql('SELECT type, payload FROM outbox_events WHERE id = $1', [id]);
  assert.deepEqual(ev, { type: 'plugin.sdk-fixture.loyalty.points_earned', payload: { customer: 'cus_1', points: 10 } });
  await eventually(() => rx.requests.find((q) => q.headers['souq-event-id'] === id), 20000, 'the webhook delivery');
  const got = rx.requests.find((q) => q.headers['souq-event-id'] === id);
  assert.equal(got.headers['souq-event-type'], 'plugin.sdk-fixture.loyalty.points_earned');
  assert.deepEqual(JSON.parse(got.body).data, { customer: 'cus_1', points: 10 });
  // an empty payload is {}; the cap is 64 KiB of JSON
  const empty = await run('emit', { type: 'ping' });
  assert.deepEqual((await s.sql('SELECT payload FROM outbox_events WHERE id = $1', [empty.body.output.value]))[0].payload, {});
  const big = await run('emit', { type: 'big', pad: 70000 });
  assert.equal(big.status, 200, big.text);
  assert.equal(big.body.output.ok, false);
  assert.match(big.body.output.error, /souq\.events\.emit: the payload is larger than 65536 bytes as JSON/);
  assert.equal((await s.sql("SELECT count(*)::int AS n FROM outbox_events WHERE type = 'plugin.sdk-fixture.big'"))[0].n, 0, 'nothing written');
  // the family is in the catalogue
  const doc = (await s.client.request('GET', '/openapi.json', { pk: null, raw: true })).body;
  assert.match('plugin.sdk-fixture.loyalty.points_earned', new RegExp(doc['x-events'].families['plugin.{plugin}.{type}'].pattern));
});

test('actions: the admin route validates input against the action\'s schema and maps failures', async () => {
  const p = await A('GET', '/v1/admin/plugins/sdk-fixture');
  assert.equal(p.status, 200, p.text);
  const kvAction = p.body.actions.find((a) => a.name === 'kv');
  assert.equal(kvAction.description, 'Runs one souq.kv call and answers its result or error.');
  assert.deepEqual(kvAction.input_schema.op.enum, ['get', 'set', 'delete', 'incr']);
  assert.equal(p.body.sales_channels, null);
  let r = await run('kv', { op: 'explode', key: 'k' });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.body.type, type('validation-failed'));
  assert.deepEqual(r.body.errors.map((e) => [e.pointer, e.code]), [['/input/op', 'invalid_value']]);
  r = await run('kv', { op: 'get' });
  assert.equal(r.status, 422);
  assert.deepEqual(r.body.errors.map((e) => [e.pointer, e.code]), [['/input/key', 'required']]);
  r = await run('kv', { op: 'get', key: 'k', extra: 1 });
  assert.equal(r.status, 422);
  assert.equal(r.body.type, type('unknown-field'));
  r = await A('POST', '/v1/admin/plugins/sdk-fixture/actions/kv', { input: 'text' });
  assert.equal(r.status, 422);
  assert.deepEqual(r.body.errors.map((e) => e.pointer), ['/input']);
  r = await A('POST', '/v1/admin/plugins/sdk-fixture/actions/kv', { inputs: {} });
  assert.equal(r.status, 422);
  assert.equal(r.body.type, type('unknown-field'));
  r = await s.client.request('POST', '/v1/admin/plugins/sdk-fixture/actions/kv', { pk: null, token: t, body: '{"input":', headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 400);
  assert.equal(r.body.type, type('invalid-json'));
  r = await run('nope', {});
  assert.equal(r.status, 404);
  assert.equal(r.body.type, type('not-found'));
  r = await run('kv', { op: 'get', key: 'k' }, 'no-such-plugin');
  assert.equal(r.status, 404);
  r = await A('POST', '/v1/admin/plugins/sdk-fixture/actions/fail');
  assert.equal(r.status, 502, r.text);
  assert.equal(r.body.type, type('plugin-failed'));
  assert.doesNotMatch(r.text, /on purpose/, 'the plugin\'s message stays in the log');
  assert.match(s.server.log, /plugin=sdk-fixture hook=action_fail reason=error/);
  r = await A('POST', '/v1/admin/plugins/sdk-fixture/actions/kv_args');
  assert.equal(r.status, 200, 'no body: the input is {}');
  // permissions: plugins:write
  const ro = await newStaff(s.client, t, 'read_only');
  r = await run('kv', { op: 'get', key: 'k' }, 'sdk-fixture').then(() => A('POST', '/v1/admin/plugins/sdk-fixture/actions/kv', { input: { op: 'get', key: 'k' } }, ro.token));
  assert.equal(r.status, 403);
  r = await s.client.request('POST', '/v1/admin/plugins/sdk-fixture/actions/kv', { pk: null, json: { input: {} } });
  assert.equal(r.status, 401);
  // a disabled plugin's actions are not found
  assert.equal((await A('PATCH', '/v1/admin/plugins/sdk-other', { enabled: false })).status, 200);
  r = await run('get', { key: 'k' }, 'sdk-other');
  assert.equal(r.status, 404);
  assert.equal((await A('PATCH', '/v1/admin/plugins/sdk-other', { enabled: true })).status, 200);
});

test('sales channels: a plugin restricted to some channels is refused at checkout elsewhere (422 /payment/provider); settings validated and kept across reloads', async () => {
  const eu = (await A('POST', '/v1/admin/regions', { name: 'EU', currency_code: 'eur', countries: ['de'] })).body;
  const shipping = (await A('POST', '/v1/admin/shipping-options', { name: 'Standard', region_id: eu.id, provider: 'flat_rate', amount: 0 })).body.id;
  const loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Berlin' })).body.id;
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
  const p = await A('POST', '/v1/admin/products', { title: 'Channel thing', status: 'active',
    variants: [{ sku: `CH-${process.pid}`, prices: [{ currency_code: 'eur', amount: 900 }], inventory: [{ location_id: loc, quantity: 100 }] }] });
  assert.equal(p.status, 201, p.text);
  const other = await A('POST', '/v1/admin/sales-channels', { name: 'Wholesale' });
  assert.equal(other.status, 201, other.text);
  const checkout = async () => {
    const c = await s.client.request('POST', '/v1/store/carts', { json: { email: 'b@example.com', items: [{ variant_id: p.body.variants[0].id, quantity: 1 }],
      shipping_address: { first_name: 'A', last_name: 'L', address_1: 'Unter den Linden 1', city: 'Berlin', postal_code: '10117', country_code: 'de' } } });
    assert.equal(c.status, 201, c.text);
    assert.equal((await s.client.request('POST', `/v1/store/carts/${c.body.id}/shipping-methods`, { json: { option_id: shipping } })).status, 200);
    return s.client.request('POST', `/v1/store/carts/${c.body.id}/complete`, { json: { payment: { provider: 'manual' } }, headers: { 'idempotency-key': crypto.randomUUID() } });
  };
  // payment-manual provides payment:manual: restricted to the other channel, the storefront's channel cannot use it
  let r = await A('PATCH', '/v1/admin/plugins/payment-manual', { sales_channels: [other.body.id] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.sales_channels, [other.body.id]);
  assert.deepEqual((await s.sql("SELECT sales_channels FROM plugin_settings WHERE name = 'payment-manual'"))[0].sales_channels, [other.body.id]);
  const offered = async () => (await s.client.request('GET', '/v1/store/payment-providers')).body.data.map((p) => p.id);
  assert.deepEqual(await offered(), ['test'], 'manual is not offered in this channel');
  r = await checkout();
  assert.equal(r.status, 422, r.text);
  assert.equal(r.body.type, type('validation-failed'));
  assert.deepEqual(r.body.errors.map((e) => [e.pointer, e.code]), [['/payment/provider', 'not_allowed']]);
  assert.match(r.body.detail, /not available in this sales channel/);
  // both channels: fine; a reload keeps the setting
  r = await A('PATCH', '/v1/admin/plugins/payment-manual', { sales_channels: [other.body.id, s.channel] });
  assert.equal(r.status, 200, r.text);
  assert.equal((await A('POST', '/v1/admin/plugins/reload')).status, 200);
  assert.deepEqual((await A('GET', '/v1/admin/plugins/payment-manual')).body.sales_channels, [other.body.id, s.channel]);
  assert.deepEqual(await offered(), ['manual', 'test']);
  r = await checkout();
  assert.equal(r.status, 201, r.text);
  // PATCH of other settings keeps the channels; null serves every channel again
  r = await A('PATCH', '/v1/admin/plugins/payment-manual', { enabled: true });
  assert.deepEqual(r.body.sales_channels, [other.body.id, s.channel]);
  r = await A('PATCH', '/v1/admin/plugins/payment-manual', { sales_channels: [other.body.id] });
  assert.equal((await checkout()).status, 422);
  r = await A('PATCH', '/v1/admin/plugins/payment-manual', { sales_channels: null });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.sales_channels, null);
  assert.equal((await checkout()).status, 201);
  // bad values: nothing stored
  for (const [what, v, pointer, code] of [
    ['an unknown channel', [other.body.id, 'sc_00000000000000000000000000'], '/sales_channels/1', 'not_found'],
    ['not ids', ['wholesale'], '/sales_channels', 'invalid_value'],
    ['an empty list', [], '/sales_channels', 'invalid_value'],
    ['a channel twice', [other.body.id, other.body.id], '/sales_channels', 'invalid_value'],
    ['a string', other.body.id, '/sales_channels', 'invalid_value'],
  ]) {
    r = await A('PATCH', '/v1/admin/plugins/payment-manual', { sales_channels: v });
    assert.equal(r.status, 422, `${what}: ${r.text}`);
    assert.deepEqual(r.body.errors.map((e) => [e.pointer, e.code]), [[pointer, code]], what);
  }
  assert.equal((await s.sql("SELECT sales_channels FROM plugin_settings WHERE name = 'payment-manual'"))[0].sales_channels, null);
});

test('souq plugin test: souq.kv runs on the harness\'s in-memory store and souq.events.emit is recorded', () => {
  const r = souq(['plugin', 'test', `${ROOT}/tests/plugins-sdk/sdk-fixture`]);
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /\n4 passed, 0 failed\n/);
  assert.doesNotMatch(r.stdout, /FAIL/);
});
