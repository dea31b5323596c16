// store_cache.test.mjs: the storefront read cache (core/storefront.h). Reads are cached per server thread for one
// catalog generation: a staff write shows at once on every thread, a change made behind the API's back (SQL,
// another node, an import) within moments through NOTIFY, time windows of price lists resolve per request from
// cached rows, and customer-specific prices never come from or go into the cache.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, staffLogin, newCustomer } from './lib/harness.mjs';

let s, t;
const A = (method, path, json, headers) => s.client.request(method, path, { pk: null, token: t, json, headers });
const S = (path, o) => s.client.get(path, o);
let seq = 0;
const uniq = (p) => `${p}-${process.pid}-${++seq}`;
const eur = (amount) => [{ currency_code: 'eur', amount }];
const product = async (body) => {
  const r = await A('POST', '/v1/admin/products', { status: 'active', ...body });
  assert.equal(r.status, 201, r.text);
  return r.body;
};
// enough reads that both server threads (SOUQ_THREADS=2) answer some from their caches
const readMany = async (path, n = 12) => Promise.all(Array.from({ length: n }, () => S(path)));

before(async () => {
  s = await startStack();
  t = (await staffLogin(s.client)).access_token;
});
after(async () => s && (await s.stop()));

test('a staff write shows on the next storefront read, on every thread', async () => {
  const p = await product({ title: uniq('Cached'), variants: [{ sku: uniq('C'), prices: eur(1000) }] });
  const path = `/v1/store/products/${p.handle}?currency_code=eur`;
  for (let round = 0; round < 5; round++) {
    const title = uniq(`Title ${round}`);
    for (const r of await readMany(path)) assert.equal(r.status, 200);
    const etag = (await A('GET', `/v1/admin/products/${p.id}`)).headers.get('etag');
    const w = await A('PATCH', `/v1/admin/products/${p.id}`, { title }, { 'if-match': etag });
    assert.equal(w.status, 200, w.text);
    for (const r of await readMany(path)) assert.equal(r.body.title, title, 'no thread serves the old title');
    const list = await readMany(`/v1/store/products?q=${encodeURIComponent(title.split(' ')[0])}&limit=5`, 4);
    for (const r of list) assert.equal(r.status, 200);
  }
  const vpath = `/v1/admin/products/${p.id}/variants/${p.variants[0].id}`;
  const price = await A('PATCH', vpath, { prices: eur(1234) }, { 'if-match': (await A('GET', vpath)).headers.get('etag') });
  assert.equal(price.status, 200, price.text);
  for (const r of await readMany(path)) assert.equal(r.body.variants[0].price.amount, 1234, 'a new price too');
});

test('a change made in the database directly reaches the cache through NOTIFY', async () => {
  const p = await product({ title: uniq('Direct'), variants: [{ sku: uniq('D'), prices: eur(500) }] });
  const path = `/v1/store/products/${p.id}?currency_code=eur`;
  for (const r of await readMany(path)) assert.equal(r.body.variants[0].price.amount, 500);
  await s.sql("UPDATE prices SET amount = 700 WHERE variant_id = $1 AND price_list_id IS NULL", [p.variants[0].id]);
  const end = Date.now() + 5000;
  let amounts;
  do {
    amounts = (await readMany(path)).map((r) => r.body.variants[0].price.amount);
    if (amounts.every((a) => a === 700)) break;
    await new Promise((r) => setTimeout(r, 50));
  } while (Date.now() < end);
  assert.deepEqual([...new Set(amounts)], [700], 'every thread dropped the stale read');
  await s.sql("UPDATE products SET status = 'archived' WHERE id = $1", [p.id]);
  const until = Date.now() + 5000;
  let statuses;
  do {
    statuses = (await readMany(path)).map((r) => r.status);
    if (statuses.every((x) => x === 404)) break;
    await new Promise((r) => setTimeout(r, 50));
  } while (Date.now() < until);
  assert.deepEqual([...new Set(statuses)], [404]);
});

test('a sale that starts later applies from cached rows when its time comes, without any write', async () => {
  const p = await product({ title: uniq('Timed'), variants: [{ sku: uniq('T'), prices: eur(2000) }] });
  const startsAt = new Date(Date.now() + 2500).toISOString();
  const sale = await A('POST', '/v1/admin/price-lists', { title: uniq('Soon'), kind: 'sale', starts_at: startsAt });
  assert.equal(sale.status, 201, sale.text);
  const up = await A('POST', `/v1/admin/price-lists/${sale.body.id}/prices`, { upsert: [{ variant_id: p.variants[0].id, currency_code: 'eur', amount: 1500 }] });
  assert.ok(up.status < 300, up.text);
  const path = `/v1/store/products/${p.id}?currency_code=eur`;
  const before = await readMany(path);
  assert.ok(Date.now() < Date.parse(startsAt), 'the reads above happened before the sale started');
  for (const r of before) assert.equal(r.body.variants[0].price.amount, 2000);
  await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(startsAt) - Date.now()) + 300));
  for (const r of await readMany(path)) {
    assert.deepEqual([r.body.variants[0].price.amount, r.body.variants[0].price.price_type], [1500, 'sale']);
  }
});

test('customer-group prices are neither served from nor stored in the shared cache', async () => {
  const p = await product({ title: uniq('Grouped'), variants: [{ sku: uniq('G'), prices: eur(1000) }] });
  const grp = await A('POST', '/v1/admin/customer-groups', { name: uniq('vip') });
  const vip = await A('POST', '/v1/admin/price-lists', { title: 'VIP', kind: 'override', rules: { customer_group: [grp.body.id] } });
  await A('POST', `/v1/admin/price-lists/${vip.body.id}/prices`, { upsert: [{ variant_id: p.variants[0].id, currency_code: 'eur', amount: 600 }] });
  const c = await newCustomer(s.client);
  await A('POST', `/v1/admin/customer-groups/${grp.body.id}/customers`, { add: [c.customer.id] });
  const path = `/v1/store/products/${p.id}?currency_code=eur`;
  for (let i = 0; i < 3; i++) {
    for (const r of await readMany(path, 4)) assert.equal(r.body.variants[0].price.amount, 1000, 'anonymous');
    const m = await s.client.get(path, { token: c.token });
    assert.equal(m.body.variants[0].price.amount, 600, 'the member');
  }
  // a member who leaves the group loses the price at once (group membership is not cached)
  await s.sql('DELETE FROM customer_group_members WHERE customer_id = $1', [c.customer.id]);
  assert.equal((await s.client.get(path, { token: c.token })).body.variants[0].price.amount, 1000);
});

test('identical misses on a thread share one query (single-flight)', async () => {
  const p = await product({ title: uniq('Herd'), variants: [{ sku: uniq('H'), prices: eur(900) }] });
  const batches = async () => {
    const m = (await s.client.get('/metrics', { pk: null })).text;
    return [...m.matchAll(/^souq_db_batches_total\{thread="\d+"\} (\d+)$/gm)].reduce((a, x) => a + Number(x[1]), 0);
  };
  for (let round = 0; round < 3; round++) {
    // a new generation (a staff write), then 40 identical reads at once: at most one query per server thread
    const etag = (await A('GET', `/v1/admin/products/${p.id}`)).headers.get('etag');
    assert.equal((await A('PATCH', `/v1/admin/products/${p.id}`, { subtitle: uniq('gen') }, { 'if-match': etag })).status, 200);
    const before = await batches();
    const rs = await readMany(`/v1/store/products?tag=herd-${round}&q=${encodeURIComponent(p.title.split('-')[0])}`, 40);
    // the count is of every batch in the window: besides one query per server thread, background polls land in it (the
    // sweeper's, and the dispatcher's, which looks again every 20 ms after the PATCH's event); without single-flight the
    // 40 misses alone would be 40
    const used = (await batches()) - before;
    for (const r of rs) assert.equal(r.status, 200);
    assert.ok(used <= 12, `40 identical misses took ${used} database batches`);
  }
});

test('/metrics counts the read cache per thread', async () => {
  const p = await product({ title: uniq('Counted'), variants: [{ sku: uniq('M'), prices: eur(300) }] });
  const sum = (text, name) => [...text.matchAll(new RegExp(`^${name}\\{thread="\\d+"\\} (\\d+)$`, 'gm'))].reduce((a, x) => a + Number(x[1]), 0);
  const metrics = async () => (await s.client.get('/metrics', { pk: null })).text;
  const m0 = await metrics();
  for (let i = 0; i < 10; i++) assert.equal((await S(`/v1/store/products/${p.id}`)).status, 200);
  const m1 = await metrics();
  const hits = sum(m1, 'souq_store_cache_hits_total') - sum(m0, 'souq_store_cache_hits_total');
  const misses = sum(m1, 'souq_store_cache_misses_total') - sum(m0, 'souq_store_cache_misses_total');
  assert.equal(hits + misses, 10, 'every anonymous product read looks in the cache');
  // one miss per thread, and one more per thread if the NOTIFY of the create above lands between the reads
  assert.ok(misses >= 1 && misses <= 4 && hits >= 6, `${hits} hits, ${misses} misses`);
  assert.ok(sum(m1, 'souq_store_cache_bytes') > 0);
});

test('stock: a reservation does not empty the caches (no NOTIFY per order); selling out and on-hand changes do', async () => {
  const st = await startStack({ env: { SOUQ_STORE_CACHE_MAX_AGE_S: '0' } }); // only changes start a new generation
  try {
    const tok = (await staffLogin(st.client)).access_token;
    const Ad = (method, path, json) => st.client.request(method, path, { pk: null, token: tok, json });
    const loc = (await Ad('POST', '/v1/admin/stock-locations', { name: 'L' })).body.id;
    await Ad('POST', `/v1/admin/sales-channels/${st.channel}/locations`, { location_id: loc, priority: 0 });
    const p = (await Ad('POST', '/v1/admin/products', { status: 'active', title: uniq('Stocked'),
      variants: [{ sku: uniq('S'), prices: eur(100), inventory: [{ location_id: loc, quantity: 3 }] }] })).body;
    const item = (await st.sql('SELECT inventory_item_id AS i FROM variant_inventory_items WHERE variant_id = $1', [p.variants[0].id]))[0].i;
    const path = `/v1/store/products/${p.id}?currency_code=eur`;
    const qty = async () => (await Promise.all(Array.from({ length: 8 }, () => st.client.get(path)))).map((r) => r.body.variants[0].availability);
    const until = async (pred) => {
      for (let i = 0; i < 100; i++) { const a = await qty(); if (a.every(pred)) return a; await new Promise((r) => setTimeout(r, 50)); }
      return qty();
    };
    assert.ok((await until((a) => a.quantity === 3)).every((a) => a.quantity === 3));
    const listens = async () => (await st.sql("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'LISTEN%'"))[0].n;
    assert.ok(await listens() >= 1);
    // a checkout's reservation: stock stays on both sides of zero, nothing is notified, the cached quantity stays
    await st.sql('UPDATE inventory_levels SET reserved = reserved + 1 WHERE inventory_item_id = $1', [item]);
    await st.sql('SELECT pg_sleep(0.3)');
    assert.ok((await qty()).every((a) => a.quantity === 3), 'cached pages are not emptied by a reservation');
    // the last units reserved: sold out, notified, every thread drops its page
    await st.sql('UPDATE inventory_levels SET reserved = reserved + 2 WHERE inventory_item_id = $1', [item]);
    assert.ok((await until((a) => a.in_stock === false)).every((a) => a.in_stock === false && a.quantity === 0));
    // a staff count changes on_hand: notified
    await st.sql('UPDATE inventory_levels SET on_hand = on_hand + 4 WHERE inventory_item_id = $1', [item]);
    assert.ok((await until((a) => a.quantity === 4)).every((a) => a.quantity === 4 && a.in_stock));
  } finally {
    await st.stop();
  }
});

test('cached pages are recomputed after store_cache_max_age_s, so reserved quantities catch up', async () => {
  const st = await startStack({ env: { SOUQ_STORE_CACHE_MAX_AGE_S: '1' } });
  try {
    const tok = (await staffLogin(st.client)).access_token;
    const Ad = (method, path, json) => st.client.request(method, path, { pk: null, token: tok, json });
    const loc = (await Ad('POST', '/v1/admin/stock-locations', { name: 'L' })).body.id;
    await Ad('POST', `/v1/admin/sales-channels/${st.channel}/locations`, { location_id: loc, priority: 0 });
    const p = (await Ad('POST', '/v1/admin/products', { status: 'active', title: uniq('Aged'),
      variants: [{ sku: uniq('A'), prices: eur(100), inventory: [{ location_id: loc, quantity: 10 }] }] })).body;
    const path = `/v1/store/products/${p.id}?currency_code=eur`;
    assert.equal((await st.client.get(path)).body.variants[0].availability.quantity, 10);
    await st.sql('UPDATE inventory_levels SET reserved = 4 WHERE inventory_item_id = (SELECT inventory_item_id FROM variant_inventory_items WHERE variant_id = $1)', [p.variants[0].id]);
    let q;
    for (let i = 0; i < 100 && q !== 6; i++) {
      q = (await st.client.get(path)).body.variants[0].availability.quantity;
      if (q !== 6) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(q, 6, 'the quantity caught up without any notification');
  } finally {
    await st.stop();
  }
});
