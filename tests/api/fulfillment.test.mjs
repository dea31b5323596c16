// fulfillment.test.mjs: fulfilments (stock, state machine, capture on fulfilment), shipments and deliveries,
// returns (customer and staff, restock, refunds never more than captured), and the orders CSV export.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startStack, staffLogin, newCustomer } from './lib/harness.mjs';

let s, t, shipping, loc, loc2;
const sql = async (text, params) => s.sql(text, params);
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json, o = {}) => s.client.request(method, path, { pk: null, token: t, json, ...o });
let seq = 0;
const uniq = (p) => `${p}-${process.pid}-${++seq}`;
const V = {};
const address = { first_name: 'Ada', last_name: 'L', address_1: 'Unter den Linden 1', city: 'Berlin', postal_code: '10117', country_code: 'de' };
const visa = { payment: { provider: 'test', data: { token: 'tok_visa' } } };

async function variant(stock, amount = 1000, stock2 = 0) {
  const inventory = [{ location_id: loc, quantity: stock }];
  if (stock2) inventory.push({ location_id: loc2, quantity: stock2 });
  const r = await A('POST', '/v1/admin/products', { title: uniq('Thing'), status: 'active',
    variants: [{ sku: uniq('SKU'), prices: [{ currency_code: 'eur', amount }], inventory }] });
  assert.equal(r.status, 201, r.text);
  return r.body.variants[0];
}

before(async () => {
  s = await startStack();
  t = (await staffLogin(s.client)).access_token;
  const eu = (await A('POST', '/v1/admin/regions', { name: 'EU', currency_code: 'eur', countries: ['de'] })).body;
  const so = await A('POST', '/v1/admin/shipping-options', { name: 'Standard', region_id: eu.id, provider: 'flat_rate', amount: 0 });
  assert.equal(so.status, 201, so.text);
  shipping = so.body.id;
  loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Berlin' })).body.id;
  loc2 = (await A('POST', '/v1/admin/stock-locations', { name: 'Hamburg' })).body.id;
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
  V.tee = await variant(1000, 2500, 50);
  V.mug = await variant(1000, 1200);
});
after(async () => s && (await s.stop()));

async function order(lines = [[V.tee.id, 3], [V.mug.id, 1]], { payment = visa, token, note, capture = false } = {}) {
  const c = await s.client.request('POST', '/v1/store/carts', { token, json: { email: 'buyer@example.com', shipping_address: address, note,
    items: lines.map(([variant_id, quantity]) => ({ variant_id, quantity })) } });
  assert.equal(c.status, 201, c.text);
  const m = await s.client.request('POST', `/v1/store/carts/${c.body.id}/shipping-methods`, { token, json: { option_id: shipping } });
  assert.equal(m.status, 200, m.text);
  const r = await s.client.request('POST', `/v1/store/carts/${c.body.id}/complete`, { token, json: payment, headers: { 'idempotency-key': crypto.randomUUID() } });
  assert.equal(r.status, 201, r.text);
  if (capture) assert.equal((await A('POST', `/v1/admin/orders/${r.body.id}/capture`)).status, 200);
  return r.body;
}
const level = async (variantId, location = loc) => (await sql(
  'SELECT l.on_hand, l.reserved FROM inventory_levels l JOIN variant_inventory_items v ON v.inventory_item_id = l.inventory_item_id WHERE v.variant_id = $1 AND l.location_id = $2',
  [variantId, location]))[0] ?? { on_hand: 0, reserved: 0 };
const line = (o, v) => o.items.find((l) => l.variant_id === v.id);
const fulfil = (o, items, extra = {}) => A('POST', `/v1/admin/orders/${o.id}/fulfillments`, { location_id: loc, items: items.map(([l, quantity]) => ({ line_item_id: l.id, quantity })), ...extra });
const getOrder = async (o) => (await A('GET', `/v1/admin/orders/${o.id}`)).body;
const events = async (o, ty) => (await sql('SELECT payload FROM outbox_events WHERE type = $1 AND payload->>\'order_id\' = $2 ORDER BY id', [ty, o.id])).map((r) => r.payload);

test('partial then full fulfilment: reservations become sales, fulfillment_status moves, order.fulfilled once', async () => {
  const o = await order();
  const tee = line(o, V.tee), mug = line(o, V.mug);
  const before = await level(V.tee.id);
  let r = await fulfil(o, [[tee, 2]], { notify: true });
  assert.equal(r.status, 201, r.text);
  const f1 = r.body;
  assert.match(f1.id, /^ful_[0-9a-z]{26}$/);
  assert.deepEqual([f1.status, f1.location_id, f1.notify, f1.items], ['fulfilled', loc, true, [{ line_item_id: tee.id, quantity: 2 }]]);
  let after = await level(V.tee.id);
  assert.deepEqual([after.on_hand, after.reserved], [before.on_hand - 2, before.reserved - 2], 'on hand and reserved go down together');
  const ledger = await sql("SELECT delta_on_hand, delta_reserved FROM inventory_ledger WHERE reference = $1 AND reason = 'sale' ORDER BY id", [o.id]);
  assert.deepEqual(ledger.map((x) => [x.delta_on_hand, x.delta_reserved]), [[-2, -2]]);
  let ord = await getOrder(o);
  assert.equal(ord.fulfillment_status, 'partially_fulfilled');
  assert.deepEqual(ord.items.map((l) => [l.id, l.fulfilled_quantity]).sort(), [[tee.id, 2], [mug.id, 0]].sort());
  assert.deepEqual(ord.fulfillments.map((f) => f.id), [f1.id]);
  // more than is left of a line: 422 at the item's quantity, nothing written
  r = await fulfil(o, [[mug, 1], [tee, 2]]);
  assert.equal(r.status, 422, r.text);
  assert.equal(r.body.errors[0].pointer, '/items/1/quantity');
  assert.equal(r.body.errors[0].code, 'exceeds_unfulfilled');
  assert.equal((await getOrder(o)).fulfillments.length, 1);
  assert.deepEqual(await level(V.tee.id), after);
  assert.equal((await events(o, 'order.fulfilled')).length, 0);
  r = await fulfil(o, [[tee, 1], [mug, 1]]);
  assert.equal(r.status, 201, r.text);
  ord = await getOrder(o);
  assert.equal(ord.fulfillment_status, 'fulfilled');
  assert.ok(ord.items.every((l) => l.fulfilled_quantity === l.quantity));
  after = await level(V.tee.id);
  assert.deepEqual([after.on_hand, after.reserved], [before.on_hand - 3, before.reserved - 3]);
  const active = await sql("SELECT count(*)::int AS n FROM reservations WHERE reference = $1 AND status = 'active'", [o.id]);
  assert.equal(active[0].n, 0, 'the order holds nothing any more');
  assert.equal((await events(o, 'order.fulfilled')).length, 1);
  assert.equal((await events(o, 'fulfillment.created')).length, 2);
  assert.deepEqual(ord.timeline.map((e) => e.type), ['order.placed', 'fulfillment.created', 'fulfillment.created', 'order.fulfilled']);
  assert.ok(ord.timeline.slice(1).every((e) => e.actor && e.actor.startsWith('usr_')), 'who did it');
  // nothing is left: any further fulfilment is refused
  r = await fulfil(o, [[mug, 1]]);
  assert.equal(r.status, 422);
});

test('fulfilment input is checked with pointers; unknown orders are 404, canceled ones 409; nothing half-written', async () => {
  const o = await order([[V.mug.id, 2]]);
  const other = await order([[V.mug.id, 1]]);
  const mug = line(o, V.mug);
  const before = await level(V.mug.id);
  const cases = [
    [{ items: [{ line_item_id: mug.id, quantity: 1 }] }, 422, '/location_id'],
    [{ location_id: loc, items: [] }, 422, '/items'],
    [{ location_id: loc }, 422, '/items'],
    [{ location_id: loc, items: [{ line_item_id: mug.id, quantity: 0 }] }, 422, '/items/0/quantity'],
    [{ location_id: loc, items: [{ line_item_id: mug.id, quantity: 10001 }] }, 422, '/items/0/quantity'],
    [{ location_id: loc, items: [{ line_item_id: mug.id, quantity: '1' }] }, 422, '/items/0/quantity'],
    [{ location_id: loc, items: [{ line_item_id: 'nope', quantity: 1 }] }, 422, '/items/0/line_item_id'],
    [{ location_id: loc, items: [{ line_item_id: line(other, V.mug).id, quantity: 1 }] }, 422, '/items/0/line_item_id'],
    [{ location_id: loc, items: [{ line_item_id: mug.id, quantity: 1 }, { line_item_id: mug.id, quantity: 1 }] }, 422, '/items/1/line_item_id'],
    [{ location_id: 'sloc_00000000000000000000000000', items: [{ line_item_id: mug.id, quantity: 1 }] }, 422, '/location_id'],
    [{ location_id: loc, items: [{ line_item_id: mug.id, quantity: 1 }], notify: 'yes' }, 422, '/notify'],
  ];
  for (const [body, status, pointer] of cases) {
    const r = await A('POST', `/v1/admin/orders/${o.id}/fulfillments`, body);
    assert.equal(r.status, status, `${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.body.errors[0].pointer, pointer, JSON.stringify(body));
  }
  let r = await A('POST', `/v1/admin/orders/${o.id}/fulfillments`, { location_id: loc, items: [{ line_item_id: mug.id, quantity: 1 }], extra: 1 });
  assert.equal(r.body.type, type('unknown-field'));
  r = await A('POST', '/v1/admin/orders/order_00000000000000000000000000/fulfillments', { location_id: loc, items: [{ line_item_id: mug.id, quantity: 1 }] });
  assert.equal(r.status, 404);
  assert.deepEqual(await level(V.mug.id), before);
  assert.equal((await getOrder(o)).fulfillments.length, 0);
  // a canceled order cannot be fulfilled
  assert.equal((await A('POST', `/v1/admin/orders/${o.id}/cancel`)).status, 200);
  r = await fulfil(o, [[mug, 1]]);
  assert.equal(r.status, 409);
  assert.equal(r.body.type, type('invalid-state'));
});

test('fulfilling from another location releases the reservation there and sells from the chosen one; a location without stock is 409', async () => {
  const o = await order([[V.tee.id, 2]]);
  const tee = line(o, V.tee);
  const b1 = await level(V.tee.id, loc), b2 = await level(V.tee.id, loc2);
  const empty = (await A('POST', '/v1/admin/stock-locations', { name: 'Empty' })).body.id;
  let r = await A('POST', `/v1/admin/orders/${o.id}/fulfillments`, { location_id: empty, items: [{ line_item_id: tee.id, quantity: 2 }] });
  assert.equal(r.status, 409, r.text);
  assert.equal(r.body.type, type('insufficient-stock'));
  assert.deepEqual(await level(V.tee.id, loc), b1, 'nothing changed');
  r = await A('POST', `/v1/admin/orders/${o.id}/fulfillments`, { location_id: loc2, items: [{ line_item_id: tee.id, quantity: 1 }] });
  assert.equal(r.status, 201, r.text);
  const a1 = await level(V.tee.id, loc), a2 = await level(V.tee.id, loc2);
  assert.deepEqual([a1.on_hand, a1.reserved], [b1.on_hand, b1.reserved - 1], 'released where it was reserved');
  assert.deepEqual([a2.on_hand, a2.reserved], [b2.on_hand - 1, b2.reserved], 'sold where it was packed');
  const res = await sql('SELECT status, quantity, location_id FROM reservations WHERE reference = $1 ORDER BY status', [o.id]);
  assert.deepEqual(res.map((x) => [x.status, x.quantity]), [['active', 1], ['released', 1]]);
  r = await A('POST', `/v1/admin/orders/${o.id}/fulfillments`, { location_id: loc, items: [{ line_item_id: tee.id, quantity: 1 }] });
  assert.equal(r.status, 201);
  const f1 = await level(V.tee.id, loc);
  assert.deepEqual([f1.on_hand, f1.reserved], [b1.on_hand - 1, b1.reserved - 2]);
});

test('capture on fulfilment: the payment is captured first; a refused capture fulfils nothing', async () => {
  let o = await order([[V.mug.id, 1]]);
  let r = await fulfil(o, [[line(o, V.mug), 1]], { capture: true });
  assert.equal(r.status, 201, r.text);
  let ord = await getOrder(o);
  assert.deepEqual([ord.payment_status, ord.paid_total, ord.fulfillment_status], ['paid', ord.total, 'fulfilled']);
  // manual payment, pending: capture records the money
  o = await order([[V.mug.id, 1]], { payment: { payment: { provider: 'manual' } } });
  r = await fulfil(o, [[line(o, V.mug), 1]], { capture: true });
  assert.equal(r.status, 201, r.text);
  assert.equal((await getOrder(o)).payment_status, 'paid');
  // already paid: capture is a no-op, the fulfilment happens
  o = await order([[V.mug.id, 2]], { capture: true });
  r = await fulfil(o, [[line(o, V.mug), 1]], { capture: true });
  assert.equal(r.status, 201, r.text);
  // the gateway refuses the capture: nothing fulfilled
  o = await order([[V.mug.id, 1]]);
  await sql("UPDATE test_gateway_charges SET status = 'voided' WHERE id = (SELECT provider_ref FROM payments WHERE order_id = $1)", [o.id]);
  const before = await level(V.mug.id);
  r = await fulfil(o, [[line(o, V.mug), 1]], { capture: true });
  assert.ok(r.status >= 400, r.text);
  ord = await getOrder(o);
  assert.deepEqual([ord.payment_status, ord.fulfillment_status, ord.fulfillments.length], ['authorized', 'unfulfilled', 0]);
  assert.deepEqual(await level(V.mug.id), before);
});

test('shipments and deliveries: fulfilment and order state machines refuse illegal moves; order.shipped carries tracking', async () => {
  const o = await order();
  const tee = line(o, V.tee), mug = line(o, V.mug);
  const f1 = (await fulfil(o, [[tee, 3]])).body;
  const ship = (f, body) => A('POST', `/v1/admin/orders/${o.id}/fulfillments/${f.id}/shipments`, body);
  const deliver = (f) => A('POST', `/v1/admin/orders/${o.id}/fulfillments/${f.id}/deliver`);
  let r = await deliver(f1);
  assert.equal(r.status, 409, 'not shipped yet');
  assert.equal(r.body.type, type('invalid-state'));
  for (const [body, pointer] of [[{ tracking_number: '1' }, '/carrier'], [{ carrier: 'DHL' }, '/tracking_number'], [{ carrier: '', tracking_number: '1' }, '/carrier'],
    [{ carrier: 'DHL', tracking_number: '1', tracking_url: 'javascript:alert(1)' }, '/tracking_url'], [{ carrier: 'DHL', tracking_number: 'x'.repeat(129) }, '/tracking_number']]) {
    r = await ship(f1, body);
    assert.equal(r.status, 422, JSON.stringify(body));
    assert.equal(r.body.errors[0].pointer, pointer);
  }
  r = await ship(f1, { carrier: 'DHL', tracking_number: '00340434', tracking_url: 'https://dhl.example/t/00340434' });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.status, 'shipped');
  assert.ok(r.body.shipped_at);
  assert.deepEqual(r.body.shipments.map((x) => [x.carrier, x.tracking_number]), [['DHL', '00340434']]);
  let ord = await getOrder(o);
  assert.equal(ord.fulfillment_status, 'partially_fulfilled', 'the mug is not fulfilled yet');
  const f2 = (await fulfil(o, [[mug, 1]])).body;
  assert.equal((await getOrder(o)).fulfillment_status, 'fulfilled', 'every line fulfilled, one fulfilment not shipped');
  assert.equal((await events(o, 'order.shipped')).length, 0);
  r = await ship(f2, { carrier: 'UPS', tracking_number: '1Z999' });
  assert.equal(r.status, 201);
  ord = await getOrder(o);
  assert.equal(ord.fulfillment_status, 'shipped');
  const shipped = await events(o, 'order.shipped');
  assert.equal(shipped.length, 1);
  assert.deepEqual(shipped[0].tracking.map((x) => x.tracking_number), ['00340434', '1Z999']);
  r = await ship(f2, { carrier: 'UPS', tracking_number: '1Z998', tracking_url: null });
  assert.equal(r.status, 201, 'a second parcel');
  assert.equal(r.body.shipments.length, 2);
  assert.equal((await events(o, 'order.shipped')).length, 1, 'the order was already shipped');
  r = await deliver(f1);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'delivered');
  assert.equal((await getOrder(o)).fulfillment_status, 'shipped');
  r = await deliver(f1);
  assert.equal(r.status, 409);
  r = await ship(f1, { carrier: 'DHL', tracking_number: '2' });
  assert.equal(r.status, 409, 'a delivered fulfilment ships nothing more');
  r = await deliver(f2);
  assert.equal(r.status, 200);
  ord = await getOrder(o);
  assert.equal(ord.fulfillment_status, 'delivered');
  assert.equal((await events(o, 'order.delivered')).length, 1);
  assert.deepEqual(ord.timeline.map((e) => e.type).filter((x) => x.startsWith('order.')), ['order.placed', 'order.fulfilled', 'order.shipped', 'order.delivered']);
  // unknown and foreign fulfilments are 404
  const other = await order([[V.mug.id, 1]]);
  r = await A('POST', `/v1/admin/orders/${other.id}/fulfillments/${f1.id}/deliver`);
  assert.equal(r.status, 404);
  r = await A('POST', `/v1/admin/orders/${o.id}/fulfillments/ful_00000000000000000000000000/shipments`, { carrier: 'DHL', tracking_number: '1' });
  assert.equal(r.status, 404);
  r = await A('POST', `/v1/admin/orders/${o.id}/fulfillments/nope/deliver`);
  assert.equal(r.status, 404);
  r = await A('POST', `/v1/admin/orders/${o.id}/fulfillments/${f1.id}/deliver`, { extra: 1 });
  assert.equal(r.status, 422);
});

test('returns: the customer asks for their own order only; staff approve, receive with restock, and the refund is the lines\' share', async () => {
  const a = await newCustomer(s.client), b = await newCustomer(s.client);
  const o = await order([[V.tee.id, 3], [V.mug.id, 1]], { token: a.token, capture: true });
  const tee = line(o, V.tee), mug = line(o, V.mug);
  const ask = (token, id, body) => s.client.request('POST', `/v1/store/customers/me/orders/${id}/returns`, { token, json: body });
  let r = await ask(a.token, o.id, { items: [{ line_item_id: tee.id, quantity: 1 }], reason: 'damaged' });
  assert.equal(r.status, 422, 'nothing fulfilled yet');
  assert.equal(r.body.errors[0].pointer, '/items/0/quantity');
  await fulfil(o, [[tee, 3], [mug, 1]]);
  r = await ask(b.token, o.id, { items: [{ line_item_id: tee.id, quantity: 1 }], reason: 'damaged' });
  assert.equal(r.status, 404, 'another customer\'s order');
  r = await ask(null, o.id, { items: [{ line_item_id: tee.id, quantity: 1 }], reason: 'damaged' });
  assert.equal(r.status, 401);
  for (const [body, pointer] of [[{ items: [{ line_item_id: tee.id, quantity: 4 }], reason: 'damaged' }, '/items/0/quantity'],
    [{ items: [{ line_item_id: tee.id, quantity: 1 }], reason: 'whim' }, '/reason'], [{ items: [], reason: 'damaged' }, '/items'],
    [{ items: [{ line_item_id: tee.id, quantity: 1 }] }, '/reason'], [{ items: [{ line_item_id: 'oli_00000000000000000000000000', quantity: 1 }], reason: 'other' }, '/items/0/line_item_id']]) {
    r = await ask(a.token, o.id, body);
    assert.equal(r.status, 422, JSON.stringify(body));
    assert.equal(r.body.errors[0].pointer, pointer, JSON.stringify(body));
  }
  r = await ask(a.token, o.id, { items: [{ line_item_id: tee.id, quantity: 2 }], reason: 'size_or_fit', note: 'too small' });
  assert.equal(r.status, 201, r.text);
  const ret = r.body;
  assert.match(ret.id, /^ret_/);
  assert.deepEqual([ret.status, ret.requested_by, ret.reason, ret.note], ['requested', 'customer', 'size_or_fit', 'too small']);
  r = await ask(a.token, o.id, { items: [{ line_item_id: tee.id, quantity: 2 }], reason: 'damaged' });
  assert.equal(r.status, 422, 'only one unit is not in a return');
  assert.equal(r.body.errors[0].code, 'exceeds_returnable');
  const R = (id, move, body) => A('POST', `/v1/admin/orders/${o.id}/returns/${id}/${move}`, body);
  r = await R(ret.id, 'receive');
  assert.equal(r.status, 409, 'not approved yet');
  assert.equal(r.body.type, type('invalid-state'));
  r = await R(ret.id, 'approve', { note: 'ok, send it back' });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.status, r.body.decision_note], ['approved', 'ok, send it back']);
  assert.equal((await R(ret.id, 'approve')).status, 409);
  assert.equal((await R(ret.id, 'reject')).status, 409);
  const before = await level(V.tee.id);
  r = await R(ret.id, 'receive', { location_id: 'sloc_00000000000000000000000000' });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/location_id');
  r = await R(ret.id, 'receive', { items: [{ line_item_id: mug.id, restock: true }] });
  assert.equal(r.status, 422, 'the mug is not in this return');
  assert.equal(r.body.errors[0].pointer, '/items/0/line_item_id');
  r = await R(ret.id, 'receive');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'received');
  assert.deepEqual(r.body.items.map((x) => [x.line_item_id, x.quantity, x.restock, x.location_id]), [[tee.id, 2, true, loc]]);
  assert.deepEqual([r.body.refund_amount, r.body.refund_status], [5000, 'succeeded']);
  assert.match(r.body.refund_id, /^ref_/);
  const after = await level(V.tee.id);
  assert.equal(after.on_hand, before.on_hand + 2, 'restocked');
  const led = await sql("SELECT delta_on_hand FROM inventory_ledger WHERE reason = 'return' AND reference = $1", [o.id]);
  assert.deepEqual(led.map((x) => x.delta_on_hand), [2]);
  assert.equal((await R(ret.id, 'receive')).status, 409, 'once');
  let ord = await getOrder(o);
  assert.equal(line(ord, V.tee).returned_quantity, 2);
  assert.deepEqual([ord.payment_status, ord.refunded_total], ['partially_refunded', 5000]);
  assert.deepEqual(ord.refunds.map((x) => [x.amount, x.reason]), [[5000, 'return']]);
  assert.deepEqual(ord.returns.map((x) => x.id), [ret.id]);
  assert.deepEqual(ord.timeline.map((e) => e.type).filter((x) => x.startsWith('return.') || x.startsWith('refund.')),
    ['return.requested', 'return.approved', 'return.received', 'refund.created']);
  assert.equal(ord.timeline.find((e) => e.type === 'return.requested').actor, a.customer.id);
  // the customer sees the return on the order
  r = await s.client.request('GET', `/v1/store/customers/me/orders/${o.id}`, { token: a.token });
  assert.equal(r.body.returns[0].status, 'received');
  // a rejected request holds no units: the customer can ask again
  r = await ask(a.token, o.id, { items: [{ line_item_id: mug.id, quantity: 1 }], reason: 'defective' });
  assert.equal(r.status, 201);
  r = await R(r.body.id, 'reject', { note: 'used' });
  assert.equal(r.status, 200);
  assert.equal(r.body.status, 'rejected');
  assert.equal((await R(r.body.id, 'approve')).status, 409);
  assert.equal((await R(r.body.id, 'receive')).status, 409);
  r = await ask(a.token, o.id, { items: [{ line_item_id: mug.id, quantity: 1 }], reason: 'defective' });
  assert.equal(r.status, 201);
  // staff list the order's returns, newest first
  r = await A('GET', `/v1/admin/orders/${o.id}/returns`);
  assert.equal(r.status, 200);
  assert.equal(r.body.data.length, 3);
  assert.equal(r.body.data[2].id, ret.id);
  r = await A('GET', `/v1/admin/orders/${o.id}/returns?limit=2`);
  assert.equal(r.body.has_more, true);
  r = await A('GET', `/v1/admin/orders/${o.id}/returns?limit=2&cursor=${encodeURIComponent(r.body.next_cursor)}`);
  assert.deepEqual(r.body.data.map((x) => x.id), [ret.id]);
  r = await A('GET', '/v1/admin/orders/order_00000000000000000000000000/returns');
  assert.equal(r.status, 404);
  r = await A('POST', `/v1/admin/orders/${o.id}/returns/ret_00000000000000000000000000/approve`);
  assert.equal(r.status, 404);
});

test('staff returns start approved; without restock nothing goes on hand; the refund never exceeds what is left captured', async () => {
  const o = await order([[V.tee.id, 3]], { capture: true }); // 75.00 captured
  const tee = line(o, V.tee);
  await fulfil(o, [[tee, 3]]);
  let r = await A('POST', `/v1/admin/orders/${o.id}/refunds`, { amount: 7000 });
  assert.equal(r.status, 201);
  r = await A('POST', `/v1/admin/orders/${o.id}/returns`, { items: [{ line_item_id: tee.id, quantity: 1 }], reason: 'damaged' });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual([r.body.status, r.body.requested_by], ['approved', 'staff']);
  const before = await level(V.tee.id);
  r = await A('POST', `/v1/admin/orders/${o.id}/returns/${r.body.id}/receive`, { restock: false });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.items.map((x) => x.restock), [false]);
  assert.deepEqual([r.body.refund_amount, r.body.refund_status], [500, 'succeeded'], 'only 5.00 was left to refund');
  assert.deepEqual(await level(V.tee.id), before);
  let ord = await getOrder(o);
  assert.deepEqual([ord.payment_status, ord.refunded_total], ['refunded', 7500]);
  // refund: false and nothing left: no refund
  r = await A('POST', `/v1/admin/orders/${o.id}/returns`, { items: [{ line_item_id: tee.id, quantity: 2 }], reason: 'other' });
  r = await A('POST', `/v1/admin/orders/${o.id}/returns/${r.body.id}/receive`, { refund: false, items: [{ line_item_id: tee.id, restock: true }] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.refund_amount, r.body.refund_id, r.body.refund_status], [0, null, null]);
  ord = await getOrder(o);
  assert.equal(line(ord, V.tee).returned_quantity, 3);
  r = await A('POST', `/v1/admin/orders/${o.id}/returns`, { items: [{ line_item_id: tee.id, quantity: 1 }], reason: 'other' });
  assert.equal(r.status, 422, 'everything was returned');
  // an order that was paid only by authorization: received, nothing refunded
  const p = await order([[V.mug.id, 1]]);
  await fulfil(p, [[line(p, V.mug), 1]]);
  r = await A('POST', `/v1/admin/orders/${p.id}/returns`, { items: [{ line_item_id: line(p, V.mug).id, quantity: 1 }], reason: 'other' });
  r = await A('POST', `/v1/admin/orders/${p.id}/returns/${r.body.id}/receive`);
  assert.deepEqual([r.status, r.body.refund_amount, r.body.refund_status], [200, 0, null]);
});

test('a key without orders:write gets 403 on every move; orders:read may list returns and export', async () => {
  const o = await order([[V.mug.id, 1]]);
  const key = await A('POST', '/v1/admin/api-keys', { type: 'secret', title: 'support', scopes: ['orders:read'] });
  assert.equal(key.status, 201);
  const K = (method, path, json) => s.client.request(method, path, { pk: null, token: key.body.token, json });
  const mug = line(o, V.mug);
  for (const [path, body] of [[`/v1/admin/orders/${o.id}/fulfillments`, { location_id: loc, items: [{ line_item_id: mug.id, quantity: 1 }] }],
    [`/v1/admin/orders/${o.id}/returns`, { items: [{ line_item_id: mug.id, quantity: 1 }], reason: 'other' }],
    [`/v1/admin/orders/${o.id}/fulfillments/ful_00000000000000000000000000/shipments`, { carrier: 'x', tracking_number: '1' }],
    [`/v1/admin/orders/${o.id}/fulfillments/ful_00000000000000000000000000/deliver`, undefined],
    [`/v1/admin/orders/${o.id}/returns/ret_00000000000000000000000000/receive`, undefined],
    [`/v1/admin/orders/${o.id}/returns/ret_00000000000000000000000000/approve`, undefined],
    [`/v1/admin/orders/${o.id}/returns/ret_00000000000000000000000000/reject`, undefined]]) {
    const r = await K('POST', path, body);
    assert.equal(r.status, 403, path);
    assert.equal(r.body.type, type('forbidden'));
  }
  assert.equal((await getOrder(o)).fulfillments.length, 0);
  assert.equal((await K('GET', `/v1/admin/orders/${o.id}/returns`)).status, 200);
  assert.equal((await K('GET', '/v1/admin/exports/orders.csv')).status, 200);
  const cat = await A('POST', '/v1/admin/api-keys', { type: 'secret', title: 'catalog', scopes: ['catalog:read'] });
  const r = await s.client.request('GET', '/v1/admin/exports/orders.csv', { pk: null, token: cat.body.token });
  assert.equal(r.status, 403);
});

test('orders CSV export: the list filters, one row per order, formula-leading cells neutralised', async () => {
  const o = await order([[V.mug.id, 2]], { note: '=HYPERLINK("http://evil.example","x")' });
  let r = await A('GET', `/v1/admin/exports/orders.csv?q=%23${o.number}`);
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type'), /^text\/csv/);
  assert.match(r.headers.get('content-disposition'), /attachment; filename="orders.csv"/);
  const rows = r.text.split('\r\n');
  assert.equal(rows.at(-1), '', 'CRLF after the last row');
  const header = rows[0].split(',');
  assert.deepEqual(header.slice(0, 6), ['number', 'id', 'placed_at', 'status', 'payment_status', 'fulfillment_status']);
  assert.equal(rows.length, 3, 'header, one order, end');
  const cells = rows[1].split(',');
  assert.equal(cells[header.indexOf('id')], o.id);
  assert.equal(cells[header.indexOf('number')], String(o.number));
  assert.equal(cells[header.indexOf('total')], String(o.total));
  assert.equal(cells[header.indexOf('units')], '2');
  assert.equal(cells[header.indexOf('shipping_country')], 'de');
  assert.ok(rows[1].endsWith('"\'=HYPERLINK(""http://evil.example"",""x"")"'), rows[1]);
  // the same filters as the list; nothing matching is just the header
  r = await A('GET', `/v1/admin/exports/orders.csv?placed_after=2999-01-01`);
  assert.equal(r.text, header.join(',') + '\r\n');
  r = await A('GET', `/v1/admin/exports/orders.csv?payment_status=authorized&total_min=${o.total}&total_max=${o.total}`);
  const list = await A('GET', `/v1/admin/orders?payment_status=authorized&total_min=${o.total}&total_max=${o.total}&limit=100`);
  assert.deepEqual(r.text.split('\r\n').slice(1, -1).map((x) => x.split(',')[1]), list.body.data.map((x) => x.id));
  for (const q of ['status=lost', 'total_min=ten', 'placed_after=yesterday', 'limit=5', 'color=red']) {
    r = await A('GET', `/v1/admin/exports/orders.csv?${q}`);
    assert.equal(r.status, 400, q);
    assert.equal(r.body.type, type('invalid-parameter'));
  }
});

test('concurrency: 8 fulfilments of 1 unit race for a 3-unit line, 4 receipts of one return race: never more than ordered or refunded once', async () => {
  const o = await order([[V.tee.id, 3]], { capture: true });
  const tee = line(o, V.tee);
  const before = await level(V.tee.id);
  const results = await Promise.all(Array.from({ length: 8 }, () => fulfil(o, [[tee, 1]])));
  const by = {};
  for (const r of results) by[r.status] = (by[r.status] ?? 0) + 1;
  assert.deepEqual(by, { 201: 3, 422: 5 }, JSON.stringify(by));
  const after = await level(V.tee.id);
  assert.deepEqual([after.on_hand, after.reserved], [before.on_hand - 3, before.reserved - 3]);
  assert.equal((await events(o, 'order.fulfilled')).length, 1);
  const ret = (await A('POST', `/v1/admin/orders/${o.id}/returns`, { items: [{ line_item_id: tee.id, quantity: 2 }], reason: 'other' })).body;
  const receipts = await Promise.all(Array.from({ length: 4 }, () => A('POST', `/v1/admin/orders/${o.id}/returns/${ret.id}/receive`)));
  assert.deepEqual(receipts.map((r) => r.status).sort(), [200, 409, 409, 409]);
  const ord = await getOrder(o);
  assert.deepEqual([ord.refunded_total, ord.refunds.length, line(ord, V.tee).returned_quantity], [5000, 1, 2]);
  assert.equal((await level(V.tee.id)).on_hand, before.on_hand - 1, 'restocked once');
});
