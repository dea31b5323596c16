// inventory.test.mjs: inventory items, adjustments, counts, transfers, the ledger, low-stock events, and what
// the storefront sees of stock. Reservations (no route of their own) are tested in tests/db/inventory.c.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, staffLogin, newStaff } from './lib/harness.mjs';

let s, t, l1, l2, product, item;
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json, headers, token = t) => s.client.request(method, path, { pk: null, token, json, headers });
let seq = 0;
const uniq = (p) => `${p}-${process.pid}-${++seq}`;

before(async () => {
  s = await startStack();
  t = (await staffLogin(s.client)).access_token;
  l1 = (await A('POST', '/v1/admin/stock-locations', { name: 'Berlin' })).body.id;
  l2 = (await A('POST', '/v1/admin/stock-locations', { name: 'Hamburg' })).body.id;
  const ch = (await A('GET', '/v1/admin/sales-channels')).body.data.find((c) => c.is_default);
  await A('POST', `/v1/admin/sales-channels/${ch.id}/locations`, { location_id: l1, priority: 0 });
  await A('POST', `/v1/admin/sales-channels/${ch.id}/locations`, { location_id: l2, priority: 1 });
  const p = await A('POST', '/v1/admin/products', {
    title: 'Stocked thing', status: 'active',
    variants: [{ sku: uniq('STK'), prices: [{ currency_code: 'eur', amount: 1000 }], inventory: [{ location_id: l1, quantity: 10 }], low_stock_threshold: 4 }],
  });
  assert.equal(p.status, 201, p.text);
  product = p.body;
  item = product.variants[0].inventory_items[0].inventory_item_id;
});
after(async () => s && (await s.stop()));

const ledgerSum = async (id) => {
  const sums = {};
  let cursor = null;
  do {
    const r = await A('GET', `/v1/admin/inventory-ledger?inventory_item_id=${id}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
    assert.equal(r.status, 200, r.text);
    for (const e of r.body.data) {
      sums[e.location_id] ??= { on_hand: 0, reserved: 0 };
      sums[e.location_id].on_hand += e.delta_on_hand;
      sums[e.location_id].reserved += e.delta_reserved;
    }
    cursor = r.body.next_cursor;
  } while (cursor);
  return sums;
};

test('an item created with its variant: levels, totals, filters', async () => {
  const r = await A('GET', `/v1/admin/inventory-items/${item}`);
  assert.equal(r.status, 200);
  assert.equal(r.body.sku, product.variants[0].sku);
  assert.deepEqual(r.body.variant_ids, [product.variants[0].id]);
  assert.equal(r.body.low_stock_threshold, 4);
  assert.deepEqual(r.body.levels.map((l) => [l.location_id, l.on_hand, l.reserved, l.available, l.incoming]), [[l1, 10, 0, 10, 0]]);
  assert.deepEqual([r.body.on_hand, r.body.available], [10, 10]);
  const bySku = await A('GET', `/v1/admin/inventory-items?sku=${r.body.sku}`);
  assert.deepEqual(bySku.body.data.map((i) => i.id), [item]);
  assert.deepEqual((await A('GET', `/v1/admin/inventory-items?location_id=${l2}`)).body.data, [], 'nothing stocked in Hamburg yet');
  const nm = await A('GET', `/v1/admin/inventory-items/${item}`, undefined, { 'if-none-match': r.headers.get('etag') });
  assert.equal(nm.status, 304);
  assert.equal((await A('GET', '/v1/admin/inventory-items/iitem_01zzzzzzzzzzzzzzzzzzzzzzzz')).status, 404);
  assert.equal((await A('GET', '/v1/admin/inventory-items?limit=0')).status, 400);
  assert.equal((await A('GET', '/v1/admin/inventory-items?colour=red')).status, 400);
});

test('adjustments, receipts and incoming stock; the ledger explains every level', async () => {
  let r = await A('POST', `/v1/admin/inventory-items/${item}/adjustments`, { location_id: l1, delta: -3, note: 'water damage' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.on_hand, 7);
  r = await A('POST', `/v1/admin/inventory-items/${item}/adjustments`, { location_id: l2, incoming_delta: 20, reference: 'PO-1' });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.levels.find((l) => l.location_id === l2), { ...r.body.levels.find((l) => l.location_id === l2), on_hand: 0, incoming: 20 });
  r = await A('POST', `/v1/admin/inventory-items/${item}/adjustments`, { location_id: l2, delta: 12, reason: 'receive', reference: 'PO-1' });
  const hh = r.body.levels.find((l) => l.location_id === l2);
  assert.deepEqual([hh.on_hand, hh.incoming], [12, 8], 'a receipt lowers what is still incoming');
  assert.deepEqual([r.body.on_hand, r.body.incoming], [19, 8]);
  const po = await A('GET', '/v1/admin/inventory-ledger?reference=PO-1');
  assert.deepEqual(po.body.data.map((e) => [e.reason, e.delta_on_hand, e.actor !== null]), [['receive', 12, true]]);
  const sums = await ledgerSum(item);
  assert.deepEqual(sums, { [l1]: { on_hand: 7, reserved: 0 }, [l2]: { on_hand: 12, reserved: 0 } });
});

test('refusals: below zero, no change, a negative receipt, unknown locations and items', async () => {
  const before = (await A('GET', `/v1/admin/inventory-items/${item}`)).body;
  const cases = [
    [{ location_id: l1, delta: -1000 }, 409, null],
    [{ location_id: l1 }, 422, '/delta'],
    [{ location_id: l1, delta: 0, incoming_delta: 0 }, 422, '/delta'],
    [{ location_id: l1, delta: -2, reason: 'receive' }, 422, '/delta'],
    [{ location_id: l1, delta: 1, reason: 'theft' }, 422, '/reason'],
    [{ location_id: 'sloc_01zzzzzzzzzzzzzzzzzzzzzzzz', delta: 1 }, 422, '/location_id'],
    [{ location_id: l1, delta: 1.5 }, 422, '/delta'],
    [{ location_id: l1, delta: 1, extra: true }, 422, '/extra'],
  ];
  for (const [body, status, pointer] of cases) {
    const r = await A('POST', `/v1/admin/inventory-items/${item}/adjustments`, body);
    assert.equal(r.status, status, `${JSON.stringify(body)}: ${r.text}`);
    if (pointer) assert.ok(r.body.errors.some((e) => e.pointer === pointer), `${JSON.stringify(body)}: ${r.text}`);
    if (status === 409) assert.equal(r.body.type, type('conflict'));
  }
  assert.equal((await A('POST', '/v1/admin/inventory-items/iitem_01zzzzzzzzzzzzzzzzzzzzzzzz/adjustments', { location_id: l1, delta: 1 })).status, 404);
  const after = (await A('GET', `/v1/admin/inventory-items/${item}`)).body;
  assert.deepEqual(after.levels, before.levels, 'nothing changed');
});

test('counts and transfers', async () => {
  let r = await A('POST', `/v1/admin/inventory-items/${item}/counts`, { location_id: l1, quantity: 9, note: 'cycle count' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.levels.find((l) => l.location_id === l1).on_hand, 9);
  const c = await A('GET', `/v1/admin/inventory-ledger?inventory_item_id=${item}&reason=count`);
  assert.equal(c.body.data[0].delta_on_hand, 2, 'the count records the difference (7 -> 9)');
  r = await A('POST', `/v1/admin/inventory-items/${item}/transfers`, { from_location_id: l1, to_location_id: l2, quantity: 4 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.levels.find((l) => l.location_id === l1).on_hand, 5);
  assert.equal(r.body.levels.find((l) => l.location_id === l2).on_hand, 16);
  const moves = (await A('GET', `/v1/admin/inventory-ledger?inventory_item_id=${item}&limit=2`)).body.data;
  assert.deepEqual(moves.map((e) => e.reason).sort(), ['transfer_in', 'transfer_out']);
  assert.equal(moves[0].reference, moves[1].reference);
  assert.match(moves[0].reference, /^xfer_/);
  for (const [body, status, pointer] of [
    [{ from_location_id: l1, to_location_id: l1, quantity: 1 }, 422, '/to_location_id'],
    [{ from_location_id: l1, to_location_id: l2, quantity: 0 }, 422, '/quantity'],
    [{ from_location_id: l1, to_location_id: 'sloc_01zzzzzzzzzzzzzzzzzzzzzzzz', quantity: 1 }, 422, '/to_location_id'],
    [{ from_location_id: 'sloc_01zzzzzzzzzzzzzzzzzzzzzzzz', to_location_id: l2, quantity: 1 }, 422, '/from_location_id'],
    [{ from_location_id: l1, to_location_id: l2, quantity: 6 }, 409, null],
  ]) {
    const x = await A('POST', `/v1/admin/inventory-items/${item}/transfers`, body);
    assert.equal(x.status, status, `${JSON.stringify(body)}: ${x.text}`);
    if (pointer) assert.equal(x.body.errors[0].pointer, pointer);
  }
  assert.equal((await A('POST', `/v1/admin/inventory-items/${item}/counts`, { location_id: l1, quantity: -1 })).status, 422);
  const sums = await ledgerSum(item);
  assert.deepEqual(sums, { [l1]: { on_hand: 5, reserved: 0 }, [l2]: { on_hand: 16, reserved: 0 } });
});

test('crossing the low-stock threshold writes inventory.low once, in the same transaction', async () => {
  const p = await A('POST', '/v1/admin/products', { title: 'Low', variants: [{ sku: uniq('LOW'), inventory: [{ location_id: l1, quantity: 6 }], low_stock_threshold: 3 }] });
  const id = p.body.variants[0].inventory_items[0].inventory_item_id;
  const events = async () => (await s.sql("SELECT payload FROM outbox_events WHERE type = 'inventory.low' AND payload->>'inventory_item_id' = $1", [id])).map((r) => r.payload);
  await A('POST', `/v1/admin/inventory-items/${id}/adjustments`, { location_id: l1, delta: -2 });
  assert.deepEqual(await events(), [], '4 is above the threshold');
  await A('POST', `/v1/admin/inventory-items/${id}/adjustments`, { location_id: l1, delta: -1 });
  await A('POST', `/v1/admin/inventory-items/${id}/adjustments`, { location_id: l1, delta: -1 });
  const ev = await events();
  assert.equal(ev.length, 1, 'once when crossing, not again below');
  assert.equal(ev[0].available, 3);
  assert.equal(ev[0].threshold, 3);
  // a refused change writes nothing
  await A('POST', `/v1/admin/inventory-items/${id}/adjustments`, { location_id: l1, delta: -100 });
  assert.equal((await events()).length, 1);
  // turning the threshold off
  const g = await A('GET', `/v1/admin/inventory-items/${id}`);
  const u = await A('PATCH', `/v1/admin/inventory-items/${id}`, { low_stock_threshold: null, title: 'Low item' }, { 'if-match': g.headers.get('etag') });
  assert.equal(u.status, 200, u.text);
  assert.deepEqual([u.body.low_stock_threshold, u.body.title], [null, 'Low item']);
  const stale = await A('PATCH', `/v1/admin/inventory-items/${id}`, { title: 'x' }, { 'if-match': g.headers.get('etag') });
  assert.equal(stale.status, 412);
  assert.equal((await A('PATCH', `/v1/admin/inventory-items/${id}`, { sku: 'NEW' })).status, 422, 'the SKU belongs to the variant');
});

test('roles: read-only staff read stock, order managers change it, support cannot', async () => {
  const ro = await newStaff(s.client, t, 'read_only');
  const om = await newStaff(s.client, t, 'order_manager');
  const sup = await newStaff(s.client, t, 'support');
  assert.equal((await A('GET', `/v1/admin/inventory-items/${item}`, undefined, undefined, ro.token)).status, 200);
  assert.equal((await A('GET', '/v1/admin/inventory-ledger', undefined, undefined, ro.token)).status, 200);
  const body = { location_id: l1, delta: 1 };
  assert.equal((await A('POST', `/v1/admin/inventory-items/${item}/adjustments`, body, undefined, ro.token)).status, 403);
  assert.equal((await A('POST', `/v1/admin/inventory-items/${item}/adjustments`, body, undefined, sup.token)).status, 403);
  const ok = await A('POST', `/v1/admin/inventory-items/${item}/adjustments`, body, undefined, om.token);
  assert.equal(ok.status, 200);
  const last = (await A('GET', `/v1/admin/inventory-ledger?inventory_item_id=${item}&limit=1`)).body.data[0];
  assert.equal(last.actor, om.user.id, 'the ledger records who');
});

test('the storefront sees available stock of its channel', async () => {
  const r = await s.client.get(`/v1/store/products/${product.handle}?expand=availability`);
  assert.equal(r.status, 200, r.text);
  const total = (await A('GET', `/v1/admin/inventory-items/${item}`)).body.available;
  assert.deepEqual(r.body.variants[0].availability, { in_stock: true, quantity: total });
});

test('a cursor only works on the list and sort that issued it', async () => {
  const page = await A('GET', `/v1/admin/inventory-ledger?inventory_item_id=${item}&limit=1`);
  const cursor = page.body.next_cursor;
  assert.ok(cursor);
  const elsewhere = await A('GET', `/v1/admin/inventory-items?cursor=${cursor}`);
  assert.equal(elsewhere.status, 400);
  assert.equal(elsewhere.body.errors[0].parameter, 'cursor');
  const sp = await s.client.get('/v1/store/products?limit=1&sort=title');
  const c2 = sp.body.next_cursor;
  if (c2 === null) {
    await A('POST', '/v1/admin/products', { title: 'Another', status: 'active', variants: [{ sku: uniq('AN') }] });
  }
  const c3 = c2 ?? (await s.client.get('/v1/store/products?limit=1&sort=title')).body.next_cursor;
  assert.ok(c3);
  assert.equal((await s.client.get(`/v1/store/products?limit=1&sort=title&cursor=${c3}`)).status, 200);
  const other = await s.client.get(`/v1/store/products?limit=1&sort=price_asc&cursor=${c3}`);
  assert.equal(other.status, 400, 'a title cursor is not a price cursor');
});
