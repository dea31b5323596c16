// purchasing.test.mjs: suppliers, reorder rules, the reorder automation (a level crossing its reorder point puts the
// item on the open draft purchase order of its supplier and location, once, also under concurrent orders), purchase
// orders through their state machine, receipts through the ledger exactly once per Idempotency-Key, and the CSV.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startStack, staffLogin, newStaff } from './lib/harness.mjs';

let s, t, loc, loc2, eu, shipping;
const sql = async (text, params) => s.sql(text, params);
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json, o = {}) => s.client.request(method, path, { pk: null, token: t, json, ...o });
let seq = 0;
const uniq = (p) => `${p}-${process.pid}-${++seq}`;
const address = { first_name: 'Ada', last_name: 'L', address_1: 'Unter den Linden 1', city: 'Berlin', postal_code: '10117', country_code: 'de' };
const visa = { payment: { provider: 'test', data: { token: 'tok_visa' } } };
const key = () => ({ 'idempotency-key': crypto.randomUUID() });

async function variant(stock) {
  const r = await A('POST', '/v1/admin/products', { title: uniq('Thing'), status: 'active',
    variants: [{ sku: uniq('SKU'), prices: [{ currency_code: 'eur', amount: 1000 }], inventory: [{ location_id: loc, quantity: stock }] }] });
  assert.equal(r.status, 201, r.text);
  const v = r.body.variants[0];
  return { id: v.id, sku: v.sku, item: v.inventory_items[0].inventory_item_id };
}
async function supplier(extra = {}) {
  const r = await A('POST', '/v1/admin/suppliers', { name: uniq('Supplier'), email: 'Orders@Supplier.example', currency_code: 'EUR', lead_time_days: 5, ...extra });
  assert.equal(r.status, 201, r.text);
  return r.body;
}
async function rule(v, sup, extra = {}) {
  const r = await A('POST', '/v1/admin/reorder-rules', { inventory_item_id: v.item, location_id: loc, supplier_id: sup.id, reorder_point: 5, reorder_quantity: 20, unit_cost: 350, ...extra });
  assert.equal(r.status, 201, r.text);
  return r.body;
}
async function order(lines) {
  const c = await s.client.request('POST', '/v1/store/carts', { json: { email: 'buyer@example.com', shipping_address: address,
    items: lines.map(([v, quantity]) => ({ variant_id: v.id, quantity })) } });
  assert.equal(c.status, 201, c.text);
  const m = await s.client.request('POST', `/v1/store/carts/${c.body.id}/shipping-methods`, { json: { option_id: shipping } });
  assert.equal(m.status, 200, m.text);
  return s.client.request('POST', `/v1/store/carts/${c.body.id}/complete`, { json: visa, headers: key() });
}
const adjust = (v, delta, location = loc) => A('POST', `/v1/admin/inventory-items/${v.item}/adjustments`, { location_id: location, delta });
const level = async (v, location = loc) => (await sql('SELECT on_hand, reserved, incoming FROM inventory_levels WHERE inventory_item_id = $1 AND location_id = $2', [v.item, location]))[0];
const drafts = (sup, location = loc) => sql("SELECT id FROM purchase_orders WHERE supplier_id = $1 AND location_id = $2 AND status = 'draft'", [sup.id, location]);
const reorderEvents = async (v) => (await sql("SELECT payload FROM outbox_events WHERE type = 'inventory.reorder_needed' AND payload->>'inventory_item_id' = $1 ORDER BY occurred_at", [v.item])).map((r) => r.payload);

before(async () => {
  s = await startStack();
  t = (await staffLogin(s.client)).access_token;
  eu = (await A('POST', '/v1/admin/regions', { name: 'EU', currency_code: 'eur', countries: ['de'] })).body;
  const so = await A('POST', '/v1/admin/shipping-options', { name: 'Standard', region_id: eu.id, provider: 'flat_rate', amount: 0 });
  assert.equal(so.status, 201, so.text);
  shipping = so.body.id;
  loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Berlin' })).body.id;
  loc2 = (await A('POST', '/v1/admin/stock-locations', { name: 'Hamburg' })).body.id;
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
});
after(async () => s && (await s.stop()));

test('suppliers: create, read, list, update, delete; bad input is refused with pointers', async () => {
  const sup = await supplier({ phone: '+49 30 123456', metadata: { erp: 'S-1' } });
  assert.match(sup.id, /^sup_/);
  assert.deepEqual([sup.email, sup.currency_code, sup.lead_time_days, sup.metadata], ['orders@supplier.example', 'eur', 5, { erp: 'S-1' }]);
  const g = await A('GET', `/v1/admin/suppliers/${sup.id}`);
  assert.equal(g.status, 200);
  assert.equal((await A('GET', `/v1/admin/suppliers/${sup.id}`, undefined, { headers: { 'if-none-match': g.headers.get('etag') } })).status, 304);
  const u = await A('PATCH', `/v1/admin/suppliers/${sup.id}`, { lead_time_days: 9, metadata: { erp: null } }, { headers: { 'if-match': g.headers.get('etag') } });
  assert.equal(u.status, 200, u.text);
  assert.deepEqual([u.body.lead_time_days, u.body.metadata], [9, {}]);
  const stale = await A('PATCH', `/v1/admin/suppliers/${sup.id}`, { lead_time_days: 1 }, { headers: { 'if-match': g.headers.get('etag') } });
  assert.equal(stale.status, 412);
  const byName = await A('GET', `/v1/admin/suppliers?q=${encodeURIComponent(sup.name.slice(0, 12).toLowerCase())}&currency_code=eur`);
  assert.ok(byName.body.data.some((x) => x.id === sup.id));
  assert.deepEqual((await A('GET', '/v1/admin/suppliers?currency_code=usd')).body.data.filter((x) => x.id === sup.id), []);

  let r = await A('POST', '/v1/admin/suppliers', { email: 'not-an-email', currency_code: 'zzz', lead_time_days: 400 });
  assert.equal(r.status, 422);
  assert.equal(r.body.type, type('validation-failed'));
  assert.deepEqual(r.body.errors.map((e) => e.pointer).sort(), ['/currency_code', '/email', '/lead_time_days', '/name']);
  r = await A('POST', '/v1/admin/suppliers', { name: 'X', currency_code: 'eur', iban: 'DE00' });
  assert.equal(r.status, 422);
  assert.equal(r.body.type, type('unknown-field'));
  assert.equal(r.body.errors[0].pointer, '/iban');
  assert.equal((await A('GET', '/v1/admin/suppliers/sup_01zzzzzzzzzzzzzzzzzzzzzzzz')).status, 404);
  assert.equal((await A('GET', '/v1/admin/suppliers?currency_code=euro')).status, 400);
  assert.equal((await A('PATCH', '/v1/admin/suppliers/sup_01zzzzzzzzzzzzzzzzzzzzzzzz', { name: 'Y' })).status, 404);
  assert.equal((await A('GET', '/v1/admin/suppliers')).body.data.filter((x) => x.name === 'X').length, 0, 'nothing half-written');

  // a supplier that reorder rules name cannot be deleted; once they are gone it can
  const v = await variant(50);
  const rr = await rule(v, sup);
  r = await A('PATCH', `/v1/admin/suppliers/${sup.id}`, { currency_code: 'usd' });
  assert.equal(r.status, 409, 'the rule\'s cost is in euros');
  assert.equal((await A('GET', `/v1/admin/suppliers/${sup.id}`)).body.currency_code, 'eur');
  r = await A('DELETE', `/v1/admin/suppliers/${sup.id}`);
  assert.equal(r.status, 409, r.text);
  assert.equal(r.body.type, type('conflict'));
  assert.equal((await A('DELETE', `/v1/admin/reorder-rules/${rr.id}`)).status, 204);
  assert.equal((await A('DELETE', `/v1/admin/suppliers/${sup.id}`)).status, 204);
  assert.equal((await A('GET', `/v1/admin/suppliers/${sup.id}`)).status, 404);
  assert.equal((await A('DELETE', `/v1/admin/suppliers/${sup.id}`)).status, 404);
});

test('reorder rules: one per item and location, references checked, identity fixed', async () => {
  const sup = await supplier();
  const v = await variant(50);
  const rr = await rule(v, sup, { supplier_sku: 'ACME-7' });
  assert.deepEqual([rr.sku, rr.reorder_point, rr.reorder_quantity, rr.unit_cost, rr.currency_code, rr.available, rr.enabled], [v.sku, 5, 20, 350, 'eur', 50, true]);
  let r = await A('POST', '/v1/admin/reorder-rules', { inventory_item_id: v.item, location_id: loc, supplier_id: sup.id, reorder_point: 1, reorder_quantity: 2 });
  assert.equal(r.status, 409);
  assert.equal(r.body.type, type('already-exists'));
  assert.equal(r.body.errors[0].pointer, '/location_id');
  for (const [field, value] of [['inventory_item_id', 'iitem_01zzzzzzzzzzzzzzzzzzzzzzzz'], ['location_id', 'sloc_01zzzzzzzzzzzzzzzzzzzzzzzz'], ['supplier_id', 'sup_01zzzzzzzzzzzzzzzzzzzzzzzz']]) {
    r = await A('POST', '/v1/admin/reorder-rules', { inventory_item_id: v.item, location_id: loc2, supplier_id: sup.id, reorder_point: 1, reorder_quantity: 2, [field]: value });
    assert.equal(r.status, 422, `${field}: ${r.text}`);
    assert.equal(r.body.errors[0].pointer, `/${field}`);
  }
  r = await A('POST', '/v1/admin/reorder-rules', { inventory_item_id: v.item, location_id: loc2, supplier_id: sup.id, reorder_point: -1, reorder_quantity: 0, unit_cost: -5 });
  assert.equal(r.status, 422);
  assert.deepEqual(r.body.errors.map((e) => e.pointer).sort(), ['/reorder_point', '/reorder_quantity', '/unit_cost']);
  r = await A('PATCH', `/v1/admin/reorder-rules/${rr.id}`, { location_id: loc2 });
  assert.equal(r.status, 422);
  assert.equal(r.body.type, type('unknown-field'));
  r = await A('PATCH', `/v1/admin/reorder-rules/${rr.id}`, { reorder_point: 8, enabled: false });
  assert.deepEqual([r.status, r.body.reorder_point, r.body.enabled], [200, 8, false]);
  const list = await A('GET', `/v1/admin/reorder-rules?inventory_item_id=${v.item}&supplier_id=${sup.id}`);
  assert.deepEqual(list.body.data.map((x) => x.id), [rr.id]);
  assert.deepEqual((await A('GET', `/v1/admin/reorder-rules?location_id=${loc2}&inventory_item_id=${v.item}`)).body.data, []);
  assert.equal((await A('GET', '/v1/admin/reorder-rules?supplier_id=' + 'x'.repeat(41))).status, 400);
  assert.equal((await A('DELETE', `/v1/admin/reorder-rules/${rr.id}`)).status, 204);
  assert.equal((await A('DELETE', `/v1/admin/reorder-rules/${rr.id}`)).status, 404);
  assert.equal((await A('GET', `/v1/admin/reorder-rules/${rr.id}`)).status, 404);
  assert.equal((await A('PATCH', `/v1/admin/reorder-rules/${rr.id}`, { reorder_point: 1 })).status, 404);
});

test('an order crossing the reorder point creates the draft, a second item extends it, nothing is added twice', async () => {
  const sup = await supplier();
  const a = await variant(10), b = await variant(30);
  await rule(a, sup);
  await rule(b, sup, { reorder_point: 25, reorder_quantity: 40, unit_cost: 99 });
  // 10 -> 7: above the point, nothing happens
  assert.equal((await order([[a, 3]])).status, 201);
  assert.deepEqual(await drafts(sup), []);
  // 7 -> 4: the order crosses the point of a (reserved stock counts: available falls)
  assert.equal((await order([[a, 3]])).status, 201);
  const [d] = await drafts(sup);
  assert.ok(d, 'a draft for the supplier and the location');
  let po = (await A('GET', `/v1/admin/purchase-orders/${d.id}`)).body;
  assert.deepEqual([po.status, po.source, po.currency_code, po.location_id, po.supplier.email, po.created_by], ['draft', 'reorder', 'eur', loc, 'orders@supplier.example', 'reorder']);
  assert.deepEqual(po.lines.map((l) => [l.inventory_item_id, l.quantity, l.unit_cost, l.subtotal]), [[a.item, 20, 350, 7000]]);
  assert.equal(po.total, 7000);
  let ev = await reorderEvents(a);
  assert.equal(ev.length, 1);
  assert.deepEqual([ev[0].available, ev[0].reorder_point, ev[0].reorder_quantity, ev[0].purchase_order_id, ev[0].supplier_id, ev[0].location_id], [4, 5, 20, d.id, sup.id, loc]);

  // back above the point and down again: the item is on the draft already, so no second line and no second alert
  assert.equal((await adjust(a, 10)).status, 200);
  assert.equal((await adjust(a, -10)).status, 200);
  assert.equal((await reorderEvents(a)).length, 1);
  // an adjustment crossing b's point extends the same draft
  assert.equal((await adjust(b, -6)).status, 200);
  po = (await A('GET', `/v1/admin/purchase-orders/${d.id}`)).body;
  assert.deepEqual(po.lines.map((l) => [l.inventory_item_id, l.quantity, l.unit_cost]), [[a.item, 20, 350], [b.item, 40, 99]]);
  assert.equal(po.total, 20 * 350 + 40 * 99);
  assert.equal((await drafts(sup)).length, 1);
  // another location has its own draft; a disabled rule reorders nothing
  const c = await variant(10);
  await A('POST', `/v1/admin/inventory-items/${c.item}/adjustments`, { location_id: loc2, delta: 10 });
  await rule(c, sup, { location_id: loc2 });
  await rule(c, sup, { enabled: false });
  assert.equal((await adjust(c, -8, loc2)).status, 200);
  assert.equal((await adjust(c, -8)).status, 200);
  assert.equal((await drafts(sup, loc2)).length, 1);
  const ce = await reorderEvents(c);
  assert.deepEqual(ce.map((e) => e.location_id), [loc2], 'only the enabled rule reordered');
  // a transfer out of the location and a stock count cross the point too
  const x = await variant(10), y = await variant(10);
  await rule(x, sup);
  await rule(y, sup);
  assert.equal((await A('POST', `/v1/admin/inventory-items/${x.item}/transfers`, { from_location_id: loc, to_location_id: loc2, quantity: 6 })).status, 200);
  assert.equal((await A('POST', `/v1/admin/inventory-items/${y.item}/counts`, { location_id: loc, quantity: 2 })).status, 200);
  assert.deepEqual([(await reorderEvents(x)).map((ev) => ev.available), (await reorderEvents(y)).map((ev) => ev.available)], [[4], [2]]);
  po = (await A('GET', `/v1/admin/purchase-orders/${(await drafts(sup))[0].id}`)).body;
  assert.deepEqual(po.lines.map((l) => l.inventory_item_id), [a.item, b.item, x.item, y.item]);
});

test('concurrent orders crossing the points of two items of one supplier: one draft, each item once', async () => {
  const sup = await supplier();
  const a = await variant(40), b = await variant(40);
  await rule(a, sup, { reorder_point: 30 });
  await rule(b, sup, { reorder_point: 30 });
  // twelve orders of 2 of each at once: every one takes stock, several cross the points "at the same moment"
  const results = await Promise.all(Array.from({ length: 12 }, () => order([[a, 2], [b, 2]])));
  assert.deepEqual(results.map((r) => r.status), Array(12).fill(201), results.map((r) => r.text).join('\n'));
  const ds = await drafts(sup);
  assert.equal(ds.length, 1, 'one open draft for the supplier and location');
  const lines = await sql('SELECT inventory_item_id, quantity FROM purchase_order_lines WHERE purchase_order_id = $1 ORDER BY inventory_item_id', [ds[0].id]);
  assert.deepEqual(lines.map((l) => [l.inventory_item_id, l.quantity]), [[a.item, 20], [b.item, 20]].sort());
  assert.equal((await reorderEvents(a)).length, 1);
  assert.equal((await reorderEvents(b)).length, 1);
  assert.deepEqual([(await level(a)).reserved, (await level(b)).reserved], [24, 24]);
});

test('purchase orders: draft edits, one draft per supplier and location, send, receive exactly once, state machine', async () => {
  const sup = await supplier({ email: 'po@acme.example' });
  const a = await variant(0), b = await variant(0);
  await rule(a, sup, { location_id: loc2, unit_cost: 500, supplier_sku: 'AC-A' });
  let r = await A('POST', '/v1/admin/purchase-orders', { supplier_id: sup.id, location_id: loc2, note: 'Q4', lines: [{ inventory_item_id: a.item, quantity: 10 }] }, { headers: key() });
  assert.equal(r.status, 201, r.text);
  const po = r.body;
  assert.deepEqual([po.status, po.source, po.display_number, po.lines[0].unit_cost, po.lines[0].supplier_sku], ['draft', 'manual', `PO-${po.number}`, 500, 'AC-A']);
  r = await A('POST', '/v1/admin/purchase-orders', { supplier_id: sup.id, location_id: loc2 });
  assert.equal(r.status, 409, r.text);
  assert.equal(r.body.type, type('already-exists'));
  assert.equal(r.body.errors[0].pointer, '/supplier_id');
  r = await A('POST', '/v1/admin/purchase-orders', { supplier_id: 'sup_01zzzzzzzzzzzzzzzzzzzzzzzz', location_id: loc2 });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/supplier_id');
  r = await A('POST', '/v1/admin/purchase-orders', { supplier_id: sup.id, location_id: loc, lines: [{ inventory_item_id: a.item, quantity: 1 }, { inventory_item_id: a.item, quantity: 2 }] });
  assert.equal(r.status, 422);
  assert.deepEqual(r.body.errors.map((e) => [e.pointer, e.code]), [['/lines/1/inventory_item_id', 'repeated']]);
  r = await A('POST', '/v1/admin/purchase-orders', { supplier_id: sup.id, location_id: loc, lines: [{ inventory_item_id: 'iitem_01zzzzzzzzzzzzzzzzzzzzzzzz', quantity: 1 }] });
  assert.equal(r.status, 422);
  assert.deepEqual(r.body.errors.map((e) => [e.pointer, e.code]), [['/lines/0/inventory_item_id', 'not_found']]);
  r = await A('POST', '/v1/admin/purchase-orders', { supplier_id: sup.id, location_id: loc, lines: [{ inventory_item_id: a.item, quantity: 0, unit_cost: 1.5 }] });
  assert.equal(r.status, 422);
  assert.deepEqual(r.body.errors.map((e) => e.pointer).sort(), ['/lines/0/quantity', '/lines/0/unit_cost']);
  assert.equal((await drafts(sup, loc)).length, 0, 'refused creates wrote nothing');

  // sending an empty draft is refused; editing the lines of a draft replaces them
  r = await A('PATCH', `/v1/admin/purchase-orders/${po.id}`, { lines: [] });
  assert.deepEqual([r.status, r.body.lines], [200, []]);
  r = await A('POST', `/v1/admin/purchase-orders/${po.id}/send`);
  assert.equal(r.status, 422, r.text);
  assert.equal(r.body.errors[0].pointer, '/lines');
  r = await A('PATCH', `/v1/admin/purchase-orders/${po.id}`, { lines: [{ inventory_item_id: a.item, quantity: 10 }, { inventory_item_id: b.item, quantity: 4, unit_cost: 250 }], expected_at: '2030-01-02T03:04:05Z' });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.lines.map((l) => [l.inventory_item_id, l.quantity, l.unit_cost]), [[a.item, 10, 500], [b.item, 4, 250]]);
  assert.equal(r.body.total, 6000);
  const lineA = r.body.lines[0].id, lineB = r.body.lines[1].id;

  // receiving a draft is an illegal move
  r = await A('POST', `/v1/admin/purchase-orders/${po.id}/receipts`, { lines: [{ line_id: lineA, quantity: 1 }] }, { headers: key() });
  assert.equal(r.status, 409);
  assert.equal(r.body.type, type('invalid-state'));

  r = await A('POST', `/v1/admin/purchase-orders/${po.id}/send`, {});
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'sent');
  assert.ok(r.body.sent_at);
  assert.deepEqual([(await level(a, loc2)).incoming, (await level(b, loc2)).incoming], [10, 4]);
  const [sent] = await sql("SELECT payload FROM outbox_events WHERE type = 'purchase_order.sent' AND payload->'purchase_order'->>'id' = $1", [po.id]);
  assert.deepEqual([sent.payload.purchase_order.supplier.email, sent.payload.purchase_order.total, sent.payload.purchase_order.lines.length], ['po@acme.example', 6000, 2]);
  for (const [method, path, body] of [['POST', 'send', undefined], ['PATCH', '', { note: 'late' }]]) {
    r = await A(method, `/v1/admin/purchase-orders/${po.id}${path ? '/' + path : ''}`, body);
    assert.equal(r.status, 409, `${method} ${path}`);
    assert.equal(r.body.type, type('invalid-state'));
  }

  // receipts: the key is required; bad lines and over-receipts write nothing
  r = await A('POST', `/v1/admin/purchase-orders/${po.id}/receipts`, { lines: [{ line_id: lineA, quantity: 4 }] });
  assert.equal(r.status, 400);
  assert.equal(r.body.errors[0].parameter, 'Idempotency-Key');
  r = await A('POST', `/v1/admin/purchase-orders/${po.id}/receipts`, { lines: [{ line_id: lineA, quantity: 4 }, { line_id: lineA, quantity: 1 }] }, { headers: key() });
  assert.deepEqual([r.status, r.body.errors[0].pointer, r.body.errors[0].code], [422, '/lines/1/line_id', 'repeated']);
  r = await A('POST', `/v1/admin/purchase-orders/${po.id}/receipts`, { lines: [{ line_id: lineA, quantity: 4 }, { line_id: 'poli_01zzzzzzzzzzzzzzzzzzzzzzzz', quantity: 1 }] }, { headers: key() });
  assert.deepEqual([r.status, r.body.errors[0].pointer, r.body.errors[0].code], [422, '/lines/1/line_id', 'not_found']);
  r = await A('POST', `/v1/admin/purchase-orders/${po.id}/receipts`, { lines: [{ line_id: lineB, quantity: 5 }] }, { headers: key() });
  assert.deepEqual([r.status, r.body.errors[0].pointer, r.body.errors[0].code], [422, '/lines/0/quantity', 'exceeds_outstanding']);
  r = await A('POST', `/v1/admin/purchase-orders/${po.id}/receipts`, { lines: [] }, { headers: key() });
  assert.equal(r.status, 422);
  r = await A('POST', `/v1/admin/purchase-orders/${po.id}/receipts`, { location_id: 'sloc_01zzzzzzzzzzzzzzzzzzzzzzzz', lines: [{ line_id: lineA, quantity: 1 }] }, { headers: key() });
  assert.deepEqual([r.status, r.body.errors[0].pointer], [422, '/location_id']);
  assert.deepEqual([(await level(a, loc2)).on_hand, (await level(b, loc2)).on_hand], [0, 0], 'refused receipts wrote nothing');

  const k1 = key();
  r = await A('POST', `/v1/admin/purchase-orders/${po.id}/receipts`, { lines: [{ line_id: lineA, quantity: 4 }], note: 'pallet 1' }, { headers: k1 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'partially_received');
  assert.deepEqual(r.body.lines.map((l) => l.received_quantity), [4, 0]);
  assert.deepEqual([(await level(a, loc2)).on_hand, (await level(a, loc2)).incoming], [4, 6]);
  // the same key again: the stored answer, nothing applied twice
  const again = await A('POST', `/v1/admin/purchase-orders/${po.id}/receipts`, { lines: [{ line_id: lineA, quantity: 4 }], note: 'pallet 1' }, { headers: k1 });
  assert.equal(again.status, 200);
  assert.equal(again.headers.get('idempotent-replayed'), 'true');
  // even when the stored answer is gone (expired, or lost in a crash), the receipt's own key applies it once
  await sql('DELETE FROM idempotency_keys');
  const late = await A('POST', `/v1/admin/purchase-orders/${po.id}/receipts`, { lines: [{ line_id: lineA, quantity: 4 }], note: 'pallet 1' }, { headers: k1 });
  assert.equal(late.status, 200, late.text);
  assert.equal(late.body.receipts.length, 1);
  assert.equal((await level(a, loc2)).on_hand, 4, 'received exactly once');
  const ledger = await A('GET', `/v1/admin/inventory-ledger?reference=${po.id}`);
  assert.deepEqual(ledger.body.data.map((e) => [e.inventory_item_id, e.location_id, e.reason, e.delta_on_hand, e.note]), [[a.item, loc2, 'receive', 4, 'pallet 1']]);

  // more than ordered only when allowed; the rest arrives, the order is received
  r = await A('POST', `/v1/admin/purchase-orders/${po.id}/receipts`, { lines: [{ line_id: lineA, quantity: 7 }, { line_id: lineB, quantity: 4 }], allow_over_receipt: true }, { headers: key() });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'received');
  assert.ok(r.body.received_at);
  assert.deepEqual(r.body.lines.map((l) => l.received_quantity), [11, 4]);
  assert.deepEqual([(await level(a, loc2)).on_hand, (await level(a, loc2)).incoming, (await level(b, loc2)).on_hand, (await level(b, loc2)).incoming], [11, 0, 4, 0]);
  assert.equal((await sql("SELECT count(*)::int AS n FROM outbox_events WHERE type = 'purchase_order.received' AND payload->>'purchase_order_id' = $1", [po.id]))[0].n, 1);
  for (const path of ['cancel', 'send']) {
    r = await A('POST', `/v1/admin/purchase-orders/${po.id}/${path}`);
    assert.equal(r.status, 409, path);
    assert.equal(r.body.type, type('invalid-state'));
  }
  r = await A('POST', `/v1/admin/purchase-orders/${po.id}/receipts`, { lines: [{ line_id: lineA, quantity: 1 }] }, { headers: key() });
  assert.equal(r.status, 409);
  const none = '/v1/admin/purchase-orders/po_01zzzzzzzzzzzzzzzzzzzzzzzz';
  for (const [method, path, body, headers] of [['GET', '', undefined], ['PATCH', '', { note: 'x' }], ['POST', '/send'], ['POST', '/cancel'],
                                              ['POST', '/receipts', { lines: [{ line_id: lineA, quantity: 1 }] }, key()]]) {
    r = await A(method, none + path, body, { headers });
    assert.equal(r.status, 404, `${method} ${path}: ${r.text}`);
    assert.equal(r.body.type, type('not-found'));
  }
  assert.equal((await A('POST', `/v1/admin/purchase-orders/${po.id}/send`, { now: true })).status, 422);
});

test('canceling: a draft goes, a sent order gives back what was still incoming', async () => {
  const sup = await supplier();
  const a = await variant(0);
  let r = await A('POST', '/v1/admin/purchase-orders', { supplier_id: sup.id, location_id: loc, lines: [{ inventory_item_id: a.item, quantity: 8, unit_cost: 100 }] });
  const po = r.body;
  assert.equal((await A('POST', `/v1/admin/purchase-orders/${po.id}/send`)).status, 200);
  assert.equal((await level(a)).incoming, 8);
  r = await A('POST', `/v1/admin/purchase-orders/${po.id}/receipts`, { lines: [{ line_id: po.lines[0].id, quantity: 3 }] }, { headers: key() });
  assert.equal(r.status, 200, r.text);
  r = await A('POST', `/v1/admin/purchase-orders/${po.id}/cancel`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.status, !!r.body.canceled_at], ['canceled', true]);
  assert.deepEqual([(await level(a)).on_hand, (await level(a)).incoming], [3, 0], 'received units stay, the outstanding 5 are no longer incoming');
  r = await A('POST', `/v1/admin/purchase-orders/${po.id}/cancel`);
  assert.equal(r.status, 409);
  // a canceled draft frees the supplier and location for a new draft
  const d = await A('POST', '/v1/admin/purchase-orders', { supplier_id: sup.id, location_id: loc });
  assert.equal((await A('POST', `/v1/admin/purchase-orders/${d.body.id}/cancel`)).status, 200);
  assert.equal((await A('POST', '/v1/admin/purchase-orders', { supplier_id: sup.id, location_id: loc })).status, 201);
});

test('listing, searching and exporting purchase orders; permissions', async () => {
  const sup = await supplier({ name: '=cmd|evil' });
  const a = await variant(0);
  const po = (await A('POST', '/v1/admin/purchase-orders', { supplier_id: sup.id, location_id: loc2, lines: [{ inventory_item_id: a.item, quantity: 3, unit_cost: 125, supplier_sku: 'X-9' }] })).body;
  let r = await A('GET', `/v1/admin/purchase-orders?supplier_id=${sup.id}&status=draft`);
  assert.deepEqual(r.body.data.map((x) => x.id), [po.id]);
  for (const q of [String(po.number), `PO-${po.number}`, a.sku.toLowerCase(), 'x-9']) {
    r = await A('GET', `/v1/admin/purchase-orders?q=${encodeURIComponent(q)}`);
    assert.deepEqual(r.body.data.map((x) => x.id), [po.id], q);
  }
  assert.deepEqual((await A('GET', `/v1/admin/purchase-orders?supplier_id=${sup.id}&status=sent`)).body.data, []);
  r = await A('GET', '/v1/admin/purchase-orders?status=shipped');
  assert.equal(r.status, 400);
  assert.equal(r.body.errors[0].parameter, 'status');
  r = await A('GET', `/v1/admin/exports/purchase-orders.csv?supplier_id=${sup.id}`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/csv/);
  const rows = r.text.trimEnd().split('\r\n');
  assert.equal(rows.length, 2);
  assert.match(rows[0], /^number,purchase_order_id,status,supplier_id,supplier_name,/);
  assert.ok(rows[1].startsWith(`${po.number},${po.id},draft,${sup.id},'=cmd|evil,${loc2},eur,${a.sku},X-9,3,0,125,375,`), rows[1]);
  assert.equal((await A('GET', '/v1/admin/exports/purchase-orders.csv?status=nope')).status, 400);

  const ro = await newStaff(s.client, t, 'read_only');
  assert.equal((await A('GET', `/v1/admin/purchase-orders/${po.id}`, undefined, { token: ro.token })).status, 200);
  r = await A('POST', `/v1/admin/purchase-orders/${po.id}/send`, undefined, { token: ro.token });
  assert.equal(r.status, 403);
  r = await A('POST', '/v1/admin/suppliers', { name: 'Nope', currency_code: 'eur' }, { token: ro.token });
  assert.equal(r.status, 403);
  assert.equal((await A('GET', '/v1/admin/suppliers', undefined, { token: null })).status, 401);
});
