// segments.test.mjs: customer segments through the running server: rules (total spent, order count, last order,
// country, customer group, account), members computed at once and kept current by order and address changes and by
// the segments.refresh job, the segment's customer group used by a price list and a promotion unchanged, the CSV
// export, and negative tests for every route.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startStack, staffLogin, newCustomer, newStaff } from './lib/harness.mjs';

let s, t, loc, ship, variant;
const A = (method, path, json) => s.client.request(method, path, { pk: null, token: t, json });
const C = (tok, method, path, json, headers) => s.client.request(method, path, { token: tok, json, headers });
const address = { first_name: 'Ada', last_name: 'L', address_1: 'Unter den Linden 1', city: 'Berlin', postal_code: '10117', country_code: 'de' };
const fieldErr = (r, status, pointer, code) => {
  assert.equal(r.status, status, r.text);
  assert.deepEqual([r.body.errors[0]?.pointer, r.body.errors[0]?.code], [pointer, code], r.text);
};
const members = async (seg) => {
  const r = await A('GET', `/v1/admin/segments/${seg.id}/export.csv`);
  assert.equal(r.status, 200, r.text);
  return r.text.trim().split('\r\n').slice(1).map((l) => l.split(',')[0].replaceAll('"', ''));
};

/** A paid order of 40.00 (plus shipping) for the customer. */
async function paidOrder(tok) {
  const c = await C(tok, 'POST', '/v1/store/carts', { shipping_address: address, items: [{ variant_id: variant, quantity: 4 }] });
  assert.equal(c.status, 201, c.text);
  await C(tok, 'POST', `/v1/store/carts/${c.body.id}/shipping-methods`, { option_id: ship });
  const o = await C(tok, 'POST', `/v1/store/carts/${c.body.id}/complete`, { payment: { provider: 'test', data: { token: 'tok_visa' } } }, { 'idempotency-key': crypto.randomUUID() });
  assert.equal(o.status, 201, o.text);
  const p = await A('POST', `/v1/admin/orders/${o.body.id}/capture`);
  assert.equal(p.status, 200, p.text);
  return p.body;
}

before(async () => {
  s = await startStack({ env: { SOUQ_JOBS_POLL_MS: '50' } });
  t = (await staffLogin(s.client)).access_token;
  const eu = (await A('POST', '/v1/admin/regions', { name: 'EU', currency_code: 'eur', countries: ['de', 'fr'] })).body;
  ship = (await A('POST', '/v1/admin/shipping-options', { name: 'Standard', region_id: eu.id, provider: 'flat_rate', amount: 495 })).body.id;
  loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Berlin' })).body.id;
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
  const r = await A('POST', '/v1/admin/products', { title: `seg-${process.pid}`, status: 'active', variants: [{ sku: `seg-${process.pid}`, prices: [{ currency_code: 'eur', amount: 1000 }], inventory: [{ location_id: loc, quantity: 10000 }] }] });
  assert.equal(r.status, 201, r.text);
  variant = r.body.variants[0].id;
});
after(async () => s && (await s.stop()));

test('create: every rule checked (422 with the pointer), names unique (409), nothing half-written', async () => {
  const groups = (await A('GET', '/v1/admin/customer-groups?limit=100')).body.data.length;
  fieldErr(await A('POST', '/v1/admin/segments', { rules: {} }), 422, '/name', 'required');
  fieldErr(await A('POST', '/v1/admin/segments', { name: 'x', rules: { order_count_min: -1 } }), 422, '/rules/order_count_min', 'out_of_range');
  fieldErr(await A('POST', '/v1/admin/segments', { name: 'x', rules: { countries: ['xx'] } }), 422, '/rules/countries/0', 'invalid_value');
  fieldErr(await A('POST', '/v1/admin/segments', { name: 'x', rules: { last_order_after: 'yesterday' } }), 422, '/rules/last_order_after', 'invalid_format');
  fieldErr(await A('POST', '/v1/admin/segments', { name: 'x', rules: { total_spent_min: 100 } }), 422, '/rules/currency_code', 'required');
  fieldErr(await A('POST', '/v1/admin/segments', { name: 'x', rules: { customer_group_ids: [`cgrp_${'0'.repeat(26)}`] } }), 422, '/rules/customer_group_ids', 'not_found');
  fieldErr(await A('POST', '/v1/admin/segments', { name: 'x', rules: { tags: [''] } }), 422, '/rules/tags/0', 'blank');
  fieldErr(await A('POST', '/v1/admin/segments', { name: 'x', rules: { tags: ['ok', 'x'.repeat(65)] } }), 422, '/rules/tags/1', 'invalid_length');
  fieldErr(await A('POST', '/v1/admin/segments', { name: 'x', rules: { tags: [] } }), 422, '/rules/tags', 'invalid_length');
  let r = await A('POST', '/v1/admin/segments', { name: 'x', rules: { labels: ['vip'] } });
  assert.equal(r.status, 422, r.text);
  assert.match(r.body.type, /unknown-field$/);
  fieldErr(await A('POST', '/v1/admin/segments', { name: 'x', rules: [] }), 422, '/rules', 'invalid_type');
  assert.equal((await A('GET', '/v1/admin/customer-groups?limit=100')).body.data.length, groups, 'no group was left behind');
  r = await A('POST', '/v1/admin/segments', { name: 'Everyone' });
  assert.equal(r.status, 201, r.text);
  fieldErr(await A('POST', '/v1/admin/segments', { name: 'Everyone' }), 409, '/name', 'taken');
  const g = await A('GET', `/v1/admin/customer-groups/${r.body.customer_group_id}`);
  assert.equal(g.body.name, 'Segment: Everyone');
  assert.equal(g.body.customer_count, r.body.member_count);
  const del = await A('DELETE', `/v1/admin/customer-groups/${r.body.customer_group_id}`);
  assert.equal(del.status, 409, `the segment's group cannot be deleted while the segment exists: ${del.text}`);
  assert.equal((await A('DELETE', `/v1/admin/segments/${r.body.id}`)).status, 204);
  assert.equal((await A('GET', `/v1/admin/customer-groups/${r.body.customer_group_id}`)).status, 404, 'its group goes with it');
});

test('unknown or malformed ids are 404 on every segment route; permissions customers:read / customers:write', async () => {
  const nope = `seg_${'0'.repeat(26)}`;
  for (const [m, p] of [['GET', `/v1/admin/segments/${nope}`], ['POST', `/v1/admin/segments/${nope}/refresh`], ['GET', `/v1/admin/segments/${nope}/export.csv`],
                        ['DELETE', `/v1/admin/segments/${nope}`], ['GET', '/v1/admin/segments/seg_x'], ['POST', '/v1/admin/segments/seg_x/refresh'], ['GET', '/v1/admin/segments/seg_x/export.csv']]) {
    const r = await A(m, p);
    assert.equal(r.status, 404, `${m} ${p}: ${r.text}`);
  }
  assert.equal((await A('PATCH', `/v1/admin/segments/${nope}`, { name: 'y' })).status, 404);
  const ro = await newStaff(s.client, t, 'read_only');
  const r = await s.client.request('POST', '/v1/admin/segments', { pk: null, token: ro.token, json: { name: 'nope' } });
  assert.equal(r.status, 403, r.text);
  assert.equal((await s.client.request('GET', '/v1/admin/segments', { pk: null })).status, 401);
});

test('spend and order rules: members computed at once and kept current when orders are paid and refunded', async () => {
  const big = await newCustomer(s.client, { first_name: '=cmd', last_name: 'Big' });
  const small = await newCustomer(s.client);
  await paidOrder(big.token);
  const seg = (await A('POST', '/v1/admin/segments', { name: 'Spent 50+', rules: { currency_code: 'eur', total_spent_min: 5000, order_count_min: 1 } })).body;
  assert.deepEqual(await members(seg), [], '44.95 spent is not 50');
  const second = await paidOrder(big.token);
  assert.deepEqual(await members(seg), [big.email], 'the payment moved the customer into the segment');
  let g = await A('GET', `/v1/admin/segments/${seg.id}`);
  assert.equal(g.body.member_count, 1);
  await paidOrder(small.token);
  assert.deepEqual(await members(seg), [big.email]);
  // a refund takes the spend below the threshold: out again
  const r = await A('POST', `/v1/admin/orders/${second.id}/refunds`, { amount: second.total, reason: 'other' });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual(await members(seg), []);
  // the CSV: header, cells quoted when needed (as the orders export), formula-like text neutralised
  await A('PATCH', `/v1/admin/segments/${seg.id}`, { rules: { order_count_min: 2 } });
  const csv = await A('GET', `/v1/admin/segments/${seg.id}/export.csv`);
  assert.match(csv.headers.get('content-type'), /^text\/csv/);
  assert.match(csv.headers.get('content-disposition'), /attachment/);
  assert.equal(csv.text, `email,first_name,last_name,has_account\r\n${big.email},'=cmd,Big,true\r\n`);
  g = await A('GET', `/v1/admin/segments/${seg.id}`);
  assert.deepEqual([g.body.rules, g.body.member_count], [{ order_count_min: 2 }, 1]);
});

test("country and group rules; the segment's group drives a price list and a promotion unchanged", async () => {
  const fr = await newCustomer(s.client);
  const de = await newCustomer(s.client);
  const vip = (await A('POST', '/v1/admin/customer-groups', { name: `vip-${process.pid}` })).body;
  await A('POST', `/v1/admin/customer-groups/${vip.id}/customers`, { add: [fr.customer.id, de.customer.id] });
  const seg = (await A('POST', '/v1/admin/segments', { name: 'French VIPs', rules: { countries: ['FR'], customer_group_ids: [vip.id] } })).body;
  assert.deepEqual(seg.rules.countries, ['fr'], 'countries are stored lower-case');
  assert.deepEqual(await members(seg), []);
  let r = await C(fr.token, 'POST', '/v1/store/customers/me/addresses', { ...address, country_code: 'fr', city: 'Paris', is_default_shipping: true });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual(await members(seg), [fr.email], 'a new default address moved the customer in');
  await C(de.token, 'POST', '/v1/store/customers/me/addresses', { ...address, is_default_shipping: true });
  assert.deepEqual(await members(seg), [fr.email]);
  // a price list for the segment's group: the member pays 8.00, the other 10.00
  const pl = await A('POST', '/v1/admin/price-lists', { title: 'French VIP prices', kind: 'override', status: 'active', rules: { customer_group: [seg.customer_group_id] } });
  assert.equal(pl.status, 201, pl.text);
  r = await A('POST', `/v1/admin/price-lists/${pl.body.id}/prices`, { upsert: [{ variant_id: variant, currency_code: 'eur', amount: 800 }] });
  assert.equal(r.status, 200, r.text);
  const price = async (tok) => (await C(tok, 'POST', '/v1/store/carts', { items: [{ variant_id: variant, quantity: 1 }] })).body.items[0].unit_price;
  assert.deepEqual([await price(fr.token), await price(de.token)], [800, 1000]);
  // a promotion for the segment's group
  const promo = await A('POST', '/v1/admin/promotions', { code: `FRVIP${process.pid}`, type: 'percentage', percent_bp: 1000, customer_group_ids: [seg.customer_group_id] });
  assert.equal(promo.status, 201, promo.text);
  const cart = (await C(fr.token, 'POST', '/v1/store/carts', { items: [{ variant_id: variant, quantity: 1 }] })).body;
  r = await C(fr.token, 'POST', `/v1/store/carts/${cart.id}/promotions`, { code: promo.body.code });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.discount_total, 80);
  const other = (await C(de.token, 'POST', '/v1/store/carts', { items: [{ variant_id: variant, quantity: 1 }] })).body;
  fieldErr(await C(de.token, 'POST', `/v1/store/carts/${other.id}/promotions`, { code: promo.body.code }), 422, '/code', 'coupon_not_eligible');
  // leaving the rule's group leaves the segment at the next refresh
  await A('POST', `/v1/admin/customer-groups/${vip.id}/customers`, { remove: [fr.customer.id] });
  r = await A('POST', `/v1/admin/segments/${seg.id}/refresh`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.member_count, await members(seg)], [0, []]);
});

test('time-based rules move by the segments.refresh job', async () => {
  const cu = await newCustomer(s.client);
  const o = await paidOrder(cu.token);
  const seg = (await A('POST', '/v1/admin/segments', { name: 'Recent buyers', rules: { last_order_within_days: 30, has_account: true } })).body;
  assert.ok((await members(seg)).includes(cu.email));
  await s.sql("UPDATE orders SET placed_at = now() - interval '40 days' WHERE id = $1", [o.id]);
  await s.sql("UPDATE job_schedules SET next_run_at = now() WHERE id = 'segments'");
  let m;
  for (let i = 0; i < 200; i++) { // the runner polls every 50 ms: wait for the outcome
    m = await members(seg);
    if (!m.includes(cu.email)) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.ok(!m.includes(cu.email), 'the refresh job took the customer out');
  const jobs = await A('GET', '/v1/admin/jobs?kind=segments.refresh');
  assert.ok(jobs.body.data.some((j) => j.state === 'completed'), JSON.stringify(jobs.body));
});

test('the set-based refresh and the per-customer rule check agree for every customer and segment', async () => {
  // a mixed population: with and without orders, addresses, groups; then every segment defined so far plus a few more
  const vip = (await A('POST', '/v1/admin/customer-groups', { name: `agree-${process.pid}` })).body;
  const people = [];
  for (let i = 0; i < 4; i++) people.push(await newCustomer(s.client));
  await paidOrder(people[0].token);
  await paidOrder(people[1].token);
  await paidOrder(people[1].token);
  await C(people[2].token, 'POST', '/v1/store/customers/me/addresses', { ...address, country_code: 'fr', city: 'Paris', is_default_shipping: true });
  await A('POST', `/v1/admin/customer-groups/${vip.id}/customers`, { add: [people[1].customer.id, people[3].customer.id] });
  for (const rules of [{ order_count_max: 0 }, { countries: ['de'] }, { countries: ['fr', 'de'], has_account: true }, { currency_code: 'eur', total_spent_max: 5000 },
                       { customer_group_ids: [vip.id], order_count_min: 1 }, { last_order_after: '2000-01-01T00:00:00Z', last_order_before: '2100-01-01T00:00:00Z' }]) {
    const r = await A('POST', '/v1/admin/segments', { name: `agree ${JSON.stringify(rules)}`, rules });
    assert.equal(r.status, 201, r.text);
  }
  const rows = await s.sql(`SELECT s.name, count(*) FILTER (WHERE souq_segment_match(s.rules, c.id) <> EXISTS (SELECT 1 FROM customer_group_members m
                              WHERE m.group_id = s.customer_group_id AND m.customer_id = c.id))::int AS disagree,
                              count(*) FILTER (WHERE souq_segment_match(s.rules, c.id))::int AS members
                            FROM segments s CROSS JOIN customers c GROUP BY s.name ORDER BY s.name`);
  for (const r of rows) assert.equal(r.disagree, 0, JSON.stringify(r));
  assert.ok(rows.some((r) => r.members > 0) && rows.some((r) => r.name.includes('order_count_max') && r.members > 0), JSON.stringify(rows));
});

test("tag rules follow the customer's tags (0032: set by staff and automation rules) in the same transaction", async () => {
  const cu = await newCustomer(s.client);
  const seg = (await A('POST', '/v1/admin/segments', { name: 'Tagged VIP', rules: { tags: ['vip', 'press'] } })).body;
  assert.deepEqual(await members(seg), []);
  await s.sql("UPDATE customers SET tags = ARRAY['newsletter', 'press'] WHERE id = $1", [cu.customer.id]);
  assert.deepEqual(await members(seg), [cu.email]);
  await s.sql("UPDATE customers SET tags = ARRAY['newsletter'] WHERE id = $1", [cu.customer.id]);
  assert.deepEqual(await members(seg), []);
});
