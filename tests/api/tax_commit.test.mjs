// tax_commit.test.mjs: recording placed orders' tax with the tax plugin that computed it (migrations/0040,
// core/tax_commit_db.c, plugins/host/tax.c): the avatax-fixture plugin of tests/plugins-tax against a loopback fake of
// the AvaTax REST API. Checkout enqueues one tax.commit job in its transaction; the fake gets exactly one committed
// SalesInvoice per order with the order's amounts, also when its first attempt fails; a cancel voids it; a refund is a
// refund transaction; a job that keeps failing dies visibly (timeline, tax.commit_failed event, the job list) and
// staff retry it; an order taxed by the built-in table, or by a plugin without tax_commit, makes no job.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { startStack, staffLogin, ROOT } from './lib/harness.mjs';

let s, t, eu, variant, option, fake;
const A = (method, path, json) => s.client.request(method, path, { pk: null, token: t, json });
const address = { first_name: 'Ada', last_name: 'L', address_1: 'Unter den Linden 1', city: 'Berlin', postal_code: '10117', country_code: 'de' };
const CONF = () => ({ base_url: `http://127.0.0.1:${fake.server.address().port}`, account_id: '2000123456', license_key: 'lk-test-0123', company_code: 'SOUQ' });
const AUTH = 'Basic ' + Buffer.from('2000123456:lk-test-0123').toString('base64');

// The AvaTax fake: createoradjust keeps one document per code (an adjust replaces it); void and refund need the
// document. fail: how many of the next calls answer 500 (Infinity: all).
function startFake() {
  const f = { requests: [], docs: new Map(), fail: 0, nextId: 9000, hold: false, held: [], log: [] };
  f.release = () => { f.hold = false; for (const go of f.held.splice(0)) go(); };
  f.server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const entry = { method: req.method, path: req.url, auth: req.headers.authorization, body: raw ? JSON.parse(raw) : null, status: 0 };
      f.requests.push(entry);
      const send = (status, body) => { entry.status = status; res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };
      if (entry.auth !== AUTH) return send(401, { error: { code: 'AuthenticationException' } });
      if (f.fail > 0) { f.fail--; return send(500, { error: { code: 'ServerError' } }); }
      let m;
      if (req.method === 'POST' && req.url === '/api/v2/transactions/createoradjust' && f.hold) {
        f.held.push(commit);
        return;
      }
      if (req.method === 'POST' && req.url === '/api/v2/transactions/createoradjust') return commit();
      function commit() {
        const model = entry.body.createTransactionModel;
        const prev = f.docs.get(model.code);
        const doc = { id: prev?.id ?? f.nextId++, code: model.code, status: 'Committed', model };
        f.docs.set(model.code, doc);
        f.log.push(`commit ${model.code}`);
        return send(201, { id: doc.id, code: doc.code, status: doc.status });
      }
      if (req.method === 'POST' && (m = /^\/api\/v2\/companies\/([^/]+)\/transactions\/([^/]+)\/(void|refund)$/.exec(req.url))) {
        const doc = f.docs.get(m[2]);
        if (!doc || m[1] !== 'SOUQ') return send(404, { error: { code: 'EntityNotFoundError' } });
        if (m[3] === 'void') { doc.status = 'Cancelled'; f.log.push(`void ${m[2]}`); return send(200, { id: doc.id, code: doc.code, status: 'Cancelled' }); }
        return send(201, { id: f.nextId++, code: entry.body.refundTransactionCode, type: 'ReturnInvoice' });
      }
      send(404, { error: { code: 'NotFound' } });
    });
  });
  return new Promise((r) => f.server.listen(0, '127.0.0.1', () => r(f)));
}

before(async () => {
  fake = await startFake();
  s = await startStack({ env: { SOUQ_PLUGIN_DIRS: `${ROOT}/tests/plugins,${ROOT}/tests/plugins-tax`, SOUQ_OUTBOUND_ALLOW_CIDRS: '127.0.0.1/32',
    SOUQ_JOBS_POLL_MS: '50', SOUQ_JOB_RETRY_BASE_MS: '20', SOUQ_JOB_RETRY_MAX_MS: '100' } });
  t = (await staffLogin(s.client)).access_token;
  eu = (await A('POST', '/v1/admin/regions', { name: 'EU', currency_code: 'eur', countries: ['de'] })).body;
  option = (await A('POST', '/v1/admin/shipping-options', { name: 'Standard', region_id: eu.id, provider: 'flat_rate', amount: 500 })).body.id;
  const loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Berlin' })).body.id;
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
  const r = await A('POST', '/v1/admin/products', { title: 'Recorded thing', status: 'active',
    variants: [{ sku: `AVA-${process.pid}`, prices: [{ currency_code: 'eur', amount: 1000 }], inventory: [{ location_id: loc, quantity: 500 }] }] });
  assert.equal(r.status, 201, r.text);
  variant = r.body.variants[0].id;
  assert.equal((await A('POST', '/v1/admin/tax-rates', { country_code: 'de', rate_bp: 1900, name: 'MwSt. 19%', code: 'MWST' })).status, 201);
  const p = await A('PATCH', '/v1/admin/plugins/avatax-fixture', { config: CONF() });
  assert.equal(p.status, 200, p.text);
  assert.equal(p.body.status, 'active');
});
after(async () => { if (s) await s.stop(); if (fake) fake.server.close(); });

/** Polls fn until it answers a truthy value (the job runner works in the background); fails after ms. */
async function until(fn, what, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function placeOrder(quantity = 3) {
  const c = await s.client.request('POST', '/v1/store/carts', { json: { email: 'buyer@example.com', shipping_address: address,
    items: [{ variant_id: variant, quantity }] } });
  assert.equal(c.status, 201, c.text);
  const m = await s.client.request('POST', `/v1/store/carts/${c.body.id}/shipping-methods`, { json: { option_id: option } });
  assert.equal(m.status, 200, m.text);
  const o = await s.client.request('POST', `/v1/store/carts/${c.body.id}/complete`, { json: { payment: { provider: 'manual' } },
    headers: { 'idempotency-key': crypto.randomUUID() } });
  assert.equal(o.status, 201, o.text);
  return o.body;
}

const job = async (key) => (await s.sql('SELECT id, kind, state, attempts, max_attempts, payload FROM jobs WHERE unique_key = $1', [key]))[0];
const commitsOf = (id) => fake.requests.filter((r) => r.path === '/api/v2/transactions/createoradjust' && r.body.createTransactionModel.code === id);
const timeline = async (id) => (await A('GET', `/v1/admin/orders/${id}`)).body.timeline;

test('checkout enqueues one tax.commit job in its transaction; the service gets one committed SalesInvoice with the order\'s amounts', async () => {
  fake.fail = 1; // the first attempt fails: the job retries, and the document is still recorded once
  const o = await placeOrder(3);
  assert.deepEqual([o.tax_total, o.total], [280, 3000 + 500 + 280], '8% of 3000 and of 500');
  const [row] = await s.sql('SELECT tax_provider FROM orders WHERE id = $1', [o.id]);
  assert.equal(row.tax_provider, 'plugin:avatax-fixture');
  const j = await until(async () => { const x = await job(`order:${o.id}:tax_commit`); return x?.state === 'completed' && x; }, 'the commit');
  assert.equal(j.kind, 'tax.commit');
  assert.equal(j.attempts, 2, 'one failure, one success');
  assert.deepEqual(j.payload, { order_id: o.id, provider: 'plugin:avatax-fixture' });
  const sent = commitsOf(o.id);
  assert.deepEqual(sent.map((r) => r.status), [500, 201], 'one failed attempt, then exactly one recorded commit');
  assert.equal(fake.docs.size >= 1, true);
  const m = sent[1].body.createTransactionModel;
  assert.equal(m.type, 'SalesInvoice');
  assert.equal(m.commit, true);
  assert.equal(m.companyCode, 'SOUQ');
  assert.equal(m.currencyCode, 'EUR');
  assert.equal(m.purchaseOrderNo, String(o.number));
  assert.equal(m.addresses.shipTo.country, 'de');
  assert.deepEqual(m.lines.map((l) => [l.number, l.quantity, l.amount, l.taxOverride.type, l.taxOverride.taxAmount]),
    [['1', 3, '30.00', 'TaxAmount', '2.40'], ['shipping', 1, '5.00', 'TaxAmount', '0.40']]);
  assert.deepEqual(JSON.stringify(sent[0].body), JSON.stringify(sent[1].body), 'the retry sends the same document (same code)');
  const tl = await timeline(o.id);
  const failed = tl.filter((e) => e.type === 'order.tax_record_failed');
  assert.equal(failed.length, 1);
  assert.deepEqual([failed[0].data.operation, failed[0].data.attempt, failed[0].data.final], ['commit', 1, false]);
  const ok = tl.filter((e) => e.type === 'order.tax_recorded');
  assert.deepEqual(ok.map((e) => [e.data.operation, e.data.provider, e.data.reference]),
    [['commit', 'plugin:avatax-fixture', String(fake.docs.get(o.id).id)]]);
});

test('a cancel voids the recorded transaction (DocVoided) once its commit ran', async () => {
  const o = await placeOrder(1);
  await until(async () => (await job(`order:${o.id}:tax_commit`))?.state === 'completed', 'the commit');
  const c = await A('POST', `/v1/admin/orders/${o.id}/cancel`, { reason: 'customer' });
  assert.equal(c.status, 200, c.text);
  const j = await until(async () => { const x = await job(`order:${o.id}:tax_void`); return x?.state === 'completed' && x; }, 'the void');
  assert.equal(j.kind, 'tax.void');
  const voids = fake.requests.filter((r) => r.path === `/api/v2/companies/SOUQ/transactions/${o.id}/void`);
  assert.equal(voids.length, 1);
  assert.deepEqual(voids[0].body, { code: 'DocVoided' });
  assert.equal(fake.docs.get(o.id).status, 'Cancelled');
  assert.ok((await timeline(o.id)).some((e) => e.type === 'order.tax_recorded' && e.data.operation === 'void'));
});

test('a cancel while the commit is still at the service: the void waits for it and comes after it', async () => {
  fake.hold = true; // the service holds the commit's answer
  const o = await placeOrder(1);
  await until(async () => (await job(`order:${o.id}:tax_commit`))?.state === 'running', 'the commit in flight');
  assert.equal((await A('POST', `/v1/admin/orders/${o.id}/cancel`, {})).status, 200);
  await until(async () => (await job(`order:${o.id}:tax_void`))?.attempts >= 1, 'the void to wait');
  assert.equal(fake.requests.filter((r) => r.path.endsWith(`/transactions/${o.id}/void`)).length, 0, 'no void before the commit');
  fake.release();
  await until(async () => (await job(`order:${o.id}:tax_void`))?.state === 'completed', 'the void');
  assert.deepEqual(fake.log.filter((l) => l.endsWith(o.id)), [`commit ${o.id}`, `void ${o.id}`]);
});

test('a refund is recorded as a refund transaction of the refunded share', async () => {
  const o = await placeOrder(2); // 2000 + 500 + 200 tax = 2700
  await until(async () => (await job(`order:${o.id}:tax_commit`))?.state === 'completed', 'the commit');
  assert.equal((await A('POST', `/v1/admin/orders/${o.id}/capture`)).status, 200);
  const r = await s.client.request('POST', `/v1/admin/orders/${o.id}/refunds`, { pk: null, token: t, json: { amount: 675, reason: 'requested_by_customer' },
    headers: { 'idempotency-key': crypto.randomUUID() } });
  assert.equal(r.status, 201, r.text);
  const refundId = (await s.sql('SELECT id FROM refunds WHERE order_id = $1', [o.id]))[0].id;
  await until(async () => (await job(`refund:${refundId}:tax_refund`))?.state === 'completed', 'the refund');
  const sent = fake.requests.filter((x) => x.path === `/api/v2/companies/SOUQ/transactions/${o.id}/refund`);
  assert.equal(sent.length, 1);
  assert.deepEqual([sent[0].body.refundTransactionCode, sent[0].body.refundType, sent[0].body.refundPercentage, sent[0].body.referenceCode],
    [refundId, 'Percentage', '25.00', o.id]);
});

test('an order edit is sent as the adjusted transaction (createoradjust, same code) after the commit, once per edit', async () => {
  fake.hold = true; // the edit lands while the commit is still at the service: its adjust waits for the commit
  const o = await placeOrder(3); // 3000 + 500, 8% tax
  await until(async () => (await job(`order:${o.id}:tax_commit`))?.state === 'running', 'the commit in flight');
  const r = await A('POST', `/v1/admin/orders/${o.id}/edits`, { change: [{ line_id: o.items[0].id, quantity: 1 }], note: 'one only' });
  assert.equal(r.status, 200, r.text);
  const [ev] = await s.sql("SELECT id FROM order_events WHERE order_id = $1 AND type = 'order.edited'", [o.id]);
  const key = `order_event:${ev.id}:tax_adjust`;
  await until(async () => (await job(key))?.attempts >= 1, 'the adjust to wait');
  assert.equal(commitsOf(o.id).length, 1, 'nothing but the held commit yet');
  fake.release();
  const j = await until(async () => { const x = await job(key); return x?.state === 'completed' && x; }, 'the adjust');
  assert.equal(j.kind, 'tax.adjust');
  assert.deepEqual(j.payload, { order_id: o.id, provider: 'plugin:avatax-fixture', edit_event_id: Number(ev.id) });
  const sent = commitsOf(o.id).filter((x) => x.status === 201);
  assert.equal(sent.length, 2, 'the commit, then the adjusted transaction');
  const lines = (x) => x.body.createTransactionModel.lines.map((l) => [l.number, l.quantity, l.amount]);
  assert.deepEqual(lines(sent[1]), [['1', 1, '10.00'], ['shipping', 1, '5.00']], 'the order as edited');
  assert.deepEqual(lines(sent[0]).slice(-1), lines(sent[1]).slice(-1));
  const tl = await timeline(o.id);
  assert.deepEqual(tl.filter((e) => e.type === 'order.tax_recorded').map((e) => e.data.operation), ['commit', 'adjust']);
  // an order taxed by the table (no plugin) makes no adjust job
  const n = (await s.sql("SELECT count(*)::int AS n FROM jobs WHERE kind = 'tax.adjust'"))[0].n;
  assert.equal(n, 1);
});

test('a commit that keeps failing dies after its attempts, visibly (timeline, tax.commit_failed, the job list); staff retry it', async () => {
  fake.fail = Infinity;
  const o = await placeOrder(1);
  const j = await until(async () => { const x = await job(`order:${o.id}:tax_commit`); return x?.state === 'discarded' && x; }, 'the dead job');
  assert.equal(j.attempts, j.max_attempts);
  assert.equal(j.max_attempts, 12);
  assert.equal(commitsOf(o.id).length, 12);
  const failed = (await timeline(o.id)).filter((e) => e.type === 'order.tax_record_failed');
  assert.equal(failed.length, 12);
  assert.deepEqual([failed.at(-1).data.attempt, failed.at(-1).data.final], [12, true]);
  const ev = await s.sql("SELECT payload FROM outbox_events WHERE type = 'tax.commit_failed' AND payload->>'order_id' = $1", [o.id]);
  assert.equal(ev.length, 1);
  assert.deepEqual([ev[0].payload.operation, ev[0].payload.provider, ev[0].payload.attempt], ['commit', 'plugin:avatax-fixture', 12]);
  const list = await A('GET', '/v1/admin/jobs?kind=tax.commit&state=discarded');
  assert.equal(list.status, 200, list.text);
  assert.ok(list.body.data.some((x) => x.id === j.id), 'staff find the dead job');
  fake.fail = 0;
  const retry = await A('POST', `/v1/admin/jobs/${j.id}/retry`);
  assert.equal(retry.status, 200, retry.text);
  await until(async () => (await job(`order:${o.id}:tax_commit`))?.state === 'completed', 'the retried commit');
  assert.equal(commitsOf(o.id).filter((r) => r.status === 201).length, 1);
});

test('a cancel after a dead commit still sends the void; the service not knowing the transaction completes it', async () => {
  fake.fail = Infinity;
  const o = await placeOrder(1);
  await until(async () => (await job(`order:${o.id}:tax_commit`))?.state === 'discarded', 'the dead commit');
  fake.fail = 0;
  assert.equal(fake.docs.has(o.id), false, 'the service never recorded it');
  assert.equal((await A('POST', `/v1/admin/orders/${o.id}/cancel`, {})).status, 200);
  const j = await until(async () => { const x = await job(`order:${o.id}:tax_void`); return ['completed', 'discarded'].includes(x?.state) && x; }, 'the void');
  assert.equal(j.state, 'completed');
  assert.equal(j.attempts, 1);
  assert.equal(fake.requests.filter((r) => r.path === `/api/v2/companies/SOUQ/transactions/${o.id}/void` && r.status === 404).length, 1);
  const rec = (await timeline(o.id)).filter((e) => e.type === 'order.tax_recorded');
  assert.deepEqual(rec.map((e) => [e.data.operation, e.data.reference]), [['void', null]]);
});

test('a disabled recording plugin fails the job (it retries) instead of losing the order; the table taxes new carts and makes no job', async () => {
  fake.fail = Infinity; // hold the commit in retries while the plugin is switched off
  const o = await placeOrder(1);
  await until(async () => (await job(`order:${o.id}:tax_commit`))?.attempts >= 1, 'a first attempt');
  assert.equal((await A('PATCH', '/v1/admin/plugins/avatax-fixture', { enabled: false })).status, 200);
  const j = await until(async () => { const x = await job(`order:${o.id}:tax_commit`); return x?.state === 'discarded' && x; }, 'the job to die');
  fake.fail = 0;
  assert.equal(j.attempts, 12);
  assert.ok(commitsOf(o.id).length < 12, 'the attempts after the plugin was switched off never reached the service');
  const tl = (await timeline(o.id)).filter((e) => e.type === 'order.tax_record_failed');
  assert.match(tl.at(-1).data.error, /plugin/i);
  // a table-taxed order: no job, provider table
  const t2 = await placeOrder(1);
  assert.equal(t2.tax_total, 190 + 95);
  assert.equal((await s.sql('SELECT tax_provider FROM orders WHERE id = $1', [t2.id]))[0].tax_provider, 'table');
  // staff see who taxed each order (the store's answer does not say)
  assert.equal((await A('GET', `/v1/admin/orders/${t2.id}`)).body.tax_provider, 'table');
  assert.equal((await A('GET', `/v1/admin/orders/${o.id}`)).body.tax_provider, 'plugin:avatax-fixture');
  assert.ok((await A('GET', '/v1/admin/orders?limit=5')).body.data.every((x) => /^(table|plugin:[a-z0-9_-]+)$/.test(x.tax_provider)));
  assert.equal(await job(`order:${t2.id}:tax_commit`), undefined);
  // re-enabled: staff retry the dead job and it records to the plugin that computed the tax
  assert.equal((await A('PATCH', '/v1/admin/plugins/avatax-fixture', { enabled: true })).status, 200);
  assert.equal((await A('POST', `/v1/admin/jobs/${j.id}/retry`)).status, 200);
  await until(async () => (await job(`order:${o.id}:tax_commit`))?.state === 'completed', 'the retried commit');
});

test('an order taxed by a plugin without tax_commit makes no job (tax-fixture outranks avatax-fixture)', async () => {
  assert.equal((await A('PATCH', '/v1/admin/plugins/tax-fixture', { config: { mode: 'ok' } })).status, 200);
  try {
    const o = await placeOrder(1);
    assert.equal(o.tax_total, 100 + 50);
    assert.equal((await s.sql('SELECT tax_provider FROM orders WHERE id = $1', [o.id]))[0].tax_provider, 'plugin:tax-fixture');
    assert.equal(await job(`order:${o.id}:tax_commit`), undefined);
    // and its cancel makes no void either
    assert.equal((await A('POST', `/v1/admin/orders/${o.id}/cancel`, {})).status, 200);
    assert.equal(await job(`order:${o.id}:tax_void`), undefined);
  } finally {
    await A('PATCH', '/v1/admin/plugins/tax-fixture', { enabled: false });
  }
});
