// shipping_rate_cache.test.mjs: reuse of a shipping plugin's rate for an identical rate request (manifest
// cache.rates_ttl_s, plugins/host/shipping.c). The fixtures of tests/plugins-ratecache ask a loopback rate service
// for every rate they compute, so the service's request log is the count of real plugin calls: ship-cached declares
// a TTL, ship-uncached does not. The server runs one event-loop thread: the cache is per thread, and one thread makes
// "the second read is served from the cache" a fact rather than a likelihood.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startStack, staffLogin, ROOT } from './lib/harness.mjs';

let s, t, eu, loc, variant, other, fake, cached, uncached;
const A = (method, path, json) => s.client.request(method, path, { pk: null, token: t, json });
const de = { first_name: 'Ada', last_name: 'L', address_1: 'Unter den Linden 1', city: 'Berlin', postal_code: '10117', country_code: 'de' };

// The rate service: answers {amount: f.amount}, {available: false} (f.available false), or f.status with an error body; every request is logged with the
// provider it rated and the rate request the plugin sent.
function startFake() {
  const f = { requests: [], amount: 500, status: 200, available: true };
  f.server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw);
      f.requests.push(body);
      res.writeHead(f.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(f.status !== 200 ? { error: 'down' } : f.available ? { amount: f.amount } : { available: false }));
    });
  });
  return new Promise((r) => f.server.listen(0, '127.0.0.1', () => r(f)));
}
const calls = (provider) => fake.requests.filter((r) => r.provider === provider).length;

async function cart(address, items) {
  const r = await s.client.request('POST', '/v1/store/carts', { json: { email: 'buyer@example.com', shipping_address: address, items } });
  assert.equal(r.status, 201, r.text);
  return r.body;
}
// What the cart's shipping options cost now (each listing rates every option of the region: one rate request each).
async function offered(id) {
  const r = await s.client.request('GET', `/v1/store/carts/${id}/shipping-options`);
  assert.equal(r.status, 200, r.text);
  return Object.fromEntries(r.body.data.map((o) => [o.provider, o.amount]));
}

before(async () => {
  fake = await startFake();
  s = await startStack({ env: { SOUQ_PLUGIN_DIRS: `${ROOT}/tests/plugins-ratecache`, SOUQ_OUTBOUND_ALLOW_CIDRS: '127.0.0.1/32', SOUQ_THREADS: '1' } });
  t = (await staffLogin(s.client)).access_token;
  for (const name of ['ship-cached', 'ship-uncached']) {
    const p = await A('PATCH', `/v1/admin/plugins/${name}`, { config: { base_url: `http://127.0.0.1:${fake.server.address().port}` } });
    assert.equal(p.status, 200, p.text);
    assert.equal(p.body.status, 'active');
  }
  eu = (await A('POST', '/v1/admin/regions', { name: 'EU', currency_code: 'eur', countries: ['de', 'fr'] })).body;
  loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Berlin' })).body.id;
  await A('POST', `/v1/admin/sales-channels/${s.channel}/locations`, { location_id: loc, priority: 0 });
  const product = async (sku, weight_g) => {
    const r = await A('POST', '/v1/admin/products', { title: `Thing ${sku}`, status: 'active',
      variants: [{ sku: `${sku}-${process.pid}`, weight_g, prices: [{ currency_code: 'eur', amount: 1000 }], inventory: [{ location_id: loc, quantity: 500 }] }] });
    assert.equal(r.status, 201, r.text);
    return r.body.variants[0].id;
  };
  variant = await product('RC', 400);
  other = await product('RC2', 900);
  for (const provider of ['cached', 'uncached']) {
    const r = await A('POST', '/v1/admin/shipping-options', { name: `Rated ${provider}`, region_id: eu.id, provider, amount: 0 });
    assert.equal(r.status, 201, r.text);
  }
});
after(async () => { if (s) await s.stop(); if (fake) fake.server.close(); });

test('the same cart read twice asks a caching plugin once and an undeclared one every time; the answer is the same', async () => {
  fake.amount = 610;
  const c = await cart(de, [{ variant_id: variant, quantity: 2 }]);
  const before = { cached: calls('cached'), uncached: calls('uncached') };
  assert.deepEqual(await offered(c.id), { cached: 610, uncached: 610 });
  fake.amount = 999; // a plugin asked again would now answer 999
  assert.deepEqual(await offered(c.id), { cached: 610, uncached: 999 });
  assert.deepEqual(await offered(c.id), { cached: 610, uncached: 999 });
  assert.equal(calls('cached') - before.cached, 1);
  assert.equal(calls('uncached') - before.uncached, 3);
  // the plugin got the whole rate request (the key is built from the same inputs)
  const last = fake.requests.filter((r) => r.provider === 'cached').at(-1);
  assert.equal(last.items[0].quantity, 2);
  assert.equal(last.address.postal_code, '10117');
  assert.equal(last.weight_g, 800);
});

test('another cart with identical inputs shares the entry; a changed quantity or address asks again', async () => {
  fake.amount = 700;
  const a = await cart(de, [{ variant_id: other, quantity: 1 }]);
  const n0 = calls('cached');
  assert.equal((await offered(a.id)).cached, 700);
  assert.equal(calls('cached'), n0 + 1);
  fake.amount = 701;
  const b = await cart(de, [{ variant_id: other, quantity: 1 }]);
  assert.equal((await offered(b.id)).cached, 700, 'identical inputs: the first cart\'s rate');
  assert.equal(calls('cached'), n0 + 1);
  // quantity
  const line = b.items[0].id;
  const q = await s.client.request('PATCH', `/v1/store/carts/${b.id}/line-items/${line}`, { json: { quantity: 3 } });
  assert.equal(q.status, 200, q.text);
  assert.equal((await offered(b.id)).cached, 701);
  assert.equal(calls('cached'), n0 + 2);
  // address (same country, another postal code: weight and totals unchanged)
  fake.amount = 702;
  const u = await s.client.request('PATCH', `/v1/store/carts/${b.id}`, { json: { shipping_address: { ...de, postal_code: '10115' } } });
  assert.equal(u.status, 200, u.text);
  assert.equal((await offered(b.id)).cached, 702);
  assert.equal(calls('cached'), n0 + 3);
  assert.equal(fake.requests.at(-1).address.postal_code, '10115');
  // and back to the first cart: still its own entry
  assert.equal((await offered(a.id)).cached, 700);
  assert.equal(calls('cached'), n0 + 3);
});

test('a settings PATCH and a reload start afresh: no rate computed under the old settings or code is served', async () => {
  fake.amount = 300;
  const c = await cart(de, [{ variant_id: variant, quantity: 5 }]);
  assert.equal((await offered(c.id)).cached, 300);
  const n0 = calls('cached');
  const p = await A('PATCH', '/v1/admin/plugins/ship-cached', { config: { base_url: `http://127.0.0.1:${fake.server.address().port}`, markup: 11 } });
  assert.equal(p.status, 200, p.text);
  assert.equal((await offered(c.id)).cached, 311, 'the new markup, not the cached 300');
  assert.equal(calls('cached'), n0 + 1);
  assert.equal((await offered(c.id)).cached, 311);
  assert.equal(calls('cached'), n0 + 1, 'cached again under the new settings');
  fake.amount = 400;
  const r = await A('POST', '/v1/admin/plugins/reload');
  assert.equal(r.status, 200, r.text);
  assert.equal((await offered(c.id)).cached, 411);
  assert.equal(calls('cached'), n0 + 2);
  const back = await A('PATCH', '/v1/admin/plugins/ship-cached', { config: { base_url: `http://127.0.0.1:${fake.server.address().port}`, markup: 0 } });
  assert.equal(back.status, 200, back.text);
  assert.equal((await offered(c.id)).cached, 400, 'markup back to 0');
});

test('an error answer is not cached: the next read asks again; "not available" is', async () => {
  const c = await cart(de, [{ variant_id: variant, quantity: 7 }]);
  const n0 = calls('cached');
  fake.status = 500;
  try {
    assert.equal((await offered(c.id)).cached, undefined, 'a failing plugin only takes its option off');
    assert.equal((await offered(c.id)).cached, undefined);
    assert.equal(calls('cached'), n0 + 2, 'both reads asked the plugin');
  } finally {
    fake.status = 200;
  }
  fake.amount = 820;
  assert.equal((await offered(c.id)).cached, 820);
  assert.equal(calls('cached'), n0 + 3);
  // not available: a successful answer, reused like a price
  const d = await cart(de, [{ variant_id: variant, quantity: 9 }]);
  const n1 = calls('cached');
  fake.available = false;
  try {
    assert.equal((await offered(d.id)).cached, undefined);
    fake.available = true;
    assert.equal((await offered(d.id)).cached, undefined, 'still not offered: the answer was reused');
    assert.equal(calls('cached'), n1 + 1);
  } finally {
    fake.available = true;
  }
});

// /metrics: the exact value of one sample (a missing sample fails: 0 by default would hide a counter that is gone)
async function sample(name, labels = '') {
  const text = (await s.client.request('GET', '/metrics', { raw: true, pk: null })).text;
  const m = new RegExp(`^${name}${labels.replace(/[{}"]/g, (c) => '\\' + c)} (\\d+)$`, 'm').exec(text);
  assert.ok(m, `${name}${labels} in /metrics`);
  return Number(m[1]);
}

test('/metrics counts reuse: two identical reads are one miss (the call) and one hit, for the caching plugin only', async () => {
  const c = await cart(de, [{ variant_id: variant, quantity: 13 }]); // a quantity no other test rates
  const hits = '{plugin="ship-cached"}';
  const before = { hit: await sample('souq_plugin_rate_cache_hits_total', hits), miss: await sample('souq_plugin_rate_cache_misses_total', hits),
    uhit: await sample('souq_plugin_rate_cache_hits_total', '{plugin="ship-uncached"}'),
    umiss: await sample('souq_plugin_rate_cache_misses_total', '{plugin="ship-uncached"}'),
    evicted: await sample('souq_plugin_rate_cache_evictions_total'), calls: calls('cached') };
  fake.amount = 130;
  assert.equal((await offered(c.id)).cached, 130);
  assert.equal((await offered(c.id)).cached, 130);
  assert.equal(calls('cached'), before.calls + 1);
  assert.equal(await sample('souq_plugin_rate_cache_misses_total', hits), before.miss + 1);
  assert.equal(await sample('souq_plugin_rate_cache_hits_total', hits), before.hit + 1);
  // a plugin that declares no TTL is neither hit nor missed: it is simply called
  assert.equal(await sample('souq_plugin_rate_cache_hits_total', '{plugin="ship-uncached"}'), before.uhit);
  assert.equal(await sample('souq_plugin_rate_cache_misses_total', '{plugin="ship-uncached"}'), before.umiss);
  assert.equal(before.uhit + before.umiss, 0);
  // far below the 1 MiB a thread keeps: nothing was dropped for room
  assert.equal(await sample('souq_plugin_rate_cache_evictions_total'), before.evicted);
  assert.equal(before.evicted, 0);
});
