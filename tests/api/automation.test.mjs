// automation.test.mjs: automation rules (core/automation*.c, api/handlers/automation.c, migrations/0032): admin CRUD
// and its refusals (pointers into the trigger, the condition tree and each action's params), runs of event and
// schedule triggers with each action (tag_customer, tag_order, emit_event, call_webhook, adjust_price), the run
// history, retries then dead, dry runs of unsaved and saved rules, tags in the admin lists, and kill -9 of a node
// while runs are in flight (each rule's effect happens exactly once per event).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, startServer, createDatabase, seed, sql, staffLogin, newStaff, newCustomer, Client } from './lib/harness.mjs';
import { startReceiver, signatureValid, eventually } from './lib/receiver.mjs';

const ENV = {
  SOUQ_OUTBOUND_ALLOW_CIDRS: '127.0.0.1/32',
  SOUQ_JOB_RETRY_BASE_MS: '100',
  SOUQ_JOBS_POLL_MS: '50',
  // above what an attempt may take (call_webhook: 10 s): a lease that expires mid-attempt legitimately runs the job
  // again (at least once), which the attempt counts below cannot allow for on a loaded box (the crash test sets its own)
  SOUQ_JOBS_LEASE_MS: '60000',
};
let s, t, rcv, loc;
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json, token = t) => s.client.request(method, path, { pk: null, token, json });
const R = '/v1/admin/automation/rules';
let n = 0;
const uniq = (p) => `${p}-${process.pid}-${++n}`;

const runsOf = (ruleId, q = s.sql) => q('SELECT * FROM automation_runs WHERE rule_id = $1 ORDER BY id', [ruleId]);
const settledRuns = (ruleId, count, q = s.sql) => eventually(async () => {
  const rs = await runsOf(ruleId, q);
  return rs.length >= count && rs.every((x) => ['succeeded', 'skipped', 'dead', 'canceled'].includes(x.state)) ? rs : null;
}, 30000, `${count} finished run(s) of ${ruleId}`);

async function variant(amount = 1000) {
  const r = await A('POST', '/v1/admin/products', { title: uniq('Thing'), status: 'active',
    variants: [{ sku: uniq('SKU'), prices: [{ currency_code: 'eur', amount }], inventory: [{ location_id: loc, quantity: 100 }] }] });
  assert.equal(r.status, 201, r.text);
  return r.body.variants[0];
}

const rule = (extra = {}) => ({ name: uniq('rule'), trigger: { type: 'event', event: 'customer.created' }, actions: [{ type: 'tag_customer', params: { tags: ['vip'] } }], ...extra });

before(async () => {
  s = await startStack({ env: ENV });
  t = (await staffLogin(s.client)).access_token;
  rcv = await startReceiver();
  loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Automation' })).body.id;
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
});
after(async () => {
  // rules of one test must not act on the others' events: each test deletes what it made; the stack goes anyway
  await rcv?.close();
  if (s) await s.stop();
});

async function cleanup() {
  await s.sql("DELETE FROM job_schedules WHERE id LIKE 'automation.arule%'");
  await s.sql('DELETE FROM automation_rules');
}

test('rules: create, read, list with filters, update with If-Match (version), delete; 404s and permissions', async () => {
  let r = await A('POST', R, rule({ description: 'Tag new customers', conditions: { field: '/email', op: 'exists' }, metadata: { team: 'crm' } }));
  assert.equal(r.status, 201, r.text);
  const x = r.body;
  assert.match(x.id, /^arule_[0-9a-z]{26}$/);
  assert.deepEqual([x.object, x.enabled, x.trigger, x.version, x.max_attempts, x.metadata], ['automation_rule', true, { type: 'event', event: 'customer.created' }, 1, 5, { team: 'crm' }]);
  assert.deepEqual(x.conditions, { field: '/email', op: 'exists' });
  r = await A('GET', `${R}/${x.id}`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, x);
  const etag = r.headers.get('etag');
  r = await A('POST', R, rule({ enabled: false, trigger: { type: 'event', event: 'order.placed' } }));
  assert.equal(r.status, 201, r.text);
  const y = r.body;
  r = await A('GET', `${R}?enabled=false`);
  assert.deepEqual(r.body.data.map((z) => z.id), [y.id]);
  r = await A('GET', `${R}?event=customer.created`);
  assert.deepEqual(r.body.data.map((z) => z.id), [x.id]);
  // a plugin's custom event (a family of the catalogue) is a trigger too
  r = await A('POST', R, rule({ enabled: false, trigger: { type: 'event', event: 'plugin.payment-stripe.dispute_opened' } }));
  assert.equal(r.status, 201, r.text);
  await A('DELETE', `${R}/${r.body.id}`);
  r = await A('GET', `${R}?limit=1`);
  assert.deepEqual([r.body.data.length, r.body.has_more], [1, true]);
  r = await A('GET', `${R}?enabled=maybe`);
  assert.deepEqual([r.status, r.body.type, r.body.errors[0].parameter], [400, type('invalid-parameter'), 'enabled']);
  // update: a name change keeps the version; a change of what it does raises it
  r = await s.client.request('PATCH', `${R}/${x.id}`, { pk: null, token: t, json: { name: 'Renamed' }, headers: { 'if-match': etag } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.name, r.body.version], ['Renamed', 1]);
  r = await s.client.request('PATCH', `${R}/${x.id}`, { pk: null, token: t, json: { name: 'Stale' }, headers: { 'if-match': etag } });
  assert.deepEqual([r.status, r.body.type], [412, type('precondition-failed')]);
  r = await A('PATCH', `${R}/${x.id}`, { conditions: null, actions: [{ type: 'tag_customer', params: { tags: ['vip', 'new'] } }] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.version, r.body.conditions, r.body.name], [2, null, 'Renamed']);
  // unknown ids: 404 (well-formed or not)
  for (const p of [`${R}/arule_00000000000000000000000000`, `${R}/nope`, `${R}/arule_00000000000000000000000000/runs`]) {
    r = await A('GET', p);
    assert.deepEqual([r.status, r.body.type], [404, type('not-found')], p);
  }
  r = await A('PATCH', `${R}/arule_00000000000000000000000000`, { name: 'x' });
  assert.equal(r.status, 404);
  r = await A('DELETE', `${R}/arule_00000000000000000000000000`);
  assert.equal(r.status, 404);
  // permissions: admins only; no credentials: 401
  const cm = await newStaff(s.client, t, 'catalog_manager');
  for (const [m, p, body] of [['GET', R], ['POST', R, rule()], ['GET', `${R}/${x.id}/runs`], ['POST', `${R}/dry-run`, { rule: rule(), event: { data: {} } }]]) {
    r = await A(m, p, body, cm.token);
    assert.deepEqual([r.status, r.body.type], [403, type('forbidden')], `${m} ${p}`);
    r = await s.client.request(m, p, { pk: null, json: body });
    assert.equal(r.status, 401, `${m} ${p}`);
  }
  r = await A('DELETE', `${R}/${x.id}`);
  assert.equal(r.status, 204);
  r = await A('GET', `${R}/${x.id}`);
  assert.equal(r.status, 404);
  await cleanup();
});

test('rules: every refusal is a 422 (or 400) with the pointer into the rule, and nothing is written', async () => {
  const before = (await s.sql('SELECT count(*)::int AS n FROM automation_rules'))[0].n;
  const cases = [
    [{ trigger: { type: 'event', event: 'customer.created' }, actions: [] }, '/name', 'required'],
    [rule({ trigger: undefined }), '/trigger', 'required'],
    [rule({ trigger: { type: 'event', event: 'no.such_event' } }), '/trigger/event', 'invalid_value'],
    [rule({ trigger: { type: 'event', event: 'customer.password_reset_requested' } }), '/trigger/event', 'invalid_value'],
    [rule({ trigger: { type: 'cron', event: 'x' } }), '/trigger/type', 'invalid_value'],
    [rule({ trigger: { type: 'event' } }), '/trigger/event', 'required'],
    [rule({ trigger: { type: 'event', event: 'order.placed', schedule: 'every 1 hours' } }), '/trigger/schedule', 'unknown_field'],
    [rule({ trigger: { type: 'schedule', schedule: 'sometimes' } }), '/trigger/schedule', 'invalid_format'],
    [rule({ conditions: { field: '/total', op: 'bigger', value: 1 } }), '/conditions/op', 'invalid_value'],
    [rule({ conditions: { all: [{ field: '/total', op: 'gt', value: 1 }, { field: 'total', op: 'gt', value: 1 }] } }), '/conditions/all/1/field', 'invalid_format'],
    [rule({ conditions: { any: [{ not: { field: '/x', op: 'in', value: ['a', 2] } }] } }), '/conditions/any/0/not/value/1', 'invalid_value'],
    [rule({ conditions: { field: '/x', op: 'exists', value: true } }), '/conditions/value', 'invalid_value'],
    [rule({ conditions: { field: '/total', op: 'gte', value: { amount: 10, currency: 'zzz' } } }), '/conditions/value', 'invalid_value'],
    [rule({ conditions: { field: '/created_at', op: 'gt', value: 'yesterday', type: 'date' } }), '/conditions/value', 'invalid_value'],
    [rule({ conditions: { field: '/x', op: 'eq', value: 1, extra: 1 } }), '/conditions/extra', 'unknown_field'],
    [rule({ conditions: { all: [] } }), '/conditions/all', 'invalid_type'],
    [rule({ conditions: { all: [{ field: '/x', op: 'exists' }], any: [] } }), '/conditions', 'invalid_value'],
    [rule({ conditions: [1] }), '/conditions', 'invalid_type'],
    [rule({ actions: [] }), '/actions', 'invalid_type'],
    [rule({ actions: [{ type: 'send_fax', params: {} }] }), '/actions/0/type', 'invalid_value'],
    [rule({ actions: [{ params: {} }] }), '/actions/0/type', 'required'],
    [rule({ actions: [{ type: 'tag_customer', params: { tags: ['ok', 'Not OK'] } }] }), '/actions/0/params/tags/1', 'invalid_format'],
    [rule({ actions: [{ type: 'tag_customer', params: { tags: ['a'], who: 1 } }] }), '/actions/0/params/who', 'unknown_field'],
    [rule({ actions: [{ type: 'tag_customer' }] }), '/actions/0/params', 'required'],
    [rule({ actions: [{ type: 'tag_order', params: { tags: ['a'] } }, { type: 'emit_event', params: { name: '9lives' } }] }), '/actions/1/params/name', 'invalid_format'],
    [rule({ actions: [{ type: 'emit_event', params: { name: 'x', data: { a: { $field: 'nope' } } } }] }), '/actions/0/params/data/a/$field', 'invalid_format'],
    [rule({ actions: [{ type: 'call_webhook', params: { webhook_id: 'whk_00000000000000000000000000' } }] }), '/actions/0/params/webhook_id', 'not_found'],
    [rule({ actions: [{ type: 'adjust_price', params: { variant_id: 'var_00000000000000000000000000', currency_code: 'eur' } }] }), '/actions/0/params/set', 'required'],
    [rule({ actions: [{ type: 'adjust_price', params: { variant_id: 'var_00000000000000000000000000', currency_code: 'eur', set: 5 } }] }), '/actions/0/params/variant_id', 'not_found'],
    [rule({ actions: [{ type: 'adjust_price', params: { variant_id: 'var_00000000000000000000000000', currency_code: 'eur', percent: 5, floor: 9, ceiling: 1 } }] }), '/actions/0/params/floor', 'invalid_value'],
    [rule({ max_attempts: 0 }), '/max_attempts', null],
    [rule({ surprise: true }), '/surprise', null],
  ];
  for (const [body, pointer, code] of cases) {
    const r = await A('POST', R, body);
    assert.ok(r.status === 422, `${JSON.stringify(body)}: ${r.status} ${r.text}`);
    const e = r.body.errors.find((x) => x.pointer === pointer);
    assert.ok(e, `${JSON.stringify(body)}: wanted ${pointer}, got ${r.text}`);
    if (code) assert.equal(e.code, code, `${pointer}: ${r.text}`);
  }
  let r = await s.client.request('POST', R, { pk: null, token: t, body: '{"name":', headers: { 'content-type': 'application/json' } });
  assert.deepEqual([r.status, r.body.type], [400, type('invalid-json')]);
  // an update is checked the same way
  r = await A('POST', R, rule());
  const id = r.body.id;
  r = await A('PATCH', `${R}/${id}`, { conditions: { not: { field: '/a', op: 'lt' } } });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/conditions/not/value');
  assert.equal((await s.sql('SELECT count(*)::int AS n FROM automation_rules'))[0].n, before + 1, 'only the valid rule was written');
  await cleanup();
});

test('an event rule runs once per event: tags the customer (visible and filterable), emits a custom event; conditions that do not hold skip', async () => {
  let r = await A('POST', R, rule({ conditions: { all: [{ field: '/email', op: 'exists' }, { not: { field: '/email', op: 'eq', value: 'skip-me@example.com' } }] },
    actions: [{ type: 'tag_customer', params: { tags: ['welcome', 'vip', 'welcome'] } }, { type: 'emit_event', params: { name: 'vip_customer', data: { customer: { $field: '/id' }, fixed: 1 } } }] }));
  assert.equal(r.status, 201, r.text);
  const x = r.body;
  const c = await newCustomer(s.client);
  const [run] = await settledRuns(x.id, 1);
  assert.equal(run.state, 'succeeded', JSON.stringify(run));
  r = await A('GET', `/v1/admin/customers/${c.customer.id}`);
  assert.deepEqual(r.body.tags, ['welcome', 'vip'], 'in order, once');
  r = await A('GET', '/v1/admin/customers?tag=vip');
  assert.ok(r.body.data.some((z) => z.id === c.customer.id));
  r = await A('GET', '/v1/admin/customers?tag=nobody-has-this');
  assert.deepEqual(r.body.data, []);
  r = await A('GET', `/v1/admin/customers?tag=${'x'.repeat(65)}`);
  assert.deepEqual([r.status, r.body.errors[0].parameter], [400, 'tag']);
  const emitted = await s.sql("SELECT * FROM outbox_events WHERE type = 'automation.custom_event' AND payload->>'run_id' = $1", [run.id]);
  assert.equal(emitted.length, 1);
  assert.deepEqual(emitted[0].payload.data, { customer: c.customer.id, fixed: 1 });
  assert.deepEqual([emitted[0].payload.name, emitted[0].payload.rule_id, emitted[0].payload.source_event_type], ['vip_customer', x.id, 'customer.created']);
  // the run history
  r = await A('GET', `${R}/${x.id}/runs`);
  assert.equal(r.status, 200, r.text);
  const h = r.body.data[0];
  assert.deepEqual([h.id, h.state, h.matched, h.trigger, h.event_type, h.attempts, h.rule_version], [run.id, 'succeeded', true, 'event', 'customer.created', 1, 1]);
  assert.equal(h.event_id, run.trigger_key);
  assert.deepEqual(h.actions.map((a) => [a.index, a.type, a.outcome]), [[0, 'tag_customer', 'succeeded'], [1, 'emit_event', 'succeeded']]);
  assert.deepEqual(h.actions[0].result.added, ['welcome', 'vip']);
  assert.equal(h.actions[1].result.event_id, emitted[0].id);
  assert.deepEqual(h.conditions.map((z) => [z.at, z.result]), [['/conditions', true], ['/conditions/all/0', true], ['/conditions/all/1', true], ['/conditions/all/1/not', false]]);
  // a second customer whose email the conditions exclude: skipped, nothing tagged
  const email = 'skip-me@example.com';
  r = await s.client.post('/v1/store/customers', { email, password: 'a-good-password-1' });
  assert.equal(r.status, 201, r.text);
  const runs = await settledRuns(x.id, 2);
  assert.equal(runs[1].state, 'skipped');
  r = await A('GET', `${R}/${x.id}/runs?state=skipped`);
  assert.deepEqual(r.body.data.map((z) => [z.state, z.matched, z.actions.map((a) => a.outcome).join()]), [['skipped', false, 'not_run,not_run']]);
  assert.deepEqual((await s.sql('SELECT tags FROM customers WHERE email = $1', [email]))[0].tags, []);
  const metrics = await (await fetch(`${s.url}/metrics`)).text();
  assert.ok(Number(/souq_automation_runs_total\{outcome="succeeded"\} (\d+)/.exec(metrics)?.[1]) >= 1, metrics);
  assert.ok(Number(/souq_automation_runs_total\{outcome="skipped"\} (\d+)/.exec(metrics)?.[1]) >= 1);
  assert.ok(Number(/souq_automation_actions_total (\d+)/.exec(metrics)?.[1]) >= 2);
  r = await A('GET', `${R}/${x.id}/runs?state=finished`);
  assert.deepEqual([r.status, r.body.errors[0].parameter], [400, 'state']);
  // the same event again (a replayed insert cannot happen, but a second run for it is refused by the key)
  const dup = await s.sql("INSERT INTO automation_runs (rule_id, trigger, trigger_key, event_type, payload, rule_version, actions, max_attempts) SELECT rule_id, trigger, trigger_key, event_type, payload, rule_version, actions, max_attempts FROM automation_runs WHERE id = $1 ON CONFLICT DO NOTHING RETURNING id", [run.id]);
  assert.deepEqual(dup, []);
  assert.equal((await runsOf(x.id)).length, 2);
  // retention: runs finished over 90 days ago go (the daily automation.retention job); newer ones stay
  await s.sql("UPDATE automation_runs SET completed_at = now() - interval '91 days' WHERE id = $1", [runs[1].id]);
  const job = (await s.sql("INSERT INTO jobs (kind) VALUES ('automation.retention') RETURNING id"))[0].id;
  await eventually(async () => (await s.sql('SELECT state FROM jobs WHERE id = $1', [job]))[0].state === 'completed', 20000, 'the retention job');
  assert.deepEqual((await runsOf(x.id)).map((z) => z.id), [run.id]);
  assert.equal((await s.sql("SELECT count(*)::int AS n FROM job_schedules WHERE id = 'automation.retention' AND enabled"))[0].n, 1);
  // a disabled rule starts no runs
  r = await A('PATCH', `${R}/${x.id}`, { enabled: false });
  await newCustomer(s.client);
  assert.equal((await runsOf(x.id)).length, 1);
  await cleanup();
});

test('tag_order and money conditions on order.placed; the order list filters by tag', async () => {
  const v = await variant(2500);
  let r = await A('POST', R, rule({ trigger: { type: 'event', event: 'order.placed' },
    conditions: { any: [{ field: '/total', op: 'gte', value: { amount: 5000, currency: 'EUR' } }, { field: '/currency_code', op: 'in', value: ['usd', 'gbp'] }] },
    actions: [{ type: 'tag_order', params: { tags: ['big-order'] } }, { type: 'tag_customer', params: { tags: ['big-spender'] } }] }));
  assert.equal(r.status, 201, r.text);
  const x = r.body;
  const c = await newCustomer(s.client);
  const place = async (qty) => {
    const d = await A('POST', '/v1/admin/draft-orders', { customer_id: c.customer.id, currency_code: 'eur', items: [{ variant_id: v.id, quantity: qty }],
      shipping_address: { first_name: 'A', last_name: 'B', address_1: 'X 1', city: 'Berlin', postal_code: '10117', country_code: 'DE' } });
    assert.equal(d.status, 201, d.text);
    const o = await A('POST', `/v1/admin/draft-orders/${d.body.id}/complete`, { paid: true });
    assert.equal(o.status, 201, o.text);
    return o.body;
  };
  const small = await place(1), big = await place(2);
  const runs = await settledRuns(x.id, 2);
  assert.deepEqual(runs.map((z) => z.state).sort(), ['skipped', 'succeeded']);
  r = await A('GET', `/v1/admin/orders/${big.id}`);
  assert.deepEqual(r.body.tags, ['big-order']);
  r = await A('GET', `/v1/admin/orders/${small.id}`);
  assert.deepEqual(r.body.tags, []);
  r = await A('GET', '/v1/admin/orders?tag=big-order');
  assert.deepEqual(r.body.data.map((o) => o.id), [big.id]);
  r = await A('GET', `/v1/admin/customers/${c.customer.id}`);
  assert.deepEqual(r.body.tags, ['big-spender'], 'the customer of the order');
  const ok = runs.find((z) => z.state === 'succeeded');
  assert.deepEqual(ok.condition_results.map((z) => [z.at, z.result, z.reason ?? null]), [['/conditions', true, null], ['/conditions/any/0', true, null], ['/conditions/any/1', false, null]]);
  await cleanup();
});

test('adjust_price: percent within floor and ceiling writes price.changed once; the dry run previews it and changes nothing', async () => {
  const v = await variant(1000);
  const params = { variant_id: v.id, currency_code: 'EUR', percent: -2500, floor: 800 };
  // dry run of the unsaved rule first: nothing changes
  let r = await A('POST', `${R}/dry-run`, { rule: rule({ actions: [{ type: 'adjust_price', params }] }), event: { type: 'customer.created', data: { id: 'cus_x', email: 'a@b.c' } } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.would_run, r.body.changes_made, r.body.actions[0].preview.old_amount, r.body.actions[0].preview.new_amount], [true, false, 1000, 800]);
  const price = async () => (await s.sql("SELECT amount::int FROM prices WHERE variant_id = $1 AND price_list_id IS NULL AND currency_code = 'eur'", [v.id]))[0].amount;
  assert.equal(await price(), 1000);
  r = await A('POST', R, rule({ actions: [{ type: 'adjust_price', params }] }));
  assert.equal(r.status, 201, r.text);
  const x = r.body;
  await newCustomer(s.client);
  const [run] = await settledRuns(x.id, 1);
  assert.equal(run.state, 'succeeded', JSON.stringify(run));
  assert.equal(await price(), 800, '1000 - 25 % = 750, held at the floor');
  assert.deepEqual([run.action_results[0].result.old_amount, run.action_results[0].result.new_amount, run.action_results[0].result.bounded], [1000, 800, true]);
  const ev = await s.sql("SELECT payload FROM outbox_events WHERE type = 'price.changed' AND payload->>'variant_id' = $1 AND (payload->>'new_amount')::int = 800", [v.id]);
  assert.equal(ev.length, 1);
  await cleanup();
});

test('call_webhook: signed like webhook deliveries with an idempotency key; 5xx retried with the same key, then 4xx makes the run dead', async () => {
  let r = await A('POST', '/v1/admin/webhooks', { url: `${rcv.url}/seq/503,200`, event_types: ['webhook_endpoint.test'] });
  assert.equal(r.status, 201, r.text);
  const wh = r.body;
  r = await A('POST', R, rule({ actions: [{ type: 'call_webhook', params: { webhook_id: wh.id, data: { email: { $field: '/email' } } } }, { type: 'tag_customer', params: { tags: ['called'] } }] }));
  assert.equal(r.status, 201, r.text);
  const x = r.body;
  const c = await newCustomer(s.client);
  const [run] = await settledRuns(x.id, 1);
  assert.equal(run.state, 'succeeded', JSON.stringify(run));
  assert.equal(run.attempts, 2);
  const calls = rcv.requests.filter((q) => q.headers['souq-automation-run'] === run.id);
  assert.equal(calls.length, 2);
  assert.deepEqual(calls.map((q) => q.headers['idempotency-key']), [`${run.id}.0`, `${run.id}.0`]);
  for (const q of calls) assert.ok(signatureValid(q.headers['souq-signature'], q.body, wh.secret), 'signed with the endpoint secret');
  const body = JSON.parse(calls[1].body);
  assert.deepEqual([body.id, body.object, body.rule_id, body.event.type, body.event.data.id, body.data.email], [`${run.id}.0`, 'automation_call', x.id, 'customer.created', c.customer.id, c.email]);
  r = await A('GET', `${R}/${x.id}/runs`);
  assert.deepEqual(r.body.data[0].errors.map((e) => [e.attempt, e.index, e.type, e.permanent]), [[1, 0, 'call_webhook', false]]);
  assert.match(r.body.data[0].errors[0].error, /http_503/);
  assert.equal(r.body.data[0].actions[0].result.status, 200);
  // a 4xx answer is permanent: dead at once, the later action not run
  r = await A('PATCH', `/v1/admin/webhooks/${wh.id}`, { url: `${rcv.url}/status/410` });
  assert.equal(r.status, 200, r.text);
  const c2 = await newCustomer(s.client);
  const runs = await settledRuns(x.id, 2);
  assert.equal(runs[1].state, 'dead');
  assert.equal(runs[1].attempts, 1);
  r = await A('GET', `${R}/${x.id}/runs?state=dead`);
  assert.deepEqual(r.body.data[0].actions.map((a) => [a.type, a.outcome]), [['call_webhook', 'failed'], ['tag_customer', 'pending']]);
  assert.deepEqual((await s.sql('SELECT tags FROM customers WHERE id = $1', [c2.customer.id]))[0].tags, []);
  // fixed endpoint: retrying the dead run's job continues it from the failed action
  const dead = r.body.data[0];
  r = await A('PATCH', `/v1/admin/webhooks/${wh.id}`, { url: `${rcv.url}/status/200` });
  r = await A('POST', `/v1/admin/jobs/${dead.execution_job_id}/retry`);
  assert.equal(r.status, 200, r.text);
  const again = await eventually(async () => { const z = (await runsOf(x.id)).find((q) => q.id === dead.id); return z.state === 'succeeded' ? z : null; }, 20000, 'the retried run');
  assert.equal(again.attempts, 2);
  assert.deepEqual((await s.sql('SELECT tags FROM customers WHERE id = $1', [c2.customer.id]))[0].tags, ['called']);
  await A('DELETE', `/v1/admin/webhooks/${wh.id}`);
  await cleanup();
});

test('a run killed by an attempt whose lease then expired stays dead: the job coming back is not a retry by hand', async () => {
  let r = await A('POST', '/v1/admin/webhooks', { url: `${rcv.url}/status/410`, event_types: ['webhook_endpoint.test'] });
  assert.equal(r.status, 201, r.text);
  const wh = r.body;
  r = await A('POST', R, rule({ actions: [{ type: 'call_webhook', params: { webhook_id: wh.id } }] }));
  assert.equal(r.status, 201, r.text);
  const x = r.body;
  await newCustomer(s.client);
  const [run] = await settledRuns(x.id, 1);
  assert.deepEqual([run.state, run.attempts], ['dead', 1]);
  const calls = () => rcv.requests.filter((q) => q.headers['souq-automation-run'] === run.id).length;
  assert.equal(calls(), 1);
  // as if that attempt had lost its lease before recording its job: the job is still running, its lease expired
  const [job] = await s.sql(`UPDATE jobs SET state = 'running', locked_by = 'gone:1:x', locked_until = now() - interval '1 second',
    completed_at = NULL, errors = '[]' WHERE unique_key = 'automation.run:' || $1 RETURNING id`, [run.id]);
  const j = await eventually(async () => { const [z] = await s.sql('SELECT state, attempts, errors FROM jobs WHERE id = $1', [job.id]); return z.state === 'discarded' && z; }, 20000, 'the job claimed again and given up');
  assert.equal(j.attempts, 2);
  assert.deepEqual(j.errors.map((e) => e.attempt), [1, 2]);
  assert.equal(j.errors[0].error, 'lease expired');
  assert.match(j.errors[1].error, /run is dead/);
  const [again] = await runsOf(x.id);
  assert.deepEqual([again.state, again.attempts], ['dead', 1], 'the permanent failure stands');
  assert.equal(calls(), 1, 'the webhook that answered 410 is not called again');
  await A('DELETE', `/v1/admin/webhooks/${wh.id}`);
  await cleanup();
});

test('a failing run is retried with backoff, then dead after max_attempts', async () => {
  // tag_order on customer.created: the event names no order (a permanent error) -> dead at once
  let r = await A('POST', R, rule({ actions: [{ type: 'tag_order', params: { tags: ['x'] } }] }));
  const x = r.body;
  await newCustomer(s.client);
  let [run] = await settledRuns(x.id, 1);
  assert.deepEqual([run.state, run.attempts], ['dead', 1]);
  assert.match(run.last_error, /names no order/);
  // a webhook that keeps answering 503: max_attempts attempts with growing gaps, then dead
  const wh = (await A('POST', '/v1/admin/webhooks', { url: `${rcv.url}/status/503`, event_types: ['webhook_endpoint.test'] })).body;
  r = await A('POST', R, rule({ max_attempts: 3, actions: [{ type: 'call_webhook', params: { webhook_id: wh.id } }] }));
  assert.equal(r.status, 201, r.text);
  await newCustomer(s.client);
  [run] = await settledRuns(r.body.id, 1);
  assert.deepEqual([run.state, run.attempts, run.errors.length], ['dead', 3, 3]);
  // the job's backoff: base, then 2 x base (+-10 %), then dead (no next run)
  const job = (await s.sql("SELECT state, errors FROM jobs WHERE unique_key = 'automation.run:' || $1", [run.id]))[0];
  assert.equal(job.state, 'discarded');
  const gaps = job.errors.map((e) => (e.next_run_at ? new Date(e.next_run_at).getTime() - new Date(e.at).getTime() : null));
  assert.ok(gaps[0] >= 89 && gaps[0] <= 111 && gaps[1] >= 179 && gaps[1] <= 221 && gaps[2] === null, `backoff: ${gaps}`);
  await A('DELETE', `/v1/admin/webhooks/${wh.id}`);
  await cleanup();
});

test('dry runs: each condition result and each action plan; saved rules by id; refusals point into the body', async () => {
  const x = (await A('POST', R, rule({ conditions: { all: [{ field: '/total', op: 'gt', value: 100 }, { field: '/placed_at', op: 'gte', value: 'now-1d', type: 'date' }] },
    trigger: { type: 'event', event: 'order.placed' }, actions: [{ type: 'tag_order', params: { tags: ['t'] } }, { type: 'tag_customer', params: { tags: ['c'] } }] }))).body;
  const data = { order_id: 'order_00000000000000000000000000', total: 50, placed_at: new Date().toISOString() };
  let r = await A('POST', `${R}/${x.id}/dry-run`, { event: { type: 'order.placed', data } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.trigger_matches, r.body.matched, r.body.would_run, r.body.changes_made], [true, false, false, false]);
  assert.deepEqual(r.body.conditions.map((z) => [z.at, z.result]), [['/conditions', false], ['/conditions/all/0', false], ['/conditions/all/1', true]]);
  assert.deepEqual([r.body.conditions[1].actual, r.body.conditions[1].expected], [50, 100]);
  assert.deepEqual(r.body.actions.map((a) => [a.type, a.would_run, a.plan?.order_id ?? null, a.error]), [['tag_order', false, data.order_id, null], ['tag_customer', false, data.order_id, null]]);
  r = await A('POST', `${R}/${x.id}/dry-run`, { event: { type: 'customer.created', data: { total: 500 } } });
  assert.deepEqual([r.body.trigger_matches, r.body.matched, r.body.conditions[2].reason], [false, false, 'missing']);
  assert.match(r.body.actions[0].error, /names no order/);
  assert.equal((await runsOf(x.id)).length, 0, 'a dry run creates no run');
  for (const [path, body, status, pointer] of [
    [`${R}/${x.id}/dry-run`, {}, 422, '/event'],
    [`${R}/${x.id}/dry-run`, { event: { type: 'order.placed' } }, 422, '/event/data'],
    [`${R}/${x.id}/dry-run`, { event: { type: 'nope.nope', data: {} } }, 422, '/event/type'],
    [`${R}/${x.id}/dry-run`, { event: { data: [] } }, 422, '/event/data'],
    [`${R}/${x.id}/dry-run`, { event: { data: {}, when: 1 } }, 422, '/event/when'],
    [`${R}/arule_00000000000000000000000000/dry-run`, { event: { data: {} } }, 404, null],
    [`${R}/dry-run`, { event: { data: {} } }, 422, '/rule'],
    [`${R}/dry-run`, { rule: rule({ actions: [{ type: 'nope' }] }), event: { data: {} } }, 422, '/rule/actions/0/type'],
    [`${R}/dry-run`, { rule: rule({ conditions: { field: '/a', op: 'in', value: [] } }), event: { data: {} } }, 422, '/rule/conditions/value'],
    [`${R}/dry-run`, { rule: [], event: { data: {} } }, 422, '/rule'],
    [`${R}/dry-run`, { rule: rule(), event: { data: {} }, save: true }, 422, '/save'],
  ]) {
    r = await A('POST', path, body);
    assert.equal(r.status, status, `${path} ${JSON.stringify(body)}: ${r.text}`);
    if (pointer) assert.ok(r.body.errors.some((e) => e.pointer === pointer), `${JSON.stringify(body)}: wanted ${pointer}: ${r.text}`);
  }
  r = await A('GET', `${R}/dry-run`);
  assert.equal(r.status, 405);
  await cleanup();
});

test('a scheduled rule runs once per period, its run data is the schedule; disabling stops it', async () => {
  let r = await A('POST', R, rule({ trigger: { type: 'schedule', schedule: 'every 1 second' }, actions: [{ type: 'emit_event', params: { name: 'tick' } }] }));
  assert.equal(r.status, 201, r.text);
  const x = r.body;
  assert.equal(x.trigger.type, 'schedule');
  assert.ok(x.trigger.next_run_at);
  const runs = await eventually(async () => { const rs = (await runsOf(x.id)).filter((z) => z.state === 'succeeded'); return rs.length >= 2 ? rs : null; }, 20000, 'two scheduled runs');
  assert.deepEqual([runs[0].trigger, runs[0].event_type, runs[0].payload.rule_id], ['schedule', 'automation.schedule', x.id]);
  assert.notEqual(runs[0].trigger_key, runs[1].trigger_key, 'one run per period (its job)');
  const ev = await s.sql("SELECT payload->>'run_id' AS run FROM outbox_events WHERE type = 'automation.custom_event' AND payload->>'rule_id' = $1", [x.id]);
  assert.equal(new Set(ev.map((e) => e.run)).size, ev.length, 'one event per run');
  r = await A('GET', `${R}/${x.id}/runs?limit=1`);
  assert.deepEqual([r.body.data[0].trigger, r.body.data[0].event_id, r.body.data[0].job_id.slice(0, 4)], ['schedule', null, 'job_']);
  r = await A('PATCH', `${R}/${x.id}`, { enabled: false });
  assert.equal(r.body.trigger.next_run_at, null);
  const sched = await s.sql("SELECT enabled FROM job_schedules WHERE id = 'automation.' || $1", [x.id]);
  assert.deepEqual(sched.map((z) => z.enabled), [false]);
  r = await A('DELETE', `${R}/${x.id}`);
  assert.equal(r.status, 204);
  assert.equal((await s.sql("SELECT count(*)::int AS n FROM job_schedules WHERE id = 'automation.' || $1", [x.id]))[0].n, 0);
  await cleanup();
});

test('kill -9 of a node while rules run: afterwards each rule acted exactly once per event', async () => {
  const dbName = await createDatabase();
  const seeded = seed(dbName);
  const q = (text, params) => sql(text, params, dbName);
  // the victim's calls must still hang when it is killed (a call that times out first records its own error instead
  // of losing its lease), and a lease must exceed call_webhook's wait (api/config.c): 5 s calls, 6 s leases
  const env = { ...ENV, SOUQ_JOBS_LEASE_MS: '6000', SOUQ_WEBHOOK_TIMEOUT_MS: '5000' };
  const nodes = [await startServer({ dbName, env }), await startServer({ dbName, env })];
  try {
    const c = new Client(nodes[0].url, seeded.pk);
    const tok = (await staffLogin(c)).access_token;
    const AA = (m, p, json) => c.request(m, p, { pk: null, token: tok, json });
    const l = (await AA('POST', '/v1/admin/stock-locations', { name: 'K' })).body.id;
    const pr = await AA('POST', '/v1/admin/products', { title: 'Counter', status: 'active', variants: [{ sku: uniq('K'), prices: [{ currency_code: 'eur', amount: 100000 }], inventory: [{ location_id: l, quantity: 1 }] }] });
    const v = pr.body.variants[0];
    const wh = (await AA('POST', '/v1/admin/webhooks', { url: `${rcv.url}/status/200`, event_types: ['webhook_endpoint.test'] })).body;
    // each customer.created: +1 to the price (an effect that shows every repetition), a custom event, a tag, a call
    let r = await AA('POST', R, { name: 'counter', trigger: { type: 'event', event: 'customer.created' }, max_attempts: 10,
      actions: [{ type: 'adjust_price', params: { variant_id: v.id, currency_code: 'eur', delta: 1 } }, { type: 'call_webhook', params: { webhook_id: wh.id } },
        { type: 'emit_event', params: { name: 'counted' } }, { type: 'tag_customer', params: { tags: ['counted'] } }] });
    assert.equal(r.status, 201, r.text);
    const ruleId = r.body.id;
    const N = 40;
    // webhook calls hang until released: runs stop in the middle (after adjust_price, inside call_webhook)
    rcv.hang(true);
    // the events: customers written with their customer.created events as core would (one transaction each)
    for (let i = 0; i < N; i++)
      await q("WITH c AS (INSERT INTO customers (email, has_account) VALUES ($1, false) RETURNING id, email) INSERT INTO outbox_events (type, payload) SELECT 'customer.created', jsonb_build_object('id', c.id, 'email', c.email) FROM c", [`k${i}-${process.pid}@example.com`]);
    // kill node 0 while it holds runs that did their first action and wait on their second
    const victim = nodes[0];
    const held = await eventually(async () => {
      const rs = await q("SELECT r.id FROM jobs j JOIN automation_runs r ON j.unique_key = 'automation.run:' || r.id WHERE j.state = 'running' AND r.step = 1 AND j.locked_by LIKE $1",
        [`%:${victim.proc.pid}:%`]);
      return rs.length > 0 ? rs : null;
    }, 30000, 'runs in flight on the victim');
    victim.proc.kill('SIGKILL');
    await victim.exitPromise;
    victim.assertClean();
    rcv.hang(false);
    rcv.release(); // the survivor's hanging calls fail (a network error: retried)
    nodes.push(await startServer({ dbName, env })); // a restarted node joins the survivor
    const runs = await eventually(async () => {
      const rs = await q('SELECT * FROM automation_runs WHERE rule_id = $1', [ruleId]);
      return rs.length === N && rs.every((x) => x.state === 'succeeded') ? rs : null;
    }, 60000, 'every run succeeded');
    assert.equal(new Set(runs.map((x) => x.trigger_key)).size, N, 'one run per event');
    const price = (await q("SELECT amount::int FROM prices WHERE variant_id = $1 AND price_list_id IS NULL", [v.id]))[0].amount;
    assert.equal(price, 100000 + N, 'the price moved exactly once per event');
    const emitted = await q("SELECT payload->>'run_id' AS run, count(*)::int AS n FROM outbox_events WHERE type = 'automation.custom_event' GROUP BY 1");
    assert.equal(emitted.length, N);
    assert.ok(emitted.every((e) => e.n === 1), 'one custom event per run');
    const changed = (await q("SELECT count(*)::int AS n FROM outbox_events WHERE type = 'price.changed' AND payload->>'variant_id' = $1 AND payload->>'old_amount' IS NOT NULL", [v.id]))[0].n;
    assert.equal(changed, N);
    const tagged = (await q("SELECT count(*)::int AS n FROM customers WHERE tags = '{counted}'"))[0].n;
    assert.equal(tagged, N);
    // the webhook: at least once per run, duplicates only with the same idempotency key
    const keys = new Set(rcv.requests.filter((x) => x.headers['souq-automation-rule'] === ruleId).map((x) => x.headers['idempotency-key']));
    assert.equal(keys.size, N);
    for (const x of runs) assert.ok(keys.has(`${x.id}.1`));
    // the victim's runs came back after their lease expired and finished elsewhere, without repeating their first action
    const lost = await q("SELECT j.errors FROM jobs j WHERE j.unique_key = ANY ($1) ", [held.map((x) => `automation.run:${x.id}`)]);
    assert.ok(lost.every((j) => j.errors.some((e) => e.error === 'lease expired' && e.node.includes(`:${victim.proc.pid}:`))), JSON.stringify(lost));
  } finally {
    for (const nd of nodes) if (!nd.exited) await nd.stop('SIGKILL');
  }
});
