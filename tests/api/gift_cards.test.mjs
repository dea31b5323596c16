// gift_cards.test.mjs: gift cards (core/promotion*.c, migrations/0021): issuing (the code shown once), the ledger,
// disabling, refusals; applying cards to carts (what they pay, several cards, removal), every refusal, rate limits on
// guessing, and redemption at checkout (souq_checkout_redeem): 20 concurrent 10.00 debits of a 100.00 card give
// exactly 10 and a balance of 0, never negative (C5).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startStack, staffLogin, newCustomer, SOCK, PGPORT } from './lib/harness.mjs';

let s, t, readOnlyKey;
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json, token = t) => s.client.request(method, path, { pk: null, token, json });
let seq = 0;
const uniq = (p) => `${p}-${process.pid}-${++seq}`;
const V = {};
const CODE = /^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){3}$/;

async function issue(body = {}) {
  const r = await A('POST', '/v1/admin/gift-cards', { currency_code: 'eur', initial_balance: 5000, ...body });
  assert.equal(r.status, 201, r.text);
  return r.body;
}
const cart = async (items, opts = {}) => {
  const r = await s.client.post('/v1/store/carts', { items: items.map(([variant_id, quantity]) => ({ variant_id, quantity })), ...(opts.body ?? {}) }, { token: opts.token });
  assert.equal(r.status, 201, r.text);
  return r.body;
};
const apply = (c, code, token) => s.client.post(`/v1/store/carts/${c.id}/gift-cards`, { code }, { token });
const refused = (r, slug) => {
  assert.equal(r.status, 422, r.text);
  assert.equal(r.body.errors[0].pointer, '/code');
  assert.equal(r.body.errors[0].code, slug, r.text);
};

before(async () => {
  // the per-address limit is raised so that this file's many applications from 127.0.0.1 only meet the per-cart one
  s = await startStack({ env: { SOUQ_GIFT_CARD_RATE_IP: '1000' } });
  t = (await staffLogin(s.client)).access_token;
  await A('POST', '/v1/admin/regions', { name: 'EU', currency_code: 'eur', countries: ['de'] });
  await A('POST', '/v1/admin/regions', { name: 'US', currency_code: 'usd', countries: ['us'] });
  const loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Berlin' })).body.id;
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
  const p = await A('POST', '/v1/admin/products', { title: uniq('Thing'), status: 'active',
    variants: [{ sku: uniq('A'), prices: [{ currency_code: 'eur', amount: 1000 }, { currency_code: 'usd', amount: 1100 }], inventory: [{ location_id: loc, quantity: 1000 }] }] });
  assert.equal(p.status, 201, p.text);
  V.a = p.body.variants[0].id;
  readOnlyKey = (await A('POST', '/v1/admin/api-keys', { type: 'secret', title: 'ro', scopes: ['promotions:read'] })).body.token;
});
after(async () => s && (await s.stop()));

test('issuing: the code is shown once (not stored), the ledger starts with the issue, reads show only the last four', async () => {
  const c = await newCustomer(s.client);
  const r = await A('POST', '/v1/admin/gift-cards', { currency_code: 'EUR', initial_balance: 10000, customer_id: c.customer.id, note: 'Goodwill', expires_at: '2099-01-01T00:00:00Z', metadata: { ticket: 'T-1' } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.headers.get('cache-control'), 'no-store');
  const g = r.body;
  assert.match(g.code, CODE);
  assert.equal(g.code_last4, g.code.replaceAll('-', '').slice(-4));
  assert.deepEqual([g.currency_code, g.initial_balance, g.balance, g.status, g.customer_id, g.note], ['eur', 10000, 10000, 'active', c.customer.id, 'Goodwill']);
  assert.deepEqual(g.transactions.map((x) => [x.kind, x.amount, x.balance_after]), [['issue', 10000, 10000]]);
  const [row] = await s.sql('SELECT code_hash FROM gift_cards WHERE id = $1', [g.id]);
  assert.ok(!JSON.stringify(row).includes(g.code.replaceAll('-', '')), 'only a hash is stored');
  const got = await A('GET', `/v1/admin/gift-cards/${g.id}`);
  assert.equal(got.status, 200);
  assert.equal(got.body.code, undefined, 'the code is not shown again');
  assert.ok(!got.text.includes(g.code.replaceAll('-', '').slice(0, 8)));
  const other = await issue();
  assert.notEqual(other.code, g.code);
  let l = await A('GET', `/v1/admin/gift-cards?customer_id=${c.customer.id}`);
  assert.deepEqual(l.body.data.map((x) => x.id), [g.id]);
  l = await A('GET', '/v1/admin/gift-cards?status=disabled');
  assert.ok(!l.body.data.some((x) => x.id === g.id));
  l = await A('GET', '/v1/admin/gift-cards?status=nope');
  assert.equal(l.status, 400);
  // disable, re-enable, expiry; the balance is not editable
  let u = await A('PATCH', `/v1/admin/gift-cards/${g.id}`, { status: 'disabled', expires_at: null });
  assert.equal(u.status, 200, u.text);
  assert.deepEqual([u.body.status, u.body.expires_at, u.body.balance], ['disabled', null, 10000]);
  u = await A('PATCH', `/v1/admin/gift-cards/${g.id}`, { balance: 1 });
  assert.equal(u.status, 422);
  assert.equal(u.body.type, type('unknown-field'));
  u = await A('PATCH', '/v1/admin/gift-cards/gcard_01zzzzzzzzzzzzzzzzzzzzzzzz', { status: 'active' });
  assert.equal(u.status, 404);
  u = await A('GET', '/v1/admin/gift-cards/nope');
  assert.equal(u.status, 404);
  u = await A('DELETE', `/v1/admin/gift-cards/${g.id}`);
  assert.equal(u.status, 405, 'disable, do not delete');
});

test('issuing refusals: each field with its pointer, nothing written; scopes', async () => {
  const before = (await s.sql('SELECT count(*)::int AS n FROM gift_cards'))[0].n;
  for (const [body, pointer] of [
    [{ initial_balance: 100 }, '/currency_code'],
    [{ currency_code: 'eur' }, '/initial_balance'],
    [{ currency_code: 'eur', initial_balance: 0 }, '/initial_balance'],
    [{ currency_code: 'eur', initial_balance: -5 }, '/initial_balance'],
    [{ currency_code: 'eur', initial_balance: 100000000001 }, '/initial_balance'],
    [{ currency_code: 'eu', initial_balance: 100 }, '/currency_code'],
    [{ currency_code: 'eur', initial_balance: 100, expires_at: '2001-01-01T00:00:00Z' }, '/expires_at'],
    [{ currency_code: 'eur', initial_balance: 100, expires_at: 'tomorrow' }, '/expires_at'],
    [{ currency_code: 'eur', initial_balance: 100, customer_id: 'cus_01zzzzzzzzzzzzzzzzzzzzzzzz' }, '/customer_id'],
    [{ currency_code: 'eur', initial_balance: 100, status: 'used' }, '/status'],
    [{ currency_code: 'eur', initial_balance: 100, code: 'MINE' }, '/code'],
    [{ currency_code: 'eur', initial_balance: 100, balance: 5 }, '/balance'],
  ]) {
    const r = await A('POST', '/v1/admin/gift-cards', body);
    assert.equal(r.status, 422, `${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.body.errors[0].pointer, pointer, JSON.stringify(body));
  }
  assert.equal((await s.sql('SELECT count(*)::int AS n FROM gift_cards'))[0].n, before);
  let r = await A('POST', '/v1/admin/gift-cards', { currency_code: 'eur', initial_balance: 100 }, readOnlyKey);
  assert.equal(r.status, 403);
  r = await A('GET', '/v1/admin/gift-cards', undefined, readOnlyKey);
  assert.equal(r.status, 200);
  const c = await newCustomer(s.client);
  r = await A('GET', '/v1/admin/gift-cards', undefined, c.token);
  assert.equal(r.status, 403);
});

test('on a cart: a card pays what it can of the total, in any spelling of its code; two cards; removal', async () => {
  const g1 = await issue({ initial_balance: 2500 });
  const g2 = await issue({ initial_balance: 9000 });
  const c = await cart([[V.a, 5]]); // 5000
  let r = await apply(c, g1.code.replaceAll('-', '').toLowerCase());
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.gift_card_total, r.body.amount_due, r.body.total], [2500, 2500, 5000]);
  assert.deepEqual(r.body.gift_cards, [{ id: g1.id, last4: g1.code_last4, amount: 2500, balance: 2500 }]);
  r = await apply(c, ` ${g2.code} `.replaceAll('-', ' - '));
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.gift_cards.map((x) => [x.id, x.amount]), [[g1.id, 2500], [g2.id, 2500]]);
  assert.deepEqual([r.body.gift_card_total, r.body.amount_due], [5000, 0]);
  r = await apply(c, g2.code);
  assert.equal(r.status, 200, 'applying again changes nothing');
  assert.equal(r.body.gift_cards.length, 2);
  // the cart grows: the second card pays more; the card is only debited at checkout
  r = await s.client.post(`/v1/store/carts/${c.id}/line-items`, { variant_id: V.a, quantity: 5 });
  assert.deepEqual([r.body.gift_card_total, r.body.amount_due], [10000, 0]);
  r = await s.client.post(`/v1/store/carts/${c.id}/line-items`, { variant_id: V.a, quantity: 5 });
  assert.deepEqual([r.body.gift_card_total, r.body.amount_due], [11500, 3500]);
  assert.equal((await A('GET', `/v1/admin/gift-cards/${g2.id}`)).body.balance, 9000);
  r = await s.client.del(`/v1/store/carts/${c.id}/gift-cards/${g1.id}`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.gift_cards.map((x) => [x.id, x.amount]), [[g2.id, 9000]]);
  r = await s.client.del(`/v1/store/carts/${c.id}/gift-cards/${g1.id}`);
  assert.equal(r.status, 404, 'not on the cart any more');
  r = await s.client.del(`/v1/store/carts/${c.id}/gift-cards/nope`);
  assert.equal(r.status, 404);
  // a card disabled after it was applied stops paying at once
  await A('PATCH', `/v1/admin/gift-cards/${g2.id}`, { status: 'disabled' });
  r = await s.client.get(`/v1/store/carts/${c.id}`);
  assert.deepEqual([r.body.gift_cards, r.body.gift_card_total, r.body.amount_due], [[], 0, 15000]);
});

test('login: the gift cards of the customer\'s previous cart come along when it is merged into the cart in hand', async () => {
  const c = await newCustomer(s.client);
  const g = await issue({ initial_balance: 700 });
  const old = await cart([[V.a, 1]], { token: c.token }); // the customer's cart of an earlier session
  assert.equal((await apply(old, g.code, c.token)).status, 200);
  const guest = await cart([[V.a, 2]]);
  const r = await s.client.post(`/v1/store/carts/${guest.id}/customer`, {}, { token: c.token });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.last_merge.lines_merged, 1);
  assert.deepEqual(r.body.gift_cards.map((x) => [x.id, x.amount]), [[g.id, 700]]);
  assert.equal(r.body.gift_card_total, 700);
  assert.equal((await s.client.get(`/v1/store/carts/${old.id}`, { token: c.token })).status, 404, 'the old cart is gone');
});

test('refusals on a cart: unknown, disabled and expired are one answer; currency, empty, too many; foreign carts 404', async () => {
  const c = await cart([[V.a, 1]]);
  const usd = await cart([[V.a, 1]], { body: { currency_code: 'usd' } });
  const disabled = await issue({ status: 'disabled' });
  const expired = await issue();
  await s.sql("UPDATE gift_cards SET expires_at = now() - interval '1 second' WHERE id = $1", [expired.id]);
  const empty = await issue({ initial_balance: 100 });
  await s.sql("SELECT souq_checkout_redeem('order_empty', NULL, $1::jsonb)", [JSON.stringify({ currency_code: 'eur', gift_cards: [{ id: empty.id, amount: 100 }] })]);
  const eur = await issue();
  for (const [k, code, slug] of [[c, 'AAAAA-BBBBB-CCCCC-DDDDD', 'gift_card_invalid'], [c, disabled.code, 'gift_card_invalid'], [c, expired.code, 'gift_card_invalid'],
    [usd, eur.code, 'gift_card_wrong_currency'], [c, empty.code, 'gift_card_empty']]) {
    refused(await apply(k, code), slug);
  }
  const many = await cart([[V.a, 1]]);
  for (let i = 0; i < 5; i++) assert.equal((await apply(many, (await issue({ initial_balance: 100 })).code)).status, 200);
  refused(await apply(many, eur.code), 'too_many');
  for (const body of [{}, { code: '' }, { code: 'x'.repeat(65) }, { code: 1 }]) {
    const r = await s.client.post(`/v1/store/carts/${c.id}/gift-cards`, body);
    assert.equal(r.status, 422, JSON.stringify(body));
  }
  const ann = await newCustomer(s.client);
  const bob = await newCustomer(s.client);
  const mine = await cart([[V.a, 1]], { token: ann.token });
  let r = await apply(mine, eur.code, bob.token);
  assert.equal(r.status, 404);
  r = await apply(mine, eur.code);
  assert.equal(r.status, 404, 'anonymous on a customer cart');
  r = await apply(mine, eur.code, ann.token);
  assert.equal(r.status, 200, r.text);
  r = await s.client.del(`/v1/store/carts/${mine.id}/gift-cards/${eur.id}`, { token: bob.token });
  assert.equal(r.status, 404);
  r = await s.client.post(`/v1/store/carts/cart_${'A'.repeat(43)}/gift-cards`, { code: eur.code });
  assert.equal(r.status, 404);
  const after = (await s.client.get(`/v1/store/carts/${c.id}`)).body;
  assert.deepEqual([after.gift_cards, after.gift_card_total], [[], 0], 'no refusal left a card on the cart');
});

test('guessing codes: the 11th attempt on a cart within a minute is 429 with Retry-After, right code or not', async () => {
  const g = await issue();
  const c = await cart([[V.a, 1]]);
  for (let i = 0; i < 10; i++) refused(await apply(c, `WRONG-${i}-${process.pid}`), 'gift_card_invalid');
  let r = await apply(c, g.code);
  assert.equal(r.status, 429, r.text);
  assert.equal(r.body.type, type('rate-limited'));
  assert.ok(Number(r.headers.get('retry-after')) >= 1 && Number(r.headers.get('retry-after')) <= 60);
  // another cart (same address, under its own limit) still works
  r = await apply(await cart([[V.a, 1]]), g.code);
  assert.equal(r.status, 200, r.text);
  // the window passes (moved back in the database rather than waited for)
  await s.sql("UPDATE rate_limits SET window_start = now() - interval '61 seconds' WHERE key = $1", [`giftcard:cart:${c.id}`]);
  r = await apply(c, g.code);
  assert.equal(r.status, 200, r.text);
});

test('the per-address limit counts across carts', async () => {
  const x = await startStack({ env: { SOUQ_GIFT_CARD_RATE_IP: '3' } });
  try {
    const tok = (await staffLogin(x.client)).access_token;
    await x.client.request('POST', '/v1/admin/regions', { pk: null, token: tok, json: { name: 'EU', currency_code: 'eur', countries: ['de'] } });
    const carts = [];
    for (let i = 0; i < 4; i++) carts.push((await x.client.post('/v1/store/carts', {})).body.id);
    for (let i = 0; i < 3; i++) assert.equal((await x.client.post(`/v1/store/carts/${carts[i]}/gift-cards`, { code: 'NOPE' })).status, 422);
    const r = await x.client.post(`/v1/store/carts/${carts[3]}/gift-cards`, { code: 'NOPE' });
    assert.equal(r.status, 429, r.text);
  } finally {
    await x.stop();
  }
});

test('redemption: debits with a ledger row, refuses what the balance does not cover, and 20 concurrent 10.00 debits of a 100.00 card give exactly 10 (C5)', async () => {
  const g = await issue({ initial_balance: 10000 });
  const c = await cart([[V.a, 1]]); // 10.00
  const r = await apply(c, g.code);
  assert.deepEqual(r.body.gift_cards.map((x) => x.amount), [1000]);
  const cartJson = JSON.stringify(r.body);
  const clients = [];
  try {
    for (let i = 0; i < 20; i++) {
      const cl = new pg.Client({ host: SOCK, port: Number(PGPORT), user: 'souq', database: s.dbName });
      await cl.connect();
      await cl.query('BEGIN');
      clients.push(cl);
    }
    const results = await Promise.all(clients.map(async (cl, i) => {
      try {
        await cl.query('SELECT souq_checkout_redeem($1, NULL, $2::jsonb)', [`order_c5_${i}`, cartJson]);
        await cl.query('COMMIT');
        return 'ok';
      } catch (e) {
        await cl.query('ROLLBACK');
        return e.code === 'SQ422' && e.message.startsWith('/gift_cards|insufficient_balance|') ? 'refused' : `other: ${e.code} ${e.message}`;
      }
    }));
    assert.equal(results.filter((x) => x === 'ok').length, 10, JSON.stringify(results));
    assert.equal(results.filter((x) => x === 'refused').length, 10);
  } finally {
    await Promise.all(clients.map((cl) => cl.end()));
  }
  const got = (await A('GET', `/v1/admin/gift-cards/${g.id}`)).body;
  assert.equal(got.balance, 0);
  assert.equal(got.transactions.length, 11);
  assert.deepEqual(got.transactions.slice(1).map((x) => [x.kind, x.amount]), Array(10).fill(['redeem', -1000]));
  assert.deepEqual(got.transactions.map((x) => x.balance_after).sort((a, b) => b - a), [10000, 9000, 8000, 7000, 6000, 5000, 4000, 3000, 2000, 1000, 0]);
  // the backstop: a balance below 0 is impossible even by hand
  await assert.rejects(s.sql('UPDATE gift_cards SET balance = -1 WHERE id = $1', [g.id]), (e) => e.code === '23514');
  // the empty card no longer shows on the cart
  const now = (await s.client.get(`/v1/store/carts/${c.id}`)).body;
  assert.deepEqual([now.gift_cards, now.amount_due], [[], 1000]);
});
