// gift_sale.test.mjs: gift cards sold as a product (migrations/0036): the product flag and what it does to variants,
// gift card lines in a cart (no discount, no tax, not payable with a gift card, no shipping), issuance when the
// payment is captured (only then, exactly once under retried and racing captures), the one-time reveal of the code
// (hashed at rest, never in the event), the refund rule of orders that issued cards, staff adjustments (never
// negative under concurrency) and DELETE of a cart's shipping method, with the refusals of every route.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import pg from 'pg';
import { startStack, staffLogin, newCustomer, Client, SOCK, PGPORT } from './lib/harness.mjs';

let s, t, readOnlyKey, eu, other;
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json, o = {}) => s.client.request(method, path, { pk: null, token: t, json, ...o });
let seq = 0;
const uniq = (p) => `${p}-${process.pid}-${++seq}`;
const V = {};
const O = {};
let loc;
const CODE = /^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){3}$/;
const problem = (r, status, slug, pointer, code) => {
  assert.equal(r.status, status, r.text);
  assert.equal(r.body.type, type(slug), r.text);
  if (pointer !== undefined) assert.deepEqual(r.body.errors.map((e) => e.pointer), [pointer], r.text);
  if (code !== undefined) assert.equal(r.body.errors[0].code, code, r.text);
};
const hash = (code) => crypto.createHash('sha256').update(code.replaceAll('-', '').toUpperCase()).digest('hex');
let keyN = 0;
const complete = (cartId, body) =>
  s.client.request('POST', `/v1/store/carts/${cartId}/complete`, { json: body, headers: { 'idempotency-key': `gs-${process.pid}-${++keyN}` } });
const visa = { payment: { provider: 'test', data: { token: 'tok_visa' } } };
const manual = { payment: { provider: 'manual' } };

async function product(body) {
  const r = await A('POST', '/v1/admin/products', { title: uniq('Thing'), status: 'active', ...body });
  assert.equal(r.status, 201, r.text);
  return r.body;
}
const patchProduct = async (id, body) => {
  const etag = (await A('GET', `/v1/admin/products/${id}`)).headers.get('etag');
  return A('PATCH', `/v1/admin/products/${id}`, body, { headers: { 'if-match': etag } });
};
const cart = async (items, extra = {}, client = s.client) => {
  const r = await client.post('/v1/store/carts', { items: items.map(([variant_id, quantity]) => ({ variant_id, quantity })), email: 'buyer@example.com', region_id: eu.id, ...extra });
  assert.equal(r.status, 201, r.text);
  return r.body;
};
const order = async (id) => (await A('GET', `/v1/admin/orders/${id}`)).body;
const cards = async (orderId) => {
  const r = await A('GET', `/v1/admin/orders/${orderId}/gift-cards`);
  assert.equal(r.status, 200, r.text);
  return r.body.data;
};
/* an order of gift cards (2 x 2500) and an ebook (1000 + tax), placed with provider, not captured */
async function placeOrder(pay = manual, gcQty = 2) {
  const c = await cart([[V.gc25, gcQty], [V.ebook, 1]]);
  const r = await complete(c.id, pay);
  assert.equal(r.status, 201, r.text);
  return r.body;
}

before(async () => {
  s = await startStack();
  t = (await staffLogin(s.client)).access_token;
  eu = (await A('POST', '/v1/admin/regions', { name: 'Europe', currency_code: 'eur', countries: ['de'] })).body;
  await A('POST', '/v1/admin/tax-rates', { region_id: eu.id, rate_bp: 2000, name: 'VAT', code: 'VAT' });
  loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Berlin' })).body.id;
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
  const gp = await product({ gift_card: true, options: [{ title: 'Amount', values: ['25', '0'] }], variants: [
    { sku: uniq('GC25'), options: { Amount: '25' }, requires_shipping: true, manage_inventory: true, prices: [{ currency_code: 'eur', amount: 2500 }] },
    { sku: uniq('GC0'), options: { Amount: '0' }, prices: [{ currency_code: 'eur', amount: 0 }] }] });
  V.gcProduct = gp;
  V.gc25 = gp.variants[0].id;
  V.gc0 = gp.variants[1].id;
  V.ebook = (await product({ variants: [{ sku: uniq('EBOOK'), requires_shipping: false, manage_inventory: false, prices: [{ currency_code: 'eur', amount: 1000 }] }] })).variants[0].id;
  V.tee = (await product({ variants: [{ sku: uniq('TEE'), prices: [{ currency_code: 'eur', amount: 3000 }], inventory: [{ location_id: loc, quantity: 100 }] }] })).variants[0].id;
  O.std = (await A('POST', '/v1/admin/shipping-options', { name: 'Standard', region_id: eu.id, amount: 490 })).body;
  readOnlyKey = (await A('POST', '/v1/admin/api-keys', { type: 'secret', title: 'ro', scopes: ['promotions:read', 'orders:read'] })).body.token;
  const ch2 = await A('POST', '/v1/admin/sales-channels', { name: 'Wholesale' });
  other = new Client(s.url, (await A('POST', '/v1/admin/api-keys', { type: 'publishable', title: 'B2B', sales_channel_id: ch2.body.id })).body.token);
});
after(async () => s && (await s.stop()));

test('a gift card product: its variants never ship nor track stock; the flag is shown, changed and validated', async () => {
  assert.equal(V.gcProduct.gift_card, true);
  for (const v of V.gcProduct.variants) assert.deepEqual([v.requires_shipping, v.manage_inventory], [false, false], 'forced off on create');
  // a variant asking for shipping later is kept off too
  const etag = (await A('GET', `/v1/admin/products/${V.gcProduct.id}`)).headers.get('etag');
  let r = await A('PATCH', `/v1/admin/products/${V.gcProduct.id}/variants/${V.gc25}`, { requires_shipping: true }, { headers: { 'if-match': etag } });
  assert.equal(r.status, 200, r.text);
  r = await A('GET', `/v1/admin/products/${V.gcProduct.id}`);
  assert.equal(r.body.variants.find((v) => v.id === V.gc25).requires_shipping, false);
  // an ordinary product becomes a gift card product: its variants stop shipping; back again keeps them as they are
  const p = await product({ variants: [{ sku: uniq('X'), prices: [{ currency_code: 'eur', amount: 100 }] }] });
  assert.equal(p.gift_card, false);
  assert.equal(p.variants[0].requires_shipping, true);
  r = await patchProduct(p.id, { gift_card: true });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.gift_card, r.body.variants[0].requires_shipping, r.body.variants[0].manage_inventory], [true, false, false]);
  r = await patchProduct(p.id, { gift_card: false, title: 'Plain' });
  assert.deepEqual([r.body.gift_card, r.body.title, r.body.variants[0].requires_shipping], [false, 'Plain', false]);
  // refusals: nothing written
  problem(await patchProduct(p.id, { gift_card: 'yes' }), 422, 'validation-failed', '/gift_card');
  problem(await A('POST', '/v1/admin/products', { title: uniq('Bad'), gift_card: 1 }), 422, 'validation-failed', '/gift_card');
  assert.equal((await A('GET', `/v1/admin/products/${p.id}`)).body.gift_card, false);
  // the storefront shows the flag (and fields= can ask for it alone)
  let sp = await s.client.get(`/v1/store/products/${V.gcProduct.id}`);
  assert.equal(sp.status, 200, sp.text);
  assert.equal(sp.body.gift_card, true);
  sp = await s.client.get(`/v1/store/products/${V.gcProduct.id}?fields=gift_card`);
  assert.deepEqual([sp.body.id, sp.body.gift_card, sp.body.title], [V.gcProduct.id, true, undefined]);
  problem(await s.client.get(`/v1/store/products/${V.gcProduct.id}?fields=gift_cards`), 400, 'invalid-parameter');
});

test('in a cart: gift card lines get no discount, no tax, need no shipping, and gift cards do not pay for them', async () => {
  const code = uniq('TENOFF').replaceAll('-', '');
  assert.equal((await A('POST', '/v1/admin/promotions', { code, type: 'percentage', percent_bp: 1000 })).status, 201);
  const payer = (await A('POST', '/v1/admin/gift-cards', { currency_code: 'eur', initial_balance: 100000 })).body;
  const c = await cart([[V.gc25, 2], [V.ebook, 1]]);
  let r = await s.client.post(`/v1/store/carts/${c.id}/promotions`, { code });
  assert.equal(r.status, 200, r.text);
  const gl = r.body.items.find((l) => l.variant_id === V.gc25), el = r.body.items.find((l) => l.variant_id === V.ebook);
  assert.deepEqual([gl.gift_card, gl.requires_shipping, gl.subtotal, gl.discount_total, gl.tax_total, gl.total, gl.tax_lines], [true, false, 5000, 0, 0, 5000, []]);
  assert.deepEqual([el.gift_card, el.discount_total, el.tax_total], [false, 100, 180]);
  assert.deepEqual([r.body.item_subtotal, r.body.discount_total, r.body.tax_total, r.body.total], [6000, 100, 180, 6080]);
  r = await s.client.post(`/v1/store/carts/${c.id}/gift-cards`, { code: payer.code });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.gift_card_total, r.body.amount_due], [1080, 5000], 'the card pays the ebook only');
  // a cart of gift cards only: a promotion gives nothing, a gift card pays nothing
  const c2 = await cart([[V.gc25, 1]]);
  problem(await s.client.post(`/v1/store/carts/${c2.id}/promotions`, { code }), 422, 'validation-failed', '/code', 'coupon_not_applicable');
  r = await s.client.post(`/v1/store/carts/${c2.id}/gift-cards`, { code: payer.code });
  assert.deepEqual([r.body.total, r.body.gift_card_total, r.body.amount_due], [2500, 0, 2500]);
  // no shipping address or method needed at checkout; no stock is reserved
  r = await complete(c2.id, visa);
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.payment_status, 'authorized');
  assert.equal((await s.sql("SELECT count(*)::int AS n FROM reservations WHERE reference = $1", [r.body.id]))[0].n, 0);
  assert.equal((await A('GET', `/v1/admin/gift-cards/${payer.id}`)).body.balance, 100000, 'nothing redeemed');
});

test('issuance: only when the payment is captured, one card per unit at the unit price, exactly once; the event has no code', async () => {
  const o = await placeOrder(manual, 3);
  assert.equal(o.payment_status, 'pending');
  assert.deepEqual(await cards(o.id), [], 'not before capture');
  const line = o.items.find((l) => l.variant_id === V.gc25);
  let r = await A('POST', `/v1/admin/orders/${o.id}/capture`);
  assert.equal(r.status, 200, r.text);
  const got = await cards(o.id);
  assert.equal(got.length, 3);
  for (const g of got) {
    assert.deepEqual([g.order_id, g.order_line_item_id, g.currency_code, g.initial_balance, g.balance, g.status, g.customer_id],
      [o.id, line.id, 'eur', 2500, 2500, 'active', o.customer_id]);
    assert.deepEqual(g.transactions.map((x) => [x.kind, x.amount, x.order_id, x.actor]), [['issue', 2500, o.id, `order:${o.id}`]]);
  }
  // a second capture is refused and issues nothing; the issuing function itself is idempotent
  problem(await A('POST', `/v1/admin/orders/${o.id}/capture`), 409, 'invalid-state');
  assert.equal((await s.sql('SELECT souq_gift_card_issue_order($1) AS n', [o.id]))[0].n, 0);
  assert.equal((await cards(o.id)).length, 3);
  // events: one gift_card.issued per card, without the code; the timeline shows them
  const ev = await s.sql("SELECT payload FROM outbox_events WHERE type = 'gift_card.issued' AND payload->>'order_id' = $1", [o.id]);
  assert.deepEqual(ev.map((e) => e.payload.gift_card_id).sort(), got.map((g) => g.id).sort());
  for (const e of ev) {
    assert.deepEqual([e.payload.amount, e.payload.currency_code, e.payload.email, e.payload.order_line_item_id], [2500, 'eur', 'buyer@example.com', line.id]);
    assert.equal(e.payload.code, undefined);
  }
  const codes = await s.sql('SELECT code FROM gift_card_deliveries WHERE order_id = $1', [o.id]);
  for (const c of codes) assert.ok(!JSON.stringify(ev).includes(c.code.replaceAll('-', '').slice(0, 10)), 'no code in events');
  const full = (await A('GET', `/v1/admin/orders/${o.id}`)).body;
  assert.equal(full.timeline.filter((e) => e.type === 'gift_card.issued').length, 3);
  // issuing fulfils the gift card line (the ebook line is still open); a gift card cannot be returned
  assert.deepEqual([full.items.find((l) => l.id === line.id).fulfilled_quantity, full.fulfillment_status], [3, 'partially_fulfilled']);
  const ret = await A('POST', `/v1/admin/orders/${o.id}/returns`, { reason: 'no_longer_needed', items: [{ line_item_id: line.id, quantity: 1 }] });
  problem(ret, 422, 'validation-failed', '/items/0/line_item_id', 'not_returnable');
  assert.equal((await s.sql('SELECT count(*)::int AS n FROM returns WHERE order_id = $1', [o.id]))[0].n, 0);
  // an order of gift cards only is fulfilled by its issuance
  const c1 = await cart([[V.gc25, 2]]);
  const o1 = (await complete(c1.id, manual)).body;
  assert.equal((await A('POST', `/v1/admin/orders/${o1.id}/capture`)).status, 200);
  const f1 = await order(o1.id);
  assert.deepEqual([f1.fulfillment_status, f1.items[0].fulfilled_quantity], ['fulfilled', 2]);
  assert.equal((await s.sql("SELECT count(*)::int AS n FROM outbox_events WHERE type = 'order.fulfilled' AND payload->>'order_id' = $1", [o1.id]))[0].n, 1);
  // a unit priced 0 issues nothing and says so
  const c0 = await cart([[V.gc0, 1], [V.ebook, 1]]);
  const o0 = (await complete(c0.id, manual)).body;
  assert.equal((await A('POST', `/v1/admin/orders/${o0.id}/capture`)).status, 200);
  assert.deepEqual(await cards(o0.id), []);
  assert.ok((await A('GET', `/v1/admin/orders/${o0.id}`)).body.timeline.some((e) => e.type === 'gift_card.not_issued'));
});

test('issuance under racing captures (test gateway): 8 concurrent captures issue each card once', async () => {
  const o = await placeOrder(visa, 4);
  assert.equal(o.payment_status, 'authorized');
  const rs = await Promise.all(Array.from({ length: 8 }, () => A('POST', `/v1/admin/orders/${o.id}/capture`)));
  assert.ok(rs.some((r) => r.status === 200), rs.map((r) => r.status).join());
  for (const r of rs) assert.ok(r.status === 200 || r.status === 409, r.text);
  const got = await cards(o.id);
  assert.equal(got.length, 4);
  assert.equal(new Set(got.map((g) => g.id)).size, 4);
  assert.equal((await s.sql("SELECT count(*)::int AS n FROM outbox_events WHERE type = 'gift_card.issued' AND payload->>'order_id' = $1", [o.id]))[0].n, 4);
  assert.equal((await A('GET', `/v1/admin/orders/${o.id}`)).body.payment_status, 'paid');
  // the issuing function from concurrent sessions (as two committing capture paths would run it): still 4
  const pools = Array.from({ length: 6 }, () => new pg.Client({ host: SOCK, port: PGPORT, user: 'souq', database: s.dbName }));
  await Promise.all(pools.map((c) => c.connect()));
  try {
    const ns = await Promise.all(pools.map((c) => c.query('SELECT souq_gift_card_issue_order($1) AS n', [o.id])));
    assert.deepEqual(ns.map((x) => x.rows[0].n), [0, 0, 0, 0, 0, 0]);
  } finally {
    await Promise.all(pools.map((c) => c.end()));
  }
  assert.equal((await s.sql('SELECT count(*)::int AS n FROM gift_cards WHERE order_id = $1', [o.id]))[0].n, 4);
});

test('the code: hashed at rest, revealed once (then gone), usable on a cart; refusals of reveal', async () => {
  const o = await placeOrder(manual, 1);
  await A('POST', `/v1/admin/orders/${o.id}/capture`);
  const [g] = await cards(o.id);
  let r = await A('POST', `/v1/admin/gift-cards/${g.id}/reveal`, undefined, { token: readOnlyKey });
  problem(r, 403, 'forbidden');
  problem(await A('POST', `/v1/admin/gift-cards/${g.id}/reveal`, { extra: 1 }), 422, 'unknown-field');
  r = await A('POST', `/v1/admin/gift-cards/${g.id}/reveal`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('cache-control'), 'no-store');
  assert.match(r.body.code, CODE);
  assert.equal(r.body.code_last4, r.body.code.replaceAll('-', '').slice(-4));
  const [row] = await s.sql('SELECT code_hash FROM gift_cards WHERE id = $1', [g.id]);
  assert.equal(row.code_hash, hash(r.body.code));
  assert.equal((await s.sql('SELECT count(*)::int AS n FROM gift_card_deliveries WHERE gift_card_id = $1', [g.id]))[0].n, 0, 'the clear code is gone');
  problem(await A('POST', `/v1/admin/gift-cards/${g.id}/reveal`), 409, 'invalid-state');
  assert.ok((await A('GET', `/v1/admin/orders/${o.id}`)).body.timeline.some((e) => e.type === 'gift_card.code_revealed' && e.actor));
  // it pays a cart
  const c = await cart([[V.ebook, 1]]);
  r = await s.client.post(`/v1/store/carts/${c.id}/gift-cards`, { code: r.body.code });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.gift_card_total, 1200);
  // staff-issued cards (code shown at creation), expired deliveries, unknown and malformed ids
  const staff = (await A('POST', '/v1/admin/gift-cards', { currency_code: 'eur', initial_balance: 100 })).body;
  problem(await A('POST', `/v1/admin/gift-cards/${staff.id}/reveal`), 409, 'invalid-state');
  const o2 = await placeOrder(manual, 1);
  await A('POST', `/v1/admin/orders/${o2.id}/capture`);
  const [g2] = await cards(o2.id);
  await s.sql("UPDATE gift_card_deliveries SET expires_at = now() - interval '1 second' WHERE gift_card_id = $1", [g2.id]);
  problem(await A('POST', `/v1/admin/gift-cards/${g2.id}/reveal`), 409, 'invalid-state');
  problem(await A('POST', '/v1/admin/gift-cards/gcard_01zzzzzzzzzzzzzzzzzzzzzzzz/reveal'), 404, 'not-found');
  problem(await A('POST', '/v1/admin/gift-cards/nope/reveal'), 404, 'not-found');
  problem(await A('GET', '/v1/admin/orders/order_01zzzzzzzzzzzzzzzzzzzzzzzz/gift-cards'), 404, 'not-found');
  problem(await A('GET', '/v1/admin/orders/nope/gift-cards'), 404, 'not-found');
  const cust = await newCustomer(s.client);
  problem(await A('GET', `/v1/admin/orders/${o2.id}/gift-cards`, undefined, { token: cust.token }), 403, 'forbidden');
});

test('refunds of an order that issued cards: the cards\' value is held until a card is disabled; spent value never; no re-enable', async () => {
  const o = await placeOrder(manual, 2); // 2 x 2500 cards + ebook 1000 + 200 tax = 6200
  await A('POST', `/v1/admin/orders/${o.id}/capture`);
  const [g1, g2] = await cards(o.id);
  problem(await A('POST', `/v1/admin/orders/${o.id}/refunds`, { amount: 6200 }), 422, 'validation-failed', '/amount', 'gift_cards_issued');
  problem(await A('POST', `/v1/admin/orders/${o.id}/refunds`, { amount: 1201 }), 422, 'validation-failed', '/amount', 'gift_cards_issued');
  assert.equal((await s.sql("SELECT count(*)::int AS n FROM refunds WHERE order_id = $1", [o.id]))[0].n, 0, 'nothing half-written');
  let r = await A('POST', `/v1/admin/orders/${o.id}/refunds`, { amount: 1200, reason: 'requested_by_customer' });
  assert.equal(r.status, 201, r.text);
  // card 1 disabled unused: its 2500 become refundable
  assert.equal((await A('PATCH', `/v1/admin/gift-cards/${g1.id}`, { status: 'disabled' })).status, 200);
  problem(await A('POST', `/v1/admin/orders/${o.id}/refunds`, { amount: 2501 }), 422, 'validation-failed', '/amount', 'gift_cards_issued');
  assert.equal((await A('POST', `/v1/admin/orders/${o.id}/refunds`, { amount: 2500 })).status, 201);
  problem(await A('PATCH', `/v1/admin/gift-cards/${g1.id}`, { status: 'active' }), 409, 'conflict');
  assert.equal((await A('GET', `/v1/admin/gift-cards/${g1.id}`)).body.status, 'disabled');
  // card 2 spent 1000 (a debit here), then disabled: only its 1500 left is refundable
  assert.equal((await A('POST', `/v1/admin/gift-cards/${g2.id}/adjustments`, { amount: -1000, reason: 'correction' })).status, 200);
  assert.equal((await A('PATCH', `/v1/admin/gift-cards/${g2.id}`, { status: 'disabled' })).status, 200);
  problem(await A('POST', `/v1/admin/orders/${o.id}/refunds`, { amount: 1501 }), 422, 'validation-failed', '/amount', 'gift_cards_issued');
  assert.equal((await A('POST', `/v1/admin/orders/${o.id}/refunds`, { amount: 1500 })).status, 201);
  const after = (await A('GET', `/v1/admin/orders/${o.id}`)).body;
  assert.deepEqual([after.refunded_total, after.payment_status], [5200, 'partially_refunded']);
  // a card disabled but not refunded can be enabled again
  const o2 = await placeOrder(manual, 1);
  await A('POST', `/v1/admin/orders/${o2.id}/capture`);
  const [g3] = await cards(o2.id);
  assert.equal((await A('PATCH', `/v1/admin/gift-cards/${g3.id}`, { status: 'disabled' })).status, 200);
  assert.equal((await A('PATCH', `/v1/admin/gift-cards/${g3.id}`, { status: 'active' })).status, 200);
});

test('staff adjustments: credit and debit through the ledger with a reason; every refusal; replay of an Idempotency-Key', async () => {
  const g = (await A('POST', '/v1/admin/gift-cards', { currency_code: 'eur', initial_balance: 5000 })).body;
  let r = await A('POST', `/v1/admin/gift-cards/${g.id}/adjustments`, { amount: -2000, reason: 'correction', note: 'Typo at issue' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.balance, 3000);
  const last = r.body.transactions.at(-1);
  assert.deepEqual([last.kind, last.amount, last.balance_after, last.reason, last.note], ['adjust', -2000, 3000, 'correction', 'Typo at issue']);
  assert.ok(last.actor);
  r = await A('POST', `/v1/admin/gift-cards/${g.id}/adjustments`, { amount: 1500, reason: 'goodwill' });
  assert.equal(r.body.balance, 4500);
  const before = (await s.sql('SELECT count(*)::int AS n FROM gift_card_transactions WHERE gift_card_id = $1', [g.id]))[0].n;
  for (const [body, status, slug, pointer, code] of [
    [{ amount: 0, reason: 'other' }, 422, 'validation-failed', '/amount', 'out_of_range'],
    [{ amount: -4501, reason: 'other' }, 422, 'validation-failed', '/amount', 'insufficient_balance'],
    [{ amount: 501, reason: 'other' }, 422, 'validation-failed', '/amount', 'exceeds_initial_balance'],
    [{ amount: 100 }, 422, 'validation-failed', '/reason'],
    [{ amount: 100, reason: 'because' }, 422, 'validation-failed', '/reason'],
    [{ reason: 'other' }, 422, 'validation-failed', '/amount'],
    [{ amount: '100', reason: 'other' }, 422, 'validation-failed', '/amount'],
    [{ amount: 100000000001, reason: 'other' }, 422, 'validation-failed', '/amount'],
    [{ amount: 1, reason: 'other', note: 'x'.repeat(1001) }, 422, 'validation-failed', '/note'],
    [{ amount: 1, reason: 'other', balance: 5 }, 422, 'unknown-field'],
  ]) problem(await A('POST', `/v1/admin/gift-cards/${g.id}/adjustments`, body), status, slug, pointer, code);
  problem(await s.client.request('POST', `/v1/admin/gift-cards/${g.id}/adjustments`, { pk: null, token: t, body: '{"amount":', headers: { 'content-type': 'application/json' } }), 400, 'invalid-json');
  problem(await A('POST', `/v1/admin/gift-cards/${g.id}/adjustments`, { amount: 1, reason: 'other' }, { token: readOnlyKey }), 403, 'forbidden');
  problem(await A('POST', '/v1/admin/gift-cards/gcard_01zzzzzzzzzzzzzzzzzzzzzzzz/adjustments', { amount: 1, reason: 'other' }), 404, 'not-found');
  problem(await A('POST', '/v1/admin/gift-cards/nope/adjustments', { amount: 1, reason: 'other' }), 404, 'not-found');
  assert.equal((await A('PATCH', `/v1/admin/gift-cards/${g.id}`, { status: 'disabled' })).status, 200);
  problem(await A('POST', `/v1/admin/gift-cards/${g.id}/adjustments`, { amount: -1, reason: 'fraud' }), 409, 'invalid-state');
  assert.equal((await s.sql('SELECT count(*)::int AS n FROM gift_card_transactions WHERE gift_card_id = $1', [g.id]))[0].n, before, 'nothing written');
  assert.equal((await A('GET', `/v1/admin/gift-cards/${g.id}`)).body.balance, 4500);
  // an Idempotency-Key makes a retried adjustment safe
  await A('PATCH', `/v1/admin/gift-cards/${g.id}`, { status: 'active' });
  const h = { headers: { 'idempotency-key': `adj-${process.pid}` } };
  const a1 = await A('POST', `/v1/admin/gift-cards/${g.id}/adjustments`, { amount: -500, reason: 'other' }, h);
  const a2 = await A('POST', `/v1/admin/gift-cards/${g.id}/adjustments`, { amount: -500, reason: 'other' }, h);
  assert.deepEqual([a1.status, a2.status, a2.headers.get('idempotent-replayed')], [200, 200, 'true']);
  assert.equal((await A('GET', `/v1/admin/gift-cards/${g.id}`)).body.balance, 4000);
});

test('concurrent debits never take a balance below 0: 20 x 100 on 1000 gives exactly 10', async () => {
  const g = (await A('POST', '/v1/admin/gift-cards', { currency_code: 'eur', initial_balance: 1000 })).body;
  const rs = await Promise.all(Array.from({ length: 20 }, () => A('POST', `/v1/admin/gift-cards/${g.id}/adjustments`, { amount: -100, reason: 'other' })));
  assert.equal(rs.filter((r) => r.status === 200).length, 10);
  for (const r of rs.filter((x) => x.status !== 200)) problem(r, 422, 'validation-failed', '/amount', 'insufficient_balance');
  const got = (await A('GET', `/v1/admin/gift-cards/${g.id}`)).body;
  assert.equal(got.balance, 0);
  assert.deepEqual(got.transactions.filter((x) => x.kind === 'adjust').map((x) => x.balance_after).sort((a, b) => a - b), [0, 100, 200, 300, 400, 500, 600, 700, 800, 900]);
});

test('DELETE /carts/{id}/shipping-method: removes the method; 404 without one, for foreign or malformed carts; 412 on a stale If-Match', async () => {
  const c = await cart([[V.tee, 1]], { shipping_address: { first_name: 'A', last_name: 'B', address_1: 'Street 1', city: 'Berlin', postal_code: '10115', country_code: 'de' } });
  let r = await s.client.post(`/v1/store/carts/${c.id}/shipping-methods`, { option_id: O.std.id });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.shipping_methods.length, 1);
  const etag = r.headers.get('etag');
  problem(await s.client.del(`/v1/store/carts/${c.id}/shipping-method`, { headers: { 'if-match': '"00000000000000000000000000000000"' } }), 412, 'precondition-failed');
  problem(await other.del(`/v1/store/carts/${c.id}/shipping-method`), 404, 'not-found');
  problem(await s.client.del('/v1/store/carts/cart_nope/shipping-method'), 404, 'not-found');
  assert.equal((await s.client.get(`/v1/store/carts/${c.id}`)).body.shipping_methods.length, 1, 'still there');
  r = await s.client.del(`/v1/store/carts/${c.id}/shipping-method`, { headers: { 'if-match': etag } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.shipping_methods, r.body.shipping_total, r.body.total], [[], 0, 3600], "the tee and its tax, no shipping");
  problem(await s.client.del(`/v1/store/carts/${c.id}/shipping-method`), 404, 'not-found');
  problem(await complete(c.id, visa), 422, 'validation-failed', '/shipping_methods');
});

// ---- automatic capture on fulfilment ---------------------------------------------------------------------------

const ADDR = { first_name: 'A', last_name: 'B', address_1: 'Street 1', city: 'Berlin', postal_code: '10115', country_code: 'de' };
async function shippedOrder(pay, qty = 2) {
  const c = await cart([[V.tee, qty]], { shipping_address: ADDR });
  assert.equal((await s.client.post(`/v1/store/carts/${c.id}/shipping-methods`, { option_id: O.std.id })).status, 200);
  const r = await complete(c.id, pay);
  assert.equal(r.status, 201, r.text);
  return r.body;
}
const fulfil = (o, qty) => A('POST', `/v1/admin/orders/${o.id}/fulfillments`, { location_id: loc, items: [{ line_item_id: o.items[0].id, quantity: qty }] });
const setCapture = async (mode) => {
  const etag = (await A('GET', '/v1/admin/store')).headers.get('etag');
  const r = await A('PATCH', '/v1/admin/store', { payment_capture: mode }, { headers: { 'if-match': etag } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.payment_capture, mode);
};
/* the job runs asynchronously: poll (bounded) until its visible outcome */
async function until(fn, what) {
  for (let i = 0; i < 300; i++) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}
const jobsOf = (id) => s.sql("SELECT id, state, attempts FROM jobs WHERE kind = 'order.auto_capture' AND payload->>'order_id' = $1", [id]);

test('store setting payment_capture: read, changed, validated', async () => {
  let r = await A('GET', '/v1/admin/store');
  assert.equal(r.body.payment_capture, 'manual');
  const etag = r.headers.get('etag');
  problem(await A('PATCH', '/v1/admin/store', { payment_capture: 'sometimes' }, { headers: { 'if-match': etag } }), 422, 'validation-failed', '/payment_capture');
  problem(await A('PATCH', '/v1/admin/store', { payment_capture: 'on_fulfillment' }, { headers: { 'if-match': etag }, token: readOnlyKey }), 403, 'forbidden');
  assert.equal((await A('GET', '/v1/admin/store')).body.payment_capture, 'manual');
  await setCapture('on_fulfillment');
  await setCapture('manual');
});

test('automatic capture on fulfilment: nothing on a partial fulfilment, the whole payment once every line is fulfilled, exactly once', async () => {
  await setCapture('on_fulfillment');
  try {
    const o = await shippedOrder(visa, 2);
    assert.equal(o.payment_status, 'authorized');
    assert.equal((await fulfil(o, 1)).status, 201);
    assert.deepEqual(await jobsOf(o.id), [], 'a partial fulfilment captures nothing');
    assert.equal((await order(o.id)).payment_status, 'authorized');
    assert.equal((await fulfil(o, 1)).status, 201);
    const paid = await until(async () => { const x = await order(o.id); return x.payment_status === 'paid' && x; }, 'the capture');
    assert.equal(paid.paid_total, paid.total);
    assert.equal(paid.fulfillment_status, 'fulfilled');
    assert.ok(paid.timeline.some((e) => e.type === 'order.paid' && e.actor === 'system:auto_capture'));
    const jobs = await until(async () => { const j = await jobsOf(o.id); return j.length === 1 && j[0].state === 'completed' && j; }, 'the job to complete');
    assert.equal(jobs.length, 1);
    const ops = await s.sql("SELECT x.kind, x.amount FROM test_gateway_operations x JOIN payments p ON p.provider_ref = x.charge_id WHERE p.order_id = $1 AND x.kind = 'capture'", [o.id]);
    assert.deepEqual(ops.map((x) => [x.kind, Number(x.amount)]), [['capture', paid.total]], 'one capture at the gateway');
    // the job again (a retry after a crash) finds the order paid and completes without a second capture
    await s.sql("UPDATE jobs SET state = 'retryable', run_at = now() WHERE id = $1", [jobs[0].id]);
    await s.sql("NOTIFY souq, 'jobs'");
    await until(async () => (await jobsOf(o.id))[0].state === 'completed', 'the job to run again');
    assert.equal((await s.sql("SELECT count(*)::int AS n FROM test_gateway_operations x JOIN payments p ON p.provider_ref = x.charge_id WHERE p.order_id = $1 AND x.kind = 'capture'", [o.id]))[0].n, 1);
    // manual payments are never captured automatically
    const m = await shippedOrder(manual, 1);
    assert.equal((await fulfil(m, 1)).status, 201);
    assert.deepEqual(await jobsOf(m.id), []);
    assert.equal((await order(m.id)).payment_status, 'pending');
  } finally {
    await setCapture('manual');
  }
  // with the setting off, nothing is captured
  const o2 = await shippedOrder(visa, 1);
  assert.equal((await fulfil(o2, 1)).status, 201);
  assert.deepEqual(await jobsOf(o2.id), []);
});

test('automatic capture failing at the provider: on the timeline, retried, the fulfilment kept; a retry after the fix captures', async () => {
  await setCapture('on_fulfillment');
  try {
    const o = await shippedOrder(visa, 1);
    const [pay] = await s.sql('SELECT provider_ref FROM payments WHERE order_id = $1', [o.id]);
    await s.sql("UPDATE test_gateway_charges SET status = 'voided' WHERE id = $1", [pay.provider_ref]); // the gateway will refuse
    assert.equal((await fulfil(o, 1)).status, 201);
    const failed = await until(async () => { const x = await order(o.id); return x.timeline.some((e) => e.type === 'order.capture_failed') && x; }, 'the failure');
    const ev = failed.timeline.find((e) => e.type === 'order.capture_failed');
    assert.deepEqual([ev.data.attempt, ev.data.final, ev.actor], [1, false, 'system:auto_capture']);
    assert.deepEqual([failed.payment_status, failed.fulfillment_status], ['authorized', 'fulfilled'], 'the fulfilment stays');
    const [job] = await until(async () => { const j = await jobsOf(o.id); return j[0]?.state === 'retryable' && j; }, 'a retryable job');
    await s.sql("UPDATE test_gateway_charges SET status = 'authorized' WHERE id = $1", [pay.provider_ref]);
    const r = await A('POST', `/v1/admin/jobs/${job.id}/retry`);
    assert.equal(r.status, 200, r.text);
    const paid = await until(async () => { const x = await order(o.id); return x.payment_status === 'paid' && x; }, 'the capture');
    assert.equal(paid.timeline.filter((e) => e.type === 'order.paid').length, 1);
  } finally {
    await setCapture('manual');
  }
});

// ---- the gift card part of an order goes back onto the cards --------------------------------------------------

/* an order of 5 ebooks (5000 + 1000 tax) paid 3000 + 2000 with two staff-issued cards and 1000 with pay */
async function paidWithCards(pay = manual) {
  const a = (await A('POST', '/v1/admin/gift-cards', { currency_code: 'eur', initial_balance: 3000 })).body;
  const b = (await A('POST', '/v1/admin/gift-cards', { currency_code: 'eur', initial_balance: 2000 })).body;
  const c = await cart([[V.ebook, 5]]);
  await s.client.post(`/v1/store/carts/${c.id}/gift-cards`, { code: a.code });
  const r0 = await s.client.post(`/v1/store/carts/${c.id}/gift-cards`, { code: b.code });
  assert.deepEqual([r0.body.total, r0.body.gift_card_total, r0.body.amount_due], [6000, 5000, 1000]);
  const r = await complete(c.id, pay);
  assert.equal(r.status, 201, r.text);
  return { o: r.body, a, b };
}
const balance = async (g) => (await A('GET', `/v1/admin/gift-cards/${g.id}`)).body.balance;

test('refunds onto gift cards: by amount in card order or onto one card, never more than they paid; every refusal', async () => {
  const { o, a, b } = await paidWithCards();
  assert.deepEqual([await balance(a), await balance(b)], [0, 0]);
  const R = (body, id = o.id) => A('POST', `/v1/admin/orders/${id}/gift-card-refunds`, body);
  problem(await R({ amount: 100 }), 409, 'invalid-state'); // not paid yet
  assert.equal((await A('POST', `/v1/admin/orders/${o.id}/capture`)).status, 200);
  const stranger = (await A('POST', '/v1/admin/gift-cards', { currency_code: 'eur', initial_balance: 100 })).body;
  for (const [body, status, slug, pointer, code] of [
    [{ amount: 5001 }, 422, 'validation-failed', '/amount', 'exceeds_refundable'],
    [{ amount: 2001, gift_card_id: b.id }, 422, 'validation-failed', '/amount', 'exceeds_refundable'],
    [{ amount: 1, gift_card_id: stranger.id }, 422, 'validation-failed', '/gift_card_id', 'not_found'],
    [{ amount: 0 }, 422, 'validation-failed', '/amount'],
    [{}, 422, 'validation-failed', '/amount'],
    [{ amount: 1, reason: 'x' }, 422, 'unknown-field'],
  ]) problem(await R(body), status, slug, pointer, code);
  problem(await R({ amount: 1 }, 'order_01zzzzzzzzzzzzzzzzzzzzzzzz'), 404, 'not-found');
  problem(await R({ amount: 1 }, 'nope'), 404, 'not-found');
  problem(await A('POST', `/v1/admin/orders/${o.id}/gift-card-refunds`, { amount: 1 }, { token: readOnlyKey }), 403, 'forbidden');
  assert.equal((await s.sql("SELECT count(*)::int AS n FROM gift_card_transactions WHERE order_id = $1 AND kind = 'refund'", [o.id]))[0].n, 0, 'nothing written');
  let r = await R({ amount: 3500 });
  assert.equal(r.status, 201, r.text);
  const [first, second] = [a, b].sort((x, y) => (x.id < y.id ? -1 : 1));
  assert.deepEqual(r.body.gift_cards.map((x) => [x.gift_card_id, x.amount]), [[first.id, first.initial_balance], [second.id, 3500 - first.initial_balance]]);
  assert.deepEqual([r.body.refunded_total, r.body.payment_status], [3500, 'partially_refunded']);
  r = await R({ amount: 1500, gift_card_id: second.id });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual([await balance(a), await balance(b)], [3000, 2000]);
  problem(await R({ amount: 1 }), 422, 'validation-failed', '/amount', 'exceeds_refundable');
  // the payment's part through the payment refund: the order is refunded in full
  r = await A('POST', `/v1/admin/orders/${o.id}/refunds`, { amount: 1000 });
  assert.equal(r.status, 201, r.text);
  const after = (await A('GET', `/v1/admin/orders/${o.id}`)).body;
  assert.deepEqual([after.refunded_total, after.payment_status], [6000, 'refunded']);
  assert.equal((await s.sql("SELECT count(*)::int AS n FROM outbox_events WHERE type = 'gift_card.refunded' AND payload->>'order_id' = $1", [o.id]))[0].n, 3);
  const ledger = (await A('GET', `/v1/admin/gift-cards/${second.id}`)).body.transactions.map((x) => [x.kind, x.amount]);
  assert.deepEqual(ledger, [['issue', second.initial_balance], ['redeem', -second.initial_balance], ['refund', 3500 - first.initial_balance], ['refund', 1500]]);
});

test('refunds onto gift cards: a disabled card is refused; 10 concurrent refunds of 1000 on 5000 give exactly 5', async () => {
  const { o, a } = await paidWithCards();
  await A('POST', `/v1/admin/orders/${o.id}/capture`);
  await A('PATCH', `/v1/admin/gift-cards/${a.id}`, { status: 'disabled' });
  problem(await A('POST', `/v1/admin/orders/${o.id}/gift-card-refunds`, { amount: 100, gift_card_id: a.id }), 409, 'invalid-state');
  await A('PATCH', `/v1/admin/gift-cards/${a.id}`, { status: 'active' });
  const rs = await Promise.all(Array.from({ length: 10 }, () => A('POST', `/v1/admin/orders/${o.id}/gift-card-refunds`, { amount: 1000 })));
  assert.equal(rs.filter((r) => r.status === 201).length, 5, rs.map((r) => r.status).join());
  for (const r of rs.filter((x) => x.status !== 201)) problem(r, 422, 'validation-failed', '/amount', 'exceeds_refundable');
  const x = (await A('GET', `/v1/admin/orders/${o.id}`)).body;
  assert.deepEqual([x.refunded_total, x.payment_status], [5000, 'partially_refunded']);
  const [sum] = await s.sql("SELECT sum(amount)::int AS n FROM gift_card_transactions WHERE order_id = $1 AND kind = 'refund'", [o.id]);
  assert.equal(sum.n, 5000);
});

test('a canceled order gives what its gift cards paid back onto them', async () => {
  const { o, a, b } = await paidWithCards(visa);
  assert.equal(o.payment_status, 'authorized');
  const r = await A('POST', `/v1/admin/orders/${o.id}/cancel`, { reason: 'customer' });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([await balance(a), await balance(b)], [3000, 2000]);
  const ev = await s.sql("SELECT payload FROM outbox_events WHERE type = 'gift_card.refunded' AND payload->>'order_id' = $1", [o.id]);
  assert.deepEqual(ev.map((e) => e.payload.reason), ['cancel', 'cancel']);
  assert.ok((await A('GET', `/v1/admin/orders/${o.id}`)).body.timeline.some((e) => e.type === 'gift_card.refunded' && e.actor === 'system:cancel'));
});

test('shipping options for a subtotal range: offered, chosen and charged only inside it; refusals', async () => {
  const big = (await A('POST', '/v1/admin/shipping-options', { name: 'Free over 100', region_id: eu.id, amount: 0, min_subtotal: 10000 })).body;
  const small = (await A('POST', '/v1/admin/shipping-options', { name: 'Small parcels', region_id: eu.id, amount: 290, max_subtotal: 5999 })).body;
  assert.deepEqual([big.min_subtotal, big.max_subtotal, small.min_subtotal, small.max_subtotal], [10000, null, null, 5999]);
  problem(await A('POST', '/v1/admin/shipping-options', { name: 'Bad', region_id: eu.id, amount: 1, min_subtotal: 500, max_subtotal: 499 }), 422, 'validation-failed', '/max_subtotal');
  problem(await A('POST', '/v1/admin/shipping-options', { name: 'Bad', region_id: eu.id, amount: 1, min_subtotal: -1 }), 422, 'validation-failed', '/min_subtotal');
  problem(await A('POST', '/v1/admin/shipping-options', { name: 'Bad', region_id: eu.id, amount: 1, max_subtotal: 'lots' }), 422, 'validation-failed', '/max_subtotal');
  let r = await A('PATCH', `/v1/admin/shipping-options/${small.id}`, { min_subtotal: 6000 });
  problem(r, 422, 'validation-failed', '/max_subtotal');
  assert.equal((await A('GET', `/v1/admin/shipping-options/${small.id}`)).body.min_subtotal, null, 'unchanged');
  // a cart of one tee (3000) and a 2500 gift card: the gift card does not count
  const c = await cart([[V.tee, 1], [V.gc25, 1]], { shipping_address: ADDR });
  const offered = async () => (await s.client.get(`/v1/store/carts/${c.id}/shipping-options`)).body.data.map((x) => x.id);
  let ids = await offered();
  assert.ok(ids.includes(small.id) && !ids.includes(big.id), ids.join());
  problem(await s.client.post(`/v1/store/carts/${c.id}/shipping-methods`, { option_id: big.id }), 422, 'validation-failed', '/option_id', 'not_available');
  assert.deepEqual((await s.client.get(`/v1/store/carts/${c.id}`)).body.shipping_methods, [], 'nothing written');
  r = await s.client.post(`/v1/store/carts/${c.id}/shipping-methods`, { option_id: small.id });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.shipping_methods[0].shipping_option_id, r.body.shipping_total], [small.id, 290]);
  // the cart grows out of the small range and into the big one
  const line = r.body.items.find((l) => l.variant_id === V.tee);
  r = await s.client.patch(`/v1/store/carts/${c.id}/line-items/${line.id}`, { quantity: 4 });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.shipping_methods, r.body.shipping_total], [[], 0], 'the method is no longer shown or charged');
  ids = await offered();
  assert.ok(!ids.includes(small.id) && ids.includes(big.id), ids.join());
  problem(await complete(c.id, visa), 422, 'validation-failed', '/shipping_methods');
  r = await s.client.post(`/v1/store/carts/${c.id}/shipping-methods`, { option_id: big.id });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.shipping_methods[0].shipping_option_id, big.id);
  await A('DELETE', `/v1/admin/shipping-options/${big.id}`);
  await A('DELETE', `/v1/admin/shipping-options/${small.id}`);
});

test('the hourly job deletes the clear codes nobody revealed within 7 days', async () => {
  const o = await placeOrder(manual, 2);
  await A('POST', `/v1/admin/orders/${o.id}/capture`);
  const [g1, g2] = await cards(o.id);
  await s.sql("UPDATE gift_card_deliveries SET expires_at = now() - interval '1 second' WHERE gift_card_id = $1", [g1.id]);
  const [sched] = await s.sql("SELECT kind, every_s, enabled FROM job_schedules WHERE id = 'gift_card_deliveries'");
  assert.deepEqual([sched.kind, sched.every_s, sched.enabled], ['gift_cards.purge_deliveries', 3600, true]);
  const [job] = await s.sql("INSERT INTO jobs (kind) VALUES ('gift_cards.purge_deliveries') RETURNING id");
  await until(async () => (await s.sql('SELECT state FROM jobs WHERE id = $1', [job.id]))[0].state === 'completed', 'the purge');
  const left = await s.sql('SELECT gift_card_id FROM gift_card_deliveries WHERE order_id = $1', [o.id]);
  assert.deepEqual(left.map((x) => x.gift_card_id), [g2.id], 'only the expired one is gone');
  assert.equal((await A('POST', `/v1/admin/gift-cards/${g2.id}/reveal`)).status, 200);
});

test('a tee and a gift card, captured on fulfilment: fulfilling the tee captures the payment, which issues the card', async () => {
  await setCapture('on_fulfillment');
  try {
    const c = await cart([[V.tee, 1], [V.gc25, 1]], { shipping_address: ADDR });
    assert.equal((await s.client.post(`/v1/store/carts/${c.id}/shipping-methods`, { option_id: O.std.id })).status, 200);
    const o = (await complete(c.id, visa)).body;
    assert.equal(o.payment_status, 'authorized');
    const tee = o.items.find((l) => l.variant_id === V.tee);
    const r = await A('POST', `/v1/admin/orders/${o.id}/fulfillments`, { location_id: loc, items: [{ line_item_id: tee.id, quantity: 1 }] });
    assert.equal(r.status, 201, r.text);
    const paid = await until(async () => { const x = await order(o.id); return x.payment_status === 'paid' && x; }, 'the capture');
    assert.equal(paid.fulfillment_status, 'fulfilled', 'the tee by its parcel, the gift card by its issuance');
    assert.equal(paid.items.find((l) => l.variant_id === V.gc25).fulfilled_quantity, 1);
    const got = await cards(o.id);
    assert.deepEqual(got.map((g) => [g.initial_balance, g.order_line_item_id]), [[2500, o.items.find((l) => l.variant_id === V.gc25).id]]);
  } finally {
    await setCapture('manual');
  }
});
