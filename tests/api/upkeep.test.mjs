// upkeep.test.mjs: the payment-failure monitor (one alert per spike, recovery, the rates in /metrics) and the purge
// (retention, small batches, what must stay), both run as jobs through the real runner. Their schedules are off in
// this stack; each test enqueues a run as a job row and waits for that job to complete, so each step is one run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startStack, staffLogin, souq, dbUrl } from './lib/harness.mjs';

let s, t, ebook;
const sql = async (text, params) => s.sql(text, params);
const A = (method, path, json, o = {}) => s.client.request(method, path, { pk: null, token: t, json, ...o });
const ENV = {
  SOUQ_PAYMENT_MONITOR: 'off', SOUQ_PAYMENT_FAILURE_MIN_ATTEMPTS: '4', SOUQ_PAYMENT_FAILURE_THRESHOLD_PCT: '50', SOUQ_PAYMENT_FAILURE_RECOVER_PCT: '25',
  SOUQ_PURGE: 'off', SOUQ_PURGE_BATCH_SIZE: '2', SOUQ_PURGE_MAX_BATCHES: '2', SOUQ_JOB_RETENTION_S: '3600',
};

before(async () => {
  s = await startStack({ env: ENV });
  t = (await staffLogin(s.client)).access_token;
  const r = await A('POST', '/v1/admin/products', { title: 'E-book', status: 'active',
    variants: [{ sku: `EB-${process.pid}`, requires_shipping: false, manage_inventory: false, prices: [{ currency_code: 'eur', amount: 500 }] }] });
  assert.equal(r.status, 201, r.text);
  ebook = r.body.variants[0].id;
});
after(async () => s && (await s.stop()));

/** Enqueues one run of a job kind and waits until the runner completed it. */
async function run(kind) {
  const [{ id }] = await sql('INSERT INTO jobs (kind) VALUES ($1) RETURNING id', [kind]);
  const deadline = Date.now() + 15000;
  for (;;) {
    const [j] = await sql('SELECT state, last_error FROM jobs WHERE id = $1', [id]);
    if (j.state === 'completed') return;
    assert.ok(!['discarded', 'retryable'].includes(j.state), `${kind}: ${j.state} ${j.last_error}`);
    assert.ok(Date.now() < deadline, `${kind} did not complete`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
async function pay(token) {
  const c = await s.client.request('POST', '/v1/store/carts', { json: { email: 'buyer@example.com', currency_code: 'eur', items: [{ variant_id: ebook, quantity: 1 }] } });
  assert.equal(c.status, 201, c.text);
  const r = await s.client.request('POST', `/v1/store/carts/${c.body.id}/complete`, { json: { payment: { provider: 'test', data: { token } } }, headers: { 'idempotency-key': crypto.randomUUID() } });
  assert.equal(r.status, token === 'tok_visa' ? 201 : 402, r.text);
}
const alerts = async () => (await sql("SELECT type, payload FROM outbox_events WHERE type LIKE 'payment.failure_rate_%' ORDER BY occurred_at, id")).map((e) => [e.type, e.payload]);
const metric = async (name) => {
  const m = await s.client.request('GET', '/metrics', { pk: null });
  assert.equal(m.status, 200);
  const line = m.text.split('\n').find((l) => l.startsWith(`${name}{provider="test"} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
};

test('the built-in schedules follow the configuration', async () => {
  const rows = await sql("SELECT id, kind, spec, enabled FROM job_schedules WHERE id IN ('payment_monitor', 'purge') ORDER BY id");
  assert.deepEqual(rows.map((r) => [r.id, r.kind, r.spec, r.enabled]),
    [['payment_monitor', 'payments.failure_monitor', 'every 1 minute', false], ['purge', 'maintenance.purge', 'every 10 minutes', false]]);
  for (const [env, msg] of [[{ SOUQ_PAYMENT_FAILURE_RECOVER_PCT: '30', SOUQ_PAYMENT_FAILURE_THRESHOLD_PCT: '20' }, /payment_failure_recover_pct/],
                            [{ SOUQ_PURGE_SCHEDULE: 'now and then' }, /purge_schedule/], [{ SOUQ_PURGE_BATCH_SIZE: '0' }, /purge_batch_size/],
                            [{ SOUQ_JOB_RETENTION_S: '999999' }, /job_retention_s/]]) {
    const r = souq(['serve'], { SOUQ_DATABASE_URL: dbUrl(s.dbName), SOUQ_JWT_SECRET: 'x'.repeat(40), SOUQ_LISTEN: '127.0.0.1:1', ...env });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr + r.stdout, msg);
  }
});

test('payment-failure monitor: one alert per spike, recovery, the rates in /metrics', async () => {
  await run('payments.failure_monitor');
  assert.deepEqual(await alerts(), [], 'no attempts, no alert');
  // 3 of 4 finished authorizations declined: 75 % >= 50 % with the minimum of 4 attempts
  await pay('tok_visa');
  for (let i = 0; i < 2; i++) await pay('tok_declined');
  await run('payments.failure_monitor');
  assert.deepEqual(await alerts(), [], '3 attempts are below the minimum');
  await pay('tok_declined');
  await run('payments.failure_monitor');
  let a = await alerts();
  assert.equal(a.length, 1);
  assert.equal(a[0][0], 'payment.failure_rate_high');
  assert.deepEqual([a[0][1].provider, a[0][1].attempts, a[0][1].failures, a[0][1].declined, a[0][1].failure_rate, a[0][1].threshold], ['test', 4, 3, 3, 0.75, 0.5]);
  assert.equal(await metric('souq_payment_failure_rate'), 0.75);
  assert.equal(await metric('souq_payment_attempts'), 4);
  assert.equal(await metric('souq_payment_failure_alert'), 1);
  // still failing: no second alert (hysteresis)
  await pay('tok_declined');
  await run('payments.failure_monitor');
  await run('payments.failure_monitor');
  assert.equal((await alerts()).length, 1);
  // 40 % is below the alert threshold but not below the recovery threshold: still one open alert
  for (let i = 0; i < 5; i++) await pay('tok_visa');
  await run('payments.failure_monitor');
  assert.equal((await alerts()).length, 1);
  assert.equal(await metric('souq_payment_failure_alert'), 1);
  // 4 of 17 = 23.5 % < 25 %: recovered, once
  for (let i = 0; i < 7; i++) await pay('tok_visa');
  await run('payments.failure_monitor');
  await run('payments.failure_monitor');
  a = await alerts();
  assert.deepEqual(a.map((x) => x[0]), ['payment.failure_rate_high', 'payment.failure_rate_recovered']);
  assert.deepEqual([a[1][1].provider, a[1][1].attempts, a[1][1].failures], ['test', 17, 4]);
  assert.equal(await metric('souq_payment_failure_alert'), 0);
  assert.equal(await metric('souq_payment_attempts'), 17);
  // a new spike is a new alert
  for (let i = 0; i < 17; i++) await pay('tok_declined');
  await run('payments.failure_monitor');
  assert.deepEqual((await alerts()).map((x) => x[0]), ['payment.failure_rate_high', 'payment.failure_rate_recovered', 'payment.failure_rate_high']);
});

test('purge: old dispatched events, delivery attempts and finished jobs go in bounded batches; the rest stays', async () => {
  const ev = async (age, state = 'completed') => (await sql(
    // run_at a day ahead: the dispatcher leaves an undispatched one alone
    `INSERT INTO outbox_events (type, payload, occurred_at, state, run_at) VALUES ('test.purge', '{}', now() - $1::interval, $2, now() + interval '1 day') RETURNING id`,
    [age, state]))[0].id;
  const old = [];
  for (let i = 0; i < 5; i++) old.push(await ev('40 days'));
  const pending = await ev('40 days');       // dispatched, but a delivery is still due: stays
  const undispatched = await ev('40 days', 'available'); // not fanned out yet: stays
  const recent = await ev('1 day');
  const dlv = async (event, state) => (await sql(
    "INSERT INTO event_deliveries (event_id, target_kind, target_id, state, run_at) VALUES ($1, 'webhook', 'whk_01zzzzzzzzzzzzzzzzzzzzzzzz', $2, now() + interval '1 day') RETURNING id", [event, state]))[0].id;
  await dlv(pending, 'retryable');
  const done = await dlv(recent, 'completed');
  for (let i = 1; i <= 4; i++) {
    await sql("INSERT INTO event_delivery_attempts (delivery_id, attempt, node, started_at, duration_ms) VALUES ($1, $2, 'n', now() - $3::interval, 5)",
      [done, i, i < 4 ? '40 days' : '1 hour']);
  }
  for (const [state, age] of [['completed', '2 hours'], ['completed', '2 hours'], ['canceled', '2 hours'], ['completed', '10 minutes'], ['discarded', '2 hours']]) {
    await sql("INSERT INTO jobs (kind, state, completed_at) VALUES ('test.purge', $1, now() - $2::interval)", [state, age]);
  }
  const count = async () => ({
    events: (await sql("SELECT count(*)::int AS n FROM outbox_events WHERE type = 'test.purge'"))[0].n,
    attempts: (await sql('SELECT count(*)::int AS n FROM event_delivery_attempts WHERE delivery_id = $1', [done]))[0].n,
    jobs: (await sql("SELECT count(*)::int AS n FROM jobs WHERE kind = 'test.purge'"))[0].n,
  });
  assert.deepEqual(await count(), { events: 8, attempts: 4, jobs: 5 });
  // batches of 2, at most 2 per kind and run: 4 of the 5 old events, the 3 old attempts (2 + a short batch), the 3 old finished jobs
  await run('maintenance.purge');
  assert.deepEqual(await count(), { events: 4, attempts: 1, jobs: 2 });
  await run('maintenance.purge');
  assert.deepEqual(await count(), { events: 3, attempts: 1, jobs: 2 });
  const left = (await sql("SELECT id FROM outbox_events WHERE type = 'test.purge' ORDER BY id")).map((r) => r.id).sort();
  assert.deepEqual(left, [pending, undispatched, recent].sort());
  assert.equal((await sql('SELECT count(*)::int AS n FROM event_deliveries WHERE event_id = $1', [pending]))[0].n, 1);
  assert.deepEqual((await sql("SELECT state FROM jobs WHERE kind = 'test.purge' ORDER BY state")).map((r) => r.state), ['completed', 'discarded']);
  const m = (await s.client.request('GET', '/metrics', { pk: null })).text;
  assert.match(m, /^souq_purged_rows_total\{kind="events"\} 5$/m);
  assert.match(m, /^souq_purged_rows_total\{kind="attempts"\} 3$/m);
});

test('purge: finished order notifications past 90 days and price ledger entries past 365 days go; pending and recent ones stay', async () => {
  const purged = async (kind) => {
    const m = (await s.client.request('GET', '/metrics', { pk: null })).text;
    const v = new RegExp(`^souq_purged_rows_total\\{kind="${kind}"\\} (\\d+)$`, 'm').exec(m);
    assert.ok(v, `souq_purged_rows_total{kind="${kind}"} in /metrics`);
    return Number(v[1]);
  };
  const before = { notifications: await purged('notifications'), price_changes: await purged('price_changes') };
  const ntf = async (state, age) => (await sql(
    `INSERT INTO notifications (kind, event_id, state, idempotency_key, created_at)
     VALUES ('order_confirmation', $1, $2, $1, now() - $3::interval) RETURNING id`, [`evt_purge_${crypto.randomUUID()}`, state, age]))[0].id;
  const gone = [await ntf('sent', '91 days'), await ntf('sent', '200 days'), await ntf('failed', '91 days'), await ntf('skipped', '91 days'),
    await ntf('sent', '400 days')];
  const kept = [await ntf('pending', '200 days'), await ntf('sent', '89 days'), await ntf('failed', '1 hour')];
  const pc = async (age) => (await sql(
    `INSERT INTO price_changes (price_id, variant_id, currency_code, min_quantity, old_amount, new_amount, source, source_id, event_id, created_at)
     VALUES ('price_purge', 'variant_purge', 'eur', 1, 100, 200, 'system', 'purge-test', $1, now() - $2::interval) RETURNING id`,
    [`evt_purge_${crypto.randomUUID()}`, age]))[0].id;
  const oldPc = [await pc('366 days'), await pc('400 days'), await pc('3 years')];
  const newPc = [await pc('364 days'), await pc('1 day')];
  const ids = async (table, list) => (await sql(`SELECT id FROM ${table} WHERE id = ANY($1)`, [list])).map((r) => r.id).sort();
  // batches of 2, at most 2 per kind and run (this stack's settings): 4 of the 5 old notifications, then the last
  await run('maintenance.purge');
  assert.equal((await ids('notifications', gone)).length, 1);
  assert.deepEqual(await ids('price_changes', oldPc), [], '3 old entries: a batch of 2 and a short one');
  await run('maintenance.purge');
  assert.deepEqual(await ids('notifications', gone), []);
  assert.deepEqual(await ids('notifications', kept), [...kept].sort(), 'pending and recent notifications stay');
  assert.deepEqual(await ids('price_changes', newPc), [...newPc].sort(), 'entries younger than 365 days stay');
  assert.equal(await purged('notifications'), before.notifications + 5);
  assert.equal(await purged('price_changes'), before.price_changes + 3);
  // a ledger still readable through the API after the purge (the page skips nothing that is left)
  const r = await A('GET', '/v1/admin/price-changes?limit=100');
  assert.equal(r.status, 200, r.text);
  assert.ok(!r.body.data.some((c) => oldPc.includes(c.id)));
});

test('purge: carts never completed go 90 days after their last change, with their lines; completed and recent carts stay', async () => {
  const m0 = (await s.client.request('GET', '/metrics', { pk: null })).text;
  const before = Number(/^souq_purged_rows_total\{kind="carts"\} (\d+)$/m.exec(m0)[1]);
  const cart = async () => {
    const c = await s.client.request('POST', '/v1/store/carts', { json: { currency_code: 'eur', items: [{ variant_id: ebook, quantity: 2 }] } });
    assert.equal(c.status, 201, c.text);
    return c.body.id;
  };
  const [abandoned, merged, completed, recent, fresh] = [await cart(), await cart(), await cart(), await cart(), await cart()];
  const age = (id, days, extra = '') => sql(`UPDATE carts SET updated_at = now() - $2::interval ${extra} WHERE id = $1`, [id, `${days} days`]);
  await age(abandoned, 91);
  await age(merged, 120, ', merged_at = now() - interval \'120 days\'');
  await age(completed, 400, ', completed_at = now() - interval \'400 days\'');
  await age(recent, 89);
  const all = [abandoned, merged, completed, recent, fresh];
  await run('maintenance.purge');
  const left = (await sql('SELECT id FROM carts WHERE id = ANY($1)', [all])).map((r) => r.id).sort();
  assert.deepEqual(left, [completed, recent, fresh].sort(), 'the abandoned and the merged cart are gone');
  assert.deepEqual((await sql('SELECT DISTINCT cart_id FROM cart_line_items WHERE cart_id = ANY($1)', [all])).map((r) => r.cart_id).sort(),
    [completed, recent, fresh].sort(), 'their lines went with them');
  const m1 = (await s.client.request('GET', '/metrics', { pk: null })).text;
  assert.equal(Number(/^souq_purged_rows_total\{kind="carts"\} (\d+)$/m.exec(m1)[1]), before + 2);
  // the recent cart is still the buyer's; the purged one is a 404 like any unknown cart
  assert.equal((await s.client.request('GET', `/v1/store/carts/${fresh}`)).status, 200);
  assert.equal((await s.client.request('GET', `/v1/store/carts/${abandoned}`)).status, 404);
});

