// automation_actions.test.mjs: the automation actions that reach other parts of Souq (core/automation_actions.c,
// migrations/0037): create_purchase_order (an inventory.low rule puts the item on its supplier's draft through its
// reorder rule, once per run, never twice on one draft) and run_plugin_action (a plugin's named action with an input
// filled from the event) and send_notification (an email through notify-email to a fake Postmark, rendered from the
// event, once per run), with their refusals at save time and their permanent failures at run time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { ROOT, startStack, staffLogin, newCustomer } from './lib/harness.mjs';
import { eventually } from './lib/receiver.mjs';

let s, t, loc, pm;
const A = (method, path, json, token = t) => s.client.request(method, path, { pk: null, token, json });
const R = '/v1/admin/automation/rules';
let n = 0;
const uniq = (p) => `${p}-${process.pid}-${++n}`;
const settledRuns = (ruleId, count) => eventually(async () => {
  const rs = await s.sql('SELECT * FROM automation_runs WHERE rule_id = $1 ORDER BY id', [ruleId]);
  return rs.length >= count && rs.every((x) => ['succeeded', 'skipped', 'dead', 'canceled'].includes(x.state)) ? rs : null;
}, 30000, `${count} finished run(s) of ${ruleId}`);

// a fake of Postmark's Email API that records what it gets
function startPostmark() {
  const f = { requests: [] };
  f.server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw || 'null');
      f.requests.push({ headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ To: body?.To, MessageID: `pm-${f.requests.length}`, ErrorCode: 0, Message: 'OK' }));
    });
  });
  return new Promise((resolve) => f.server.listen(0, '127.0.0.1', () => { f.port = f.server.address().port; resolve(f); }));
}

before(async () => {
  pm = await startPostmark();
  s = await startStack({ env: { SOUQ_PLUGIN_DIRS: `${ROOT}/plugins,${ROOT}/tests/plugins-sdk`, SOUQ_JOB_RETRY_BASE_MS: '100', SOUQ_JOBS_POLL_MS: '50',
    SOUQ_OUTBOUND_ALLOW_CIDRS: '127.0.0.1/32' } });
  t = (await staffLogin(s.client)).access_token;
  loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Automation' })).body.id;
});
after(async () => {
  if (s) await s.stop();
  pm?.server.close();
});

async function item(stock, threshold) {
  const r = await A('POST', '/v1/admin/products', { title: uniq('Thing'), status: 'active', variants: [{ sku: uniq('SKU'),
    prices: [{ currency_code: 'eur', amount: 1000 }], inventory: [{ location_id: loc, quantity: stock }], low_stock_threshold: threshold }] });
  assert.equal(r.status, 201, r.text);
  return r.body.variants[0].inventory_items[0].inventory_item_id;
}
async function adjust(id, delta) {
  const r = await A('POST', `/v1/admin/inventory-items/${id}/adjustments`, { location_id: loc, delta });
  assert.equal(r.status, 200, r.text);
}

test('create_purchase_order: inventory.low puts the item on its supplier\'s draft once; a second run finds it there', async () => {
  const sup = (await A('POST', '/v1/admin/suppliers', { name: uniq('Supplier'), currency_code: 'eur' })).body;
  const withRule = await item(10, 5), without = await item(10, 5);
  // reorder point 0: the reorder automation of 0033 stays out of it; the rule's cost and supplier SKU are used
  let r = await A('POST', '/v1/admin/reorder-rules', { inventory_item_id: withRule, location_id: loc, supplier_id: sup.id, reorder_point: 0,
    reorder_quantity: 20, unit_cost: 350, supplier_sku: 'ACME-1' });
  assert.equal(r.status, 201, r.text);
  r = await A('POST', R, { name: uniq('reorder'), trigger: { type: 'event', event: 'inventory.low' }, actions: [{ type: 'create_purchase_order', params: { quantity: 7 } }] });
  assert.equal(r.status, 201, r.text);
  const rule = r.body;
  await adjust(withRule, -6); // 10 -> 4: low
  let [run] = await settledRuns(rule.id, 1);
  assert.equal(run.state, 'succeeded', JSON.stringify(run));
  const res = run.action_results[0].result;
  assert.deepEqual([res.added, res.quantity, res.inventory_item_id, res.location_id, res.supplier_id], [true, 7, withRule, loc, sup.id]);
  const po = (await A('GET', `/v1/admin/purchase-orders/${res.purchase_order_id}`)).body;
  assert.deepEqual([po.status, po.source, po.supplier_id, po.location_id], ['draft', 'automation', sup.id, loc]);
  assert.deepEqual(po.lines.map((l) => [l.inventory_item_id, l.quantity, l.unit_cost, l.supplier_sku]), [[withRule, 7, 350, 'ACME-1']]);
  // low again (back up, then down): the item is already on the draft, nothing is added
  await adjust(withRule, 10);
  await adjust(withRule, -10);
  const runs = await settledRuns(rule.id, 2);
  assert.deepEqual(runs.map((x) => x.state), ['succeeded', 'succeeded']);
  assert.equal(runs[1].action_results[0].result.added, false);
  assert.equal((await A('GET', `/v1/admin/purchase-orders/${res.purchase_order_id}`)).body.lines.length, 1);
  // an item without a reorder rule: the run is dead at once (retrying cannot help), nothing written
  await adjust(without, -6);
  run = (await settledRuns(rule.id, 3))[2];
  assert.equal(run.state, 'dead', JSON.stringify(run));
  assert.match(run.last_error, /no enabled reorder rule/);
  assert.equal((await s.sql('SELECT count(*)::int AS n FROM purchase_order_lines WHERE inventory_item_id = $1', [without]))[0].n, 0);
  await A('DELETE', `${R}/${rule.id}`);
});

test('create_purchase_order: bad params are refused at save time; the dry run shows an event without an item', async () => {
  const bad = async (params) => A('POST', R, { name: uniq('bad'), trigger: { type: 'event', event: 'inventory.low' }, actions: [{ type: 'create_purchase_order', params }] });
  for (const [params, ptr] of [[{ quantity: 0 }, '/actions/0/params/quantity'], [{ quantity: 'x' }, '/actions/0/params/quantity'],
    [{ location_id: 'loc' }, '/actions/0/params/location_id'], [{ supplier_id: 'sup_1' }, '/actions/0/params/supplier_id']]) {
    const r = await bad(params);
    assert.equal(r.status, 422, JSON.stringify(params));
    assert.ok(r.body.errors.some((e) => e.pointer === ptr), `${ptr} in ${r.text}`);
  }
  const r = await A('POST', `${R}/dry-run`, { rule: { name: 'x', trigger: { type: 'event', event: 'customer.created' }, actions: [{ type: 'create_purchase_order', params: {} }] },
    event: { type: 'customer.created', data: { id: 'cus_x' } } });
  assert.equal(r.status, 200, r.text);
  assert.match(JSON.stringify(r.body.actions[0]), /names no inventory item/);
  assert.equal((await s.sql("SELECT count(*)::int AS n FROM automation_rules WHERE name LIKE 'bad-%'"))[0].n, 0);
});

test('run_plugin_action: a plugin\'s action runs with the event\'s values; unknown actions and misfit inputs are refused', async () => {
  let r = await A('POST', R, { name: uniq('welcome'), trigger: { type: 'event', event: 'customer.created' },
    actions: [{ type: 'run_plugin_action', params: { plugin: 'sdk-fixture', action: 'kv', input: { op: 'set', key: { $field: '/email' }, value: 'welcomed' } } }] });
  assert.equal(r.status, 201, r.text);
  const rule = r.body;
  const c = await newCustomer(s.client);
  const [run] = await settledRuns(rule.id, 1);
  assert.equal(run.state, 'succeeded', JSON.stringify(run));
  assert.deepEqual([run.action_results[0].result.plugin, run.action_results[0].result.action], ['sdk-fixture', 'kv']);
  // the plugin's store has it under the customer's email
  r = await A('POST', '/v1/admin/plugins/sdk-fixture/actions/kv', { input: { op: 'get', key: c.email } });
  assert.equal(r.status, 200, r.text);
  assert.match(r.text, /welcomed/);
  await A('DELETE', `${R}/${rule.id}`);

  // refused at save time: an action no enabled plugin has, a missing plugin name, an input that is not an object
  for (const [params, ptr, code] of [[{ plugin: 'sdk-fixture', action: 'nope' }, '/actions/0/params/action', 'not_found'],
    [{ plugin: 'no-such-plugin', action: 'kv' }, '/actions/0/params/action', 'not_found'],
    [{ action: 'kv' }, '/actions/0/params/plugin', 'required'],
    [{ plugin: 'sdk-fixture', action: 'kv', input: 'x' }, '/actions/0/params/input', 'invalid_type'],
    [{ plugin: 'sdk-fixture', action: 'kv', input: { key: { $field: 'no-slash' } } }, '/actions/0/params/input/key/$field', 'invalid_format']]) {
    r = await A('POST', R, { name: uniq('bad'), trigger: { type: 'event', event: 'customer.created' }, actions: [{ type: 'run_plugin_action', params }] });
    assert.equal(r.status, 422, JSON.stringify(params));
    assert.ok(r.body.errors.some((e) => e.pointer === ptr && e.code === code), `${ptr} ${code} in ${r.text}`);
  }
  // an input that misses a required field once filled: the run is dead (permanent), the plugin never called
  r = await A('POST', R, { name: uniq('misfit'), trigger: { type: 'event', event: 'customer.created' },
    actions: [{ type: 'run_plugin_action', params: { plugin: 'sdk-fixture', action: 'kv', input: { key: { $field: '/email' } } } }] });
  assert.equal(r.status, 201, r.text);
  await newCustomer(s.client);
  const [dead] = await settledRuns(r.body.id, 1);
  assert.equal(dead.state, 'dead', JSON.stringify(dead));
  assert.match(dead.last_error, /input does not fit its schema: \/input\/op Required/);
  assert.deepEqual(dead.action_results.filter((x) => x.outcome === 'succeeded'), []);
  await A('DELETE', `${R}/${r.body.id}`);
});

test('send_notification: an email rendered from the event through the notification provider, once per run; refusals', async () => {
  // no provider enabled yet: the run is dead at once, with the reason
  const body = { name: uniq('alert'), trigger: { type: 'event', event: 'customer.created' },
    actions: [{ type: 'send_notification', params: { to: 'ops@shop.example', subject: 'New customer {{email}}', text: 'Say hi to {{email}} ({{first_name}})', html: '<p>{{email}}</p>' } }] };
  let r = await A('POST', R, body);
  assert.equal(r.status, 201, r.text);
  let rule = r.body;
  await newCustomer(s.client, { first_name: 'Ada <b>' });
  let [run] = await settledRuns(rule.id, 1);
  assert.equal(run.state, 'dead', JSON.stringify(run));
  assert.match(run.last_error, /No notification provider for email/);
  await A('DELETE', `${R}/${rule.id}`);

  r = await A('PATCH', '/v1/admin/plugins/notify-email', { config: { server_token: 'pm-token', from: 'shop@shop.example', base_url: `http://127.0.0.1:${pm.port}` } });
  assert.equal(r.status, 200, r.text);
  r = await A('POST', R, body);
  rule = r.body;
  const c = await newCustomer(s.client, { first_name: 'Ada <b>' });
  [run] = await settledRuns(rule.id, 1);
  assert.equal(run.state, 'succeeded', JSON.stringify(run));
  const sent = pm.requests.filter((x) => x.body?.To === 'ops@shop.example');
  assert.equal(sent.length, 1, 'once');
  assert.equal(sent[0].body.Subject, `New customer ${c.email}`);
  assert.equal(sent[0].body.TextBody, `Say hi to ${c.email} (Ada <b>)`);
  assert.equal(sent[0].body.HtmlBody, `<p>${c.email}</p>`);
  assert.equal(sent[0].headers['x-postmark-server-token'], 'pm-token');
  assert.equal(run.action_results[0].result.message_id, 'pm-1');
  await A('DELETE', `${R}/${rule.id}`);

  // the recipient from the event (to_field, default /email)
  r = await A('POST', R, { name: uniq('welcome'), trigger: { type: 'event', event: 'customer.created' },
    actions: [{ type: 'send_notification', params: { subject: 'Welcome', text: 'Hello {{email}}' } }] });
  rule = r.body;
  const d = await newCustomer(s.client);
  [run] = await settledRuns(rule.id, 1);
  assert.equal(run.state, 'succeeded', JSON.stringify(run));
  assert.equal(pm.requests.filter((x) => x.body?.To === d.email).length, 1);
  await A('DELETE', `${R}/${rule.id}`);

  // refused at save time
  for (const [params, ptr] of [[{ text: 'x' }, '/actions/0/params/subject'], [{ subject: 's' }, '/actions/0/params/text'],
    [{ to: 'not-an-address', subject: 's', text: 't' }, '/actions/0/params/to'], [{ to: 'a@b.example', to_field: '/email', subject: 's', text: 't' }, '/actions/0/params/to'],
    [{ channel: 'fax', subject: 's', text: 't' }, '/actions/0/params/channel'], [{ channel: 'sms', text: 't', html: '<p>' }, '/actions/0/params/html'],
    [{ subject: 's', text: 't', cc: 'x' }, '/actions/0/params/cc']]) {
    r = await A('POST', R, { name: uniq('bad'), trigger: { type: 'event', event: 'customer.created' }, actions: [{ type: 'send_notification', params }] });
    assert.equal(r.status, 422, JSON.stringify(params));
    assert.ok(r.body.errors.some((e) => e.pointer === ptr), `${ptr} in ${r.text}`);
  }
  // an event without a recipient: the dry run says so
  r = await A('POST', `${R}/dry-run`, { rule: { name: 'x', trigger: { type: 'event', event: 'order.placed' }, actions: [{ type: 'send_notification', params: { subject: 's', text: 't' } }] },
    event: { type: 'order.placed', data: { order_id: 'order_1' } } });
  assert.equal(r.status, 200, r.text);
  assert.match(JSON.stringify(r.body.actions[0]), /no recipient/);
});

test('start_price_list: a rule starts a sale for a while; refusals; a missing list is permanent', async () => {
  const pl = await A('POST', '/v1/admin/price-lists', { title: uniq('Flash'), kind: 'sale', status: 'draft', percent_off_bp: 2000 });
  assert.equal(pl.status, 201, pl.text);
  let r = await A('POST', R, { name: uniq('flash'), trigger: { type: 'event', event: 'customer.created' },
    actions: [{ type: 'start_price_list', params: { price_list_id: pl.body.id, duration_s: 3600 } }] });
  assert.equal(r.status, 201, r.text);
  const rule = r.body;
  await newCustomer(s.client);
  const [run] = await settledRuns(rule.id, 1);
  assert.equal(run.state, 'succeeded', JSON.stringify(run));
  const after = (await A('GET', `/v1/admin/price-lists/${pl.body.id}`)).body;
  assert.equal(after.status, 'active');
  const span = Date.parse(after.ends_at) - Date.parse(after.starts_at);
  assert.ok(Math.abs(span - 3600e3) < 2000, `an hour (${span} ms)`);
  await A('DELETE', `${R}/${rule.id}`);
  for (const [params, ptr] of [[{}, '/actions/0/params/price_list_id'], [{ price_list_id: 'x' }, '/actions/0/params/price_list_id'],
    [{ price_list_id: pl.body.id, duration_s: 10 }, '/actions/0/params/duration_s']]) {
    r = await A('POST', R, { name: uniq('bad'), trigger: { type: 'event', event: 'customer.created' }, actions: [{ type: 'start_price_list', params }] });
    assert.equal(r.status, 422, JSON.stringify(params));
    assert.ok(r.body.errors.some((e) => e.pointer === ptr), `${ptr} in ${r.text}`);
  }
  r = await A('POST', R, { name: uniq('gone'), trigger: { type: 'event', event: 'customer.created' },
    actions: [{ type: 'start_price_list', params: { price_list_id: 'plist_01zzzzzzzzzzzzzzzzzzzzzzzz' } }] });
  assert.equal(r.status, 201, r.text);
  await newCustomer(s.client);
  const [dead] = await settledRuns(r.body.id, 1);
  assert.equal(dead.state, 'dead', JSON.stringify(dead));
  assert.match(dead.last_error, /does not exist/);
  await A('DELETE', `${R}/${r.body.id}`);
});
