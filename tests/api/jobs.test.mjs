// jobs.test.mjs: durable jobs (core/jobs*.c, api/jobs_runner.c, api/handlers/jobs.c, migrations/0028_jobs.sql): the
// retry schedule (exponential backoff with jitter, shortened base), the dead letter after max_attempts, retry and
// cancel through the admin API (and their refusals), /metrics, a recurring schedule run once per period by two
// server processes sharing one database, and kill -9 of the node running a job (its lease expires, another node
// runs it again). Jobs are driven by the test.probe kind (jobs_test_kinds=on), enqueued with SQL as a core caller
// would.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, startServer, createDatabase, seed, sql, staffLogin, newStaff, Client } from './lib/harness.mjs';
import { eventually } from './lib/receiver.mjs';

const BASE_MS = 300;
const ENV = {
  SOUQ_JOBS_TEST_KINDS: 'on',
  SOUQ_JOB_RETRY_BASE_MS: String(BASE_MS),
  SOUQ_JOBS_POLL_MS: '50',
  SOUQ_JOBS_LEASE_MS: '2000',
  SOUQ_WEBHOOK_TIMEOUT_MS: '1000', // a job lease must exceed the longest wait of a job step (api/config.c)
};
let s, t;
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json, token = t) => s.client.request(method, path, { pk: null, token, json });
const enqueue = async (payload, extra = {}, q = s.sql) =>
  (await q('INSERT INTO jobs (kind, payload, max_attempts, run_at) VALUES ($1, $2, $3, coalesce($4::timestamptz, now())) RETURNING id',
    [extra.kind ?? 'test.probe', payload, extra.max_attempts ?? 5, extra.run_at ?? null]))[0].id;
const job = async (id, q = s.sql) => (await q('SELECT * FROM jobs WHERE id = $1', [id]))[0];
const settled = (id, q = s.sql) => eventually(async () => {
  const j = await job(id, q);
  return j && ['completed', 'discarded', 'canceled'].includes(j.state) ? j : null;
}, 30000, `final state of job ${id}`);
const ms = (a, b) => new Date(b).getTime() - new Date(a).getTime();

before(async () => {
  s = await startStack({ env: ENV });
  t = (await staffLogin(s.client)).access_token;
});
after(async () => s && (await s.stop()));

test('a job that fails twice then succeeds follows the backoff schedule (base, then 2 x base, +-10 %)', async () => {
  const id = await enqueue({ fail_attempts: 2 });
  const j = await settled(id);
  assert.equal(j.state, 'completed');
  assert.equal(j.attempts, 3);
  assert.equal(j.errors.length, 2);
  assert.deepEqual(j.errors.map((e) => e.attempt), [1, 2]);
  assert.match(j.errors[0].error, /probe failure on attempt 1/);
  const d1 = ms(j.errors[0].at, j.errors[0].next_run_at), d2 = ms(j.errors[1].at, j.errors[1].next_run_at);
  assert.ok(d1 >= BASE_MS * 0.9 - 1 && d1 <= BASE_MS * 1.1 + 1, `first retry after ${d1} ms`);
  assert.ok(d2 >= 2 * BASE_MS * 0.9 - 1 && d2 <= 2 * BASE_MS * 1.1 + 1, `second retry after ${d2} ms`);
  // each retry ran no earlier than it was due: the next failure (or the completion) comes after next_run_at
  assert.ok(ms(j.errors[0].next_run_at, j.errors[1].at) >= 0);
  assert.ok(ms(j.errors[1].next_run_at, j.completed_at) >= 0);
  const r = await A('GET', `/v1/admin/jobs/${id}`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.object, 'job');
  assert.equal(r.body.state, 'completed');
  assert.equal(r.body.errors.length, 2);
  assert.equal(r.body.locked_by, null);
});

test('a job that keeps failing is discarded after max_attempts; retry through the API gives it one more attempt', async () => {
  const id = await enqueue({ fail_attempts: 3 }, { max_attempts: 3 });
  let j = await settled(id);
  assert.equal(j.state, 'discarded');
  assert.equal(j.attempts, 3);
  assert.equal(j.errors.length, 3);
  assert.equal(j.errors[2].next_run_at, null, 'no retry after the last attempt');
  assert.match(j.last_error, /attempt 3/);
  let r = await A('GET', '/v1/admin/jobs?state=discarded&kind=test.probe');
  assert.equal(r.status, 200, r.text);
  assert.ok(r.body.data.some((x) => x.id === id));
  assert.ok(r.body.data.every((x) => x.state === 'discarded' && x.kind === 'test.probe'));
  r = await A('GET', '/v1/admin/jobs?state=completed');
  assert.ok(!r.body.data.some((x) => x.id === id));
  // the dead letter comes back: attempt 4 passes (fail_attempts 3)
  r = await A('POST', `/v1/admin/jobs/${id}/retry`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.state, 'scheduled');
  assert.equal(r.body.max_attempts, 4);
  j = await settled(id);
  assert.equal(j.state, 'completed');
  assert.equal(j.attempts, 4);
  // figures
  const m = await s.client.request('GET', '/metrics', { pk: null, raw: true });
  assert.match(m.text, /souq_jobs_discarded_total [1-9]/);
  assert.match(m.text, /souq_job_attempts_total\{outcome="failed"\} [1-9]/);
  assert.match(m.text, /souq_job_attempts_total\{outcome="completed"\} [1-9]/);
  assert.match(m.text, /souq_jobs\{state="completed"\} \d+/);
  assert.match(m.text, /souq_jobs_lag_seconds \d/);
});

test('cancel and retry: allowed moves, refused moves, bad input, permissions', async () => {
  const later = new Date(Date.now() + 3600e3).toISOString();
  const id = await enqueue({}, { run_at: later });
  let r = await A('POST', `/v1/admin/jobs/${id}/cancel`, {});
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.state, 'canceled');
  assert.ok(r.body.completed_at);
  r = await A('POST', `/v1/admin/jobs/${id}/cancel`);
  assert.equal(r.status, 409);
  assert.equal(r.body.type, type('invalid-state'));
  // a canceled job can be retried: it runs now
  r = await A('POST', `/v1/admin/jobs/${id}/retry`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.state, 'scheduled');
  let j = await settled(id);
  assert.equal(j.state, 'completed');
  r = await A('POST', `/v1/admin/jobs/${id}/retry`);
  assert.equal(r.status, 409, 'a completed job is not retried');
  assert.equal(r.body.type, type('invalid-state'));
  r = await A('POST', `/v1/admin/jobs/${id}/cancel`);
  assert.equal(r.status, 409, 'nor canceled');
  const scheduled = await enqueue({}, { run_at: later });
  r = await A('POST', `/v1/admin/jobs/${scheduled}/retry`);
  assert.equal(r.status, 409, 'a scheduled job is not retried');
  // bad input, and nothing changed
  r = await A('POST', `/v1/admin/jobs/${scheduled}/cancel`, { force: true });
  assert.equal(r.status, 422);
  assert.equal(r.body.type, type('unknown-field'));
  r = await s.client.request('POST', `/v1/admin/jobs/${scheduled}/cancel`, { pk: null, token: t, body: '{', headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 400);
  assert.equal(r.body.type, type('invalid-json'));
  assert.equal((await job(scheduled)).state, 'scheduled');
  for (const bad of ['job_01zzzzzzzzzzzzzzzzzzzzzzzz', 'nope', 'evt_01zzzzzzzzzzzzzzzzzzzzzzzz']) {
    for (const [m, p] of [['GET', ''], ['POST', '/retry'], ['POST', '/cancel']]) {
      r = await A(m, `/v1/admin/jobs/${bad}${p}`);
      assert.equal(r.status, 404, `${m} ${bad}${p}`);
      assert.equal(r.body.type, type('not-found'));
    }
  }
  for (const q of ['state=bogus', 'kind=BAD', 'limit=0', `kind=${'a'.repeat(65)}`]) {
    r = await A('GET', `/v1/admin/jobs?${q}`);
    assert.equal(r.status, 400, q);
  }
  // permissions: reads need events:read, moves settings:write (admins); no credentials: 401
  r = await s.client.request('GET', '/v1/admin/jobs', { pk: null });
  assert.equal(r.status, 401);
  const cm = await newStaff(s.client, t, 'catalog_manager');
  r = await A('GET', '/v1/admin/jobs', undefined, cm.token);
  assert.equal(r.status, 403);
  r = await A('POST', `/v1/admin/jobs/${scheduled}/cancel`, undefined, cm.token);
  assert.equal(r.status, 403);
  assert.equal((await job(scheduled)).state, 'scheduled');
  // the list pages newest first
  r = await A('GET', '/v1/admin/jobs?limit=1');
  assert.equal(r.status, 200);
  assert.equal(r.body.data.length, 1);
  assert.equal(r.body.has_more, true);
  r = await A('POST', `/v1/admin/jobs/${scheduled}/cancel`);
  assert.equal(r.status, 200);
  j = await job(scheduled);
  assert.equal(j.state, 'canceled');
  assert.equal(j.attempts, 0, 'a canceled job never ran');
});

test('a job running longer than its lease keeps it: the runner renews the lease, so the job runs once', async () => {
  // 5 s of work against a 2 s lease (a plugin's background call may wait minutes against a 5-minute lease)
  const id = await enqueue({ sleep_ms: 5000, sleep_attempts: 1 });
  const first = await eventually(async () => {
    const j = await job(id);
    return j.state === 'running' ? j : null;
  }, 10000, 'the job running');
  // well past the first lease, the job is still this attempt's, and its lease has moved on
  await new Promise((r) => setTimeout(r, 3000));
  const mid = await job(id);
  assert.equal(mid.state, 'running');
  assert.equal(mid.attempts, 1, 'not taken again when its first lease ran out');
  assert.equal(mid.locked_by, first.locked_by);
  assert.ok(new Date(mid.locked_until) > new Date(first.locked_until), `lease renewed: ${first.locked_until} -> ${mid.locked_until}`);
  const j = await settled(id);
  assert.equal(j.state, 'completed');
  assert.equal(j.attempts, 1, 'one attempt');
  assert.deepEqual(j.errors, []);
});

test('two nodes on one database: a recurring schedule runs once per period; kill -9 of the node running a job: its lease expires and the other node runs it', async () => {
  const dbName = await createDatabase();
  seed(dbName);
  const q = (text, params) => sql(text, params, dbName);
  const nodes = [await startServer({ dbName, env: ENV }), await startServer({ dbName, env: ENV })];
  try {
    await q(`INSERT INTO job_schedules (id, kind, spec, every_s, payload, next_run_at) VALUES ('test_tick', 'test.probe', 'every 1 seconds', 1, '{}', souq_schedule_next(1, NULL, now()))`);
    const runs = () => q(`SELECT * FROM jobs WHERE schedule_id = 'test_tick' AND state = 'completed' ORDER BY run_at`);
    await eventually(async () => (await runs()).length >= 4, 30000, 'four periods');
    await q(`UPDATE job_schedules SET enabled = false WHERE id = 'test_tick'`);
    await eventually(async () => (await q(`SELECT count(*)::int AS n FROM jobs WHERE schedule_id = 'test_tick' AND state <> 'completed'`))[0].n === 0, 10000, 'the last period done');
    const all = await q(`SELECT * FROM jobs WHERE schedule_id = 'test_tick' ORDER BY run_at`);
    const periods = all.map((j) => new Date(j.run_at).getTime());
    assert.equal(new Set(periods).size, all.length, 'one job per period');
    for (const p of periods) assert.equal(p % 1000, 0, 'periods start on the second');
    for (const j of all) {
      assert.equal(j.state, 'completed');
      assert.equal(j.attempts, 1, `${j.id} ran once`);
      assert.equal(j.unique_key, `schedule:test_tick:${new Date(j.run_at).getTime() / 1000}`);
    }
    const sched = (await q(`SELECT * FROM job_schedules WHERE id = 'test_tick'`))[0];
    assert.ok(new Date(sched.next_run_at).getTime() > periods[periods.length - 1], 'the schedule moved past its last period');

    // a job that sleeps on its first attempt; kill -9 the node that holds it
    const id = (await q(`INSERT INTO jobs (kind, payload) VALUES ('test.probe', '{"sleep_ms": 600000, "sleep_attempts": 1}') RETURNING id`))[0].id;
    const running = await eventually(async () => {
      const j = (await q('SELECT * FROM jobs WHERE id = $1', [id]))[0];
      return j.state === 'running' ? j : null;
    }, 10000, 'the job running');
    const victim = nodes.find((n) => running.locked_by.includes(`:${n.proc.pid}:`));
    assert.ok(victim, `a node runs it: ${running.locked_by}`);
    victim.proc.kill('SIGKILL');
    await victim.exitPromise;
    const j = await settled(id, q);
    assert.equal(j.state, 'completed');
    assert.equal(j.attempts, 2);
    assert.equal(j.errors.length, 1);
    assert.equal(j.errors[0].error, 'lease expired');
    assert.equal(j.errors[0].node, running.locked_by);
    const survivor = nodes.find((n) => n !== victim);
    assert.ok(!j.errors[0].node.includes(`:${survivor.proc.pid}:`));
    await survivor.stop();
    assert.equal(survivor.exited.code, 0, survivor.log);
  } finally {
    for (const n of nodes) if (!n.exited) await n.stop('SIGKILL');
  }
});

test('retention: completed and canceled jobs go 7 days after they finished; discarded ones and recent ones stay', async () => {
  const mk = (state, days) => s.sql(`INSERT INTO jobs (kind, state, completed_at) VALUES ('test.probe', $1, now() - $2 * interval '1 day') RETURNING id`, [state, days]);
  const old = [(await mk('completed', 8))[0].id, (await mk('canceled', 8))[0].id];
  const keep = [(await mk('discarded', 30))[0].id, (await mk('completed', 6))[0].id];
  const count = async (ids) => (await s.sql('SELECT count(*)::int AS n FROM jobs WHERE id = ANY ($1)', [ids]))[0].n;
  await eventually(async () => (await count(old)) === 0, 20000, 'old jobs purged');
  assert.equal(await count(keep), 2);
});
