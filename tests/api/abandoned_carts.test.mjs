// abandoned_carts.test.mjs: the abandoned-cart automation (the abandoned_carts.scan job, migrations/0028_jobs.sql):
// a cart with an email and items, idle for abandoned_cart_after_s, gets a cart.abandoned event (delivered to a
// subscribed webhook), then another after abandoned_cart_spacing_s, at most abandoned_cart_max_reminders; none for
// carts without an email or items, none after completion; the recovery report. Time passing is simulated by
// moving the carts' and reminders' timestamps back (no sleeps); each step waits for a scan that started after the
// change (the schedule runs every second here).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startStack, staffLogin } from './lib/harness.mjs';
import { startReceiver, eventually } from './lib/receiver.mjs';

const ENV = {
  SOUQ_ABANDONED_CART_SCHEDULE: 'every 1 seconds',
  SOUQ_ABANDONED_CART_AFTER_S: '600',
  SOUQ_ABANDONED_CART_SPACING_S: '1800',
  SOUQ_ABANDONED_CART_MAX_REMINDERS: '2',
  SOUQ_JOBS_POLL_MS: '50',
  SOUQ_OUTBOUND_ALLOW_CIDRS: '127.0.0.1/32',
  SOUQ_EVENTS_POLL_MS: '50',
};
let s, t, rx, loc, shipping;
const A = (method, path, json) => s.client.request(method, path, { pk: null, token: t, json });
let seq = 0;
const uniq = (p) => `${p}-${process.pid}-${++seq}`;
const V = {};
const address = { first_name: 'Ada', last_name: 'L', address_1: 'Unter den Linden 1', city: 'Berlin', postal_code: '10117', country_code: 'de' };

async function variant(amount) {
  const r = await A('POST', '/v1/admin/products', { title: uniq('Thing'), status: 'active',
    variants: [{ sku: uniq('SKU'), prices: [{ currency_code: 'eur', amount }], inventory: [{ location_id: loc, quantity: 100 }] }] });
  assert.equal(r.status, 201, r.text);
  return r.body.variants[0];
}

async function cart(body) {
  const r = await s.client.post('/v1/store/carts', { currency_code: 'eur', ...body });
  assert.equal(r.status, 201, r.text);
  return r.body;
}

/** Waits for an abandoned-cart scan that started after now (it sees every change made before). */
async function scan() {
  const [{ at }] = await s.sql('SELECT clock_timestamp() AS at');
  await eventually(async () => (await s.sql(`SELECT 1 FROM jobs WHERE kind = 'abandoned_carts.scan' AND state = 'completed' AND created_at > $1`, [at])).length > 0,
    20000, 'a scan');
}
const reminders = async (cartId) => (await s.sql('SELECT * FROM abandoned_cart_reminders WHERE cart_id = $1 ORDER BY reminder', [cartId]));
const events = async (cartId) => (await s.sql(`SELECT * FROM outbox_events WHERE type = 'cart.abandoned' AND payload->>'cart_id' = $1 ORDER BY payload->>'reminder'`, [cartId]));
const idle = (ids, seconds) => s.sql(`UPDATE carts SET updated_at = updated_at - $2 * interval '1 second' WHERE id = ANY ($1)`, [ids, seconds]);
const earlier = (ids, seconds) => s.sql(`UPDATE abandoned_cart_reminders SET sent_at = sent_at - $2 * interval '1 second' WHERE cart_id = ANY ($1)`, [ids, seconds]);

before(async () => {
  rx = await startReceiver();
  s = await startStack({ env: ENV });
  t = (await staffLogin(s.client)).access_token;
  const eu = (await A('POST', '/v1/admin/regions', { name: 'EU', currency_code: 'eur', countries: ['de'] })).body;
  const so = await A('POST', '/v1/admin/shipping-options', { name: 'Standard', region_id: eu.id, provider: 'flat_rate', amount: 0 });
  assert.equal(so.status, 201, so.text);
  shipping = so.body.id;
  loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Berlin' })).body.id;
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
  V.tee = await variant(2500);
  V.mug = await variant(1200);
});
after(async () => {
  if (s) await s.stop();
  if (rx) await rx.close();
});

test('reminders: after the idle time, spaced, at most N, none without email or items, none after completion; the report', async () => {
  const hook = await A('POST', '/v1/admin/webhooks', { url: rx.url + '/status/200', event_types: ['cart.abandoned'] });
  assert.equal(hook.status, 201, hook.text);
  const a = await cart({ email: 'Abandoner@Example.com', items: [{ variant_id: V.tee.id, quantity: 2 }, { variant_id: V.mug.id, quantity: 1 }] });
  const noEmail = await cart({ items: [{ variant_id: V.tee.id, quantity: 1 }] });
  const empty = await cart({ email: 'empty@example.com' });
  const d = await cart({ email: 'buyer@example.com', shipping_address: address, items: [{ variant_id: V.mug.id, quantity: 3 }] });
  const m = await s.client.post(`/v1/store/carts/${d.id}/shipping-methods`, { option_id: shipping });
  assert.equal(m.status, 200, m.text);
  const all = [a.id, noEmail.id, empty.id, d.id];

  // fresh carts: not abandoned yet
  await idle(all, 590);
  await scan();
  for (const id of all) assert.equal((await reminders(id)).length, 0, `no reminder before abandoned_cart_after_s (${id})`);

  // idle for longer than abandoned_cart_after_s: the first reminder, for carts with an email and items only
  await idle(all, 20);
  await scan();
  let r = await reminders(a.id);
  assert.deepEqual(r.map((x) => x.reminder), [1]);
  assert.equal((await reminders(d.id)).length, 1);
  assert.equal((await reminders(noEmail.id)).length, 0, 'no email: no reminder');
  assert.equal((await reminders(empty.id)).length, 0, 'no items: no reminder');
  const [ev] = await events(a.id);
  assert.equal(ev.id, r[0].event_id);
  const p = ev.payload;
  assert.equal(p.cart_id, a.id);
  assert.equal(p.email, a.email);
  assert.equal(p.reminder, 1);
  assert.equal(p.max_reminders, 2);
  assert.equal(p.currency, 'eur');
  assert.equal(p.item_count, 2);
  assert.equal(p.total, 2 * 2500 + 1200);
  assert.deepEqual(p.items.map((i) => [i.variant_id, i.quantity, i.unit_amount, i.sku]).sort(),
    [[V.tee.id, 2, 2500, V.tee.sku], [V.mug.id, 1, 1200, V.mug.sku]].sort());
  // the webhook gets it, signed as every event
  await rx.until(() => rx.of(ev.id).length > 0, 20000, 'the cart.abandoned delivery');
  const body = JSON.parse(rx.of(ev.id)[0].body);
  assert.equal(body.type, 'cart.abandoned');
  assert.deepEqual(body.data, p);

  // within the spacing: nothing more
  await scan();
  assert.equal((await reminders(a.id)).length, 1, 'spaced');

  // the customer completes cart d: no second reminder for it
  const done = await s.client.request('POST', `/v1/store/carts/${d.id}/complete`, { json: { payment: { provider: 'test', data: { token: 'tok_visa' } } },
    headers: { 'idempotency-key': crypto.randomUUID() } });
  assert.equal(done.status, 201, done.text);

  // spacing passed: the second reminder for a, none for the completed d
  await earlier(all, 1801);
  await scan();
  r = await reminders(a.id);
  assert.deepEqual(r.map((x) => x.reminder), [1, 2]);
  assert.equal((await events(a.id))[1].payload.reminder, 2);
  assert.equal((await reminders(d.id)).length, 1, 'none after completion');

  // at most abandoned_cart_max_reminders
  await earlier(all, 1801);
  await idle(all, 3600);
  await scan();
  assert.equal((await reminders(a.id)).length, 2, 'at most 2');
  assert.equal((await events(a.id)).length, 2, 'one event per reminder');
  assert.equal((await events(d.id)).length, 1);
  assert.equal((await events(noEmail.id)).length + (await events(empty.id)).length, 0);

  // recovery: 2 reminded carts, d completed after its reminder
  const rep = await A('GET', '/v1/admin/reports/abandoned-carts');
  assert.equal(rep.status, 200, rep.text);
  assert.equal(rep.body.reminded_carts, 2);
  assert.equal(rep.body.reminders_sent, 3);
  assert.equal(rep.body.recovered_carts, 1);
  assert.equal(rep.body.recovery_rate, 0.5);
  const denied = await s.client.request('GET', '/v1/admin/reports/abandoned-carts', { pk: null });
  assert.equal(denied.status, 401);
});

test('the scan is a recurring job: one job per period, visible in the admin API', async () => {
  const r = await A('GET', '/v1/admin/jobs?kind=abandoned_carts.scan&state=completed&limit=5');
  assert.equal(r.status, 200, r.text);
  assert.ok(r.body.data.length >= 2);
  const keys = r.body.data.map((j) => j.unique_key);
  assert.equal(new Set(keys).size, keys.length);
  for (const j of r.body.data) {
    assert.equal(j.schedule_id, 'abandoned_carts');
    assert.match(j.unique_key, /^schedule:abandoned_carts:\d+$/);
  }
  const sched = (await s.sql(`SELECT * FROM job_schedules WHERE id = 'abandoned_carts'`))[0];
  assert.equal(sched.spec, 'every 1 seconds');
  assert.equal(sched.every_s, 1);
  assert.equal(sched.enabled, true);
});

test('a discount from the second reminder on: a one-time code in the event, redeemed once at checkout, counted by the report', async () => {
  const q = await startStack({ env: { ...ENV, SOUQ_ABANDONED_CART_DISCOUNT_BP: '1000', SOUQ_ABANDONED_CART_DISCOUNT_FROM: '2' } });
  try {
    const qt = (await staffLogin(q.client)).access_token;
    const QA = (method, path, json) => q.client.request(method, path, { pk: null, token: qt, json });
    const eu = (await QA('POST', '/v1/admin/regions', { name: 'EU', currency_code: 'eur', countries: ['de'] })).body;
    const so = (await QA('POST', '/v1/admin/shipping-options', { name: 'Standard', region_id: eu.id, provider: 'flat_rate', amount: 0 })).body;
    const l = (await QA('POST', '/v1/admin/stock-locations', { name: 'Berlin' })).body.id;
    await QA('POST', `/v1/admin/sales-channels/${q.channel}/locations`, { location_id: l, priority: 0 });
    const v = (await QA('POST', '/v1/admin/products', { title: uniq('Thing'), status: 'active',
      variants: [{ sku: uniq('SKU'), prices: [{ currency_code: 'eur', amount: 2000 }], inventory: [{ location_id: l, quantity: 100 }] }] })).body.variants[0];
    const mk = async () => {
      const r = await q.client.post('/v1/store/carts', { currency_code: 'eur', email: 'back@example.com', shipping_address: address, items: [{ variant_id: v.id, quantity: 1 }] });
      assert.equal(r.status, 201, r.text);
      assert.equal((await q.client.post(`/v1/store/carts/${r.body.id}/shipping-methods`, { option_id: so.id })).status, 200);
      return r.body;
    };
    const c = await mk(), other = await mk();
    const qscan = async () => {
      const [{ at }] = await q.sql('SELECT clock_timestamp() AS at');
      await eventually(async () => (await q.sql(`SELECT 1 FROM jobs WHERE kind = 'abandoned_carts.scan' AND state = 'completed' AND created_at > $1`, [at])).length > 0, 20000, 'a scan');
    };
    const payloads = async (id) => (await q.sql(`SELECT payload FROM outbox_events WHERE type = 'cart.abandoned' AND payload->>'cart_id' = $1 ORDER BY payload->>'reminder'`, [id])).map((x) => x.payload);
    await q.sql(`UPDATE carts SET updated_at = updated_at - interval '700 seconds' WHERE id = ANY ($1)`, [[c.id, other.id]]);
    await qscan();
    let p = await payloads(c.id);
    assert.equal(p.length, 1);
    assert.equal(p[0].discount, undefined, 'the first reminder is a plain nudge');
    await q.sql(`UPDATE abandoned_cart_reminders SET sent_at = sent_at - interval '1801 seconds' WHERE cart_id = ANY ($1)`, [[c.id, other.id]]);
    await qscan();
    p = await payloads(c.id);
    assert.equal(p.length, 2);
    const d = p[1].discount;
    assert.match(d.code, /^BACK-[0-9A-F]{12}$/);
    assert.equal(d.percent_bp, 1000);
    assert.ok(Date.parse(d.expires_at) > Date.now() + 6 * 86400e3, 'a week by default');
    const otherCode = (await payloads(other.id))[1].discount.code;
    assert.notEqual(otherCode, d.code, 'one code per reminder');
    const promo = (await QA('GET', `/v1/admin/promotions/${d.promotion_id}`)).body;
    assert.deepEqual([promo.usage_limit, promo.type, promo.percent_bp], [1, 'percentage', 1000]);
    // the buyer comes back with the code: 10 % off, the order placed
    let r = await q.client.post(`/v1/store/carts/${c.id}/promotions`, { code: d.code.toLowerCase() });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.discount_total, 200);
    r = await q.client.request('POST', `/v1/store/carts/${c.id}/complete`, { json: { payment: { provider: 'test', data: { token: 'tok_visa' } } },
      headers: { 'idempotency-key': crypto.randomUUID() } });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.discount_total, 200);
    // used once: the other cart cannot take it
    r = await q.client.post(`/v1/store/carts/${other.id}/promotions`, { code: d.code });
    assert.equal(r.status, 422, r.text);
    assert.ok(r.body.errors.some((e) => e.pointer === '/code'), r.text);
    const rep = (await QA('GET', '/v1/admin/reports/abandoned-carts')).body;
    assert.deepEqual([rep.reminded_carts, rep.recovered_carts, rep.recovered_with_discount], [2, 1, 1]);
  } finally {
    await q.stop();
  }
});
