// stripe.test.mjs: the bundled payment-stripe plugin through the running server against a small fake of Stripe's
// PaymentIntents API on loopback (node http), which records every request. Checks the wire shape (form-encoded
// POSTs, Bearer key, the checkout's Idempotency-Key), declines, 3-D Secure, capture and refund through the admin
// routes, the fake being down or slow (502, nothing half-done), the egress policy, and that the secret key never
// shows in logs or admin answers. souq.http.request's suspension is exercised by every call here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { startStack, staffLogin, ROOT } from './lib/harness.mjs';

const SECRET = `sk_test_${crypto.randomBytes(12).toString('hex')}`;
let s, t, loc, shipping, variant, fake;
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json, headers) => s.client.request(method, path, { pk: null, token: t, json, headers });
const key = () => crypto.randomUUID();
const address = { first_name: 'Ada', last_name: 'L', address_1: 'Unter den Linden 1', city: 'Berlin', postal_code: '10117', country_code: 'de' };

// ---- the fake ------------------------------------------------------------------------------------------------------
function startFake() {
  const f = { requests: [], intents: new Map(), replays: new Map(), mode: 'up', n: 0 };
  const send = (res, status, body) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };
  f.server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const form = Object.fromEntries(new URLSearchParams(raw));
      f.requests.push({ method: req.method, path: req.url, headers: req.headers, raw, form });
      if (f.mode === 'down') return req.socket.destroy();
      if (f.mode === 'hang') return; // never answers
      if (req.headers.authorization !== `Bearer ${SECRET}`)
        return send(res, 401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } });
      const idem = req.headers['idempotency-key'];
      if (req.method === 'POST' && idem && f.replays.has(idem)) { const [st, b] = f.replays.get(idem); return send(res, st, b); }
      const answer = (st, b) => { if (req.method === 'POST' && idem) f.replays.set(idem, [st, b]); send(res, st, b); };
      let m;
      if (req.method === 'POST' && req.url === '/v1/payment_intents') {
        const pi = { id: `pi_${++f.n}`, object: 'payment_intent', amount: Number(form.amount), currency: form.currency,
          capture_method: form.capture_method, payment_method: form.payment_method, status: 'requires_capture', next_action: null };
        if (form.payment_method === 'pm_card_chargeDeclined') {
          pi.status = 'requires_payment_method';
          f.intents.set(pi.id, pi);
          return answer(402, { error: { type: 'card_error', code: 'card_declined', decline_code: 'generic_decline', payment_intent: pi } });
        }
        if (form.payment_method === 'pm_card_threeDSecure2Required') {
          pi.status = 'requires_action';
          pi.next_action = { type: 'redirect_to_url', redirect_to_url: { url: `https://hooks.stripe.com/3d_secure_2/${pi.id}`, return_url: form.return_url } };
        }
        f.intents.set(pi.id, pi);
        return answer(200, pi);
      }
      if (req.method === 'GET' && (m = /^\/v1\/payment_intents\/(pi_\d+)$/.exec(req.url)) && f.intents.has(m[1]))
        return send(res, 200, f.intents.get(m[1]));
      if (req.method === 'POST' && (m = /^\/v1\/payment_intents\/(pi_\d+)\/(capture|cancel)$/.exec(req.url)) && f.intents.has(m[1])) {
        const pi = f.intents.get(m[1]);
        if (pi.status !== 'requires_capture')
          return answer(400, { error: { type: 'invalid_request_error', code: 'payment_intent_unexpected_state' } });
        pi.status = m[2] === 'capture' ? 'succeeded' : 'canceled';
        if (m[2] === 'capture') pi.amount_received = Number(form.amount_to_capture ?? pi.amount);
        return answer(200, pi);
      }
      if (req.method === 'POST' && req.url === '/v1/refunds' && f.intents.get(form.payment_intent)?.status === 'succeeded')
        return answer(200, { id: `re_${++f.n}`, object: 'refund', amount: Number(form.amount), payment_intent: form.payment_intent, status: 'succeeded' });
      send(res, 404, { error: { type: 'invalid_request_error', code: 'resource_missing' } });
    });
  });
  // the buyer passes 3-D Secure on Stripe's page
  f.authenticate = (id) => { f.intents.get(id).status = 'requires_capture'; f.intents.get(id).next_action = null; };
  return new Promise((resolve) => f.server.listen(0, '127.0.0.1', () => { f.port = f.server.address().port; resolve(f); }));
}

before(async () => {
  fake = await startFake();
  s = await startStack({ env: { SOUQ_PLUGIN_DIRS: `${ROOT}/plugins`, SOUQ_OUTBOUND_ALLOW_CIDRS: '127.0.0.1/32' } });
  t = (await staffLogin(s.client)).access_token;
  const eu = (await A('POST', '/v1/admin/regions', { name: 'EU', currency_code: 'eur', countries: ['de'] })).body;
  shipping = (await A('POST', '/v1/admin/shipping-options', { name: 'Standard', region_id: eu.id, provider: 'flat_rate', amount: 0 })).body.id;
  loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Berlin' })).body.id;
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
  const r = await A('POST', '/v1/admin/products', { title: 'Stripe thing', status: 'active',
    variants: [{ sku: `STR-${process.pid}`, prices: [{ currency_code: 'eur', amount: 1500 }], inventory: [{ location_id: loc, quantity: 500 }] }] });
  assert.equal(r.status, 201, r.text);
  variant = r.body.variants[0].id;
});
after(async () => { if (s) await s.stop(); if (fake) fake.server.close(); });

async function readyCart(quantity = 2) {
  const r = await s.client.request('POST', '/v1/store/carts', { json: { email: 'buyer@example.com', shipping_address: address,
    items: [{ variant_id: variant, quantity }] } });
  assert.equal(r.status, 201, r.text);
  const m = await s.client.request('POST', `/v1/store/carts/${r.body.id}/shipping-methods`, { json: { option_id: shipping } });
  assert.equal(m.status, 200, m.text);
  return m.body;
}
const complete = (cartId, data, k = key()) =>
  s.client.request('POST', `/v1/store/carts/${cartId}/complete`, { json: { payment: { provider: 'stripe', data } }, headers: { 'idempotency-key': k } });
const level = async () => (await s.sql(
  'SELECT l.on_hand, l.reserved FROM inventory_levels l JOIN variant_inventory_items v ON v.inventory_item_id = l.inventory_item_id WHERE v.variant_id = $1',
  [variant]))[0];
const orders = async (cartId) => Number((await s.sql('SELECT count(*) AS n FROM orders WHERE cart_id = $1', [cartId]))[0].n);
const configure = (config) => A('PATCH', '/v1/admin/plugins/payment-stripe', { config });

test('payment-stripe loads unconfigured (its secret key is required) and takes a write-only key', async () => {
  let r = await A('GET', '/v1/admin/plugins/payment-stripe');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'unconfigured');
  assert.equal(r.body.config_schema.base_url.default, 'https://api.stripe.com');
  assert.equal(r.body.config_schema.secret_key.secret, true);
  assert.equal((await readyCart(1)) && (await complete((await readyCart(1)).id, { payment_method: 'pm_card_visa' })).status, 422,
    'stripe is not a provider while unconfigured');
  r = await configure({ base_url: 'not a url at all', timeout_ms: 10 });
  assert.equal(r.status, 422);
  assert.ok(r.body.errors.some((e) => e.pointer === '/config/timeout_ms'), r.text);
  r = await configure({ secret_key: SECRET, base_url: `http://127.0.0.1:${fake.port}`, webhook_secret: 'whsec_x' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'active');
  assert.deepEqual(r.body.secrets_set.sort(), ['secret_key', 'webhook_secret']);
  assert.doesNotMatch(r.text, new RegExp(SECRET));
});

test('checkout with stripe creates a manual-capture PaymentIntent with the checkout\'s Idempotency-Key and places the order', async () => {
  const cart = await readyCart(2);
  let r = await complete(cart.id, {});
  assert.equal(r.status, 422, 'payment_method is required');
  assert.equal(r.body.errors[0].pointer, '/payment/data/payment_method');
  const seen = fake.requests.length;
  r = await complete(cart.id, { payment_method: 'pm_card_visa' });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual([r.body.payment_status, r.body.payments[0].provider, r.body.payments[0].status], ['authorized', 'stripe', 'authorized']);
  const sent = fake.requests.slice(seen);
  assert.equal(sent.length, 1);
  const [q] = sent;
  assert.deepEqual([q.method, q.path, q.headers['content-type']], ['POST', '/v1/payment_intents', 'application/x-www-form-urlencoded']);
  assert.equal(q.headers.authorization, `Bearer ${SECRET}`);
  assert.deepEqual([q.form.amount, q.form.currency, q.form.payment_method, q.form.confirm, q.form.capture_method],
    [String(r.body.total), 'eur', 'pm_card_visa', 'true', 'manual']);
  const [p] = await s.sql('SELECT provider_ref, gateway_key FROM payments WHERE order_id = $1', [r.body.id]);
  assert.equal(q.headers['idempotency-key'], p.gateway_key, 'the checkout\'s gateway key is Stripe\'s idempotency key');
  assert.match(p.provider_ref, /^pi_\d+$/);
  assert.equal(q.form['metadata[souq_payment_id]'], r.body.payments[0].id);

  // capture and refund through the admin order routes
  const before = fake.requests.length;
  let c = await A('POST', `/v1/admin/orders/${r.body.id}/capture`);
  assert.equal(c.status, 200, c.text);
  assert.equal(c.body.payment_status, 'paid');
  assert.equal(fake.intents.get(p.provider_ref).status, 'succeeded');
  const cap = fake.requests[before];
  assert.deepEqual([cap.path, cap.form.amount_to_capture], [`/v1/payment_intents/${p.provider_ref}/capture`, String(r.body.total)]);
  assert.ok(cap.headers['idempotency-key']);
  c = await A('POST', `/v1/admin/orders/${r.body.id}/refunds`, { amount: 700 });
  assert.equal(c.status, 201, c.text);
  assert.deepEqual([c.body.amount, c.body.status], [700, 'succeeded']);
  const ref = fake.requests.at(-1);
  assert.deepEqual([ref.path, ref.form.payment_intent, ref.form.amount], ['/v1/refunds', p.provider_ref, '700']);
  assert.equal(ref.headers['idempotency-key'], c.body.id, 'the refund\'s id is its idempotency key');
});

test('a cancelled order voids its PaymentIntent', async () => {
  const cart = await readyCart(1);
  const r = await complete(cart.id, { payment_method: 'pm_card_visa' });
  assert.equal(r.status, 201, r.text);
  const [p] = await s.sql('SELECT provider_ref FROM payments WHERE order_id = $1', [r.body.id]);
  const c = await A('POST', `/v1/admin/orders/${r.body.id}/cancel`);
  assert.equal(c.status, 200, c.text);
  assert.equal(fake.intents.get(p.provider_ref).status, 'canceled');
  assert.equal(fake.requests.at(-1).path, `/v1/payment_intents/${p.provider_ref}/cancel`);
});

test('a card Stripe declines (402) is 402 payment-declined; no order, the stock is released', async () => {
  const cart = await readyCart(3);
  const start = await level();
  const r = await complete(cart.id, { payment_method: 'pm_card_chargeDeclined' });
  assert.equal(r.status, 402, r.text);
  assert.equal(r.body.type, type('payment-declined'));
  assert.equal(await orders(cart.id), 0);
  assert.deepEqual(await level(), start);
});

test('3-D Secure: requires_action with Stripe\'s redirect URL, then, once the buyer passed, the order is authorized', async () => {
  const cart = await readyCart(1);
  let r = await complete(cart.id, { payment_method: 'pm_card_threeDSecure2Required', return_url: 'https://shop.example/back' });
  assert.equal(r.status, 202, r.text);
  assert.equal(r.body.status, 'requires_action');
  const url = r.body.payment.next_action.url;
  assert.match(url, /^https:\/\/hooks\.stripe\.com\/3d_secure_2\/pi_\d+$/);
  assert.deepEqual(r.body.payment.next_action, { type: 'redirect_to_url', url });
  assert.equal(fake.requests.at(-1).form.return_url, 'https://shop.example/back');
  const id = url.split('/').at(-1);
  r = await complete(cart.id, { payment_method: 'pm_card_threeDSecure2Required' });
  assert.equal(r.status, 202, 'not authenticated yet');
  assert.deepEqual([fake.requests.at(-1).method, fake.requests.at(-1).path], ['GET', `/v1/payment_intents/${id}`], 'the plugin asks Stripe where the intent stands');
  fake.authenticate(id);
  r = await complete(cart.id, { payment_method: 'pm_card_threeDSecure2Required' });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.payment_status, 'authorized');
  const creates = fake.requests.filter((q) => q.method === 'POST' && q.path === '/v1/payment_intents' && q.form.payment_method === 'pm_card_threeDSecure2Required');
  assert.equal(new Set(creates.map((q) => q.form['metadata[souq_payment_id]'])).size, 1);
  assert.equal(Number((await s.sql('SELECT count(*) AS n FROM payments WHERE cart_id = $1', [cart.id]))[0].n), 1);
});

test('Stripe down, slow, or out of the egress policy: 502 plugin-failed, no order, the reservation released', async () => {
  const cart = await readyCart(2);
  const start = await level();
  for (const mode of ['down', 'hang']) {
    fake.mode = mode;
    if (mode === 'hang') assert.equal((await configure({ timeout_ms: 500 })).status, 200);
    const r = await complete(cart.id, { payment_method: 'pm_card_visa' });
    assert.equal(r.status, 502, `${mode}: ${r.text}`);
    assert.equal(r.body.type, type('plugin-failed'));
    assert.equal(await orders(cart.id), 0, mode);
    assert.deepEqual(await level(), start, `${mode}: the stock reservation was released`);
  }
  assert.match(s.server.log, /stripe POST \/v1\/payment_intents failed: (refused|protocol)/);
  assert.match(s.server.log, /stripe POST \/v1\/payment_intents failed: timeout/);
  fake.mode = 'up';
  // 127.0.0.2 is loopback but not in outbound_allow_cidrs: the host refuses to connect
  const seen = fake.requests.length;
  assert.equal((await configure({ base_url: `http://127.0.0.2:${fake.port}`, timeout_ms: null })).status, 200);
  let r = await complete(cart.id, { payment_method: 'pm_card_visa' });
  assert.equal(r.status, 502, r.text);
  assert.match(s.server.log, /stripe POST \/v1\/payment_intents failed: ssrf_blocked/);
  assert.equal((await configure({ base_url: `ftp://127.0.0.1:${fake.port}` })).status, 200);
  r = await complete(cart.id, { payment_method: 'pm_card_visa' });
  assert.equal(r.status, 502, r.text);
  assert.match(s.server.log, /stripe POST \/v1\/payment_intents failed: scheme/);
  assert.equal(fake.requests.length, seen, 'nothing reached the fake');
  assert.equal((await configure({ base_url: `http://127.0.0.1:${fake.port}` })).status, 200);
  r = await complete(cart.id, { payment_method: 'pm_card_visa' });
  assert.equal(r.status, 201, r.text);
  assert.equal((await level()).reserved, start.reserved + 2);
});

test('the secret key never appears in the logs or in admin answers', async () => {
  for (const path of ['/v1/admin/plugins', '/v1/admin/plugins/payment-stripe', '/v1/admin/orders']) {
    const r = await A('GET', path);
    assert.equal(r.status, 200, r.text);
    assert.ok(!r.text.includes(SECRET), path);
    assert.ok(!r.text.includes('whsec_x'), path);
  }
  assert.ok(fake.requests.some((q) => q.headers.authorization === `Bearer ${SECRET}`), 'the key did go to Stripe');
  assert.ok(!s.server.log.includes(SECRET), 'not in the log');
  assert.ok(!s.server.log.includes(SECRET.slice(8)), 'no part of it in the log');
});

// ---- inbound events: POST /v1/hooks/payment-stripe ----------------------------------------------------------------
const WHSEC = 'whsec_x'; // set in the first test
const sign = (body, { t = Math.floor(Date.now() / 1000), secret = WHSEC } = {}) =>
  `t=${t},v1=${crypto.createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
const hook = (body, sig, path = '/v1/hooks/payment-stripe') =>
  s.client.request('POST', path, { pk: null, body, headers: { 'content-type': 'application/json; charset=utf-8', ...(sig ? { 'stripe-signature': sig } : {}) } });
const recorded = async (id) => Number((await s.sql('SELECT count(*) AS n FROM plugin_webhook_events WHERE plugin = $1 AND event_id = $2', ['payment-stripe', id]))[0].n);
const outboxed = async (id) => Number((await s.sql("SELECT count(*) AS n FROM outbox_events WHERE type = 'plugin.webhook_received' AND payload->>'event_id' = $1", [id]))[0].n);

test('a Stripe event with a valid Stripe-Signature is applied once; replays answer duplicate', async () => {
  const id = `evt_${crypto.randomBytes(8).toString('hex')}`;
  const body = JSON.stringify({ id, object: 'event', type: 'payment_intent.succeeded', livemode: false,
    data: { object: { id: 'pi_42', object: 'payment_intent', status: 'succeeded' } } });
  let r = await hook(body, sign(body));
  assert.equal(r.status, 200, r.text);
  const { payment, ...receipt } = r.body;
  assert.deepEqual(receipt, { object: 'webhook_receipt', plugin: 'payment-stripe', event_id: id, status: 'applied' });
  assert.deepEqual([payment.action, payment.result], ['captured', 'ignored'], 'no payment has this intent: logged and ignored');
  const [ev] = await s.sql("SELECT payload FROM outbox_events WHERE type = 'plugin.webhook_received' AND payload->>'event_id' = $1", [id]);
  assert.deepEqual({ ...ev.payload, payment: undefined }, { plugin: 'payment-stripe', event_id: id, event_type: 'payment_intent.succeeded',
    data: { object_id: 'pi_42', object_status: 'succeeded', livemode: false }, payment: undefined });
  // the same event again (Stripe retries; an attacker replays within the tolerance), and with a second v1 signature
  r = await hook(body, sign(body));
  assert.deepEqual([r.status, r.body.status], [200, 'duplicate']);
  r = await hook(body, `${sign(body)},v1=${'0'.repeat(64)}`, '/v1/hooks/payment-stripe/events');
  assert.deepEqual([r.status, r.body.status], [200, 'duplicate']);
  assert.equal(await recorded(id), 1);
  assert.equal(await outboxed(id), 1, 'one outbox event across three deliveries');
});

test('Stripe events that cannot be verified are refused with 400 and nothing is recorded', async () => {
  const id = `evt_${crypto.randomBytes(8).toString('hex')}`;
  const body = JSON.stringify({ id, object: 'event', type: 'charge.refunded', data: { object: { id: 'ch_1' } } });
  const old = Math.floor(Date.now() / 1000) - 3600;
  for (const [what, sig, b = body] of [
    ['no signature', null],
    ['a wrong secret', sign(body, { secret: 'whsec_other' })],
    ['a tampered body', sign(body), body.replace('charge.refunded', 'charge.succeeded')],
    ['a stale timestamp', sign(body, { t: old })],
    ['a malformed header', 'v1=abc,t=notanumber'],
    ['a signed body that is not an event', sign('{"hello":1}'), '{"hello":1}'],
  ]) {
    const r = await hook(b, sig ?? undefined);
    assert.equal(r.status, 400, `${what}: ${r.text}`);
    assert.equal(r.body.type, type('bad-request'), what);
  }
  assert.equal(await recorded(id), 0);
  assert.equal(await outboxed(id), 0);
  let r = await hook(body, sign(body), '/v1/hooks/no-such-plugin');
  assert.equal(r.status, 404);
  assert.equal(r.body.type, type('not-found'));
  r = await hook(body, sign(body), '/v1/hooks/payment-stripe/bad%20topic');
  assert.equal(r.status, 404);
  r = await hook(body, sign(body), '/v1/hooks/payment-manual');
  assert.equal(r.status, 502, 'payment-manual has no handle_webhook');
  assert.equal(r.body.type, type('plugin-failed'));
  r = await s.client.request('POST', '/v1/hooks/payment-stripe', { pk: null, body: 'x=1', headers: { 'content-type': 'application/x-www-form-urlencoded', 'stripe-signature': sign('x=1') } });
  assert.equal(r.status, 415);
  assert.ok(!s.server.log.includes(WHSEC), 'the webhook secret is never logged');
});

// ---- payment moves from Stripe's events (core applies them once per event id) --------------------------------------
const stripeEvent = (type, object) => {
  const id = `evt_${crypto.randomBytes(8).toString('hex')}`;
  return { id, body: JSON.stringify({ id, object: 'event', type, livemode: false, data: { object } }) };
};
const send = async (ev) => {
  const r = await hook(ev.body, sign(ev.body));
  assert.equal(r.status, 200, r.text);
  return r.body;
};
const order = async (id) => (await A('GET', `/v1/admin/orders/${id}`)).body;
const placed = async (pm = 'pm_card_visa') => {
  const cart = await readyCart(1);
  const r = await complete(cart.id, { payment_method: pm });
  assert.equal(r.status, 201, r.text);
  const [p] = await s.sql('SELECT id, provider_ref FROM payments WHERE order_id = $1', [r.body.id]);
  return { order: r.body, pi: p.provider_ref, payment: p.id };
};
const orderEvents = async (orderId, type) => s.sql('SELECT payload FROM outbox_events WHERE type = $1 AND payload->>\'order_id\' = $2', [type, orderId]);

test('payment_intent.succeeded captured in Stripe\'s dashboard: the order becomes paid, once', async () => {
  const { order: o, pi, payment } = await placed();
  const ev = stripeEvent('payment_intent.succeeded', { id: pi, object: 'payment_intent', status: 'succeeded', amount_received: o.total, currency: 'eur' });
  let r = await send(ev);
  assert.equal(r.status, 'applied');
  assert.deepEqual(r.payment, { action: 'captured', result: 'applied', payment_id: payment, order_id: o.id });
  let now = await order(o.id);
  assert.deepEqual([now.payment_status, now.paid_total, now.payments[0].status, now.payments[0].captured_amount], ['paid', o.total, 'captured', o.total]);
  const paid = await orderEvents(o.id, 'order.paid');
  assert.equal(paid.length, 1);
  assert.deepEqual([paid[0].payload.source, paid[0].payload.provider_event_id, paid[0].payload.amount], ['provider', ev.id, o.total]);
  const [tl] = await s.sql("SELECT actor FROM order_events WHERE order_id = $1 AND type = 'order.paid'", [o.id]);
  assert.equal(tl.actor, 'plugin:payment-stripe', 'the timeline says who moved it');
  // Stripe retries the same event: nothing more; another event for the same intent: already there
  r = await send(ev);
  assert.deepEqual([r.status, r.payment], ['duplicate', undefined]);
  r = await send(stripeEvent('payment_intent.succeeded', { id: pi, amount_received: o.total, currency: 'eur' }));
  assert.deepEqual([r.status, r.payment.result], ['applied', 'already']);
  assert.equal((await orderEvents(o.id, 'order.paid')).length, 1, 'paid once');
  assert.equal((await order(o.id)).paid_total, o.total);
  const [kept] = await s.sql('SELECT outcome FROM plugin_webhook_events WHERE plugin = $1 AND event_id = $2', ['payment-stripe', ev.id]);
  assert.equal(kept.outcome.result, 'applied', 'the outcome is kept with the event id');
  // capturing through the API now is an illegal move
  const c = await A('POST', `/v1/admin/orders/${o.id}/capture`);
  assert.equal(c.status, 409, c.text);
  assert.equal(c.body.type, type('invalid-state'));
});

test('charge.refunded: refunds made in Stripe are recorded; Souq\'s own refunds echoed back are not doubled', async () => {
  const { order: o, pi } = await placed();
  assert.equal((await A('POST', `/v1/admin/orders/${o.id}/capture`)).status, 200);
  const own = await A('POST', `/v1/admin/orders/${o.id}/refunds`, { amount: 300 });
  assert.equal(own.status, 201, own.text);
  const charge = (amount_refunded) => stripeEvent('charge.refunded', { id: `ch_${pi}`, object: 'charge', payment_intent: pi, amount_refunded, currency: 'eur' });
  let r = await send(charge(300));
  assert.deepEqual([r.payment.action, r.payment.result], ['refunded', 'already'], 'the echo of Souq\'s own refund');
  let now = await order(o.id);
  assert.deepEqual([now.refunded_total, now.refunds.length], [300, 1]);
  r = await send(charge(800));
  assert.equal(r.payment.result, 'applied');
  now = await order(o.id);
  assert.deepEqual([now.payment_status, now.refunded_total, now.refunds.length], ['partially_refunded', 800, 2]);
  const made = now.refunds.find((x) => x.id === r.payment.refund_id);
  assert.deepEqual([made.amount, made.status, made.reason, made.note], [500, 'succeeded', 'other', 'Refunded at the payment provider.']);
  assert.equal((await orderEvents(o.id, 'refund.created')).length, 2);
  r = await send(charge(o.total + 1));
  assert.equal(r.payment.result, 'ignored', 'more than was captured');
  assert.match(s.server.log, /payment move refunded ignored: the refunded total exceeds what was captured/);
  r = await send(charge(o.total));
  assert.equal(r.payment.result, 'applied');
  now = await order(o.id);
  assert.deepEqual([now.payment_status, now.refunded_total], ['refunded', o.total]);
  r = await send(charge(o.total));
  assert.equal(r.payment.result, 'ignored', 'a fully refunded payment has nothing left');
  assert.equal((await order(o.id)).refunds.length, 3);
});

test('payment_intent.payment_failed voids an order\'s open payment; illegal moves and unknown intents are logged, answered 200, not applied', async () => {
  const { order: o, pi, payment } = await placed();
  let r = await send(stripeEvent('payment_intent.payment_failed', { id: pi, object: 'payment_intent', status: 'requires_payment_method',
    last_payment_error: { code: 'card_declined', decline_code: 'insufficient_funds' } }));
  assert.deepEqual(r.payment, { action: 'failed', result: 'applied', payment_id: payment, order_id: o.id });
  const now = await order(o.id);
  assert.deepEqual([now.payment_status, now.payments[0].status, now.status], ['voided', 'declined', 'open']);
  const [failed] = await orderEvents(o.id, 'order.payment_failed');
  assert.deepEqual([failed.payload.payment_id, failed.payload.decline_code], [payment, 'insufficient_funds']);
  // a capture reported after the failure is an illegal move: ignored and logged, 200 so Stripe stops retrying
  r = await send(stripeEvent('payment_intent.succeeded', { id: pi, amount_received: o.total, currency: 'eur' }));
  assert.equal(r.payment.result, 'ignored');
  assert.match(r.payment.detail, /cannot become captured/);
  assert.match(s.server.log, /plugin=payment-stripe event_id=evt_[0-9a-f]+ payment move captured ignored: the payment is declined/);
  assert.equal((await order(o.id)).payment_status, 'voided');
  // another currency, an unknown intent, an intent whose checkout has no order yet
  const other = await placed();
  r = await send(stripeEvent('payment_intent.succeeded', { id: other.pi, amount_received: other.order.total, currency: 'usd' }));
  assert.deepEqual([r.payment.result, r.payment.detail], ['ignored', "the currency is not the payment's"]);
  assert.equal((await order(other.order.id)).payment_status, 'authorized');
  r = await send(stripeEvent('payment_intent.succeeded', { id: 'pi_unknown', amount_received: 100, currency: 'eur' }));
  assert.deepEqual([r.payment.result, r.payment.payment_id], ['ignored', undefined]);
  const cart = await readyCart(1);
  const pending = await complete(cart.id, { payment_method: 'pm_card_threeDSecure2Required' });
  assert.equal(pending.status, 202, pending.text);
  const waiting = pending.body.payment.next_action.url.split('/').at(-1);
  r = await send(stripeEvent('payment_intent.succeeded', { id: waiting, amount_received: 1500, currency: 'eur' }));
  assert.deepEqual([r.payment.result, r.payment.detail], ['ignored', 'the payment has no order yet']);
  // events Souq does not act on carry no move
  r = await send(stripeEvent('customer.created', { id: 'cus_1' }));
  assert.deepEqual([r.status, r.payment], ['applied', undefined]);
});
