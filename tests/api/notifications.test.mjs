// notifications.test.mjs: order notifications through the bundled notify-email plugin against a small fake of Postmark's
// Email API on loopback (node http, which records every request), and plugin event subscribers (the fixture
// tests/plugins-events/subscriber against a loopback receiver). Checks the wire shape (X-Postmark-Server-Token, From/To/
// Subject/TextBody/HtmlBody/MessageStream), one message per (event, kind) when an event is delivered twice, the four
// kinds, template overrides with escaped values, on/off per kind, Postmark's 422/401/5xx answers, the notification log,
// and subscriber deliveries with retries and the dead letter, all visible in the admin API.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { startStack, staffLogin, newStaff, newCustomer, ROOT } from './lib/harness.mjs';
import { startReceiver, eventually } from './lib/receiver.mjs';

const TOKEN = `pm-server-${crypto.randomBytes(12).toString('hex')}`;
let s, t, shipping, loc, variant, pm, rx;
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json, o = {}) => s.client.request(method, path, { pk: null, token: t, json, ...o });
const address = { first_name: 'Ada', last_name: 'Lovelace', address_1: 'Unter den Linden 1', city: 'Berlin', postal_code: '10117', country_code: 'de' };
let seq = 0;
const email = (tag = 'buyer') => `${tag}-${process.pid}-${++seq}@example.com`;

// ---- the fake Postmark ----------------------------------------------------------------------------------------------
function startPostmark() {
  const f = { requests: [], fail: 0 };
  const send = (res, status, body) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };
  f.server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      let body = null;
      try { body = JSON.parse(raw); } catch {}
      f.requests.push({ method: req.method, path: req.url, headers: req.headers, body });
      if (req.headers['x-postmark-server-token'] !== TOKEN)
        return send(res, 401, { ErrorCode: 10, Message: 'The Server Token you provided in the X-Postmark-Server-Token request header was invalid.' });
      if (req.method !== 'POST' || req.url !== '/email' || !body) return send(res, 422, { ErrorCode: 402, Message: 'Invalid JSON' });
      if (f.fail > 0) { f.fail--; return send(res, 500, { ErrorCode: 1, Message: 'Internal server error' }); }
      if (body.To.startsWith('inactive'))
        return send(res, 422, { ErrorCode: 406, Message: 'You tried to send to recipient(s) that have been marked as inactive.' });
      send(res, 200, { To: body.To, SubmittedAt: new Date().toISOString(), MessageID: crypto.randomUUID(), ErrorCode: 0, Message: 'OK' });
    });
  });
  f.to = (addr) => f.requests.filter((r) => r.body?.To === addr);
  return new Promise((resolve) => f.server.listen(0, '127.0.0.1', () => { f.port = f.server.address().port; resolve(f); }));
}

before(async () => {
  pm = await startPostmark();
  rx = await startReceiver();
  s = await startStack({ env: {
    SOUQ_PLUGIN_DIRS: `${ROOT}/plugins,${ROOT}/tests/plugins-events`, SOUQ_OUTBOUND_ALLOW_CIDRS: '127.0.0.1/32',
    SOUQ_WEBHOOK_RETRY_BASE_MS: '40', // the delivery schedule: 40 ms, 200 ms, ...
    SOUQ_WEBHOOK_MAX_ATTEMPTS: '3', SOUQ_EVENTS_POLL_MS: '50', SOUQ_NOTIFICATION_MAX_PER_HOUR: '500',
    SOUQ_PASSWORD_RESET_URL: 'https://shop.example.com/account/reset?token={token}',
  } });
  t = (await staffLogin(s.client)).access_token;
  const eu = (await A('POST', '/v1/admin/regions', { name: 'EU', currency_code: 'eur', countries: ['de'] })).body;
  shipping = (await A('POST', '/v1/admin/shipping-options', { name: 'Standard', region_id: eu.id, provider: 'flat_rate', amount: 490 })).body.id;
  loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Berlin' })).body.id;
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
  const r = await A('POST', '/v1/admin/products', { title: 'Mail & Co mug', status: 'active',
    variants: [{ title: 'Blue', sku: `NTF-${process.pid}`, prices: [{ currency_code: 'eur', amount: 1250 }], inventory: [{ location_id: loc, quantity: 500 }] }] });
  assert.equal(r.status, 201, r.text);
  variant = r.body.variants[0].id;
});
after(async () => { if (s) await s.stop(); if (pm) pm.server.close(); if (rx) await rx.close(); });

async function order(to, { first_name = 'Ada', capture = false } = {}) {
  const c = await s.client.request('POST', '/v1/store/carts', { json: { email: to, shipping_address: { ...address, first_name },
    items: [{ variant_id: variant, quantity: 2 }] } });
  assert.equal(c.status, 201, c.text);
  const m = await s.client.request('POST', `/v1/store/carts/${c.body.id}/shipping-methods`, { json: { option_id: shipping } });
  assert.equal(m.status, 200, m.text);
  const r = await s.client.request('POST', `/v1/store/carts/${c.body.id}/complete`, { json: { payment: { provider: 'test', data: { token: 'tok_visa' } } },
    headers: { 'idempotency-key': crypto.randomUUID() } });
  assert.equal(r.status, 201, r.text);
  if (capture) assert.equal((await A('POST', `/v1/admin/orders/${r.body.id}/capture`)).status, 200);
  return r.body;
}
const log = async (orderId, q = '') => {
  const r = await A('GET', `/v1/admin/notifications?order_id=${orderId}${q}`);
  assert.equal(r.status, 200, r.text);
  return r.body.data;
};
const eventOf = async (orderId, ty) => (await s.sql("SELECT id FROM outbox_events WHERE type = $1 AND payload->>'order_id' = $2", [ty, orderId]))[0]?.id;
const deliveryRows = (eventId, kind) => s.sql('SELECT id, state, attempts, last_error FROM event_deliveries WHERE event_id = $1 AND target_kind = $2 ORDER BY id', [eventId, kind]);
const configure = (config) => A('PATCH', '/v1/admin/plugins/notify-email', { config });
const settled = (rows) => rows.length > 0 && rows.every((d) => ['completed', 'discarded', 'canceled'].includes(d.state));

const provider = async () => (await s.sql("SELECT channels, enabled, since FROM notification_providers WHERE plugin = 'notify-email'"))[0];
const fannedOut = (evt) => eventually(async () => (await s.sql('SELECT state FROM outbox_events WHERE id = $1', [evt]))[0].state === 'completed', 10000, 'fanned out');
let early; // an order placed while no provider was enabled

test('without an email provider no notification is fanned out: no delivery, no log row', async () => {
  const r = await A('GET', '/v1/admin/plugins/notify-email');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'unconfigured', 'server_token and from are required');
  assert.deepEqual(r.body.provides, ['notification:email']);
  for (const [k, f] of Object.entries(r.body.config_schema)) assert.ok(f.description?.length > 10, `${k} is described`);
  assert.equal(r.body.config_schema.server_token.secret, true);
  const to = email('early');
  const o = await order(to);
  const evt = await eventOf(o.id, 'order.placed');
  await fannedOut(evt);
  assert.deepEqual(await provider(), { channels: ['email'], enabled: false, since: null }, 'published as a provider that is off');
  assert.deepEqual(await deliveryRows(evt, 'notification'), [], 'no notification delivery without a provider');
  assert.deepEqual(await log(o.id), [], 'nor a notification log row');
  assert.equal(pm.requests.length, 0);
  early = { ...o, to, evt };
});

test('notify-email takes a write-only server token and validates its settings', async () => {
  let r = await configure({ from: 5, timeout_ms: 10 });
  assert.equal(r.status, 422, r.text);
  assert.deepEqual(r.body.errors.map((e) => e.pointer).sort(), ['/config/from', '/config/server_token', '/config/timeout_ms'], 'an enabled plugin needs its required settings');
  r = await configure({ server_token: TOKEN, from: 'Souq Shop <shop@example.com>', base_url: `http://127.0.0.1:${pm.port}` });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'active');
  assert.deepEqual(r.body.secrets_set, ['server_token']);
  assert.equal(r.body.config.message_stream, 'outbound');
  assert.doesNotMatch(r.text, new RegExp(TOKEN));
  assert.doesNotMatch((await A('GET', '/v1/admin/plugins')).text, new RegExp(TOKEN));
});

test('once a provider is enabled later orders are notified; events from before it are not, even still queued', async () => {
  assert.ok(early, 'the order placed without a provider');
  const to = email('later');
  const o = await order(to);
  await eventually(() => pm.to(to).length === 1, 20000, 'the confirmation of an order placed after enabling');
  const p = await provider();
  assert.equal(p.enabled, true);
  assert.ok(p.since <= new Date(o.created_at), 'enabled since the staff action, before the order');
  // an event that occurred before the provider was enabled but reaches the dispatcher only now (a backlog): not sent
  const [{ id: late }] = await s.sql(`INSERT INTO outbox_events (type, payload, occurred_at)
    VALUES ('order.placed', $1, $2::timestamptz - interval '1 second') RETURNING id`,
  [{ order_id: early.id, number: early.number, total: early.total, currency_code: 'eur', payment_status: early.payment_status }, p.since]);
  await fannedOut(late);
  assert.deepEqual(await deliveryRows(late, 'notification'), [], 'nothing retroactive');
  assert.deepEqual(await deliveryRows(early.evt, 'notification'), []);
  assert.deepEqual(await log(early.id), []);
  assert.equal(pm.to(early.to).length, 0);
});

test('an order confirmation goes out once in Postmark\'s shape, even when its event is delivered again', async () => {
  const to = email();
  const o = await order(to);
  await eventually(() => pm.to(to).length === 1, 20000, 'the confirmation at the fake Postmark');
  const req = pm.to(to)[0];
  assert.equal(req.path, '/email');
  assert.equal(req.headers['x-postmark-server-token'], TOKEN);
  assert.equal(req.headers['content-type'], 'application/json');
  assert.equal(req.headers.accept, 'application/json');
  const b = req.body;
  assert.deepEqual([b.From, b.To, b.MessageStream, b.Tag], ['Souq Shop <shop@example.com>', to, 'outbound', 'order_confirmation']);
  assert.equal(b.Subject, `Order #${o.number} confirmed`);
  const total = `${(o.total / 100).toFixed(2)} EUR`;
  assert.match(b.TextBody, new RegExp(`Hello Ada,[\\s\\S]*#${o.number}[\\s\\S]*2 x Mail & Co mug \\(Blue\\)  25\\.00 EUR[\\s\\S]*Total: ${total.replace('.', '\\.')}`));
  assert.match(b.HtmlBody, /<pre>2 x Mail &amp; Co mug \(Blue\)  25\.00 EUR<\/pre>/, 'values are escaped in HTML');
  const evt = await eventOf(o.id, 'order.placed');
  assert.equal(b.Metadata.souq_idempotency_key, `souq-${evt}-order_confirmation`);
  assert.deepEqual(b.Headers, [{ Name: 'X-Souq-Idempotency-Key', Value: `souq-${evt}-order_confirmation` }]);
  let n = await eventually(async () => { const l = await log(o.id); return l[0]?.state === 'sent' && l; }, 10000, 'sent in the log');
  assert.equal(n.length, 1);
  assert.deepEqual([n[0].kind, n[0].event_id, n[0].recipient, n[0].subject, n[0].provider, n[0].attempts], ['order_confirmation', evt, to, b.Subject, 'notify-email', 1]);
  assert.match(n[0].provider_message_id, /^[0-9a-f-]{36}$/);
  assert.ok(n[0].sent_at);
  // the same event delivered again (a replay, or a node that lost its lease after sending): nothing more is sent
  const [{ id }] = await s.sql("INSERT INTO event_deliveries (event_id, target_kind, target_id, trigger) VALUES ($1, 'notification', 'order_confirmation', 'replay') RETURNING id", [evt]);
  await eventually(async () => (await s.sql('SELECT state FROM event_deliveries WHERE id = $1', [id]))[0].state === 'completed', 10000, 'the second delivery');
  assert.equal(pm.to(to).length, 1, 'sent once');
  n = await log(o.id);
  assert.deepEqual([n.length, n[0].state, n[0].attempts], [1, 'sent', 1]);
  // the event's deliveries show the notification target in the event log
  const ev = await A('GET', `/v1/admin/events/${evt}`);
  assert.ok(ev.body.deliveries.some((d) => d.target_kind === 'notification' && d.state === 'completed'), ev.text);
});

test('shipped (with the tracking link), delivered and refund issued reach the order\'s email', async () => {
  const to = email('ship');
  const o = await order(to, { capture: true });
  await eventually(() => pm.to(to).length === 1, 20000, 'confirmation');
  const f = await A('POST', `/v1/admin/orders/${o.id}/fulfillments`, { location_id: loc, items: [{ line_item_id: o.items[0].id, quantity: 2 }] });
  assert.equal(f.status, 201, f.text);
  const url = 'https://track.example.com/p?id=JD014&lang=en';
  let r = await A('POST', `/v1/admin/orders/${o.id}/fulfillments/${f.body.id}/shipments`, { carrier: 'DHL', tracking_number: 'JD014', tracking_url: url });
  assert.equal(r.status, 201, r.text);
  await eventually(() => pm.to(to).length === 2, 20000, 'shipped');
  let b = pm.to(to)[1].body;
  assert.equal(b.Tag, 'order_shipped');
  assert.equal(b.Subject, `Order #${o.number} is on its way`);
  assert.match(b.TextBody, new RegExp(`Carrier: DHL\\nTracking number: JD014\\nTrack your parcel: ${url.replace(/[.?]/g, '\\$&')}`));
  assert.ok(b.HtmlBody.includes('<a href="https://track.example.com/p?id=JD014&amp;lang=en">'), b.HtmlBody);
  r = await A('POST', `/v1/admin/orders/${o.id}/fulfillments/${f.body.id}/deliver`);
  assert.equal(r.status, 200, r.text);
  await eventually(() => pm.to(to).length === 3, 20000, 'delivered');
  b = pm.to(to)[2].body;
  assert.deepEqual([b.Tag, b.Subject], ['order_delivered', `Order #${o.number} was delivered`]);
  r = await A('POST', `/v1/admin/orders/${o.id}/refunds`, { amount: 505, reason: 'requested_by_customer' });
  assert.equal(r.status, 201, r.text);
  await eventually(() => pm.to(to).length === 4, 20000, 'refund');
  b = pm.to(to)[3].body;
  assert.deepEqual([b.Tag, b.Subject], ['refund_issued', `Refund for order #${o.number}`]);
  assert.match(b.TextBody, /We refunded 5\.05 EUR for your order/);
  const n = await eventually(async () => { const l = await log(o.id); return l.length === 4 && l.every((x) => x.state === 'sent') && l; }, 10000, 'four sent');
  assert.deepEqual(n.map((x) => x.kind), ['refund_issued', 'order_delivered', 'order_shipped', 'order_confirmation'], 'newest first');
  assert.deepEqual((await log(o.id, '&kind=order_shipped')).map((x) => x.kind), ['order_shipped']);
  assert.equal((await log(o.id, '&state=failed')).length, 0);
});

test('templates: the store overrides a kind, values are escaped in HTML, null restores the default', async () => {
  let r = await A('GET', '/v1/admin/notification-templates');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.data.map((k) => [k.kind, k.event_type, k.enabled]),
    [['order_confirmation', 'order.placed', true], ['order_shipped', 'order.shipped', true], ['order_delivered', 'order.delivered', true], ['refund_issued', 'refund.created', true],
     ['password_reset', 'customer.password_reset_requested', true]]);
  assert.ok(r.body.data[1].placeholders.includes('shipment.tracking_url'));
  assert.ok(!r.body.data[0].placeholders.includes('shipment.tracking_url'), 'placeholders are per kind');
  r = await A('PATCH', '/v1/admin/notification-templates/order_confirmation', { subject: 'Thanks {{ customer.first_name }}, #{{order.number}}',
    html: '<h1>Hi {{customer.first_name}}</h1>' });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.customized, { subject: true, text: false, html: true });
  assert.match(r.body.text, /Thank you for your order/, 'text keeps the default');
  const to = email('tpl');
  const o = await order(to, { first_name: '<img src=x onerror=alert(1)>' });
  await eventually(() => pm.to(to).length === 1, 20000, 'the customized confirmation');
  const b = pm.to(to)[0].body;
  assert.equal(b.Subject, `Thanks <img src=x onerror=alert(1)>, #${o.number}`, 'subjects are plain text');
  assert.equal(b.HtmlBody, '<h1>Hi &lt;img src=x onerror=alert(1)&gt;</h1>');
  r = await A('PATCH', '/v1/admin/notification-templates/order_confirmation', { subject: null, html: null });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.customized, { subject: false, text: false, html: false });
  assert.equal(r.body.subject, 'Order #{{order.number}} confirmed');
});

test('template changes are validated; nothing is half-written', async () => {
  const before = (await A('GET', '/v1/admin/notification-templates/order_shipped')).body;
  const cases = [
    [{ subject: 'Hi {{nope}}' }, 422, '/subject', 'unknown_placeholder'],
    [{ text: 'ok {{order.number}}', html: '<p>{{refund.amount}}</p>' }, 422, '/html', 'unknown_placeholder'],
    [{ text: 'Order {{order.number' }, 422, '/text', 'invalid_format'],
    [{ subject: 'two\nlines' }, 422, '/subject', null],
    [{ subject: '' }, 422, '/subject', null],
    [{ subject: 'x'.repeat(501) }, 422, '/subject', null],
    [{ enabled: 'yes' }, 422, '/enabled', null],
    [{ bogus: 1 }, 422, null, null],
  ];
  for (const [body, status, pointer, code] of cases) {
    const r = await A('PATCH', '/v1/admin/notification-templates/order_shipped', body);
    assert.equal(r.status, status, `${JSON.stringify(body)}: ${r.text}`);
    if (pointer) assert.ok(r.body.errors.some((e) => e.pointer === pointer && (!code || e.code === code)), `${JSON.stringify(body)}: ${r.text}`);
    else assert.equal(r.body.type, type('unknown-field'));
  }
  let r = await s.client.request('PATCH', '/v1/admin/notification-templates/order_shipped', { pk: null, token: t, body: '{"subject":', headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 400, r.text);
  r = await A('PATCH', '/v1/admin/notification-templates/order_exploded', { enabled: false });
  assert.equal(r.status, 404, r.text);
  assert.equal(r.body.type, type('not-found'));
  assert.equal((await A('GET', '/v1/admin/notification-templates/nope')).status, 404);
  assert.deepEqual((await A('GET', '/v1/admin/notification-templates/order_shipped')).body, before, 'unchanged');
  const ro = await newStaff(s.client, t, 'read_only');
  r = await s.client.request('PATCH', '/v1/admin/notification-templates/order_shipped', { pk: null, token: ro.token, json: { enabled: false } });
  assert.equal(r.status, 403, r.text);
  assert.equal((await s.client.request('GET', '/v1/admin/notifications', { pk: null })).status, 401);
  for (const q of ['order_id=nope', 'kind=order_lost', 'state=sending', 'limit=0']) {
    r = await A('GET', `/v1/admin/notifications?${q}`);
    assert.equal(r.status, 400, `${q}: ${r.text}`);
    assert.equal(r.body.type, type('invalid-parameter'));
  }
});

test('a kind switched off sends nothing; switched on again it does', async () => {
  let r = await A('PATCH', '/v1/admin/notification-templates/order_confirmation', { enabled: false });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.enabled, false);
  const to = email('off');
  const o = await order(to);
  const evt = await eventOf(o.id, 'order.placed');
  await eventually(async () => (await s.sql('SELECT state FROM outbox_events WHERE id = $1', [evt]))[0].state === 'completed', 10000, 'fanned out');
  assert.deepEqual(await deliveryRows(evt, 'notification'), [], 'no notification delivery for a kind that is off');
  r = await A('PATCH', '/v1/admin/notification-templates/order_confirmation', { enabled: true });
  assert.equal(r.status, 200, r.text);
  const to2 = email('on');
  await order(to2);
  await eventually(() => pm.to(to2).length === 1, 20000, 'sent again once on');
  assert.equal(pm.to(to).length, 0);
});

test('Postmark refusing a recipient (422 ErrorCode 406) fails the notification at once; a 500 is retried', async () => {
  const bad = email('inactive');
  const o = await order(bad);
  const n = await eventually(async () => { const l = await log(o.id); return l[0]?.state === 'failed' && l; }, 20000, 'failed');
  assert.match(n[0].last_error, /^inactive_recipient: You tried to send to recipient/);
  assert.equal(n[0].attempts, 1);
  const evt = await eventOf(o.id, 'order.placed');
  assert.deepEqual((await deliveryRows(evt, 'notification')).map((d) => [d.state, d.attempts]), [['discarded', 1]], 'no retry of a permanent refusal');
  assert.equal(pm.to(bad).length, 1);

  pm.fail = 1;
  const to = email('flaky');
  const o2 = await order(to);
  const n2 = await eventually(async () => { const l = await log(o2.id); return l[0]?.state === 'sent' && l; }, 20000, 'sent after a retry');
  assert.equal(n2[0].attempts, 2);
  assert.equal(pm.to(to).length, 2);
  const evt2 = await eventOf(o2.id, 'order.placed');
  const d = (await A('GET', `/v1/admin/events/${evt2}`)).body.deliveries.find((x) => x.target_kind === 'notification');
  assert.deepEqual(d.attempt_log.map((a) => a.error), ['plugin-failed', null]);
});

test('a refused server token is retried until the dead letter, and the log says failed', async () => {
  let r = await configure({ server_token: 'pm-wrong-token' });
  assert.equal(r.status, 200, r.text);
  const to = email('token');
  const o = await order(to);
  const evt = await eventOf(o.id, 'order.placed');
  await eventually(async () => settled(await deliveryRows(evt, 'notification')), 20000, 'retries exhausted');
  assert.deepEqual((await deliveryRows(evt, 'notification')).map((d) => [d.state, d.attempts]), [['discarded', 3]]);
  const n = await log(o.id);
  assert.deepEqual([n[0].state, n[0].attempts, n[0].last_error], ['failed', 3, 'The notify-email plugin failed; nothing was done. Try again later.']);
  assert.equal(pm.to(to).length, 3);
  r = await configure({ server_token: TOKEN });
  assert.equal(r.status, 200, r.text);
});

test('a delivery racing another one that is sending the same notification waits instead of sending a copy', async () => {
  const to = email('busy');
  const o = await order(to);
  await eventually(() => pm.to(to).length === 1, 20000, 'the confirmation');
  // a second order.placed-shaped event for the same order, already dispatched (so only the deliveries below exist),
  // whose confirmation another delivery is sending right now
  const [{ id: evt }] = await s.sql("INSERT INTO outbox_events (type, payload, state) VALUES ('order.placed', $1, 'completed') RETURNING id",
    [{ order_id: o.id, number: o.number, total: o.total, currency_code: 'eur', payment_status: o.payment_status }]);
  await s.sql(`INSERT INTO notifications (kind, event_id, order_id, recipient, idempotency_key, attempts, sending_until)
               VALUES ('order_confirmation', $1, $2, $3, 'souq-' || $1 || '-order_confirmation', 1, now() + interval '1 hour')`, [evt, o.id, to]);
  // 9 attempts (40 ms, 200 ms, 1.2 s, 4.8 s, ...): the claim is released below long before they run out
  const [{ id }] = await s.sql("INSERT INTO event_deliveries (event_id, target_kind, target_id, trigger, max_attempts) VALUES ($1, 'notification', 'order_confirmation', 'replay', 9) RETURNING id", [evt]);
  await eventually(async () => (await s.sql('SELECT attempts, last_error FROM event_deliveries WHERE id = $1', [id]))[0].last_error === 'notification_busy', 10000, 'waiting');
  assert.equal(pm.to(to).length, 1, 'no second copy while the first is being sent');
  await s.sql('UPDATE notifications SET sending_until = NULL WHERE event_id = $1', [evt]); // the other sender died: its claim expired
  await eventually(() => pm.to(to).length === 2, 20000, 'sent by the retry once the claim is gone');
  // the provider's answer is recorded after it reached the fake Postmark: wait for the log, not only the request
  const n = await eventually(async () => { const x = (await log(o.id)).find((y) => y.event_id === evt); return x?.state !== 'pending' && x; }, 10000, 'the log');
  assert.deepEqual([n.state, n.attempts], ['sent', 2]);
  assert.equal(pm.to(to).length, 2);
});

test('a password reset request emails the customer a working single-use link; the token is never logged', async () => {
  const c = await newCustomer(s.client);
  let r = await s.client.request('POST', '/v1/store/auth/password-reset', { json: { email: c.email } });
  assert.equal(r.status, 202, r.text);
  await eventually(() => pm.to(c.email).length === 1, 20000, 'the reset email');
  const b = pm.to(c.email)[0].body;
  assert.deepEqual([b.Tag, b.Subject], ['password_reset', 'Reset your password']);
  const m = /https:\/\/shop\.example\.com\/account\/reset\?token=([A-Za-z0-9_.~%-]+)/.exec(b.TextBody);
  assert.ok(m, b.TextBody);
  assert.ok(b.HtmlBody.includes(`<a href="${m[0]}">`), b.HtmlBody);
  const token = decodeURIComponent(m[1]);
  r = await s.client.request('POST', '/v1/store/auth/password-reset/confirm', { json: { token, password: 'a-new-password-77' } });
  assert.equal(r.status, 204, r.text);
  const n = await eventually(async () => { const l = (await A('GET', '/v1/admin/notifications?kind=password_reset')).body.data.find((x) => x.recipient === c.email); return l?.state === 'sent' && l; }, 10000, 'logged');
  assert.equal(n.order_id, null);
  const text = JSON.stringify(await s.sql('SELECT * FROM notifications WHERE id = $1', [n.id]));
  assert.ok(!text.includes(token), 'the token is not in the log');
  assert.ok(!(await A('GET', '/v1/admin/notifications?kind=password_reset')).text.includes(token));
});

test('a provider restricted to other sales channels does not send for this channel\'s orders', async () => {
  const other = await A('POST', '/v1/admin/sales-channels', { name: `Wholesale ${process.pid}` });
  assert.equal(other.status, 201, other.text);
  let r = await A('PATCH', '/v1/admin/plugins/notify-email', { sales_channels: [other.body.id] });
  assert.equal(r.status, 200, r.text);
  try {
    const to = email('channel');
    const o = await order(to);
    const n = await eventually(async () => { const l = await log(o.id); return l[0]?.state === 'skipped' && l; }, 20000, 'skipped');
    assert.match(n[0].last_error, /no notification provider for email in the order's sales channel/);
    assert.equal(pm.to(to).length, 0);
  } finally {
    r = await A('PATCH', '/v1/admin/plugins/notify-email', { sales_channels: null });
    assert.equal(r.status, 200, r.text);
  }
  const to = email('channel-back');
  await order(to);
  await eventually(() => pm.to(to).length === 1, 20000, 'sent for every channel again');
});

test('the hourly spending cap holds notifications back and says so in the log', async () => {
  // 500 notifications "sent" in the last hour (the server's cap is 500)
  await s.sql(`INSERT INTO notifications (kind, event_id, state, idempotency_key, sent_at)
               SELECT 'order_confirmation', 'evt_cap_' || n, 'sent', 'cap-' || n, now() - interval '10 minutes' FROM generate_series(1, 500) n`);
  try {
    const to = email('capped');
    const o = await order(to);
    const evt = await eventOf(o.id, 'order.placed');
    await eventually(async () => settled(await deliveryRows(evt, 'notification')), 20000, 'retries exhausted');
    assert.deepEqual((await deliveryRows(evt, 'notification')).map((d) => [d.state, d.attempts, d.last_error]), [['discarded', 3, 'notification_cap']]);
    const [n] = await log(o.id);
    assert.deepEqual([n.state, n.attempts, n.last_error], ['failed', 0, 'hourly cap of 500 notifications reached (notification_max_per_hour)']);
    assert.equal(pm.to(to).length, 0, 'nothing reached the provider');
  } finally {
    await s.sql("DELETE FROM notifications WHERE event_id LIKE 'evt_cap_%'");
  }
  const to = email('uncapped');
  await order(to);
  await eventually(() => pm.to(to).length === 1, 20000, 'sent again below the cap');
});

test('a provider switched off stops notification deliveries; switched on again, only later orders are notified', async () => {
  let r = await A('PATCH', '/v1/admin/plugins/notify-email', { enabled: false });
  assert.equal(r.status, 200, r.text);
  await eventually(async () => (await provider())?.enabled === false, 10000, 'the provider published as off');
  assert.equal((await provider()).since, null);
  const off = email('provider-off');
  const o = await order(off);
  const evt = await eventOf(o.id, 'order.placed');
  await fannedOut(evt);
  assert.deepEqual(await deliveryRows(evt, 'notification'), []);
  r = await A('PATCH', '/v1/admin/plugins/notify-email', { enabled: true });
  assert.equal(r.status, 200, r.text);
  const on = email('provider-on');
  const o2 = await order(on);
  await eventually(() => pm.to(on).length === 1, 20000, 'notified again');
  assert.ok((await provider()).since > new Date(o.created_at), 'enabled since the second PATCH');
  assert.equal(pm.to(off).length, 0, 'the order placed while it was off is not notified later');
  assert.deepEqual(await log(o.id), []);
  assert.equal((await log(o2.id))[0]?.kind, 'order_confirmation');
});

// ---- plugin event subscribers -----------------------------------------------------------------------------------------

const emit = async (typ, payload = {}) => (await s.sql('INSERT INTO outbox_events (type, payload) VALUES ($1, $2) RETURNING id', [typ, payload]))[0].id;
const subscription = async () => (await s.sql("SELECT event_types, enabled FROM plugin_event_subscriptions WHERE plugin = 'subscriber'"))[0];

test('a plugin subscribes through its manifest: published while unconfigured as off, then delivered at least once', async () => {
  const sub = await eventually(subscription, 10000, 'the subscription published');
  assert.deepEqual(sub, { event_types: ['test_sub.*', 'order.placed'], enabled: false });
  let r = await A('PATCH', '/v1/admin/plugins/subscriber', { config: { url: rx.url } });
  assert.equal(r.status, 200, r.text);
  await eventually(async () => (await subscription()).enabled, 10000, 'the subscription on');
  const id = await emit('test_sub.hello', { n: 1 });
  await rx.until(() => rx.of(id).length === 1, 10000, 'on_event forwarded the event');
  const got = JSON.parse(rx.of(id)[0].body);
  assert.deepEqual(got, { id, type: 'test_sub.hello', data: { n: 1 } });
  const other = await emit('test_other.hello');
  const o = await order(email('sub'));
  const placed = await eventOf(o.id, 'order.placed');
  await rx.until(() => rx.of(placed).length === 1, 10000, 'order.placed forwarded');
  assert.equal(JSON.parse(rx.of(placed)[0].body).data.order_id, o.id);
  assert.deepEqual(await deliveryRows(other, 'plugin'), [], 'an event type it does not subscribe to');
  r = await A('GET', '/v1/admin/plugins/subscriber/deliveries?limit=100');
  assert.equal(r.status, 200, r.text);
  const d = r.body.data.find((x) => x.event_id === id);
  assert.deepEqual([d.target_kind, d.plugin, d.state, d.attempts, d.event_type], ['plugin', 'subscriber', 'completed', 1, 'test_sub.hello']);
});

test('a failing subscriber is retried on the schedule and ends in the dead letter, visible in the admin API', async () => {
  const id = await emit('test_sub.broken', { fail: true });
  await eventually(async () => settled(await deliveryRows(id, 'plugin')), 20000, 'retries exhausted');
  const [row] = await deliveryRows(id, 'plugin');
  assert.deepEqual([row.state, row.attempts, row.last_error], ['discarded', 3, 'plugin-failed']);
  const r = await A('GET', '/v1/admin/plugins/subscriber/deliveries?state=discarded');
  assert.equal(r.status, 200, r.text);
  const d = r.body.data.find((x) => x.event_id === id);
  assert.deepEqual(d.attempt_log.map((a) => a.error), ['plugin-failed', 'plugin-failed', 'plugin-failed']);
  assert.equal(rx.of(id).length, 0);
  for (const [path, status, slug] of [['/v1/admin/plugins/nope/deliveries', 404, 'not-found'], ['/v1/admin/plugins/subscriber/deliveries?state=lost', 400, 'invalid-parameter']]) {
    const x = await A('GET', path);
    assert.equal(x.status, status, x.text);
    assert.equal(x.body.type, type(slug));
  }
});

test('an event is delivered to a subscriber again on request (a dead letter once fixed, an older event)', async () => {
  const id = await emit('test_other.before', { n: 7 }); // a type it does not subscribe to: replays are explicit
  let r = await A('POST', '/v1/admin/plugins/subscriber/deliveries', { event_id: id });
  assert.equal(r.status, 202, r.text);
  assert.deepEqual([r.body.plugin, r.body.target_kind, r.body.trigger, r.body.event_id], ['subscriber', 'plugin', 'replay', id]);
  await rx.until(() => rx.of(id).length === 1, 10000, 'the replayed event forwarded');
  assert.deepEqual(JSON.parse(rx.of(id)[0].body), { id, type: 'test_other.before', data: { n: 7 } });
  await eventually(async () => (await s.sql('SELECT state FROM event_deliveries WHERE id = $1', [r.body.id]))[0].state === 'completed', 10000, 'completed');
  const cases = [
    ['/v1/admin/plugins/subscriber/deliveries', {}, 422, 'validation-failed', '/event_id'],
    ['/v1/admin/plugins/subscriber/deliveries', { event_id: 'evt_00000000000000000000000000' }, 422, 'validation-failed', '/event_id'],
    ['/v1/admin/plugins/subscriber/deliveries', { event_id: 'not an id' }, 422, 'validation-failed', '/event_id'],
    ['/v1/admin/plugins/subscriber/deliveries', { event_id: id, extra: 1 }, 422, 'unknown-field', null],
    ['/v1/admin/plugins/nope/deliveries', { event_id: id }, 404, 'not-found', null],
    ['/v1/admin/plugins/notify-email/deliveries', { event_id: id }, 409, 'invalid-state', null],
  ];
  const before = (await s.sql('SELECT count(*)::int AS n FROM event_deliveries'))[0].n;
  for (const [path, body, status, slug, pointer] of cases) {
    r = await A('POST', path, body);
    assert.equal(r.status, status, `${path} ${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.body.type, type(slug));
    if (pointer) assert.equal(r.body.errors[0].pointer, pointer);
  }
  r = await s.client.request('POST', '/v1/admin/plugins/subscriber/deliveries', { pk: null, token: t, body: '{"event_id"', headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 400, r.text);
  assert.equal((await s.sql('SELECT count(*)::int AS n FROM event_deliveries'))[0].n, before, 'refused replays wrote nothing');
});

test('a disabled subscriber gets no new deliveries', async () => {
  let r = await A('PATCH', '/v1/admin/plugins/subscriber', { enabled: false });
  assert.equal(r.status, 200, r.text);
  await eventually(async () => !(await subscription()).enabled, 10000, 'the subscription off');
  const id = await emit('test_sub.after_disable');
  await eventually(async () => (await s.sql('SELECT state FROM outbox_events WHERE id = $1', [id]))[0].state === 'completed', 10000, 'fanned out');
  assert.deepEqual(await deliveryRows(id, 'plugin'), []);
  r = await A('POST', '/v1/admin/plugins/subscriber/deliveries', { event_id: id });
  assert.equal(r.status, 409, r.text);
  r = await A('PATCH', '/v1/admin/plugins/subscriber', { enabled: true });
  assert.equal(r.status, 200, r.text);
});
