// shipping_easypost.test.mjs: the bundled shipping-easypost plugin through the running server against a small fake
// of EasyPost's API on loopback (node http) that records every request: rates for a cart (wire shape: Basic auth,
// shipment with to/from address and parcel), buying a label for a fulfilment (the shipment gets carrier, tracking
// number, tracking URL and label URL), the carrier down or failing mid-purchase (502/504, nothing written),
// tracker refreshes, and tracker.updated webhooks (X-Hmac-Signature checked, each event id applied once, a
// delivered parcel delivering its fulfilment and order exactly once).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { startStack, staffLogin, ROOT } from './lib/harness.mjs';

const KEY = `EZTK${crypto.randomBytes(12).toString('hex')}`;
const WHSEC = `whsec-${crypto.randomBytes(8).toString('hex')}`;
let s, t, us, loc, variant, option, fake;
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json, headers) => s.client.request(method, path, { pk: null, token: t, json, headers });
const address = { first_name: 'Grace', last_name: 'Hopper', address_1: '417 Montgomery St', city: 'San Francisco', province: 'CA',
  postal_code: '94104', country_code: 'us', phone: '4155550100' };

// ---- the fake ------------------------------------------------------------------------------------------------------
function startFake() {
  const f = { requests: [], shipments: new Map(), trackers: new Map(), mode: 'up', n: 0 };
  const send = (res, status, body) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };
  f.server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const body = raw ? JSON.parse(raw) : null;
      f.requests.push({ method: req.method, path: req.url, headers: req.headers, body });
      if (f.mode === 'down') return req.socket.destroy();
      if (f.mode === 'hang') return;
      if (req.headers.authorization !== `Basic ${Buffer.from(`${KEY}:`).toString('base64')}`)
        return send(res, 401, { error: { code: 'APIKEY.INACTIVE', message: 'This api key is no longer active.' } });
      let m;
      if (req.method === 'POST' && req.url === '/v2/shipments') {
        const id = `shp_${++f.n}`;
        const rates = [['USPS', 'Priority', '7.58'], ['USPS', 'Express', '26.35'], ['UPS', 'Ground', '9.10'], ['DHL', 'Worldwide', '40.00', 'EUR']]
          .map(([carrier, service, rate, currency = 'USD']) => ({ id: `rate_${++f.n}`, object: 'Rate', shipment_id: id, carrier, service, rate, currency }));
        const shp = { id, object: 'Shipment', to_address: body.shipment.to_address, from_address: body.shipment.from_address,
          parcel: { id: `prcl_${++f.n}`, ...body.shipment.parcel }, rates, tracking_code: null, postage_label: null };
        f.shipments.set(id, shp);
        return send(res, 201, shp);
      }
      if (req.method === 'POST' && (m = /^\/v2\/shipments\/(shp_\d+)\/buy$/.exec(req.url)) && f.shipments.has(m[1])) {
        if (f.mode === 'buy-fails') return send(res, 422, { error: { code: 'SHIPMENT.POSTAGE.FAILURE', message: 'carrier refused' } });
        const shp = f.shipments.get(m[1]);
        const rate = shp.rates.find((r) => r.id === body?.rate?.id);
        if (!rate) return send(res, 422, { error: { code: 'SHIPMENT.RATE.INVALID', message: 'no such rate' } });
        const code = `9400${String(++f.n).padStart(18, '0')}`;
        const trk = { id: `trk_${++f.n}`, object: 'Tracker', tracking_code: code, status: 'pre_transit', carrier: rate.carrier,
          public_url: `https://track.easypost.com/djE6dHJrXz${f.n}` };
        f.trackers.set(trk.id, trk);
        Object.assign(shp, { selected_rate: rate, tracking_code: code, tracker: trk,
          postage_label: { object: 'PostageLabel', label_url: `https://easypost-files.s3.amazonaws.com/files/postage_label/${code}.png` } });
        return send(res, 200, shp);
      }
      if (req.method === 'GET' && (m = /^\/v2\/trackers\/(trk_\d+)$/.exec(req.url)) && f.trackers.has(m[1]))
        return send(res, 200, f.trackers.get(m[1]));
      send(res, 404, { error: { code: 'NOT_FOUND', message: 'The requested resource could not be found.' } });
    });
  });
  return new Promise((resolve) => f.server.listen(0, '127.0.0.1', () => { f.port = f.server.address().port; resolve(f); }));
}

before(async () => {
  fake = await startFake();
  s = await startStack({ env: { SOUQ_PLUGIN_DIRS: `${ROOT}/plugins`, SOUQ_OUTBOUND_ALLOW_CIDRS: '127.0.0.1/32' } });
  t = (await staffLogin(s.client)).access_token;
  let r = await A('PATCH', '/v1/admin/plugins/shipping-easypost', { config: { api_key: KEY, webhook_secret: WHSEC,
    base_url: `http://127.0.0.1:${fake.port}`, from_address: { name: 'Souq Shop', street1: '1 Market St', city: 'San Francisco', state: 'CA', zip: '94105', country: 'US', phone: '4155550199' } } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'active');
  assert.doesNotMatch(r.text, new RegExp(KEY));
  us = (await A('POST', '/v1/admin/regions', { name: 'US', currency_code: 'usd', countries: ['us'] })).body;
  r = await A('POST', '/v1/admin/shipping-options', { name: 'Carrier', region_id: us.id, provider: 'easypost', amount: 100 });
  assert.equal(r.status, 201, r.text);
  option = r.body.id;
  loc = (await A('POST', '/v1/admin/stock-locations', { name: 'SF warehouse', address_1: '2 Mission St', city: 'San Francisco', postal_code: '94105', country_code: 'us' })).body.id;
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
  r = await A('POST', '/v1/admin/products', { title: 'Parcel thing', status: 'active',
    variants: [{ sku: `EZP-${process.pid}`, weight_g: 500, prices: [{ currency_code: 'usd', amount: 2500 }], inventory: [{ location_id: loc, quantity: 500 }] }] });
  assert.equal(r.status, 201, r.text);
  variant = r.body.variants[0].id;
});
after(async () => { if (s) await s.stop(); if (fake) fake.server.close(); });

async function placedOrder(quantity = 1) {
  const c = await s.client.request('POST', '/v1/store/carts', { json: { email: 'grace@example.com', shipping_address: address, items: [{ variant_id: variant, quantity }] } });
  assert.equal(c.status, 201, c.text);
  const m = await s.client.request('POST', `/v1/store/carts/${c.body.id}/shipping-methods`, { json: { option_id: option } });
  assert.equal(m.status, 200, m.text);
  const r = await s.client.request('POST', `/v1/store/carts/${c.body.id}/complete`, { json: { payment: { provider: 'manual' } }, headers: { 'idempotency-key': crypto.randomUUID() } });
  assert.equal(r.status, 201, r.text);
  return r.body;
}
async function fulfilled(quantity = 1) {
  const o = await placedOrder(quantity);
  const f = await A('POST', `/v1/admin/orders/${o.id}/fulfillments`, { location_id: loc, items: [{ line_item_id: o.items[0].id, quantity }] });
  assert.equal(f.status, 201, f.text);
  return { o, f: f.body };
}
const buy = (o, f, body, headers) => A('POST', `/v1/admin/orders/${o.id}/fulfillments/${f.id}/labels`, body, headers);
const shipments = async (f) => (await s.sql('SELECT * FROM shipments WHERE fulfillment_id = $1', [f.id]));
const events = async (o, ty) => Number((await s.sql("SELECT count(*) AS n FROM outbox_events WHERE type = $1 AND payload->>'order_id' = $2", [ty, o.id]))[0].n);
const hook = (raw, sig) => s.client.request('POST', '/v1/hooks/shipping-easypost', { pk: null, body: raw,
  headers: { 'content-type': 'application/json', ...(sig === undefined ? {} : { 'x-hmac-signature': sig }) } });
const sign = (raw, secret = WHSEC) => `hmac-sha256-hex=${crypto.createHmac('sha256', secret).update(raw).digest('hex')}`;
const trackerEvent = (code, status, id = `evt_${crypto.randomBytes(8).toString('hex')}`) => JSON.stringify({ id, object: 'Event',
  description: 'tracker.updated', mode: 'test', result: { id: 'trk_x', object: 'Tracker', tracking_code: code, status, carrier: 'USPS' } });

test('rates: EasyPost prices the option for the cart (cheapest USD rate + the option\'s handling fee), with the wire shape EasyPost expects', async () => {
  const seen = fake.requests.length;
  const c = await s.client.request('POST', '/v1/store/carts', { json: { email: 'grace@example.com', shipping_address: address, items: [{ variant_id: variant, quantity: 2 }] } });
  const r = await s.client.request('GET', `/v1/store/carts/${c.body.id}/shipping-options`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.data.map((o) => [o.id, o.amount, o.provider]), [[option, 758 + 100, 'easypost']]);
  const q = fake.requests.slice(seen).find((x) => x.path === '/v2/shipments');
  assert.equal(q.method, 'POST');
  assert.equal(q.headers.authorization, `Basic ${Buffer.from(`${KEY}:`).toString('base64')}`);
  assert.equal(q.headers['content-type'], 'application/json');
  assert.deepEqual(q.body.shipment.to_address, { name: 'Grace Hopper', street1: '417 Montgomery St', city: 'San Francisco', state: 'CA',
    zip: '94104', country: 'US', phone: '4155550100' });
  assert.equal(q.body.shipment.from_address.zip, '94105');
  assert.equal(q.body.shipment.parcel.weight, 35.3, '1000 g in ounces, a tenth rounded up');
  // a cart with no address yet is not offered the option (and EasyPost is not asked)
  const n = fake.requests.length;
  const bare = await s.client.request('POST', '/v1/store/carts', { json: { items: [{ variant_id: variant, quantity: 1 }] } });
  const r2 = await s.client.request('GET', `/v1/store/carts/${bare.body.id}/shipping-options`);
  assert.deepEqual(r2.body.data, []);
  assert.equal(fake.requests.length, n);
});

test('rates: EasyPost down only takes the option off the cart; a cart that chose it is refused at checkout', async () => {
  const c = await s.client.request('POST', '/v1/store/carts', { json: { email: 'grace@example.com', shipping_address: address, items: [{ variant_id: variant, quantity: 1 }] } });
  assert.equal((await s.client.request('POST', `/v1/store/carts/${c.body.id}/shipping-methods`, { json: { option_id: option } })).status, 200);
  fake.mode = 'down';
  try {
    // a cart rated nowhere before (3 units: no other test's cart has that weight): the rate of the cart as it was, or
    // of an identical cart, may be reused for 60 s (cache.rates_ttl_s); this one needs EasyPost
    const q = await s.client.request('PATCH', `/v1/store/carts/${c.body.id}/line-items/${c.body.items[0].id}`, { json: { quantity: 3 } });
    assert.equal(q.status, 200, q.text);
    const r = await s.client.request('GET', `/v1/store/carts/${c.body.id}/shipping-options`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.data, []);
    const o = await s.client.request('POST', `/v1/store/carts/${c.body.id}/complete`, { json: { payment: { provider: 'manual' } }, headers: { 'idempotency-key': crypto.randomUUID() } });
    assert.equal(o.status, 422, o.text);
    assert.equal(o.body.errors[0].pointer, '/shipping_methods');
  } finally {
    fake.mode = 'up';
  }
});

test('buying a label: EasyPost shipment + buy with the named service; the shipment gets carrier, tracking number and URL, label URL and cost', async () => {
  const { o, f } = await fulfilled(1);
  const seen = fake.requests.length;
  const r = await buy(o, f, { service: 'Express' });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.status, 'shipped');
  const [sh] = r.body.shipments;
  assert.equal(sh.carrier, 'USPS');
  assert.match(sh.tracking_number, /^9400\d{18}$/);
  assert.match(sh.tracking_url, /^https:\/\/track\.easypost\.com\//);
  assert.equal(sh.label_url, `https://easypost-files.s3.amazonaws.com/files/postage_label/${sh.tracking_number}.png`);
  assert.deepEqual([sh.provider, sh.label_cost, sh.label_currency, sh.tracking_status], ['easypost', 2635, 'usd', 'pre_transit']);
  const sent = fake.requests.slice(seen);
  assert.deepEqual(sent.map((x) => [x.method, x.path.replace(/shp_\d+/, 'shp_*')]), [['POST', '/v2/shipments'], ['POST', '/v2/shipments/shp_*/buy']]);
  assert.equal(sent[0].body.shipment.reference, f.id);
  assert.equal(sent[0].body.shipment.to_address.email, 'grace@example.com');
  assert.equal(sent[0].body.shipment.from_address.street1, '1 Market St', 'from_address settings over the stock location');
  assert.equal(sent[0].body.shipment.parcel.weight, 17.7, '500 g');
  const rate = fake.shipments.get(/shp_\d+/.exec(sent[1].path)[0]).rates.find((x) => x.service === 'Express');
  assert.deepEqual(sent[1].body, { rate: { id: rate.id } });
  const order = (await A('GET', `/v1/admin/orders/${o.id}`)).body;
  assert.equal(order.fulfillment_status, 'shipped');
  assert.equal(await events(o, 'shipment.created'), 1);
  // without a service: the cheapest allowed rate
  const b = await fulfilled(1);
  const r2 = await buy(b.o, b.f);
  assert.equal(r2.status, 201, r2.text);
  assert.deepEqual([r2.body.shipments[0].carrier, r2.body.shipments[0].label_cost], ['USPS', 758]);
});

test('buying a label with an Idempotency-Key: a retry replays the first answer and buys nothing more', async () => {
  const { o, f } = await fulfilled(1);
  const k = crypto.randomUUID();
  const seen = fake.requests.length;
  const r1 = await buy(o, f, { service: 'Priority' }, { 'idempotency-key': k });
  assert.equal(r1.status, 201, r1.text);
  const r2 = await buy(o, f, { service: 'Priority' }, { 'idempotency-key': k });
  assert.equal(r2.status, 201, r2.text);
  assert.equal(r2.headers.get('idempotent-replayed'), 'true');
  assert.deepEqual(r2.body, r1.body);
  assert.equal(fake.requests.slice(seen).filter((x) => x.path.endsWith('/buy')).length, 1, 'one label bought');
  assert.equal((await shipments(f)).length, 1);
  const r3 = await buy(o, f, { service: 'Express' }, { 'idempotency-key': k });
  assert.equal(r3.status, 422, 'the same key with another body');
  assert.equal(r3.body.type, type('idempotency-key-reused'));
});

test('buying a label: bad requests are 4xx problems and write nothing', async () => {
  const { o, f } = await fulfilled(1);
  const cases = [
    [{ provider: 'Bad Id' }, 422, '/provider'],
    [{ provider: 'flat_rate' }, 422, '/provider'],
    [{ provider: 'nope' }, 422, '/provider'],
    [{ service: '' }, 422, '/service'],
    [{ colour: 'red' }, 422, '/colour'],
  ];
  for (const [body, status, pointer] of cases) {
    const r = await buy(o, f, body);
    assert.equal(r.status, status, `${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.body.errors[0].pointer, pointer, JSON.stringify(body));
  }
  let r = await A('POST', `/v1/admin/orders/${o.id}/fulfillments/ful_00000000000000000000000000/labels`, {});
  assert.equal(r.status, 404);
  assert.equal(r.body.type, type('not-found'));
  r = await A('POST', `/v1/admin/orders/${o.id}/fulfillments/nope/labels`, {});
  assert.equal(r.status, 404);
  r = await buy(o, f, { service: 'Teleport' });
  assert.equal(r.status, 502, 'EasyPost offers no such service: the plugin fails');
  assert.equal(r.body.type, type('plugin-failed'));
  r = await s.client.request('POST', `/v1/admin/orders/${o.id}/fulfillments/${f.id}/labels`, { pk: null, json: {} });
  assert.equal(r.status, 401);
  assert.deepEqual(await shipments(f), []);
  assert.equal((await A('GET', `/v1/admin/orders/${o.id}`)).body.fulfillment_status, 'fulfilled');
});

test('buying a label: EasyPost down, failing at buy, or slow is 502 with nothing written; a retry then works', async () => {
  const { o, f } = await fulfilled(1);
  assert.equal((await A('PATCH', '/v1/admin/plugins/shipping-easypost', { config: { timeout_ms: 500 } })).status, 200);
  for (const [mode, status, slug] of [['down', 502, 'plugin-failed'], ['buy-fails', 502, 'plugin-failed'], ['hang', 502, 'plugin-failed']]) {
    fake.mode = mode;
    const r = await buy(o, f, {});
    assert.equal(r.status, status, `${mode}: ${r.text}`);
    assert.equal(r.body.type, type(slug));
    assert.doesNotMatch(r.text, /carrier refused|SHIPMENT/, 'carrier text stays in the log');
  }
  fake.mode = 'up';
  assert.equal((await A('PATCH', '/v1/admin/plugins/shipping-easypost', { config: { timeout_ms: null } })).status, 200);
  assert.deepEqual(await shipments(f), []);
  assert.equal(await events(o, 'shipment.created'), 0);
  const r = await buy(o, f, {});
  assert.equal(r.status, 201, r.text);
  assert.equal((await shipments(f)).length, 1);
});

test('tracker.updated webhooks: signature checked, each event id applied once, delivered delivers the order exactly once', async () => {
  const { o, f } = await fulfilled(1);
  const r0 = await buy(o, f, {});
  assert.equal(r0.status, 201, r0.text);
  const code = r0.body.shipments[0].tracking_number;
  // refused: no signature, a wrong one, another secret, a malformed header; nothing recorded
  const raw = trackerEvent(code, 'delivered');
  for (const sig of [undefined, 'hmac-sha256-hex=00', sign(raw, 'other-secret'), sign(raw).replace('hmac-sha256-hex=', 'sha1=')]) {
    const r = await hook(raw, sig);
    assert.equal(r.status, 400, `${sig}: ${r.text}`);
    assert.equal(r.body.type, type('bad-request'));
  }
  assert.equal(Number((await s.sql("SELECT count(*) AS n FROM plugin_webhook_events WHERE plugin = 'shipping-easypost'"))[0].n), 0);
  assert.equal((await A('GET', `/v1/admin/orders/${o.id}`)).body.fulfillment_status, 'shipped');
  // in transit
  const transit = trackerEvent(code, 'in_transit');
  let r = await hook(transit, sign(transit));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'applied');
  assert.equal((await shipments(f))[0].tracking_status, 'in_transit');
  r = await hook(transit, sign(transit));
  assert.equal(r.body.status, 'duplicate');
  // delivered, twice (a replay and a second event saying the same): one delivery, one order.delivered
  r = await hook(raw, sign(raw));
  assert.deepEqual([r.status, r.body.status], [200, 'applied']);
  const order = (await A('GET', `/v1/admin/orders/${o.id}`)).body;
  assert.equal(order.fulfillment_status, 'delivered');
  assert.equal(order.fulfillments[0].status, 'delivered');
  assert.equal(order.fulfillments[0].shipments[0].tracking_status, 'delivered');
  r = await hook(raw, sign(raw));
  assert.equal(r.body.status, 'duplicate');
  const again = trackerEvent(code, 'delivered');
  r = await hook(again, sign(again));
  assert.deepEqual([r.status, r.body.status], [200, 'applied']);
  assert.equal(await events(o, 'order.delivered'), 1);
  assert.equal(await events(o, 'fulfillment.delivered'), 1);
  assert.equal(Number((await s.sql("SELECT count(*) AS n FROM outbox_events WHERE type = 'plugin.webhook_received' AND payload->>'plugin' = 'shipping-easypost'"))[0].n), 3);
  // concurrent duplicates of one event: one applies
  const { o: o2, f: f2 } = await fulfilled(1);
  const code2 = (await buy(o2, f2, {})).body.shipments[0].tracking_number;
  const ev = trackerEvent(code2, 'delivered');
  const answers = await Promise.all(Array.from({ length: 8 }, () => hook(ev, sign(ev))));
  assert.deepEqual(answers.map((x) => x.status), Array(8).fill(200));
  assert.equal(answers.filter((x) => x.body.status === 'applied').length, 1);
  assert.equal(await events(o2, 'order.delivered'), 1);
  // an event for a tracking number Souq does not know is recorded and changes nothing
  const stray = trackerEvent('9400999', 'delivered');
  r = await hook(stray, sign(stray));
  assert.deepEqual([r.status, r.body.status], [200, 'applied']);
  // other events are recorded for subscribers; an unsigned body that is not an event is refused
  const other = JSON.stringify({ id: 'evt_batch1', object: 'Event', description: 'batch.created', result: {} });
  r = await hook(other, sign(other));
  assert.deepEqual([r.status, r.body.status], [200, 'applied']);
  const junk = '{"hello":1}';
  r = await hook(junk, sign(junk));
  assert.equal(r.status, 400);
  assert.doesNotMatch(s.server.log, new RegExp(`${KEY}|${WHSEC}`), 'the API key and the webhook secret are never logged');
});

test('tracking refresh: staff ask the carrier (GET /v2/trackers/{id}); delivered delivers once; hand-entered shipments cannot be asked', async () => {
  const { o, f } = await fulfilled(1);
  const r0 = await buy(o, f, {});
  const sh = r0.body.shipments[0];
  const trk = [...fake.trackers.values()].find((x) => x.tracking_code === sh.tracking_number);
  trk.status = 'out_for_delivery';
  const path = `/v1/admin/orders/${o.id}/fulfillments/${f.id}/shipments/${sh.id}/track`;
  let r = await A('POST', path);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.status, r.body.shipments[0].tracking_status], ['shipped', 'out_for_delivery']);
  assert.equal(fake.requests.at(-1).path, `/v2/trackers/${trk.id}`);
  trk.status = 'delivered';
  r = await A('POST', path);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'delivered');
  r = await A('POST', path);
  assert.equal(r.status, 200, r.text);
  assert.equal(await events(o, 'order.delivered'), 1);
  fake.mode = 'down';
  r = await A('POST', path);
  fake.mode = 'up';
  assert.equal(r.status, 502);
  assert.equal(r.body.type, type('plugin-failed'));
  // a shipment entered by hand
  const b = await fulfilled(1);
  const hand = await A('POST', `/v1/admin/orders/${b.o.id}/fulfillments/${b.f.id}/shipments`, { carrier: 'DHL', tracking_number: 'JD0001' });
  assert.equal(hand.status, 201, hand.text);
  r = await A('POST', `/v1/admin/orders/${b.o.id}/fulfillments/${b.f.id}/shipments/${hand.body.shipments[0].id}/track`);
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/provider');
  r = await A('POST', `/v1/admin/orders/${b.o.id}/fulfillments/${b.f.id}/shipments/shp_00000000000000000000000000/track`);
  assert.equal(r.status, 404);
  r = await A('POST', path, { extra: true });
  assert.equal(r.status, 422);
});
