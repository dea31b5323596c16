// dynamic_pricing.test.mjs: dynamic pricing (core/dynprice*.c, api/handlers/dynprice.c, migrations/0035): the price
// ledger and its attribution (staff, API key, schedule, rule) with one price.changed event per entry; scheduled price
// changes applied and reverted by jobs (storefront, price index), canceled while pending, exactly once with two nodes
// and kill -9; pricing rules from stock level and time window with floor/ceiling, rounding, previews, restoring the
// merchant's price; negative tests for every route.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startStack, startServer, createDatabase, seed, sql, staffLogin, Client, SOCK, PGPORT, OWNER } from './lib/harness.mjs';
import { eventually } from './lib/receiver.mjs';

const ENV = { SOUQ_JOBS_POLL_MS: '50', SOUQ_JOB_RETRY_BASE_MS: '200', SOUQ_JOBS_LEASE_MS: '2000', SOUQ_WEBHOOK_TIMEOUT_MS: '1000' };
let s, t, loc, me;
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json, token = t, headers = {}) => s.client.request(method, path, { pk: null, token, json, headers });
let seq = 0;
const uniq = (p) => `${p}-${process.pid}-${++seq}`;
const MISSING = { psch: 'psch_01zzzzzzzzzzzzzzzzzzzzzzzz', prule: 'prule_01zzzzzzzzzzzzzzzzzzzzzzzz', pchg: 'pchg_01zzzzzzzzzzzzzzzzzzzzzzzz' };

async function product(amount, stock = 100, extra = {}) {
  const r = await A('POST', '/v1/admin/products', { title: uniq('Thing'), status: 'active',
    variants: [{ sku: uniq('SKU'), prices: [{ currency_code: 'eur', amount }], inventory: [{ location_id: loc, quantity: stock }], ...extra }] });
  assert.equal(r.status, 201, r.text);
  return r.body;
}
const basePrice = async (variantId, currency = 'eur') =>
  (await s.sql(`SELECT amount::int FROM prices WHERE variant_id = $1 AND price_list_id IS NULL AND currency_code = $2 AND min_quantity = 1`, [variantId, currency]))[0]?.amount;
const indexed = async (productId) => (await s.sql(`SELECT amount::int FROM product_price_index WHERE product_id = $1 AND currency_code = 'eur'`, [productId]))[0]?.amount;
const changes = async (q) => {
  const r = await A('GET', `/v1/admin/price-changes?${new URLSearchParams(q)}`);
  assert.equal(r.status, 200, r.text);
  return r.body.data;
};
const storePrice = async (handle) => {
  const r = await s.client.get(`/v1/store/products/${handle}?currency_code=eur`);
  assert.equal(r.status, 200, r.text);
  return r.body.variants[0].price.amount;
};
// a change a job made reaches the storefront's read cache through NOTIFY (within milliseconds, README: the read cache)
const storeShows = (handle, amount) => eventually(async () => (await storePrice(handle)) === amount, 5000, `the storefront shows ${amount}`);
function assertProblem(r, status, slug, pointer) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.body.type, type(slug), r.text);
  if (pointer) assert.ok(r.body.errors.some((e) => (e.pointer ?? e.parameter) === pointer), `${pointer} in ${r.text}`);
}
const item = async (variantId) => (await s.sql(`SELECT inventory_item_id FROM variant_inventory_items WHERE variant_id = $1`, [variantId]))[0].inventory_item_id;
const adjust = async (variantId, delta) => {
  const r = await A('POST', `/v1/admin/inventory-items/${await item(variantId)}/adjustments`, { location_id: loc, delta });
  assert.equal(r.status, 200, r.text);
};

before(async () => {
  s = await startStack({ env: ENV });
  const login = await staffLogin(s.client);
  t = login.access_token;
  me = (await A('GET', '/v1/admin/users/me')).body.id;
  const l = await A('POST', '/v1/admin/stock-locations', { name: 'Berlin' });
  loc = l.body.id;
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
});
after(async () => s && (await s.stop()));

// ---- the ledger ---------------------------------------------------------------------------------------------------

test('ledger: admin edits, list prices and API keys are attributed; each entry has exactly one price.changed event with the same data', async () => {
  const p = await product(1000);
  const v = p.variants[0];
  let log = await changes({ variant_id: v.id });
  assert.equal(log.length, 1);
  assert.deepEqual({ ...log[0], id: undefined, event_id: undefined, created_at: undefined, price_id: undefined }, {
    id: undefined, object: 'price_change', variant_id: v.id, product_id: p.id, price_list_id: null, currency_code: 'eur', min_quantity: 1,
    old_amount: null, new_amount: 1000, source: 'staff', source_id: me, actor: me, event_id: undefined, created_at: undefined, price_id: undefined });

  // a variant edit by staff
  let r = await A('PATCH', `/v1/admin/products/${p.id}/variants/${v.id}`, { prices: [{ currency_code: 'eur', amount: 1200 }] });
  assert.equal(r.status, 200, r.text);
  // a product edit (PATCH of the product with its variants) by an API key
  const key = await A('POST', '/v1/admin/api-keys', { type: 'secret', title: 'ERP', scopes: ['catalog:write', 'catalog:read'] });
  assert.equal(key.status, 201, key.text);
  r = await A('PATCH', `/v1/admin/products/${p.id}/variants/${v.id}`, { prices: [{ currency_code: 'eur', amount: 1300 }] }, key.body.token);
  assert.equal(r.status, 200, r.text);
  // a list price
  const list = await A('POST', '/v1/admin/price-lists', { title: 'B2B', kind: 'override' });
  r = await A('POST', `/v1/admin/price-lists/${list.body.id}/prices`, { upsert: [{ variant_id: v.id, currency_code: 'eur', amount: 900 }] });
  assert.equal(r.status, 200, r.text);
  // a product PATCH that changes nothing about prices writes nothing
  const cur = await A('GET', `/v1/admin/products/${p.id}`);
  r = await A('PATCH', `/v1/admin/products/${p.id}`, { subtitle: 'new' }, t, { 'if-match': cur.headers.get('etag') });
  assert.equal(r.status, 200, r.text);

  log = (await changes({ variant_id: v.id })).filter((c) => c.new_amount !== null);
  assert.deepEqual(log.map((c) => [c.source, c.source_id, c.price_list_id, c.old_amount, c.new_amount]), [
    ['staff', me, list.body.id, null, 900], ['api_key', key.body.id, null, 1200, 1300], ['staff', me, null, 1000, 1200], ['staff', me, null, null, 1000]]);
  assert.deepEqual((await changes({ variant_id: v.id, source: 'api_key' })).map((c) => c.new_amount), [1300]);
  assert.deepEqual((await changes({ price_list_id: list.body.id })).map((c) => c.new_amount), [900]);
  // deleting the list removes its prices: attributed to the caller too
  assert.equal((await A('DELETE', `/v1/admin/price-lists/${list.body.id}`, undefined, key.body.token)).status, 204);
  assert.deepEqual((await changes({ price_list_id: list.body.id })).map((c) => [c.source, c.source_id, c.old_amount, c.new_amount]),
    [['api_key', key.body.id, 900, null], ['staff', me, null, 900]]);
  assert.deepEqual((await changes({ product_id: p.id, currency_code: 'EUR', limit: 3 })).map((c) => c.new_amount), [null, 900, 1300]);
  assert.equal((await changes({ variant_id: v.id, created_after: '2100-01-01' })).length, 0);
  assert.equal((await changes({ variant_id: v.id, created_before: '2100-01-01T00:00:00Z' })).length, 5);

  const events = await s.sql(`SELECT id, payload FROM outbox_events WHERE type = 'price.changed' AND payload->>'variant_id' = $1`, [v.id]);
  assert.equal(events.length, 5, 'one event per ledger entry (the four above and the list price removed)');
  for (const c of log) {
    const e = events.filter((x) => x.id === c.event_id);
    assert.equal(e.length, 1, `the event of ${c.id}`);
    assert.deepEqual(e[0].payload, { price_id: c.price_id, variant_id: c.variant_id, product_id: c.product_id, price_list_id: c.price_list_id,
      currency_code: 'eur', min_quantity: 1, old_amount: c.old_amount, new_amount: c.new_amount, change_id: c.id, source: c.source,
      source_id: c.source_id, actor: c.actor });
  }
  r = await A('GET', `/v1/admin/price-changes/${log[0].id}`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body, log[0]);
});

test('ledger: imports are attributed to the import (source_id) and its uploader (actor); SQL by hand is system', async () => {
  const p = await product(500);
  const sku = p.variants[0].sku;
  const csv = `handle,sku,price.eur\n${p.handle},${sku},550\n`;
  const r = await s.client.request('POST', '/v1/admin/imports', { pk: null, token: t, body: csv, headers: { 'content-type': 'text/csv' } });
  assert.equal(r.status, 202, r.text);
  await eventually(async () => (await basePrice(p.variants[0].id)) === 550, 20000, 'the import processed');
  await s.sql(`UPDATE prices SET amount = 560 WHERE variant_id = $1`, [p.variants[0].id]);
  const log = await changes({ variant_id: p.variants[0].id });
  assert.deepEqual(log.map((c) => [c.source, c.source_id, c.actor, c.old_amount, c.new_amount]),
    [['system', null, null, 550, 560], ['import', r.body.id, me, 500, 550], ['staff', me, me, null, 500]]);
  // deleting the variant removes its prices, attributed to the caller (a cascade without one would be system)
  const del = await A('DELETE', `/v1/admin/products/${p.id}/variants/${p.variants[0].id}`);
  assert.equal(del.status, 204, del.text);
  const gone = (await changes({ variant_id: p.variants[0].id }))[0];
  assert.deepEqual([gone.source, gone.source_id, gone.old_amount, gone.new_amount, gone.product_id], ['staff', me, 560, null, null]);
});

test('ledger: bad filters are 400 invalid-parameter; unknown and malformed ids 404; credentials and permissions checked', async () => {
  for (const [q, param] of [['source=robot', 'source'], ['currency_code=EURO', 'currency_code'], ['created_after=yesterday', 'created_after'],
    ['created_before=2026-13-01', 'created_before'], ['limit=0', 'limit'], ['cursor=forged', 'cursor'], ['variant_id=' + 'x'.repeat(41), 'variant_id'], ['bogus=1', 'bogus']]) {
    const r = await A('GET', `/v1/admin/price-changes?${q}`);
    assertProblem(r, 400, 'invalid-parameter', param);
  }
  assertProblem(await A('GET', `/v1/admin/price-changes/${MISSING.pchg}`), 404, 'not-found');
  assertProblem(await A('GET', `/v1/admin/price-changes/price_01zzzzzzzzzzzzzzzzzzzzzzzz`), 404, 'not-found');
  assertProblem(await A('GET', '/v1/admin/price-changes', undefined, null), 401, 'unauthorized');
  const key = await A('POST', '/v1/admin/api-keys', { type: 'secret', title: 'CRM', scopes: ['customers:read'] });
  assertProblem(await A('GET', '/v1/admin/price-changes', undefined, key.body.token), 403, 'forbidden');
  assertProblem(await A('POST', '/v1/admin/price-changes', {}), 405, 'method-not-allowed');
});

// ---- scheduled price changes ----------------------------------------------------------------------------------------

test('schedule: applies at apply_at and reverts at revert_at through jobs; storefront, price index and ledger follow', async () => {
  const p = await product(2000);
  const v = p.variants[0];
  assert.equal(await storePrice(p.handle), 2000);
  const [{ now }] = await s.sql('SELECT now() AS now');
  const applyAt = new Date(new Date(now).getTime() + 1500).toISOString(), revertAt = new Date(new Date(now).getTime() + 3500).toISOString();
  const r = await A('POST', '/v1/admin/price-schedules', { title: 'Flash sale', items: [{ variant_id: v.id, currency_code: 'EUR', amount: 1500 }],
    apply_at: applyAt, revert_at: revertAt, metadata: { campaign: 'bf' } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.status, 'pending');
  assert.deepEqual(r.body.items, [{ variant_id: v.id, currency_code: 'eur', amount: 1500, min_quantity: 1 }]);
  assert.equal(r.body.created_by, me);
  const id = r.body.id;
  const job = await s.sql(`SELECT state, run_at FROM jobs WHERE unique_key = $1`, [`price_schedule:${id}:apply`]);
  assert.equal(job.length, 1);
  assert.equal(new Date(job[0].run_at).toISOString(), applyAt);

  const applied = await eventually(async () => { const x = await A('GET', `/v1/admin/price-schedules/${id}`); return x.body.status === 'applied' ? x.body : null; }, 20000, 'applied');
  assert.ok(new Date(applied.applied_at) >= new Date(applyAt), 'not before apply_at');
  assert.deepEqual(applied.applied.map((a) => [a.old_amount, a.new_amount]), [[2000, 1500]]);
  await storeShows(p.handle, 1500);
  assert.equal(await indexed(p.id), 1500, 'the price index follows');
  const reverted = await eventually(async () => { const x = await A('GET', `/v1/admin/price-schedules/${id}`); return x.body.status === 'reverted' ? x.body : null; }, 20000, 'reverted');
  assert.ok(new Date(reverted.reverted_at) >= new Date(revertAt));
  assert.deepEqual(reverted.reverted.map((x) => [x.restored, x.reason]), [[true, 'restored']]);
  await storeShows(p.handle, 2000);
  assert.equal(await indexed(p.id), 2000);
  const log = await changes({ source: 'schedule', source_id: id });
  assert.deepEqual(log.map((c) => [c.old_amount, c.new_amount, c.actor]), [[1500, 2000, me], [2000, 1500, me]]);
  assert.deepEqual((await A('GET', '/v1/admin/price-schedules?status=reverted')).body.data.map((x) => x.id).includes(id), true);
});

test('schedule: a new price is created and removed again; a price changed after the schedule keeps the later change; a list price', async () => {
  const p = await product(700);
  const v = p.variants[0];
  const list = (await A('POST', '/v1/admin/price-lists', { title: 'Sale', kind: 'sale' })).body;
  const r = await A('POST', '/v1/admin/price-schedules', { items: [{ variant_id: v.id, currency_code: 'usd', amount: 800 }, { variant_id: v.id, currency_code: 'eur', amount: 650 }],
    apply_at: '2020-01-01T00:00:00Z', revert_at: '2099-01-01T00:00:00Z' });
  assert.equal(r.status, 201, r.text);
  await eventually(async () => (await A('GET', `/v1/admin/price-schedules/${r.body.id}`)).body.status === 'applied', 20000, 'applied at once (apply_at passed)');
  assert.equal(await basePrice(v.id, 'usd'), 800);
  await A('PATCH', `/v1/admin/products/${p.id}/variants/${v.id}`, { prices: [{ currency_code: 'eur', amount: 640 }, { currency_code: 'usd', amount: 800 }] });
  // the revert is due now
  await s.sql(`UPDATE jobs SET run_at = now() WHERE unique_key = $1`, [`price_schedule:${r.body.id}:revert`]);
  const done = await eventually(async () => { const x = await A('GET', `/v1/admin/price-schedules/${r.body.id}`); return x.body.status === 'reverted' ? x.body : null; }, 20000, 'reverted');
  assert.deepEqual(done.reverted.map((x) => [x.restored, x.reason]), [[true, 'removed_new_price'], [false, 'changed_since']]);
  assert.equal(await basePrice(v.id, 'usd'), undefined);
  assert.equal(await basePrice(v.id, 'eur'), 640);

  const l = await A('POST', '/v1/admin/price-schedules', { price_list_id: list.id, items: [{ variant_id: v.id, currency_code: 'eur', amount: 500 }], apply_at: '2020-01-01T00:00:00Z' });
  assert.equal(l.status, 201, l.text);
  await eventually(async () => (await A('GET', `/v1/admin/price-schedules/${l.body.id}`)).body.status === 'applied', 20000, 'list schedule applied');
  const lp = await s.sql(`SELECT amount::int FROM prices WHERE variant_id = $1 AND price_list_id = $2`, [v.id, list.id]);
  assert.deepEqual(lp, [{ amount: 500 }]);
  assert.equal((await changes({ source_id: l.body.id }))[0].price_list_id, list.id);
});

test('schedule: cancel while pending (its job is canceled, nothing changes); canceling again or after it applied is 409', async () => {
  const p = await product(900);
  const r = await A('POST', '/v1/admin/price-schedules', { items: [{ variant_id: p.variants[0].id, currency_code: 'eur', amount: 100 }], apply_at: '2099-01-01T00:00:00Z' });
  assert.equal(r.status, 201, r.text);
  let c = await A('POST', `/v1/admin/price-schedules/${r.body.id}/cancel`);
  assert.equal(c.status, 200, c.text);
  assert.equal(c.body.status, 'canceled');
  assert.ok(c.body.canceled_at);
  assert.deepEqual(await s.sql(`SELECT state FROM jobs WHERE unique_key = $1`, [`price_schedule:${r.body.id}:apply`]), [{ state: 'canceled' }]);
  assertProblem(await A('POST', `/v1/admin/price-schedules/${r.body.id}/cancel`, {}), 409, 'invalid-state');
  // a run of its job anyway (a job claimed before the cancel) changes nothing
  assert.deepEqual(await s.sql(`SELECT souq_price_schedule_run($1, 'apply') AS x`, [r.body.id]), [{ x: 'skipped:canceled' }]);
  assert.equal(await basePrice(p.variants[0].id), 900);
  const a = await A('POST', '/v1/admin/price-schedules', { items: [{ variant_id: p.variants[0].id, currency_code: 'eur', amount: 100 }], apply_at: '2020-01-01T00:00:00Z' });
  await eventually(async () => (await A('GET', `/v1/admin/price-schedules/${a.body.id}`)).body.status === 'applied', 20000, 'applied');
  assertProblem(await A('POST', `/v1/admin/price-schedules/${a.body.id}/cancel`), 409, 'invalid-state');
});

test('schedule: invalid bodies, unknown ids and permissions; nothing is half-written', async () => {
  const p = await product(300);
  const v = p.variants[0].id;
  const before = (await s.sql('SELECT count(*)::int AS n FROM price_schedules'))[0].n;
  const ok = { items: [{ variant_id: v, currency_code: 'eur', amount: 1 }], apply_at: '2099-01-01T00:00:00Z' };
  for (const [body, status, slug, pointer] of [
    [{ ...ok, price: 1 }, 422, 'unknown-field', '/price'],
    [{ ...ok, items: [{ ...ok.items[0], compare_at_amount: 1 }] }, 422, 'unknown-field', '/items/0/compare_at_amount'],
    [{ apply_at: ok.apply_at }, 422, 'validation-failed', '/items'],
    [{ ...ok, items: [] }, 422, 'validation-failed', '/items'],
    [{ items: ok.items }, 422, 'validation-failed', '/apply_at'],
    [{ ...ok, apply_at: 'tomorrow' }, 422, 'validation-failed', '/apply_at'],
    [{ ...ok, revert_at: '2098-01-01T00:00:00Z' }, 422, 'validation-failed', '/revert_at'],
    [{ ...ok, items: [{ ...ok.items[0], amount: -1 }] }, 422, 'validation-failed', '/items/0/amount'],
    [{ ...ok, items: [{ ...ok.items[0], amount: 1.5 }] }, 422, 'validation-failed', '/items/0/amount'],
    [{ ...ok, items: [{ ...ok.items[0], currency_code: 'xyz' }] }, 422, 'validation-failed', '/items/0/currency_code'],
    [{ ...ok, items: [ok.items[0], { ...ok.items[0], variant_id: 'var_01zzzzzzzzzzzzzzzzzzzzzzzz' }] }, 422, 'validation-failed', '/items/1/variant_id'],
    [{ ...ok, items: [ok.items[0], ok.items[0]] }, 422, 'validation-failed', '/items/1'],
    [{ ...ok, price_list_id: 'plist_01zzzzzzzzzzzzzzzzzzzzzzzz' }, 422, 'validation-failed', '/price_list_id'],
  ]) {
    const r = await A('POST', '/v1/admin/price-schedules', body);
    assertProblem(r, status, slug, pointer);
  }
  const raw = await s.client.request('POST', '/v1/admin/price-schedules', { pk: null, token: t, body: '{"items": [', headers: { 'content-type': 'application/json' } });
  assertProblem(raw, 400, 'invalid-json');
  assert.equal((await s.sql('SELECT count(*)::int AS n FROM price_schedules'))[0].n, before, 'nothing written');
  assert.equal((await s.sql(`SELECT count(*)::int AS n FROM jobs WHERE kind = 'price_schedule.run' AND payload->>'schedule_id' NOT IN (SELECT id FROM price_schedules)`))[0].n, 0);

  assertProblem(await A('GET', `/v1/admin/price-schedules/${MISSING.psch}`), 404, 'not-found');
  assertProblem(await A('GET', '/v1/admin/price-schedules/nope'), 404, 'not-found');
  assertProblem(await A('POST', `/v1/admin/price-schedules/${MISSING.psch}/cancel`), 404, 'not-found');
  assertProblem(await A('POST', `/v1/admin/price-schedules/${MISSING.psch}/cancel`, { now: true }), 422, 'unknown-field');
  assertProblem(await A('GET', '/v1/admin/price-schedules?status=done'), 400, 'invalid-parameter', 'status');
  assertProblem(await A('PATCH', `/v1/admin/price-schedules/${MISSING.psch}`, {}), 405, 'method-not-allowed');
  const reader = await A('POST', '/v1/admin/api-keys', { type: 'secret', title: 'Reader', scopes: ['catalog:read'] });
  assertProblem(await A('POST', '/v1/admin/price-schedules', ok, reader.body.token), 403, 'forbidden');
  assert.equal((await A('GET', '/v1/admin/price-schedules', undefined, reader.body.token)).status, 200);
  assertProblem(await A('POST', '/v1/admin/price-schedules', ok, null), 401, 'unauthorized');
});

test('schedule: Idempotency-Key replays the creation instead of scheduling twice', async () => {
  const p = await product(100);
  const body = { items: [{ variant_id: p.variants[0].id, currency_code: 'eur', amount: 90 }], apply_at: '2099-01-01T00:00:00Z' };
  const a = await A('POST', '/v1/admin/price-schedules', body, t, { 'idempotency-key': uniq('k') });
  const key = uniq('k');
  const r1 = await A('POST', '/v1/admin/price-schedules', body, t, { 'idempotency-key': key });
  const r2 = await A('POST', '/v1/admin/price-schedules', body, t, { 'idempotency-key': key });
  assert.equal(r1.status, 201);
  assert.equal(r2.headers.get('idempotent-replayed'), 'true');
  assert.equal(r2.body.id, r1.body.id);
  assert.notEqual(a.body.id, r1.body.id);
});

// ---- pricing rules ------------------------------------------------------------------------------------------------

test('rule arithmetic in SQL (souq_price_adjust) gives what core/dynprice.c gives (the cases of tests/unit/dynprice.c)', async () => {
  const BIG = 1000000000000;
  const cases = [[1000, 'percent', 1000, 0, BIG, 1100], [1010, 'percent', 500, 0, BIG, 1061], [1005, 'percent', -1500, 0, BIG, 854], [999, 'percent', -1500, 0, BIG, 849],
    [1, 'percent', -5000, 0, BIG, 1], [3, 'percent', -5000, 0, BIG, 2], [1000, 'percent', -10000, 0, BIG, 0], [1000, 'percent', 100000, 0, BIG, 11000],
    [500, 'fixed', -50, 0, BIG, 450], [500, 'fixed', -900, 0, BIG, 0], [500, 'fixed', 250, 0, BIG, 750], [1010, 'percent', 1000, 0, 1100, 1100],
    [100, 'percent', -1500, 90, BIG, 90], [80, 'percent', -1500, 90, BIG, 80], [2000, 'percent', 1000, 0, 1500, 2000]];
  for (const [amount, kind, value, floor, ceiling, want] of cases) {
    const [{ x }] = await s.sql('SELECT souq_price_adjust($1, $2, $3, $4, $5)::bigint AS x', [amount, kind, value, floor, ceiling]);
    assert.equal(Number(x), want, `${amount} ${kind} ${value} [${floor}, ${ceiling}]`);
  }
});

test('time windows in SQL (souq_pricing_window_holds) give what core/dynprice.c gives (the cases of tests/unit/dynprice.c)', async () => {
  // 2026-11-30 is a Monday; 1020-1140 is 17:00-19:00, 1320-120 is 22:00-02:00 (Sunday's night)
  const cases = [[127, 1020, 1140, '2026-11-30T17:00:00Z', true], [127, 1020, 1140, '2026-11-30T18:59:00Z', true], [127, 1020, 1140, '2026-11-30T19:00:00Z', false],
    [127, 1020, 1140, '2026-11-30T16:59:00Z', false], [31, 1020, 1140, '2026-12-04T18:00:00Z', true], [31, 1020, 1140, '2026-12-05T18:00:00Z', false],
    [64, 1320, 120, '2026-11-29T23:00:00Z', true], [64, 1320, 120, '2026-11-30T01:00:00Z', true], [64, 1320, 120, '2026-11-30T23:00:00Z', false],
    [64, 1320, 120, '2026-11-30T02:00:00Z', false]];
  for (const [days, start, end, t, want] of cases) {
    const [{ x }] = await s.sql('SELECT souq_pricing_window_holds($1, $2, $3, $4::timestamptz) AS x', [days, start, end, t]);
    assert.equal(x, want, `${days} ${start}-${end} at ${t}`);
  }
});

const rule = (variantIds, extra = {}) => ({ title: uniq('Rule'), currency_code: 'eur', condition: { type: 'stock_below', threshold: 5 },
  adjustment: { type: 'percent', value: 1000 }, floor_amount: 0, ceiling_amount: 100000, variant_ids: variantIds, ...extra });

test('rule (stock): stock falling below the threshold raises the price (+10 %, ceiling), coming back restores it; ledger, events, storefront', async () => {
  const a = await product(1000, 10), b = await product(1010, 10);
  let r = await A('POST', '/v1/admin/pricing-rules', rule([a.variants[0].id, b.variants[0].id], { ceiling_amount: 1100 }));
  assert.equal(r.status, 201, r.text);
  const id = r.body.id;
  assert.deepEqual(r.body.condition, { type: 'stock_below', threshold: 5 });
  assert.equal(r.body.applied_prices, 0);
  assert.equal(await basePrice(a.variants[0].id), 1000, 'stock 10: nothing to do');
  await adjust(a.variants[0].id, -6); // 4 left
  await adjust(b.variants[0].id, -8); // 2 left
  await eventually(async () => (await basePrice(a.variants[0].id)) === 1100 && (await basePrice(b.variants[0].id)) === 1100, 20000, 'the rule applied');
  // 1010 * 1.1 = 1111, above the ceiling of 1100
  await storeShows(a.handle, 1100);
  assert.equal(await indexed(b.id), 1100);
  r = await A('GET', `/v1/admin/pricing-rules/${id}`);
  assert.equal(r.body.applied_prices, 2);
  await adjust(a.variants[0].id, 6);
  await eventually(async () => (await basePrice(a.variants[0].id)) === 1000, 20000, 'the price restored');
  assert.equal(await basePrice(b.variants[0].id), 1100);
  const log = await changes({ source: 'rule', source_id: id });
  assert.deepEqual(log.map((c) => [c.variant_id, c.old_amount, c.new_amount]).sort(),
    [[a.variants[0].id, 1000, 1100], [a.variants[0].id, 1100, 1000], [b.variants[0].id, 1010, 1100]].sort());
  const ev = await s.sql(`SELECT count(*)::int AS n FROM outbox_events WHERE type = 'price.changed' AND payload->>'source_id' = $1`, [id]);
  assert.equal(ev[0].n, 3);
  // deleting the rule gives b its price back
  r = await A('DELETE', `/v1/admin/pricing-rules/${id}`);
  assert.equal(r.status, 204, r.text);
  assert.equal(await basePrice(b.variants[0].id), 1010);
  assertProblem(await A('GET', `/v1/admin/pricing-rules/${id}`), 404, 'not-found');
});

test('rule (time window): applies while now is in the window (-15 %, floor, rounding half away from zero); a price edited meanwhile becomes the new original; disabling restores', async () => {
  const a = await product(1005), b = await product(999), c = await product(100);
  const [{ m }] = await s.sql(`SELECT (extract(hour FROM now() AT TIME ZONE 'UTC') * 60 + extract(minute FROM now() AT TIME ZONE 'UTC'))::int AS m`);
  const hhmm = (x) => `${String(Math.floor(((x + 1440) % 1440) / 60)).padStart(2, '0')}:${String((x + 1440) % 60).padStart(2, '0')}`;
  const body = rule([a.variants[0].id, b.variants[0].id, c.variants[0].id], { condition: { type: 'time_window', start: hhmm(m - 1), end: hhmm(m + 3) },
    adjustment: { type: 'percent', value: -1500 }, floor_amount: 90, ceiling_amount: 5000, status: 'disabled' });
  let r = await A('POST', '/v1/admin/pricing-rules', body);
  assert.equal(r.status, 201, r.text);
  const id = r.body.id;
  assert.deepEqual(r.body.condition.days, ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);
  // the preview of the disabled draft shows what it would do, and changes nothing
  r = await A('POST', `/v1/admin/pricing-rules/${id}/preview`);
  assert.equal(r.status, 200, r.text);
  const want = { [a.variants[0].id]: [1005, 854], [b.variants[0].id]: [999, 849], [c.variants[0].id]: [100, 90] };
  assert.deepEqual(Object.fromEntries(r.body.changes.map((x) => [x.variant_id, [x.old_amount, x.new_amount]])), want);
  assert.ok(r.body.changes.every((x) => x.action === 'apply' && x.rule_id === id));
  assert.equal(await basePrice(a.variants[0].id), 1005);
  assert.equal((await changes({ source_id: id })).length, 0);

  r = await A('PATCH', `/v1/admin/pricing-rules/${id}`, { status: 'active' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.applied_prices, 3);
  for (const [v, [, after]] of Object.entries(want)) assert.equal(await basePrice(v), after);
  assert.equal(await storePrice(a.handle), 854, 'a staff write reaches the storefront cache before the answer leaves');
  assert.deepEqual((await A('POST', `/v1/admin/pricing-rules/${id}/preview`, {})).body.changes, [], 'nothing left to do');
  // the merchant changes a price while the rule holds it: the next evaluation adjusts the new price
  await A('PATCH', `/v1/admin/products/${a.id}/variants/${a.variants[0].id}`, { prices: [{ currency_code: 'eur', amount: 2000 }] });
  r = await A('POST', `/v1/admin/pricing-rules/${id}/preview`);
  assert.deepEqual(r.body.changes.map((x) => [x.old_amount, x.new_amount]), [[2000, 1700]]);
  await s.sql(`INSERT INTO jobs (kind) VALUES ('pricing_rules.evaluate')`);
  await eventually(async () => (await basePrice(a.variants[0].id)) === 1700, 20000, 'evaluated again');
  r = await A('PATCH', `/v1/admin/pricing-rules/${id}`, { status: 'disabled' });
  assert.equal(r.body.applied_prices, 0);
  assert.equal(await basePrice(a.variants[0].id), 2000, 'the merchant price, not the one before it');
  assert.equal(await basePrice(b.variants[0].id), 999);
  assert.equal(await basePrice(c.variants[0].id), 100);
  // a window boundary job is waiting for the window's end
  const jobs = await s.sql(`SELECT run_at FROM jobs WHERE kind = 'pricing_rules.evaluate' AND unique_key LIKE 'pricing_rules:window:%' AND state = 'scheduled'`);
  assert.ok(jobs.length >= 1);
});

test('rule: narrowing the scope gives the dropped variant its price back; fixed adjustments; rules never hold a price twice', async () => {
  const a = await product(500, 1), b = await product(600, 1);
  let r = await A('POST', '/v1/admin/pricing-rules', rule([a.variants[0].id, b.variants[0].id], { adjustment: { type: 'fixed', value: -50 }, floor_amount: 0 }));
  assert.equal(r.status, 201, r.text);
  assert.equal(await basePrice(a.variants[0].id), 450);
  const other = await A('POST', '/v1/admin/pricing-rules', rule([a.variants[0].id], { adjustment: { type: 'fixed', value: 1000 }, priority: -5 }));
  assert.equal(other.status, 201, other.text);
  assert.equal(other.body.applied_prices, 0, 'a is held by the first rule');
  assert.equal(await basePrice(a.variants[0].id), 450);
  r = await A('PATCH', `/v1/admin/pricing-rules/${r.body.id}`, { variant_ids: [b.variants[0].id] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.variant_ids, [b.variants[0].id]);
  assert.equal(await basePrice(a.variants[0].id), 500, 'restored when it left the scope');
  assert.equal(await basePrice(b.variants[0].id), 550);
  assert.equal((await A('DELETE', `/v1/admin/pricing-rules/${other.body.id}`)).status, 204);
  assert.equal((await A('DELETE', `/v1/admin/pricing-rules/${r.body.id}`)).status, 204);
  assert.equal(await basePrice(b.variants[0].id), 600);
});

test('rule: evaluations racing on several connections adjust a price once (one ledger entry, one event)', async () => {
  const p = await product(4000, 1);
  const r = await A('POST', '/v1/admin/pricing-rules', rule([p.variants[0].id], { status: 'disabled' }));
  assert.equal(r.status, 201, r.text);
  await s.sql(`UPDATE pricing_rules SET status = 'active' WHERE id = $1`, [r.body.id]); // active, not yet evaluated
  const conns = await Promise.all(Array.from({ length: 6 }, async () => {
    const c = new pg.Client({ host: SOCK, port: Number(PGPORT), user: 'souq', database: s.dbName });
    await c.connect();
    return c;
  }));
  try {
    await Promise.all(conns.map((c) => c.query('SELECT souq_pricing_rules_evaluate(NULL, false, false)')));
  } finally {
    await Promise.all(conns.map((c) => c.end()));
  }
  assert.equal(await basePrice(p.variants[0].id), 4400);
  assert.deepEqual((await changes({ source_id: r.body.id })).map((c) => [c.old_amount, c.new_amount]), [[4000, 4400]]);
  assert.equal((await A('DELETE', `/v1/admin/pricing-rules/${r.body.id}`)).status, 204);
  assert.equal(await basePrice(p.variants[0].id), 4000);
});

test('rule: invalid bodies are 422 with pointers, unknown ids 404, permissions; nothing is half-written', async () => {
  const p = await product(100);
  const v = p.variants[0].id;
  const before = (await s.sql('SELECT count(*)::int AS n FROM pricing_rules'))[0].n;
  const ok = rule([v]);
  for (const [body, slug, pointer] of [
    [{ ...ok, extra: 1 }, 'unknown-field', '/extra'],
    [{ ...ok, condition: { type: 'stock_below', threshold: 5, foo: 1 } }, 'unknown-field', '/condition/foo'],
    [{ ...ok, title: undefined }, 'validation-failed', '/title'],
    [{ ...ok, condition: { type: 'stock_below' } }, 'validation-failed', '/condition/threshold'],
    [{ ...ok, condition: { type: 'stock_below', threshold: 5, start: '10:00' } }, 'validation-failed', '/condition/start'],
    [{ ...ok, condition: { type: 'time_window', start: '10:00' } }, 'validation-failed', '/condition/end'],
    [{ ...ok, condition: { type: 'time_window', start: '10:00', end: '10:00' } }, 'validation-failed', '/condition/end'],
    [{ ...ok, condition: { type: 'time_window', start: '24:00', end: '10:00' } }, 'validation-failed', '/condition/start'],
    [{ ...ok, condition: { type: 'time_window', start: '09:00', end: '10:00', days: ['monday'] } }, 'validation-failed', '/condition/days/0'],
    [{ ...ok, condition: { type: 'time_window', start: '09:00', end: '10:00', threshold: 3 } }, 'validation-failed', '/condition/threshold'],
    [{ ...ok, condition: { type: 'weather' } }, 'validation-failed', '/condition/type'],
    [{ ...ok, adjustment: { type: 'percent', value: -10001 } }, 'validation-failed', '/adjustment/value'],
    [{ ...ok, adjustment: { type: 'percent', value: 0 } }, 'validation-failed', '/adjustment/value'],
    [{ ...ok, adjustment: { type: 'percent', value: 2.5 } }, 'validation-failed', '/adjustment/value'],
    [{ ...ok, adjustment: { type: 'fixed' } }, 'validation-failed', '/adjustment/value'],
    [{ ...ok, floor_amount: -1 }, 'validation-failed', '/floor_amount'],
    [{ ...ok, floor_amount: 10, ceiling_amount: 5 }, 'validation-failed', '/ceiling_amount'],
    [{ ...ok, currency_code: 'xyz' }, 'validation-failed', '/currency_code'],
    [{ ...ok, variant_ids: [] }, 'validation-failed', '/variant_ids'],
    [{ ...ok, variant_ids: [v, 'var_01zzzzzzzzzzzzzzzzzzzzzzzz'] }, 'validation-failed', '/variant_ids/1'],
    [{ ...ok, status: 'draft' }, 'validation-failed', '/status'],
  ]) {
    const r = await A('POST', '/v1/admin/pricing-rules', body);
    assertProblem(r, 422, slug, pointer);
  }
  assert.equal((await s.sql('SELECT count(*)::int AS n FROM pricing_rules'))[0].n, before, 'nothing written');
  const made = await A('POST', '/v1/admin/pricing-rules', ok);
  assert.equal(made.status, 201, made.text);
  assertProblem(await A('PATCH', `/v1/admin/pricing-rules/${made.body.id}`, { floor_amount: 200000 }), 422, 'validation-failed', '/ceiling_amount');
  assertProblem(await A('PATCH', `/v1/admin/pricing-rules/${made.body.id}`, { variant_ids: ['var_01zzzzzzzzzzzzzzzzzzzzzzzz'] }), 422, 'validation-failed', '/variant_ids/0');
  assert.deepEqual((await A('GET', `/v1/admin/pricing-rules/${made.body.id}`)).body.variant_ids, [v], 'the failed PATCH changed nothing');
  assertProblem(await A('PATCH', `/v1/admin/pricing-rules/${MISSING.prule}`, { title: 'x' }), 404, 'not-found');
  assertProblem(await A('DELETE', `/v1/admin/pricing-rules/${MISSING.prule}`), 404, 'not-found');
  assertProblem(await A('GET', `/v1/admin/pricing-rules/${MISSING.prule}`), 404, 'not-found');
  assertProblem(await A('POST', `/v1/admin/pricing-rules/${MISSING.prule}/preview`), 404, 'not-found');
  assertProblem(await A('POST', `/v1/admin/pricing-rules/plist_01zzzzzzzzzzzzzzzzzzzzzzzz/preview`), 404, 'not-found');
  const raw = await s.client.request('POST', `/v1/admin/pricing-rules/${made.body.id}/preview`, { pk: null, token: t, body: '[', headers: { 'content-type': 'application/json' } });
  assertProblem(raw, 400, 'invalid-json');
  assertProblem(await A('GET', '/v1/admin/pricing-rules?status=on'), 400, 'invalid-parameter', 'status');
  const reader = await A('POST', '/v1/admin/api-keys', { type: 'secret', title: 'Reader', scopes: ['catalog:read'] });
  assertProblem(await A('POST', '/v1/admin/pricing-rules', ok, reader.body.token), 403, 'forbidden');
  assertProblem(await A('DELETE', `/v1/admin/pricing-rules/${made.body.id}`, undefined, reader.body.token), 403, 'forbidden');
  assert.equal((await A('POST', `/v1/admin/pricing-rules/${made.body.id}/preview`, undefined, reader.body.token)).status, 200, 'a preview only reads');
  assertProblem(await A('GET', '/v1/admin/pricing-rules', undefined, null), 401, 'unauthorized');
  assert.equal((await A('GET', '/v1/admin/pricing-rules?status=active')).body.data.some((x) => x.id === made.body.id), true);
  assert.equal((await A('DELETE', `/v1/admin/pricing-rules/${made.body.id}`)).status, 204);
});

// ---- two nodes, kill -9 -----------------------------------------------------------------------------------------

test('two nodes, kill -9 of the node running a schedule: the change happens exactly once (one ledger entry, one event per price)', async () => {
  const dbName = await createDatabase();
  seed(dbName);
  const q = (text, params) => sql(text, params, dbName);
  const nodes = [await startServer({ dbName, env: ENV }), await startServer({ dbName, env: ENV })];
  const holder = new pg.Client({ host: SOCK, port: Number(PGPORT), user: 'souq', database: dbName });
  try {
    const c = new Client(nodes[0].url, null);
    const tok = (await staffLogin(c)).access_token;
    const AA = (m, p, j) => c.request(m, p, { token: tok, json: j });
    const l = (await AA('POST', '/v1/admin/stock-locations', { name: 'X' })).body.id;
    const prods = [];
    for (let i = 0; i < 3; i++) {
      const r = await AA('POST', '/v1/admin/products', { title: `P${i}`, status: 'active', variants: [{ sku: `KILL-${i}`, prices: [{ currency_code: 'eur', amount: 1000 + i }], inventory: [{ location_id: l, quantity: 5 }] }] });
      assert.equal(r.status, 201, r.text);
      prods.push(r.body.variants[0].id);
    }
    // hold the schedule's row so the run that claims it waits inside its transaction
    const r = await AA('POST', '/v1/admin/price-schedules', { items: prods.map((v) => ({ variant_id: v, currency_code: 'eur', amount: 77 })), apply_at: '2099-01-01T00:00:00Z' });
    assert.equal(r.status, 201, r.text);
    const id = r.body.id;
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM price_schedules WHERE id = $1 FOR UPDATE', [id]);
    await q(`UPDATE jobs SET run_at = now() WHERE unique_key = $1`, [`price_schedule:${id}:apply`]);
    const running = await eventually(async () => {
      const j = (await q(`SELECT * FROM jobs WHERE unique_key = $1`, [`price_schedule:${id}:apply`]))[0];
      return j.state === 'running' ? j : null;
    }, 10000, 'the job running');
    const victim = nodes.find((n) => running.locked_by.includes(`:${n.proc.pid}:`));
    assert.ok(victim, running.locked_by);
    victim.proc.kill('SIGKILL');
    await victim.exitPromise;
    // past the lease, the survivor claims the job again; then the row is released and both runs may proceed
    await eventually(async () => (await q(`SELECT attempts FROM jobs WHERE unique_key = $1`, [`price_schedule:${id}:apply`]))[0].attempts >= 2, 20000, 'a second attempt');
    await holder.query('COMMIT');
    const job = await eventually(async () => {
      const j = (await q(`SELECT * FROM jobs WHERE unique_key = $1`, [`price_schedule:${id}:apply`]))[0];
      return j.state === 'completed' ? j : null;
    }, 20000, 'the job completed');
    assert.ok(job.attempts >= 2);
    const sched = (await q(`SELECT status FROM price_schedules WHERE id = $1`, [id]))[0];
    assert.equal(sched.status, 'applied');
    const led = await q(`SELECT variant_id, old_amount::int, new_amount::int FROM price_changes WHERE source = 'schedule' AND source_id = $1 ORDER BY variant_id`, [id]);
    assert.deepEqual(led, prods.map((v, i) => ({ variant_id: v, old_amount: 1000 + i, new_amount: 77 })).sort((x, y) => (x.variant_id < y.variant_id ? -1 : 1)));
    const ev = await q(`SELECT count(*)::int AS n FROM outbox_events WHERE type = 'price.changed' AND payload->>'source_id' = $1`, [id]);
    assert.equal(ev[0].n, 3);
    const survivor = nodes.find((n) => n !== victim);
    await survivor.stop();
    assert.equal(survivor.exited.code, 0, survivor.log);
  } finally {
    await holder.end().catch(() => {});
    for (const n of nodes) if (!n.exited) await n.stop('SIGKILL');
  }
});
