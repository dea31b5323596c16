// order_edits.test.mjs: staff edits of unfulfilled orders (stock re-reserved all or nothing, the difference
// settled: outstanding amount, a lower authorization, a refund) and draft orders completed into orders.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startStack, staffLogin, newCustomer } from './lib/harness.mjs';

let s, t, shipping, loc;
const sql = async (text, params) => s.sql(text, params);
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json, o = {}) => s.client.request(method, path, { pk: null, token: t, json, ...o });
let seq = 0;
const uniq = (p) => `${p}-${process.pid}-${++seq}`;
const V = {};
const address = { first_name: 'Ada', last_name: 'L', address_1: 'Unter den Linden 1', city: 'Berlin', postal_code: '10117', country_code: 'DE' };
const visa = { payment: { provider: 'test', data: { token: 'tok_visa' } } };

async function variant(stock, amount = 1000, currency = 'eur') {
  const r = await A('POST', '/v1/admin/products', { title: uniq('Thing'), status: 'active',
    variants: [{ sku: uniq('SKU'), prices: [{ currency_code: currency, amount }], inventory: [{ location_id: loc, quantity: stock }] }] });
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
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
  V.tee = await variant(1000, 2500);
  V.mug = await variant(1000, 1200);
  V.few = await variant(3, 700);
  V.usd = await variant(100, 900, 'usd');
});
after(async () => { if (process.env.SHOWLOG) console.log(s.server.log.split("\n").filter((l) => /status=5|level":"error|ERROR/.test(l)).slice(0, 20).join("\n")); return s && (await s.stop()); });

async function order(lines, payment = visa) {
  const c = await s.client.request('POST', '/v1/store/carts', { json: { email: 'buyer@example.com', shipping_address: address,
    items: lines.map(([v, quantity]) => ({ variant_id: v.id, quantity })) } });
  assert.equal(c.status, 201, c.text);
  const m = await s.client.request('POST', `/v1/store/carts/${c.body.id}/shipping-methods`, { json: { option_id: shipping } });
  assert.equal(m.status, 200, m.text);
  const r = await s.client.request('POST', `/v1/store/carts/${c.body.id}/complete`, { json: payment, headers: { 'idempotency-key': crypto.randomUUID() } });
  assert.equal(r.status, 201, r.text);
  return r.body;
}
const line = (o, v) => o.items.find((l) => l.variant_id === v.id);
const reserved = async (o) => (await sql(
  "SELECT v.variant_id, sum(r.quantity)::int AS q FROM reservations r JOIN variant_inventory_items v ON v.inventory_item_id = r.inventory_item_id WHERE r.reference = $1 AND r.status = 'active' GROUP BY 1",
  [o.id])).reduce((m, x) => ({ ...m, [x.variant_id]: x.q }), {});
const edit = (o, body) => A('POST', `/v1/admin/orders/${o.id}/edits`, body);

test('edits of an authorized order: more raises the outstanding amount, less lowers it and then the authorization; the capture takes the new amount', async () => {
  const o = await order([[V.tee, 2], [V.mug, 1]]); // 62.00 authorized
  let r = await edit(o, { change: [{ line_id: line(o, V.tee).id, quantity: 3 }], note: 'customer called' });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.total, r.body.item_subtotal, r.body.outstanding_amount, r.body.payment_status], [8700, 8700, 2500, 'authorized']);
  assert.deepEqual([line(r.body, V.tee).quantity, line(r.body, V.tee).unit_price, line(r.body, V.tee).subtotal], [3, 2500, 7500]);
  assert.deepEqual(await reserved(o), { [V.tee.id]: 3, [V.mug.id]: 1 }, 'stock follows the lines');
  assert.deepEqual(r.body.timeline.slice(-2).map((e) => [e.type, e.data.from, e.data.to]), [['order.line_quantity_changed', 2, 3], ['order.edited', undefined, undefined]]);
  assert.equal(r.body.timeline.at(-1).data.note, 'customer called');
  r = await edit(o, { remove: [line(o, V.mug).id] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.total, r.body.outstanding_amount, r.body.items.length], [7500, 1300, 1]);
  assert.deepEqual(await reserved(o), { [V.tee.id]: 3 });
  r = await edit(o, { change: [{ line_id: line(o, V.tee).id, quantity: 1 }] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.total, r.body.outstanding_amount, r.body.payments[0].amount], [2500, 0, 2500], '50.00 less: 13.00 outstanding gone, the authorization lowered by 37.00');
  r = await A('POST', `/v1/admin/orders/${o.id}/capture`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.payment_status, r.body.paid_total], ['paid', 2500]);
  const g = await sql('SELECT c.captured FROM test_gateway_charges c JOIN payments p ON p.provider_ref = c.id WHERE p.order_id = $1', [o.id]);
  assert.equal(Number(g[0].captured), 2500, 'the gateway captured the lowered amount');
  const ev = await sql("SELECT payload FROM outbox_events WHERE type = 'order.edited' AND payload->>'order_id' = $1 ORDER BY id", [o.id]);
  assert.deepEqual(ev.map((x) => [x.payload.old_total, x.payload.new_total]), [[6200, 8700], [8700, 7500], [7500, 2500]]);
});

test('edits of a paid order: an addition at a staff price is outstanding; a lower total is refunded through the refund flow', async () => {
  const o = await order([[V.tee, 2]]);
  assert.equal((await A('POST', `/v1/admin/orders/${o.id}/capture`)).status, 200);
  let r = await edit(o, { add: [{ variant_id: V.mug.id, quantity: 2, unit_price: 1000 }] });
  assert.equal(r.status, 200, r.text);
  const mug = line(r.body, V.mug);
  assert.deepEqual([mug.quantity, mug.unit_price, mug.total, r.body.total, r.body.outstanding_amount], [2, 1000, 2000, 7000, 2000]);
  assert.deepEqual(r.body.timeline.slice(-2).map((e) => e.type), ['order.line_added', 'order.edited']);
  r = await edit(o, { add: [{ variant_id: V.mug.id, quantity: 1 }] });
  assert.equal(line(r.body, V.mug).unit_price, 1000, 'the first mug line');
  assert.equal(r.body.items.filter((l) => l.variant_id === V.mug.id).map((l) => l.unit_price).sort().join(), '1000,1200', 'a new line at the base price');
  assert.equal(r.body.outstanding_amount, 3200);
  // remove the tee (50.00): 32.00 outstanding goes first, 18.00 is refunded
  r = await edit(o, { remove: [line(o, V.tee).id] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.total, r.body.outstanding_amount, r.body.refunded_total, r.body.payment_status], [3200, 0, 1800, 'partially_refunded']);
  assert.deepEqual(r.body.refunds.map((x) => [x.amount, x.status, x.note]), [[1800, 'succeeded', 'Order edit']]);
  assert.deepEqual(await reserved(o), { [V.mug.id]: 3 });
});

test('edits are checked: pointers, all-or-nothing stock, state, permissions', async () => {
  const o = await order([[V.tee, 1], [V.mug, 1]]);
  const tee = line(o, V.tee), mug = line(o, V.mug);
  const before = await reserved(o);
  for (const [body, status, pointer] of [
    [{}, 422, '/add'], [{ add: [], remove: [], change: [] }, 422, '/add'],
    [{ remove: ['oli_00000000000000000000000000'] }, 422, '/remove/0'], [{ remove: [tee.id, tee.id] }, 422, '/remove/1'],
    [{ remove: [tee.id, mug.id] }, 422, '/remove'],
    [{ change: [{ line_id: 'oli_00000000000000000000000000', quantity: 2 }] }, 422, '/change/0/line_id'],
    [{ change: [{ line_id: tee.id, quantity: 0 }] }, 422, '/change/0/quantity'],
    [{ change: [{ line_id: tee.id, quantity: 2 }, { line_id: tee.id, quantity: 3 }] }, 422, '/change/1/line_id'],
    [{ remove: [tee.id], change: [{ line_id: tee.id, quantity: 2 }] }, 422, '/change/0/line_id'],
    [{ add: [{ variant_id: 'var_00000000000000000000000000', quantity: 1 }] }, 422, '/add/0/variant_id'],
    [{ add: [{ variant_id: V.usd.id, quantity: 1 }] }, 422, '/add/0/variant_id'],
    [{ add: [{ variant_id: V.mug.id, quantity: 1, unit_price: -1 }] }, 422, '/add/0/unit_price'],
    [{ add: [{ variant_id: V.mug.id }] }, 422, '/add/0/quantity'],
    [{ remove: 'all' }, 422, '/remove'],
    [{ add: [{ variant_id: V.few.id, quantity: 4 }] }, 409, null],
  ]) {
    const r = await edit(o, body);
    assert.equal(r.status, status, `${JSON.stringify(body)}: ${r.text}`);
    if (pointer) assert.equal(r.body.errors[0].pointer, pointer, JSON.stringify(body));
    else assert.equal(r.body.type, type('insufficient-stock'));
  }
  let r = await edit(o, { change: [{ line_id: tee.id, quantity: 2 }], color: 'red' });
  assert.equal(r.body.type, type('unknown-field'));
  const got = await A('GET', `/v1/admin/orders/${o.id}`);
  assert.equal(got.status, 200, got.text);
  const now = got.body;
  assert.deepEqual([now.total, now.items.length, now.timeline.length], [o.total, 2, 1], 'nothing was written');
  assert.deepEqual(await reserved(o), before);
  // the variant sold out by the order itself: re-reserving counts what the order held
  r = await edit(o, { add: [{ variant_id: V.few.id, quantity: 3 }] });
  assert.equal(r.status, 200, r.text);
  r = await edit(o, { change: [{ line_id: line(r.body, V.few).id, quantity: 2 }] });
  assert.equal(r.status, 200, r.text);
  // a key without orders:write
  const key = await A('POST', '/v1/admin/api-keys', { type: 'secret', title: 'ro', scopes: ['orders:read'] });
  r = await s.client.request('POST', `/v1/admin/orders/${o.id}/edits`, { pk: null, token: key.body.token, json: { remove: [mug.id] } });
  assert.equal(r.status, 403);
  r = await A('POST', '/v1/admin/orders/order_00000000000000000000000000/edits', { remove: [mug.id] });
  assert.equal(r.status, 404);
  // after fulfilment, and once canceled: 409
  r = await A('POST', `/v1/admin/orders/${o.id}/fulfillments`, { location_id: loc, items: [{ line_item_id: mug.id, quantity: 1 }] });
  assert.equal(r.status, 201, r.text);
  r = await edit(o, { remove: [tee.id] });
  assert.equal(r.status, 409);
  assert.equal(r.body.type, type('invalid-state'));
  const c = await order([[V.mug, 1]]);
  assert.equal((await A('POST', `/v1/admin/orders/${c.id}/cancel`)).status, 200);
  r = await edit(c, { change: [{ line_id: line(c, V.mug).id, quantity: 2 }] });
  assert.equal(r.status, 409);
});

test('draft orders: staff build one for a customer with a custom price, update it, and complete it into a pending order with its stock reserved', async () => {
  const a = await newCustomer(s.client);
  let r = await A('POST', '/v1/admin/draft-orders', { customer_id: a.customer.id, currency_code: 'EUR',
    items: [{ variant_id: V.tee.id, quantity: 2 }, { variant_id: V.mug.id, quantity: 1, unit_price: 999 }], note: 'phone order' });
  assert.equal(r.status, 201, r.text);
  const d = r.body;
  assert.match(d.id, /^draft_[0-9a-z]{26}$/);
  assert.deepEqual([d.status, d.email, d.currency_code, d.total, d.sales_channel_id], ['open', a.email, 'eur', 5999, s.channel]);
  assert.deepEqual(d.items.map((l) => [l.sku, l.unit_price, l.custom_price, l.subtotal]), [[V.tee.sku, 2500, false, 5000], [V.mug.sku, 999, true, 999]]);
  r = await A('GET', `/v1/admin/draft-orders/${d.id}`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, d);
  r = await A('GET', `/v1/admin/draft-orders?customer_id=${a.customer.id}&status=open`);
  assert.deepEqual(r.body.data.map((x) => x.id), [d.id]);
  r = await A('POST', `/v1/admin/draft-orders/${d.id}/complete`);
  assert.equal(r.status, 422, 'goods ship: an address is needed');
  assert.equal(r.body.errors[0].pointer, '/shipping_address');
  r = await A('PATCH', `/v1/admin/draft-orders/${d.id}`, { shipping_address: address, items: [{ variant_id: V.tee.id, quantity: 3 }, { variant_id: V.mug.id, quantity: 1, unit_price: 999 }] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.total, r.body.shipping_address.country_code], [8499, 'de']);
  r = await A('PATCH', `/v1/admin/draft-orders/${d.id}`, { note: 'x' }, { headers: { 'if-match': '"0123"' } });
  assert.equal(r.status, 412, 'a stale If-Match');
  const before = await sql("SELECT count(*)::int AS n FROM orders");
  r = await A('POST', `/v1/admin/draft-orders/${d.id}/complete`);
  assert.equal(r.status, 201, r.text);
  const o = r.body;
  assert.deepEqual([o.customer_id, o.email, o.payment_status, o.total, o.note, o.cart_id], [a.customer.id, a.email, 'pending', 8499, 'phone order', null]);
  assert.deepEqual(o.payments.map((p) => [p.provider, p.status, p.amount]), [['manual', 'pending', 8499]]);
  assert.deepEqual(o.items.map((l) => [l.variant_id, l.quantity, l.unit_price, l.metadata]), [[V.tee.id, 3, 2500, {}], [V.mug.id, 1, 999, { custom_price: true }]]);
  assert.equal((await sql('SELECT count(*)::int AS n FROM orders'))[0].n, before[0].n + 1);
  assert.deepEqual(await reserved(o), { [V.tee.id]: 3, [V.mug.id]: 1 });
  const ev = await sql("SELECT payload FROM outbox_events WHERE type = 'order.placed' AND payload->>'order_id' = $1", [o.id]);
  assert.equal(ev[0].payload.draft_order_id, d.id);
  r = await A('GET', `/v1/admin/draft-orders/${d.id}`);
  assert.deepEqual([r.body.status, r.body.order_id], ['completed', o.id]);
  assert.ok(r.body.completed_at);
  r = await A('POST', `/v1/admin/draft-orders/${d.id}/complete`);
  assert.equal(r.status, 409);
  assert.equal(r.body.type, type('invalid-state'));
  r = await A('PATCH', `/v1/admin/draft-orders/${d.id}`, { note: 'late' });
  assert.equal(r.status, 409);
  // the customer sees it; staff capture it like any manual order
  r = await s.client.request('GET', '/v1/store/customers/me/orders', { token: a.token });
  assert.deepEqual(r.body.data.map((x) => x.id), [o.id]);
  r = await A('POST', `/v1/admin/orders/${o.id}/capture`);
  assert.deepEqual([r.status, r.body.payment_status], [200, 'paid']);
});

test('draft orders: paid at completion, guests by email, and every refusal with a pointer or a clean 409', async () => {
  let r = await A('POST', '/v1/admin/draft-orders', { email: 'Walk-In@Example.com', currency_code: 'eur', shipping_address: address, items: [{ variant_id: V.mug.id, quantity: 2 }] });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.email, 'walk-in@example.com');
  r = await A('POST', `/v1/admin/draft-orders/${r.body.id}/complete`, { paid: true });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual([r.body.payment_status, r.body.paid_total, r.body.payments[0].status], ['paid', 2400, 'captured']);
  assert.match(r.body.customer_id, /^cus_/, 'a guest customer record of the email');
  for (const [body, pointer] of [[{ customer_id: 'cus_00000000000000000000000000', currency_code: 'eur' }, '/customer_id'],
    [{ currency_code: 'eur', items: [{ variant_id: 'var_00000000000000000000000000', quantity: 1 }] }, '/items/0/variant_id'],
    [{ currency_code: 'xyz' }, '/currency_code'], [{ currency_code: 'eur', items: [{ variant_id: V.mug.id, quantity: 0 }] }, '/items/0/quantity'],
    [{ currency_code: 'eur', region_id: 'reg_00000000000000000000000000' }, '/region_id'], [{ currency_code: 'eur', email: 'not-an-email' }, '/email'],
    [{ currency_code: 'eur', sales_channel_id: 'sc_00000000000000000000000000' }, '/sales_channel_id'], [{ currency_code: 'eur', shipping_address: { city: 'x' } }, '/shipping_address/country_code']]) {
    r = await A('POST', '/v1/admin/draft-orders', body);
    assert.equal(r.status, 422, `${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.body.errors[0]?.pointer, pointer, `${JSON.stringify(body)}: ${r.text}`);
  }
  const mk = async (body) => (await A('POST', '/v1/admin/draft-orders', { currency_code: 'eur', shipping_address: address, email: 'x@example.com', ...body })).body;
  const complete = (d) => A('POST', `/v1/admin/draft-orders/${d.id}/complete`);
  for (const [d, pointer] of [[await mk({}), '/items'], [await mk({ items: [{ variant_id: V.usd.id, quantity: 1 }] }), '/items/0/unit_price'],
    [await mk({ email: null, items: [{ variant_id: V.mug.id, quantity: 1 }] }), '/email']]) {
    r = await complete(d);
    assert.equal(r.status, 422, r.text);
    assert.equal(r.body.errors[0].pointer, pointer);
  }
  const short = await mk({ items: [{ variant_id: V.few.id, quantity: 50 }] });
  r = await complete(short);
  assert.equal(r.status, 409);
  assert.equal(r.body.type, type('insufficient-stock'));
  assert.equal((await A('GET', `/v1/admin/draft-orders/${short.id}`)).body.status, 'open', 'still a draft');
  r = await A('POST', '/v1/admin/draft-orders/draft_00000000000000000000000000/complete');
  assert.equal(r.status, 404);
  r = await A('GET', '/v1/admin/draft-orders?status=lost');
  assert.equal(r.status, 400);
  const key = await A('POST', '/v1/admin/api-keys', { type: 'secret', title: 'ro2', scopes: ['orders:read'] });
  r = await s.client.request('POST', '/v1/admin/draft-orders', { pk: null, token: key.body.token, json: { currency_code: 'eur' } });
  assert.equal(r.status, 403);
  r = await s.client.request('POST', `/v1/admin/draft-orders/${short.id}/complete`, { pk: null, token: key.body.token });
  assert.equal(r.status, 403);
});

test('a changed line keeps its tax rate: each tax line and the tax total scale with the quantity', async () => {
  const at = (await A('POST', '/v1/admin/regions', { name: 'AT', currency_code: 'eur', countries: ['at'] })).body;
  const r0 = await A('POST', '/v1/admin/tax-rates', { region_id: at.id, rate_bp: 2000, name: 'USt', code: 'AT20' });
  assert.equal(r0.status, 201, r0.text);
  const so = (await A('POST', '/v1/admin/shipping-options', { name: 'AT', region_id: at.id, provider: 'flat_rate', amount: 0 })).body;
  const c = await s.client.request('POST', '/v1/store/carts', { json: { email: 'at@example.com', region_id: at.id,
    shipping_address: { ...address, country_code: 'at', city: 'Wien' }, items: [{ variant_id: V.tee.id, quantity: 2 }] } });
  assert.equal(c.status, 201, c.text);
  assert.equal((await s.client.post(`/v1/store/carts/${c.body.id}/shipping-methods`, { option_id: so.id })).status, 200);
  const o = (await s.client.request('POST', `/v1/store/carts/${c.body.id}/complete`, { json: visa, headers: { 'idempotency-key': crypto.randomUUID() } })).body;
  assert.deepEqual([o.item_subtotal, o.tax_total, o.total], [5000, 1000, 6000]);
  const r = await edit(o, { change: [{ line_id: o.items[0].id, quantity: 3 }] });
  assert.equal(r.status, 200, r.text);
  const l = r.body.items[0];
  assert.deepEqual([l.subtotal, l.tax_total, l.total, l.tax_lines.map((x) => [x.code, x.amount])], [7500, 1500, 9000, [['AT20', 1500]]]);
  assert.deepEqual([r.body.item_subtotal, r.body.tax_total, r.body.total, r.body.outstanding_amount], [7500, 1500, 9000, 3000]);
});
