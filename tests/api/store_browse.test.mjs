// store_browse.test.mjs: the storefront's category tree and collections: visibility, tree order, breadcrumbs,
// localization with fallback, lookups by id and handle, and bad input.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, staffLogin } from './lib/harness.mjs';

let s, t;
const A = (method, path, json, headers) => s.client.request(method, path, { pk: null, token: t, json, headers });
let seq = 0;
const handle = (p) => `${p}-${process.pid}-${++seq}`;
const cat = async (body) => {
  const r = await A('POST', '/v1/admin/categories', { handle: handle(body.name.toLowerCase()), ...body });
  assert.equal(r.status, 201, r.text);
  return r.body;
};

let root, shirts, tees, hidden, under, other;
before(async () => {
  s = await startStack();
  t = (await staffLogin(s.client)).access_token;
  await A('PATCH', '/v1/admin/store', { locales: ['en', 'de'] });
  root = await cat({ name: 'Clothing', rank: 1 });
  other = await cat({ name: 'Accessories', rank: 0 });
  tees = await cat({ name: 'Tees', parent_id: root.id, rank: 2 });
  shirts = await cat({ name: 'Shirts', parent_id: root.id, rank: 1 });
  hidden = await cat({ name: 'Archive', parent_id: root.id, rank: 3, is_active: false });
  under = await cat({ name: 'Old', parent_id: hidden.id });
  const tr = await A('PUT', `/v1/admin/categories/${root.id}/translations/de`, { name: 'Kleidung' });
  assert.equal(tr.status, 200, tr.text);
});
after(async () => s && (await s.stop()));

test('the tree: depth first by rank, inactive branches hidden whole', async () => {
  const r = await s.client.get('/v1/store/categories');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.data.map((c) => [c.name, c.depth]), [['Accessories', 0], ['Clothing', 0], ['Shirts', 1], ['Tees', 1]]);
  assert.equal(r.body.has_more, false);
  assert.ok(!r.body.data.some((c) => c.id === hidden.id || c.id === under.id));
  const kids = await s.client.get(`/v1/store/categories?parent_id=${root.id}`);
  assert.deepEqual(kids.body.data.map((c) => c.name), ['Shirts', 'Tees']);
  const etag = r.headers.get('etag');
  assert.equal((await s.client.get('/v1/store/categories', { headers: { 'if-none-match': etag } })).status, 304);
});

test('one category by id or handle, with breadcrumb and children; hidden ones are 404', async () => {
  const byId = await s.client.get(`/v1/store/categories/${shirts.id}`);
  assert.equal(byId.status, 200, byId.text);
  assert.deepEqual(byId.body.ancestors, [{ id: root.id, name: 'Clothing', handle: root.handle }]);
  assert.deepEqual(byId.body.children, []);
  const byHandle = await s.client.get(`/v1/store/categories/${root.handle}`);
  assert.deepEqual(byHandle.body.children.map((c) => c.name), ['Shirts', 'Tees']);
  assert.deepEqual(byHandle.body.ancestors, []);
  for (const key of [hidden.id, under.id, under.handle, 'pcat_01zzzzzzzzzzzzzzzzzzzzzzzz', 'Not_A_Handle', 'x'.repeat(300)]) {
    const r = await s.client.get(`/v1/store/categories/${key}`);
    assert.equal(r.status, 404, key);
    assert.equal(r.body.detail, 'The category does not exist.');
  }
});

test('localized names fall back to the default locale', async () => {
  const de = await s.client.get(`/v1/store/categories/${shirts.id}`, { headers: { 'accept-language': 'de-DE, de;q=0.9, en;q=0.5' } });
  assert.equal(de.headers.get('content-language'), 'de');
  assert.equal(de.body.ancestors[0].name, 'Kleidung');
  assert.equal(de.body.name, 'Shirts', 'untranslated: the default text');
  const en = await s.client.get(`/v1/store/categories/${root.id}?locale=en`, { headers: { 'accept-language': 'de' } });
  assert.equal(en.headers.get('content-language'), 'en');
  assert.equal(en.body.name, 'Clothing');
  const fr = await s.client.get(`/v1/store/categories/${root.id}`, { headers: { 'accept-language': 'fr' } });
  assert.equal(fr.headers.get('content-language'), 'en');
});

test('collections: listed by title, found by id or handle', async () => {
  const b = await A('POST', '/v1/admin/collections', { title: 'Bestsellers', handle: handle('best') });
  const a = await A('POST', '/v1/admin/collections', { title: 'autumn edit', handle: handle('autumn'), kind: 'rule', rules: { tags: ['autumn'] } });
  assert.equal((await A('PUT', `/v1/admin/collections/${a.body.id}/translations/de`, { title: 'Herbst' })).status, 200);
  const r = await s.client.get('/v1/store/collections');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.data.map((c) => c.title), ['autumn edit', 'Bestsellers']);
  assert.deepEqual(Object.keys(r.body.data[0]).sort(), ['description', 'handle', 'id', 'object', 'title'], 'no rules or internals');
  const de = await s.client.get(`/v1/store/collections/${a.body.handle}`, { headers: { 'accept-language': 'de' } });
  assert.equal(de.body.title, 'Herbst');
  assert.equal((await s.client.get(`/v1/store/collections/${b.body.id}`)).body.title, 'Bestsellers');
  assert.equal((await s.client.get('/v1/store/collections/pcol_01zzzzzzzzzzzzzzzzzzzzzzzz')).status, 404);
});

test('bad input and credentials', async () => {
  let r = await s.client.get('/v1/store/categories?parent_id=nope');
  assert.equal(r.status, 400);
  assert.equal(r.body.errors[0].parameter, 'parent_id');
  r = await s.client.get('/v1/store/categories?depth=2');
  assert.equal(r.status, 400);
  r = await s.client.get('/v1/store/collections?limit=5');
  assert.equal(r.status, 400, 'collections come whole; limit is not a parameter');
  r = await s.client.get('/v1/store/categories', { pk: null });
  assert.equal(r.status, 401);
});

test('admin translations of categories and collections: set, read, replace, remove, refuse', async () => {
  const c = await cat({ name: 'Shoes' });
  const base = `/v1/admin/categories/${c.id}/translations`;
  let r = await A('GET', `${base}/de`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { object: 'category_translation', category_id: c.id, locale: 'de', name: null, description: null });
  r = await A('PUT', `${base}/de`, { name: 'Schuhe', description: 'Für jeden Weg' });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.name, r.body.description], ['Schuhe', 'Für jeden Weg']);
  r = await A('PUT', `${base}/de`, { name: 'Schuhwerk' });
  assert.deepEqual([r.body.name, r.body.description], ['Schuhwerk', null], 'a PUT replaces the whole translation');
  const shown = await s.client.get(`/v1/store/categories/${c.handle}?locale=de`);
  assert.equal(shown.body.name, 'Schuhwerk');
  for (const [loc, body, status, why] of [
    ['fr', { name: 'Chaussures' }, 422, 'a locale the store does not offer'],
    ['en', { name: 'Shoes' }, 422, 'the default locale'],
    ['de', {}, 422, 'the name is required'],
    ['de', { name: '' }, 422, 'an empty name'],
    ['de', { name: 'x', colour: 1 }, 422, 'an unknown field'],
    ['DE', { name: 'x' }, 404, 'a malformed locale names nothing'],
  ]) {
    r = await A('PUT', `${base}/${loc}`, body);
    assert.equal(r.status, status, `${why}: ${r.text}`);
  }
  assert.equal((await A('PUT', '/v1/admin/categories/pcat_01zzzzzzzzzzzzzzzzzzzzzzzz/translations/de', { name: 'x' })).status, 404);
  assert.equal((await A('DELETE', `${base}/de`)).status, 204);
  assert.equal((await A('DELETE', `${base}/de`)).status, 404);
  assert.equal((await s.client.get(`/v1/store/categories/${c.handle}?locale=de`)).body.name, 'Shoes');
  const col = await A('POST', '/v1/admin/collections', { title: 'Gifts', handle: handle('gifts') });
  r = await A('PUT', `/v1/admin/collections/${col.body.id}/translations/de`, { title: 'Geschenke', description: null });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.collection_id, col.body.id);
  assert.equal((await A('GET', `/v1/admin/collections/${col.body.id}/translations/de`)).body.title, 'Geschenke');
  assert.equal((await A('PUT', `/v1/admin/collections/${col.body.id}/translations/de`, { name: 'x' })).status, 422, 'collections have titles');
});
