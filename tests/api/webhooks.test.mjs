// webhooks.test.mjs: webhook endpoints (admin CRUD, secrets shown once, rotation), signed deliveries to a loopback
// receiver, the retry rules (500, 429, timeouts retried on the shortened schedule; 400 not), disabling after
// persistent failure, replay and test sends, the delivery log, and the egress policy (SSRF) at creation and at
// delivery (core/events*.c, api/dispatcher.c, api/http_client.c, migrations/0023_events_webhooks.sql).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, startServer, staffLogin, newStaff, newCustomer, Client } from './lib/harness.mjs';
import { startReceiver, signatureValid, eventually } from './lib/receiver.mjs';

const ENV = {
  SOUQ_OUTBOUND_ALLOW_CIDRS: '127.0.0.1/32',
  SOUQ_WEBHOOK_RETRY_BASE_MS: '40', // schedule 40 ms, 200 ms, 1.2 s, ...
  SOUQ_WEBHOOK_MAX_ATTEMPTS: '3',
  SOUQ_WEBHOOK_TIMEOUT_MS: '400',
  SOUQ_WEBHOOK_CONNECT_TIMEOUT_MS: '300',
  SOUQ_EVENTS_POLL_MS: '50',
  SOUQ_EVENTS_LEASE_MS: '3000',
};
let s, t, rx;
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json, token = t) => s.client.request(method, path, { pk: null, token, json });
let seq = 0;
const evType = (name) => `test.${name}_${process.pid}_${++seq}`;
const emit = async (typ, payload = {}) => (await s.sql('INSERT INTO outbox_events (type, payload) VALUES ($1, $2) RETURNING id', [typ, payload]))[0].id;
const delivery = async (eventId) => (await s.sql('SELECT * FROM event_deliveries WHERE event_id = $1', [eventId]))[0];
const final = (eventId) => eventually(async () => {
  const d = await delivery(eventId);
  return d && ['completed', 'discarded', 'canceled'].includes(d.state) ? d : null;
}, 20000, `final state of the delivery of ${eventId}`);
const hook = async (path, event_types, extra = {}) => {
  const r = await A('POST', '/v1/admin/webhooks', { url: rx.url + path, event_types, ...extra });
  assert.equal(r.status, 201, r.text);
  return r.body;
};

before(async () => {
  rx = await startReceiver();
  s = await startStack({ env: ENV });
  t = (await staffLogin(s.client)).access_token;
});
after(async () => {
  if (s) await s.stop();
  if (rx) await rx.close();
});

test('CRUD: the secret is shown once, lists filter, PATCH and DELETE', async () => {
  const created = await A('POST', '/v1/admin/webhooks', { url: rx.url + '/status/200', event_types: ['order.placed', 'order.*'], description: 'ERP' });
  assert.equal(created.status, 201, created.text);
  assert.match(created.body.secret, /^whsec_[A-Za-z0-9_-]{43}$/);
  assert.match(created.headers.get('cache-control'), /no-store/);
  assert.equal(created.body.enabled, true);
  const id = created.body.id;
  let r = await A('GET', `/v1/admin/webhooks/${id}`);
  assert.equal(r.status, 200);
  assert.equal(r.body.secret, undefined, 'never shown again');
  assert.deepEqual(r.body.event_types, ['order.placed', 'order.*']);
  const etag = r.headers.get('etag');
  r = await s.client.request('PATCH', `/v1/admin/webhooks/${id}`, { pk: null, token: t, json: { enabled: false, description: null }, headers: { 'if-match': '"0000"' } });
  assert.equal(r.status, 412);
  r = await s.client.request('PATCH', `/v1/admin/webhooks/${id}`, { pk: null, token: t, json: { enabled: false, description: null }, headers: { 'if-match': etag } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.enabled, false);
  assert.equal(r.body.description, null);
  r = await A('GET', '/v1/admin/webhooks?enabled=false');
  assert.ok(r.body.data.some((w) => w.id === id));
  r = await A('GET', '/v1/admin/webhooks?enabled=true');
  assert.ok(!r.body.data.some((w) => w.id === id));
  const stored = await s.sql('SELECT secret FROM webhook_endpoints WHERE id = $1', [id]);
  assert.equal(stored[0].secret, created.body.secret);
  r = await A('DELETE', `/v1/admin/webhooks/${id}`);
  assert.equal(r.status, 204);
  r = await A('GET', `/v1/admin/webhooks/${id}`);
  assert.equal(r.status, 404);
  assert.equal(r.body.type, type('not-found'));
});

test('bad input is refused with the field, and nothing is written', async () => {
  const before = (await s.sql('SELECT count(*)::int AS n FROM webhook_endpoints'))[0].n;
  const cases = [
    [{ event_types: ['*'] }, '/url', 'validation-failed'],
    [{ url: rx.url + '/x' }, '/event_types', 'validation-failed'],
    [{ url: rx.url + '/x', event_types: [] }, '/event_types', 'validation-failed'],
    [{ url: rx.url + '/x', event_types: ['Order.Placed'] }, '/event_types/0', 'validation-failed'],
    [{ url: rx.url + '/x', event_types: ['order.'] }, '/event_types/0', 'validation-failed'],
    [{ url: rx.url + '/x', event_types: 'order.placed' }, '/event_types', 'validation-failed'],
    [{ url: 'ftp://example.com/x', event_types: ['*'] }, '/url', 'validation-failed'],
    [{ url: 'file:///etc/passwd', event_types: ['*'] }, '/url', 'validation-failed'],
    [{ url: 'http://user:pw@example.com/', event_types: ['*'] }, '/url', 'validation-failed'],
    [{ url: 'not a url', event_types: ['*'] }, '/url', 'validation-failed'],
    [{ url: rx.url + '/x', event_types: ['*'], enabled: 'yes' }, '/enabled', 'validation-failed'],
    [{ url: rx.url + '/x', event_types: ['*'], description: 'd'.repeat(501) }, '/description', 'validation-failed'],
  ];
  for (const [body, pointer, slug] of cases) {
    const r = await A('POST', '/v1/admin/webhooks', body);
    assert.equal(r.status, 422, `${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.body.type, type(slug));
    assert.ok(r.body.errors.some((e) => e.pointer === pointer), `${JSON.stringify(body)} -> ${JSON.stringify(r.body.errors)}`);
  }
  let r = await A('POST', '/v1/admin/webhooks', { url: rx.url + '/x', event_types: ['*'], secret: 'mine' });
  assert.equal(r.status, 422);
  assert.equal(r.body.type, type('unknown-field'));
  r = await s.client.request('POST', '/v1/admin/webhooks', { pk: null, token: t, body: '{"url":', headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 400);
  assert.equal(r.body.type, type('invalid-json'));
  assert.equal((await s.sql('SELECT count(*)::int AS n FROM webhook_endpoints'))[0].n, before, 'nothing written');
});

test('SSRF: private, loopback outside the allowlist, link-local and metadata addresses are refused at /url', async () => {
  const refused = ['http://10.0.0.1/hook', 'http://169.254.169.254/latest/meta-data/', 'http://127.0.0.2:9/', 'http://[::1]:9/',
    'http://192.168.1.10/', 'http://172.16.0.1/', 'http://0.0.0.0/', 'http://[fe80::1]/', 'http://[::ffff:10.0.0.1]/', 'http://224.0.0.1/'];
  for (const url of refused) {
    const r = await A('POST', '/v1/admin/webhooks', { url, event_types: ['*'] });
    assert.equal(r.status, 422, `${url}: ${r.text}`);
    const e = r.body.errors.find((x) => x.pointer === '/url');
    assert.ok(e, url);
    assert.equal(e.code, 'not_allowed', url);
  }
  // an update to such a URL is refused too, and the endpoint keeps its URL
  const w = await hook('/status/200', ['test.never']);
  let r = await A('PATCH', `/v1/admin/webhooks/${w.id}`, { url: 'http://169.254.169.254/' });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/url');
  r = await A('GET', `/v1/admin/webhooks/${w.id}`);
  assert.equal(r.body.url, rx.url + '/status/200');
  await A('DELETE', `/v1/admin/webhooks/${w.id}`);

  // without an allowlist, a host name that resolves to loopback is refused (second node on the same database)
  const strict = await startServer({ dbName: s.dbName, env: { SOUQ_EVENTS_DISPATCH: 'off' } });
  try {
    const c = new Client(strict.url, s.pk);
    for (const url of ['http://localhost:8080/hook', 'http://127.0.0.1/hook', `${rx.url}/status/200`]) {
      r = await c.request('POST', '/v1/admin/webhooks', { pk: null, token: t, json: { url, event_types: ['*'] } });
      assert.equal(r.status, 422, `${url}: ${r.text}`);
      assert.equal(r.body.errors[0].pointer, '/url');
      assert.equal(r.body.errors[0].code, 'not_allowed');
    }
  } finally {
    await strict.stop();
  }
});

test('a real event is delivered signed, with its id and type; the logs show it', async () => {
  const w = await hook('/status/200', ['customer.created']);
  const c = await newCustomer(s.client);
  await rx.until(() => rx.requests.some((q) => q.path === '/status/200' && q.body.includes(c.customer.id)), 20000, 'customer.created delivery');
  const q = rx.requests.find((x) => x.path === '/status/200' && x.body.includes(c.customer.id));
  assert.equal(q.headers['content-type'], 'application/json');
  assert.equal(q.headers['souq-event-type'], 'customer.created');
  assert.ok(signatureValid(q.headers['souq-signature'], q.body, w.secret), q.headers['souq-signature']);
  assert.ok(!signatureValid(q.headers['souq-signature'], q.body, w.secret + 'x'));
  assert.ok(!signatureValid(q.headers['souq-signature'], q.body + ' ', w.secret), 'the signature covers the body');
  const body = JSON.parse(q.body);
  assert.equal(body.id, q.headers['souq-event-id']);
  assert.equal(body.type, 'customer.created');
  assert.equal(body.object, 'event');
  assert.equal(body.data.id, c.customer.id);
  assert.equal(body.data.email, c.email);
  assert.equal(q.headers['souq-delivery-attempt'], '1');

  const d = await final(body.id);
  assert.equal(d.state, 'completed');
  let r = await A('GET', `/v1/admin/webhooks/${w.id}/deliveries`);
  assert.equal(r.status, 200);
  const logged = r.body.data.find((x) => x.event_id === body.id);
  assert.equal(logged.state, 'completed');
  assert.equal(logged.attempt_log.length, 1);
  assert.equal(logged.attempt_log[0].response_status, 200);
  assert.equal(logged.attempt_log[0].error, null);
  r = await A('GET', `/v1/admin/webhooks/${w.id}/deliveries?state=completed`);
  assert.ok(r.body.data.every((x) => x.state === 'completed'));
  r = await A('GET', '/v1/admin/events?type=customer.created');
  assert.ok(r.body.data.some((e) => e.id === body.id && e.dispatch_state === 'dispatched'));
  r = await A('GET', `/v1/admin/events/${body.id}`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.data, body.data);
  assert.ok(r.body.deliveries.some((x) => x.webhook_id === w.id && x.state === 'completed'));
  await A('DELETE', `/v1/admin/webhooks/${w.id}`);
});

test('twenty deliveries at once are all recorded (in batches), with an answer that is not UTF-8 logged as text', async () => {
  const ty = evType('batch');
  const w = await hook('/latin1', [ty]);
  const ids = [];
  for (let i = 0; i < 20; i++) ids.push(await emit(ty, { i }));
  const ds = await Promise.all(ids.map((id) => final(id)));
  assert.deepEqual(ds.map((d) => [d.state, d.attempts]), ids.map(() => ['completed', 1]));
  const r = await A('GET', `/v1/admin/webhooks/${w.id}/deliveries?limit=100`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.data.length, 20);
  for (const d of r.body.data) assert.deepEqual(d.attempt_log.map((a) => [a.attempt, a.response_status, a.error, a.response_body]), [[1, 200, null, 'caf?']]);
  await A('DELETE', `/v1/admin/webhooks/${w.id}`);
});

test('5xx is retried on the schedule with the same event id and body, then discarded and the endpoint disabled', async () => {
  const typ = evType('fail500');
  const w = await hook('/status/500', [typ]);
  const id = await emit(typ, { n: 1 });
  const d = await final(id);
  assert.equal(d.state, 'discarded');
  assert.equal(d.attempts, 3);
  assert.equal(d.last_status, 500);
  const got = rx.of(id);
  assert.equal(got.length, 3, 'three attempts (max_attempts), no more');
  assert.ok(got.every((q) => q.body === got[0].body), 'the same bytes on every attempt');
  assert.deepEqual(got.map((q) => q.headers['souq-delivery-attempt']), ['1', '2', '3']);
  const log = await s.sql('SELECT attempt, started_at, response_status, error FROM event_delivery_attempts WHERE delivery_id = $1 ORDER BY attempt', [d.id]);
  assert.deepEqual(log.map((a) => [a.attempt, a.response_status, a.error]), [[1, 500, 'http_500'], [2, 500, 'http_500'], [3, 500, 'http_500']]);
  // the waits follow the schedule: at least base (40 ms) and 5 x base (200 ms), less 10 % jitter
  assert.ok(log[1].started_at - log[0].started_at >= 36, `first retry after ${log[1].started_at - log[0].started_at} ms`);
  assert.ok(log[2].started_at - log[1].started_at >= 180, `second retry after ${log[2].started_at - log[1].started_at} ms`);
  let r = await A('GET', `/v1/admin/webhooks/${w.id}`);
  assert.equal(r.body.enabled, false);
  assert.match(r.body.disabled_reason, /3 attempts/);
  assert.ok(r.body.failing_since);
  const ev = await eventually(async () => (await s.sql("SELECT payload FROM outbox_events WHERE type = 'webhook_endpoint.disabled' AND payload->>'webhook_id' = $1", [w.id]))[0], 5000, 'disabled event');
  assert.equal(ev.payload.reason, 'persistent_failure');
  assert.equal(ev.payload.delivery_id, d.id);
  // a disabled endpoint gets nothing new: the next event fans out to no delivery
  const id2 = await emit(typ);
  await eventually(async () => (await s.sql("SELECT 1 FROM outbox_events WHERE id = $1 AND state = 'completed'", [id2]))[0], 10000, 'fan-out');
  assert.equal(await delivery(id2), undefined);
  assert.equal(rx.of(id2).length, 0);
  // re-enabling clears the record
  r = await A('PATCH', `/v1/admin/webhooks/${w.id}`, { enabled: true });
  assert.equal(r.body.enabled, true);
  assert.equal(r.body.disabled_reason, null);
  assert.equal(r.body.failing_since, null);
  await A('DELETE', `/v1/admin/webhooks/${w.id}`);
});

test('429 and timeouts are retried (a later 200 completes); 400 is not retried and does not disable', async () => {
  const typ = evType('retry');
  const w429 = await hook('/seq/429,200', [typ]);
  const wHang = await hook('/hang', [typ]);
  const w400 = await hook('/status/400', [typ]);
  const id = await emit(typ);
  const deliveries = async () => Object.fromEntries((await s.sql('SELECT target_id, state, attempts, last_status, last_error FROM event_deliveries WHERE event_id = $1', [id])).map((d) => [d.target_id, d]));
  const all = await eventually(async () => {
    const m = await deliveries();
    return Object.keys(m).length === 3 && Object.values(m).every((d) => ['completed', 'discarded'].includes(d.state)) ? m : null;
  }, 20000, 'three final deliveries');
  assert.equal(all[w429.id].state, 'completed');
  assert.equal(all[w429.id].attempts, 2);
  assert.equal(all[w400.id].state, 'discarded');
  assert.equal(all[w400.id].attempts, 1, '4xx is final');
  assert.equal(all[w400.id].last_status, 400);
  assert.equal(all[wHang.id].state, 'discarded');
  assert.equal(all[wHang.id].attempts, 3);
  assert.equal(all[wHang.id].last_error, 'timeout');
  assert.equal(rx.of(id).filter((q) => q.path === '/status/400').length, 1);
  let r = await A('GET', `/v1/admin/webhooks/${w400.id}`);
  assert.equal(r.body.enabled, true, 'a client error is not an outage');
  r = await A('GET', `/v1/admin/webhooks/${wHang.id}`);
  assert.equal(r.body.enabled, false, 'timeouts through the whole schedule disable');
  r = await A('GET', `/v1/admin/webhooks/${wHang.id}/deliveries`);
  assert.deepEqual(r.body.data[0].attempt_log.map((a) => a.error), ['timeout', 'timeout', 'timeout']);
  for (const w of [w429, wHang, w400]) await A('DELETE', `/v1/admin/webhooks/${w.id}`);
  rx.release();
});

test('test send and replay reach the endpoint (signed); their errors', async () => {
  const w = await hook('/status/200', [evType('unused')]);
  let r = await A('POST', `/v1/admin/webhooks/${w.id}/test`);
  assert.equal(r.status, 202, r.text);
  assert.equal(r.body.trigger, 'test');
  assert.equal(r.body.event_type, 'webhook_endpoint.test');
  const testEvent = r.body.event_id;
  await rx.until(() => rx.of(testEvent).length === 1, 20000, 'test event');
  const q = rx.of(testEvent)[0];
  assert.ok(signatureValid(q.headers['souq-signature'], q.body, w.secret));
  assert.equal(JSON.parse(q.body).data.webhook_id, w.id);

  // replay an event the endpoint never subscribed to
  const typ = evType('replayed');
  const id = await emit(typ, { k: 'v' });
  await eventually(async () => (await s.sql("SELECT state FROM outbox_events WHERE id = $1 AND state = 'completed'", [id]))[0], 10000, 'fan-out');
  assert.equal(rx.of(id).length, 0);
  r = await A('POST', `/v1/admin/events/${id}/replay`, { webhook_id: w.id });
  assert.equal(r.status, 202, r.text);
  assert.equal(r.body.trigger, 'replay');
  assert.equal(r.body.webhook_id, w.id);
  await rx.until(() => rx.of(id).length === 1, 20000, 'replay');
  assert.deepEqual(JSON.parse(rx.of(id)[0].body).data, { k: 'v' });
  // twice is fine: at least once, receivers dedupe on the event id
  r = await A('POST', `/v1/admin/events/${id}/replay`, { webhook_id: w.id });
  assert.equal(r.status, 202);
  await rx.until(() => rx.of(id).length === 2, 20000, 'second replay');

  const missingEvt = 'evt_01zzzzzzzzzzzzzzzzzzzzzzzz', missingWhk = 'whk_01zzzzzzzzzzzzzzzzzzzzzzzz';
  r = await A('POST', `/v1/admin/events/${missingEvt}/replay`, { webhook_id: w.id });
  assert.equal(r.status, 404);
  r = await A('POST', `/v1/admin/events/${id}/replay`, { webhook_id: missingWhk });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/webhook_id');
  r = await A('POST', `/v1/admin/events/${id}/replay`, { webhook_id: 'nope' });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/webhook_id');
  r = await A('POST', `/v1/admin/events/${id}/replay`, {});
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/webhook_id');
  r = await A('POST', `/v1/admin/events/${id}/replay`, { webhook_id: w.id, extra: 1 });
  assert.equal(r.status, 422);
  assert.equal(r.body.type, type('unknown-field'));
  r = await A('POST', `/v1/admin/webhooks/${missingWhk}/test`);
  assert.equal(r.status, 404);
  r = await A('POST', '/v1/admin/webhooks/bogus/test');
  assert.equal(r.status, 404);
  assert.equal((await s.sql('SELECT count(*)::int AS n FROM event_deliveries WHERE event_id = $1', [id]))[0].n, 2, 'failed replays wrote nothing');
  await A('DELETE', `/v1/admin/webhooks/${w.id}`);
});

test('secret rotation: the new secret is shown once, both sign during the overlap', async () => {
  const typ = evType('rotate');
  const w = await hook('/status/200', [typ]);
  let r = await A('POST', `/v1/admin/webhooks/${w.id}/rotate-secret`);
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('cache-control'), /no-store/);
  const secret2 = r.body.secret;
  assert.match(secret2, /^whsec_/);
  assert.notEqual(secret2, w.secret);
  assert.ok(r.body.previous_secret_expires_at);
  const id = await emit(typ);
  await rx.until(() => rx.of(id).length === 1, 20000, 'delivery after rotation');
  const q = rx.of(id)[0];
  assert.equal(q.headers['souq-signature'].split(',').filter((p) => p.startsWith('v1=')).length, 2);
  assert.ok(signatureValid(q.headers['souq-signature'], q.body, secret2), 'new secret');
  assert.ok(signatureValid(q.headers['souq-signature'], q.body, w.secret), 'previous secret');
  r = await A('GET', `/v1/admin/webhooks/${w.id}`);
  assert.equal(r.body.secret, undefined);
  r = await A('POST', '/v1/admin/webhooks/whk_01zzzzzzzzzzzzzzzzzzzzzzzz/rotate-secret');
  assert.equal(r.status, 404);
  await A('DELETE', `/v1/admin/webhooks/${w.id}`);
});

test('the egress policy holds at delivery time too (a URL that now points inside is not called)', async () => {
  const typ = evType('rebind');
  const w = await hook('/status/200', [typ]);
  // as if the name now resolved to a private address: the stored URL changes behind the API's back
  await s.sql("UPDATE webhook_endpoints SET url = 'http://10.0.0.1:9/x' WHERE id = $1", [w.id]);
  const id = await emit(typ);
  const d = await final(id);
  assert.equal(d.state, 'discarded');
  assert.equal(d.last_error, 'ssrf_blocked');
  assert.equal(d.attempts, 1, 'a refused destination is not retried');
  await A('DELETE', `/v1/admin/webhooks/${w.id}`);
});

test('deleting an endpoint cancels its pending deliveries; lists and 404s', async () => {
  const typ = evType('deleted');
  const w = await hook('/hang', [typ]);
  const id = await emit(typ);
  await rx.until(() => rx.of(id).length === 1, 20000, 'first attempt');
  let r = await A('DELETE', `/v1/admin/webhooks/${w.id}`);
  assert.equal(r.status, 204);
  const d = await delivery(id);
  assert.equal(d.state, 'canceled');
  rx.release();
  r = await A('GET', `/v1/admin/webhooks/${w.id}/deliveries`);
  assert.equal(r.status, 404);
  r = await A('DELETE', `/v1/admin/webhooks/${w.id}`);
  assert.equal(r.status, 404);
  r = await A('PATCH', `/v1/admin/webhooks/${w.id}`, { enabled: true });
  assert.equal(r.status, 404);
  r = await A('GET', '/v1/admin/webhooks/not-an-id/deliveries');
  assert.equal(r.status, 404);
  r = await A('GET', `/v1/admin/events/${id}`);
  assert.equal(r.body.deliveries[0].state, 'canceled');
});

test('list parameters are checked; staff without the permission get 403', async () => {
  for (const path of ['/v1/admin/webhooks?enabled=maybe', '/v1/admin/webhooks?limit=0', '/v1/admin/events?type=Order.Placed',
    '/v1/admin/events?type=', '/v1/admin/events?cursor=bogus', '/v1/admin/events?unknown=1']) {
    const r = await A('GET', path);
    assert.equal(r.status, 400, `${path}: ${r.text}`);
  }
  const w = await hook('/status/200', ['test.lists']);
  let r = await A('GET', `/v1/admin/webhooks/${w.id}/deliveries?state=lost`);
  assert.equal(r.status, 400);
  assert.equal(r.body.errors[0].parameter, 'state');
  r = await A('GET', '/v1/admin/events/evt_01zzzzzzzzzzzzzzzzzzzzzzzz');
  assert.equal(r.status, 404);
  r = await A('GET', '/v1/admin/events/nope');
  assert.equal(r.status, 404);
  const support = await newStaff(s.client, t, 'support');
  for (const [m, p, body] of [['GET', '/v1/admin/webhooks'], ['POST', '/v1/admin/webhooks', { url: rx.url, event_types: ['*'] }],
    ['GET', '/v1/admin/events'], ['POST', `/v1/admin/webhooks/${w.id}/test`], ['GET', `/v1/admin/webhooks/${w.id}/deliveries`]]) {
    r = await A(m, p, body, support.token);
    assert.equal(r.status, 403, `${m} ${p}`);
  }
  r = await A('GET', '/v1/admin/webhooks', undefined, null);
  assert.equal(r.status, 401);
  // paging
  r = await A('GET', '/v1/admin/events?limit=1');
  assert.equal(r.body.data.length, 1);
  assert.equal(r.body.has_more, true);
  const next = await A('GET', `/v1/admin/events?limit=1&cursor=${encodeURIComponent(r.body.next_cursor)}`);
  assert.equal(next.status, 200);
  assert.notEqual(next.body.data[0].id, r.body.data[0].id);
  await A('DELETE', `/v1/admin/webhooks/${w.id}`);
});

test('/metrics shows the queues and outcomes', async () => {
  const r = await s.client.request('GET', '/metrics', { pk: null });
  assert.equal(r.status, 200);
  for (const m of ['souq_events_queue_depth{queue="events"}', 'souq_events_queue_depth{queue="deliveries"}', 'souq_events_lag_seconds{queue="deliveries"}',
    'souq_event_delivery_attempts_total{outcome="retry"}', 'souq_event_deliveries_discarded_total{reason="failed"}', 'souq_events_fanned_out_total'])
    assert.ok(r.text.includes(m), m);
  assert.match(r.text, /souq_events_queue_depth\{queue="events"\} \d+\n/);
});
