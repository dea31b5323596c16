// catalog_admin.test.mjs: the catalog's plain admin resources (sales channels, regions, stock locations,
// customer groups, categories, collections, price lists): CRUD, ETags, validation and sub-operations.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, staffLogin, newCustomer, newStaff } from './lib/harness.mjs';

let s, t;
before(async () => {
  s = await startStack();
  t = (await staffLogin(s.client)).access_token;
});
after(async () => s && (await s.stop()));

const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json, headers) => s.client.request(method, path, { pk: null, token: t, json, headers });
let seq = 0;
const handle = (p) => `${p}-${process.pid}-${++seq}`;

/** The generic lifecycle every plain resource shares. */
async function lifecycle(base, create, update, { deletable = true } = {}) {
  const c = await A('POST', base, create);
  assert.equal(c.status, 201, c.text);
  const id = c.body.id;
  const g = await A('GET', `${base}/${id}`);
  assert.equal(g.status, 200);
  assert.deepEqual(g.body, c.body);
  const etag = g.headers.get('etag');
  const l = await A('GET', `${base}?limit=100`);
  assert.ok(l.body.data.some((x) => x.id === id), 'listed');
  const u = await A('PATCH', `${base}/${id}`, update, { 'if-match': etag });
  assert.equal(u.status, 200, u.text);
  for (const [k, v] of Object.entries(update)) if (k !== 'metadata') assert.deepEqual(u.body[k], v, k);
  const stale = await A('PATCH', `${base}/${id}`, update, { 'if-match': etag });
  assert.equal(stale.status, 412, 'a stale ETag is refused');
  assert.equal(stale.body.type, type('precondition-failed'));
  const unknown = await A('PATCH', `${base}/${id}`, { not_a_field: 1 });
  assert.equal(unknown.status, 422);
  assert.equal((await A('PATCH', `${base}/${id.slice(0, -5)}zzzzz`, update)).status, 404);
  if (deletable) {
    assert.equal((await A('DELETE', `${base}/${id}`)).status, 204);
    assert.equal((await A('GET', `${base}/${id}`)).status, 404);
    assert.equal((await A('DELETE', `${base}/${id}`)).status, 404);
  }
  return u.body;
}

test('sales channels: lifecycle, locations, and no deletion', async () => {
  const ch = await lifecycle('/v1/admin/sales-channels', { name: 'Mobile app', description: 'iOS and Android' }, { name: 'App', disabled: true }, { deletable: false });
  assert.equal(ch.disabled, true);
  const loc = await A('POST', '/v1/admin/stock-locations', { name: 'Berlin DC', country_code: 'DE' });
  let r = await A('POST', `/v1/admin/sales-channels/${ch.id}/locations`, { location_id: loc.body.id, priority: 2 });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.locations, [{ location_id: loc.body.id, priority: 2 }]);
  r = await A('POST', `/v1/admin/sales-channels/${ch.id}/locations`, { location_id: loc.body.id, priority: 1 });
  assert.deepEqual(r.body.locations, [{ location_id: loc.body.id, priority: 1 }], 'a second add changes the priority');
  r = await A('POST', `/v1/admin/sales-channels/${ch.id}/locations`, { location_id: 'sloc_01zzzzzzzzzzzzzzzzzzzzzzzz' });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/location_id');
  r = await A('DELETE', `/v1/admin/sales-channels/${ch.id}/locations/${loc.body.id}`);
  assert.deepEqual(r.body.locations, []);
  r = await A('DELETE', '/v1/admin/sales-channels/sc_01zzzzzzzzzzzzzzzzzzzzzzzz/locations/' + loc.body.id);
  assert.equal(r.status, 404);
  r = await A('DELETE', `/v1/admin/sales-channels/${ch.id}`);
  assert.equal(r.status, 405, 'channels are disabled, not deleted');
  r = await A('POST', '/v1/admin/sales-channels', { name: 'x', default_region_id: 'reg_01zzzzzzzzzzzzzzzzzzzzzzzz' });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/default_region_id');
});

test('regions: currencies and countries are normalised; a country belongs to one region', async () => {
  const r1 = await A('POST', '/v1/admin/regions', { name: `EU ${handle('r')}`, currency_code: 'EUR', countries: ['DE', 'fr'], tax_inclusive: true });
  assert.equal(r1.status, 201);
  assert.equal(r1.body.currency_code, 'eur');
  assert.deepEqual(r1.body.countries, ['de', 'fr']);
  let r = await A('POST', '/v1/admin/regions', { name: 'Other', currency_code: 'eur', countries: ['de'] });
  assert.equal(r.status, 409);
  assert.equal(r.body.errors[0].pointer, '/countries');
  r = await A('POST', '/v1/admin/regions', { name: 'Bad', currency_code: 'xyz', countries: ['zz'] });
  assert.equal(r.status, 422);
  assert.deepEqual(r.body.errors.map((e) => e.pointer).sort(), ['/countries/0', '/currency_code']);
  r = await A('GET', '/v1/admin/regions?currency_code=EUR');
  assert.ok(r.body.data.every((x) => x.currency_code === 'eur') && r.body.data.length >= 1);
  await lifecycle('/v1/admin/regions', { name: 'US', currency_code: 'usd', countries: ['us'] }, { name: 'United States', countries: ['pr', 'us'] });
});

test('stock locations and customer groups', async () => {
  await lifecycle('/v1/admin/stock-locations', { name: 'Store 1', city: 'Hamburg', country_code: 'de' }, { city: 'Bremen', is_active: false }, { deletable: false });
  const name = handle('VIP');
  const g = await A('POST', '/v1/admin/customer-groups', { name });
  assert.equal(g.status, 201);
  assert.equal(g.body.customer_count, 0);
  const dup = await A('POST', '/v1/admin/customer-groups', { name });
  assert.equal(dup.status, 409);
  const c1 = await newCustomer(s.client);
  const c2 = await newCustomer(s.client);
  let r = await A('POST', `/v1/admin/customer-groups/${g.body.id}/customers`, { add: [c1.customer.id, c2.customer.id] });
  assert.equal(r.body.customer_count, 2);
  r = await A('POST', `/v1/admin/customer-groups/${g.body.id}/customers`, { remove: [c1.customer.id], add: [c2.customer.id] });
  assert.equal(r.body.customer_count, 1);
  r = await A('POST', `/v1/admin/customer-groups/${g.body.id}/customers`, { add: ['cus_01zzzzzzzzzzzzzzzzzzzzzzzz'] });
  assert.equal(r.status, 422);
  r = await A('GET', `/v1/admin/customer-groups/${g.body.id}`);
  assert.equal(r.body.customer_count, 1, 'the refused change changed nothing');
  await lifecycle('/v1/admin/customer-groups', { name: handle('wholesale') }, { name: handle('trade') });
});

test('categories: a tree without cycles; handles are unique; parents with children stay', async () => {
  const root = await A('POST', '/v1/admin/categories', { name: 'Clothing', handle: handle('clothing') });
  const child = await A('POST', '/v1/admin/categories', { name: 'Shirts', handle: handle('shirts'), parent_id: root.body.id, rank: 2 });
  assert.equal(child.body.parent_id, root.body.id);
  let r = await A('PATCH', `/v1/admin/categories/${root.body.id}`, { parent_id: child.body.id });
  assert.equal(r.status, 422, 'a cycle');
  r = await A('PATCH', `/v1/admin/categories/${root.body.id}`, { parent_id: root.body.id });
  assert.ok([409, 422].includes(r.status), 'its own parent');
  r = await A('POST', '/v1/admin/categories', { name: 'Dup', handle: child.body.handle });
  assert.equal(r.status, 409);
  assert.equal(r.body.errors[0].pointer, '/handle');
  r = await A('POST', '/v1/admin/categories', { name: 'Bad', handle: 'Not A Handle' });
  assert.equal(r.status, 422);
  r = await A('GET', `/v1/admin/categories?parent_id=${root.body.id}`);
  assert.deepEqual(r.body.data.map((x) => x.id), [child.body.id]);
  r = await A('DELETE', `/v1/admin/categories/${root.body.id}`);
  assert.equal(r.status, 409, 'it has a subcategory');
  assert.equal((await A('DELETE', `/v1/admin/categories/${child.body.id}`)).status, 204);
  assert.equal((await A('DELETE', `/v1/admin/categories/${root.body.id}`)).status, 204);
  await lifecycle('/v1/admin/categories', { name: 'Hats', handle: handle('hats') }, { name: 'Caps', is_active: false });
});

test('collections: manual and rule kinds', async () => {
  const rule = await A('POST', '/v1/admin/collections', { title: 'Under 20', handle: handle('under-20'), kind: 'rule', rules: { tags: ['sale'], currency_code: 'EUR', price_max: 2000 } });
  assert.equal(rule.status, 201, rule.text);
  assert.deepEqual(rule.body.rules, { tags: ['sale'], types: [], currency_code: 'eur', price_min: null, price_max: 2000 });
  assert.equal(rule.body.product_count, null);
  let r = await A('POST', `/v1/admin/collections/${rule.body.id}/products`, { add: [] });
  assert.equal(r.status, 409, 'rule collections follow their rules');
  r = await A('POST', '/v1/admin/collections', { title: 'x', handle: handle('x'), rules: { tags: ['a'] } });
  assert.equal(r.status, 422, 'rules need kind rule');
  r = await A('POST', '/v1/admin/collections', { title: 'x', handle: handle('x'), kind: 'rule', rules: { price_min: 5, price_max: 1 } });
  assert.equal(r.status, 422);
  assert.deepEqual(r.body.errors.map((e) => e.pointer).sort(), ['/rules/currency_code', '/rules/price_max']);
  r = await A('PATCH', `/v1/admin/collections/${rule.body.id}`, { kind: 'manual' });
  assert.equal(r.status, 422, 'the kind is fixed');
  await lifecycle('/v1/admin/collections', { title: 'Summer', handle: handle('summer') }, { title: 'Summer 2027', description: 'Light things' });
});

test('price lists: rules, windows, validation', async () => {
  const grp = await A('POST', '/v1/admin/customer-groups', { name: handle('b2b') });
  const pl = await A('POST', '/v1/admin/price-lists', {
    title: 'B2B', kind: 'override', priority: 10, rules: { customer_group: [grp.body.id] },
    starts_at: '2026-01-01T00:00:00Z', ends_at: '2027-01-01T00:00:00+01:00',
  });
  assert.equal(pl.status, 201, pl.text);
  assert.deepEqual(pl.body.rules, { customer_group: [grp.body.id] });
  assert.equal(pl.body.status, 'active');
  assert.equal(pl.body.price_count, 0);
  let r = await A('POST', '/v1/admin/price-lists', { title: 'x', kind: 'sale', starts_at: '2027-01-01T00:00:00Z', ends_at: '2026-01-01T00:00:00Z' });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/ends_at');
  r = await A('POST', '/v1/admin/price-lists', { title: 'x', kind: 'clearance', starts_at: 'tomorrow', percent_off_bp: 0, rules: { planet: ['mars'] } });
  assert.equal(r.status, 422);
  assert.equal(r.body.type, type('unknown-field'), 'an unknown rule attribute is an unknown field');
  r = await A('POST', '/v1/admin/price-lists', { title: 'x', kind: 'clearance', starts_at: 'tomorrow', percent_off_bp: 0 });
  assert.deepEqual(r.body.errors.map((e) => e.pointer).sort(), ['/kind', '/percent_off_bp', '/starts_at']);
  r = await A('POST', `/v1/admin/price-lists/${pl.body.id}/prices`, { upsert: [{ variant_id: 'var_01zzzzzzzzzzzzzzzzzzzzzzzz', currency_code: 'eur', amount: 100 }] });
  assert.equal(r.status, 422, 'an unknown variant');
  r = await A('POST', `/v1/admin/price-lists/${pl.body.id}/prices`, { upsert: [{ variant_id: 'x', currency_code: 'e', amount: -1 }] });
  assert.equal(r.status, 422);
  assert.deepEqual(r.body.errors.map((e) => e.pointer).sort(), ['/upsert/0/amount', '/upsert/0/currency_code', '/upsert/0/variant_id']);
  r = await A('GET', '/v1/admin/price-lists?kind=override');
  assert.ok(r.body.data.some((x) => x.id === pl.body.id));
  await lifecycle('/v1/admin/price-lists', { title: 'Black Friday', kind: 'sale', percent_off_bp: 2000 }, { title: 'Cyber Monday', status: 'draft', percent_off_bp: 2500 });
});

test('roles: catalog managers edit the catalog but not regions; support reads it', async () => {
  const cm = await newStaff(s.client, t, 'catalog_manager');
  const sup = await newStaff(s.client, t, 'support');
  let r = await s.client.request('POST', '/v1/admin/categories', { pk: null, token: cm.token, json: { name: 'By CM', handle: handle('cm') } });
  assert.equal(r.status, 201);
  r = await s.client.request('POST', '/v1/admin/regions', { pk: null, token: cm.token, json: { name: 'No', currency_code: 'eur' } });
  assert.equal(r.status, 403);
  r = await s.client.request('GET', '/v1/admin/categories', { pk: null, token: sup.token });
  assert.equal(r.status, 200);
  r = await s.client.request('POST', '/v1/admin/categories', { pk: null, token: sup.token, json: { name: 'No', handle: handle('no') } });
  assert.equal(r.status, 403);
});
