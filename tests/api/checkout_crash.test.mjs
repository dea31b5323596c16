// checkout_crash.test.mjs: kill -9 the server during a stream of checkouts whose client retries with the same
// Idempotency-Key (against a restarted server). Afterwards every acknowledged order exists, no key has two
// orders or two live charges in the test gateway's ledger, and every order has its order.placed event.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startStack, startServer, staffLogin, Client } from './lib/harness.mjs';

let s, server2;
after(async () => {
  if (server2) await server2.stop();
});

test('kill -9 mid-checkout: acknowledged orders exist, one order and one live charge per key, every order has order.placed', async () => {
  const env = { SOUQ_REQUEST_TIMEOUT_MS: '2000' }; // an orphaned Idempotency-Key claim is taken over 7 s later
  s = await startStack({ env });
  const t = (await staffLogin(s.client)).access_token;
  const A = (method, path, json) => s.client.request(method, path, { pk: null, token: t, json });
  const eu = (await A('POST', '/v1/admin/regions', { name: 'EU', currency_code: 'eur', countries: ['de'] })).body;
  const option = (await A('POST', '/v1/admin/shipping-options', { name: 'Std', region_id: eu.id, provider: 'flat_rate', amount: 0 })).body.id;
  const loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Berlin' })).body.id;
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
  const p = await A('POST', '/v1/admin/products', { title: 'Crash', status: 'active',
    variants: [{ sku: `CRASH-${process.pid}`, prices: [{ currency_code: 'eur', amount: 1000 }], inventory: [{ location_id: loc, quantity: 100000 }] }] });
  const variant = p.body.variants[0].id;
  const address = { first_name: 'A', last_name: 'B', address_1: 'Street 1', city: 'Berlin', country_code: 'de' };
  const N = 120;
  const carts = [];
  for (let i = 0; i < N; i++) {
    const c = await s.client.post('/v1/store/carts', { email: `c${i}@example.com`, shipping_address: address, items: [{ variant_id: variant, quantity: 1 + (i % 3) }] });
    await s.client.post(`/v1/store/carts/${c.body.id}/shipping-methods`, { option_id: option });
    carts.push({ id: c.body.id, key: crypto.randomUUID() });
  }
  let client = new Client(s.url, s.pk);
  const body = { payment: { provider: 'test', data: { token: 'tok_visa' } } };
  const acknowledged = new Map(); // cart id -> order id of a 2xx answer
  let answered = 0, killed = false;
  const attempt = async (c) => {
    try {
      const r = await client.request('POST', `/v1/store/carts/${c.id}/complete`, { json: body, headers: { 'idempotency-key': c.key } });
      answered++;
      if (answered === 30 && !killed) { // while the others are in flight
        killed = true;
        s.server.proc.kill('SIGKILL');
      }
      if (r.status === 201 || r.status === 200) acknowledged.set(c.id, r.body.id);
      return r.status;
    } catch {
      return 0; // the connection died with the server
    }
  };
  // the stream: 8 buyers check out one cart after another; the server is killed while some are in flight
  const statuses = [];
  const queue = [...carts];
  await Promise.all(Array.from({ length: 8 }, async () => {
    for (let c; (c = queue.shift()) !== undefined;) statuses.push(await attempt(c));
  }));
  await s.server.exitPromise;
  assert.ok(statuses.some((x) => x === 0), `some checkouts were cut off by the kill: ${JSON.stringify(statuses)}`);
  // a new server on the same database; the client retries every cart that has no order yet, with the same key
  server2 = await startServer({ dbName: s.dbName, env });
  client = new Client(server2.url, s.pk);
  const deadline = Date.now() + 60000;
  for (const c of carts) {
    for (;;) {
      const st = await attempt(c);
      if (st === 201 || st === 200) break;
      assert.ok(st === 409 || st === 0, `retry of ${c.id}: ${st}`); // 409: the dead server's claim is not yet taken over
      assert.ok(Date.now() < deadline, 'retries converge');
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  // every acknowledged order exists, and it is the cart's only order
  const orders = await s.sql('SELECT id, cart_id FROM orders WHERE cart_id = ANY($1)', [carts.map((c) => c.id)]);
  assert.equal(orders.length, N, 'every cart became exactly one order');
  const byCart = new Map(orders.map((o) => [o.cart_id, o.id]));
  for (const [cart, order] of acknowledged) assert.equal(byCart.get(cart), order, 'an acknowledged order exists and is the cart\'s');
  // one live charge per key: charges of the carts' payments that were not voided
  const charges = await s.sql(
    "SELECT p.cart_id, count(*)::int AS n FROM payments p JOIN test_gateway_charges g ON g.idempotency_key = p.gateway_key WHERE p.cart_id = ANY($1) AND g.status <> 'voided' GROUP BY p.cart_id",
    [carts.map((c) => c.id)]);
  assert.equal(charges.length, N);
  assert.ok(charges.every((x) => x.n === 1), JSON.stringify(charges.filter((x) => x.n !== 1)));
  const keys = await s.sql('SELECT count(DISTINCT idempotency_key)::int AS k, count(*)::int AS n FROM test_gateway_charges');
  assert.equal(keys[0].k, keys[0].n, 'one charge per gateway key');
  const events = await s.sql("SELECT payload->>'order_id' AS o, count(*)::int AS n FROM outbox_events WHERE type = 'order.placed' AND payload->>'order_id' = ANY($1) GROUP BY 1",
    [orders.map((o) => o.id)]);
  assert.equal(events.length, N);
  assert.ok(events.every((e) => e.n === 1));
  // stock: every order's units are reserved once
  const [{ reserved }] = await s.sql("SELECT sum(quantity)::int AS reserved FROM reservations WHERE status = 'active'");
  const [{ units }] = await s.sql('SELECT sum(quantity)::int AS units FROM order_line_items');
  assert.equal(reserved, units);
});
