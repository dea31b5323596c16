// products.test.mjs: the admin catalog API for products, variants and product translations: nested create,
// reads, lists and their filters, ETags, field errors from constraints, variant operations, and translations.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, staffLogin, newStaff } from './lib/harness.mjs';

let s, t, loc, channel;
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json, headers, token = t) => s.client.request(method, path, { pk: null, token, json, headers });
let seq = 0;
const uniq = (p) => `${p}-${process.pid}-${++seq}`;
const sku = (p = 'SKU') => uniq(p).toUpperCase();
const MISSING_VAR = 'var_01zzzzzzzzzzzzzzzzzzzzzzzz';

const product = async (body) => {
  const r = await A('POST', '/v1/admin/products', body);
  assert.equal(r.status, 201, r.text);
  return r.body;
};

before(async () => {
  s = await startStack();
  t = (await staffLogin(s.client)).access_token;
  loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Main' })).body.id;
  channel = (await A('GET', '/v1/admin/sales-channels')).body.data.find((c) => c.is_default).id;
  await A('POST', `/v1/admin/sales-channels/${channel}/locations`, { location_id: loc });
});
after(async () => s && (await s.stop()));

test('a product is created whole: options, variants, prices, stock, media; read back; listed', async () => {
  const skus = [sku('TEE-S'), sku('TEE-M')];
  const p = await product({
    title: 'Organic Tee', subtitle: 'Soft', description: 'Made of cotton.', status: 'active', brand: 'Acme', tags: ['summer', 'cotton'],
    seo: { title: 'Organic tee', description: 'Buy it' }, metadata: { origin: 'PT' },
    options: [{ title: 'Size', values: ['S', 'M'] }],
    variants: [
      { sku: skus[0], options: { Size: 'S' }, prices: [{ currency_code: 'EUR', amount: 1999 }], inventory: [{ location_id: loc, quantity: 5 }] },
      { sku: skus[1], title: 'Medium', options: { Size: 'M' }, prices: [{ currency_code: 'eur', amount: 2099, compare_at_amount: 2500 }, { currency_code: 'usd', amount: 2200 }] },
    ],
    media: [{ url: 'https://cdn.example.com/tee.jpg', alt: 'The tee' }],
  });
  assert.match(p.id, /^prod_/);
  assert.equal(p.handle, 'organic-tee', 'the handle comes from the title');
  assert.deepEqual(p.tags, ['summer', 'cotton']);
  assert.equal(p.sales_channel_ids.length, 1, 'new products sell in the default channel');
  assert.deepEqual(p.options.map((o) => [o.title, o.values]), [['Size', ['S', 'M']]]);
  assert.deepEqual(p.variants.map((v) => [v.sku, v.title, v.options]), [[skus[0], 'S', { Size: 'S' }], [skus[1], 'Medium', { Size: 'M' }]]);
  assert.deepEqual(p.variants[0].prices.map((x) => [x.currency_code, x.amount]), [['eur', 1999]]);
  assert.deepEqual(p.variants[1].prices.map((x) => [x.currency_code, x.amount, x.compare_at_amount]), [['eur', 2099, 2500], ['usd', 2200, null]]);
  assert.equal(p.variants[0].inventory_items.length, 1);
  assert.deepEqual(p.media.map((m) => m.url), ['https://cdn.example.com/tee.jpg']);
  const g = await A('GET', `/v1/admin/products/${p.id}`);
  assert.equal(g.status, 200);
  assert.deepEqual(g.body, p);
  assert.ok(g.headers.get('etag'));
  assert.equal((await A('GET', `/v1/admin/products/${p.id}`, undefined, { 'if-none-match': g.headers.get('etag') })).status, 304);
  const l = await A('GET', '/v1/admin/products?status=active&limit=100');
  assert.ok(l.body.data.some((x) => x.id === p.id));
  assert.ok((await A('GET', '/v1/admin/products?status=draft&limit=100')).body.data.every((x) => x.status === 'draft'));
  const bySku = await A('GET', `/v1/admin/products?sku=${skus[1]}`);
  assert.deepEqual(bySku.body.data.map((x) => x.id), [p.id]);
  assert.equal((await A('GET', '/v1/admin/products/prod_01zzzzzzzzzzzzzzzzzzzzzzzz')).status, 404);
  assert.equal((await A('GET', '/v1/admin/products/not-an-id')).status, 404);
});

test('nested create is all or nothing; body errors point at the field', async () => {
  const title = uniq('Broken');
  let r = await A('POST', '/v1/admin/products', {
    title, options: [{ title: 'Size', values: ['S'] }], variants: [{ sku: sku(), options: { Size: 'XL' } }],
  });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/variants/0/options');
  r = await A('POST', '/v1/admin/products', { title, variants: [{ sku: 'A' }, { sku: 'A' }] });
  assert.equal(r.status, 422);
  assert.ok(r.body.errors.some((e) => e.pointer === '/variants/1/sku'));
  r = await A('POST', '/v1/admin/products', { title, variants: [{ sku: sku(), inventory: [{ location_id: 'sloc_01zzzzzzzzzzzzzzzzzzzzzzzz', quantity: 1 }] }] });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.body.errors[0].pointer, '/variants/0/inventory');
  const none = await A('GET', `/v1/admin/products?q=${encodeURIComponent(title)}`);
  assert.deepEqual(none.body.data, [], 'nothing of the refused products was written');
  r = await A('POST', '/v1/admin/products', { subtitle: 'no title' });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/title');
  r = await A('POST', '/v1/admin/products', { title: 'x', status: 'published' });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/status');
  r = await A('POST', '/v1/admin/products', { title: 'x', colour: 'red' });
  assert.equal(r.status, 422);
  assert.equal(r.body.type, type('unknown-field'));
});

test('a taken handle is 409 with the pointer /handle, on create and on update', async () => {
  const a = await product({ title: uniq('Handle A') });
  let r = await A('POST', '/v1/admin/products', { title: 'Other', handle: a.handle });
  assert.equal(r.status, 409, r.text);
  assert.equal(r.body.type, type('already-exists'));
  assert.equal(r.body.errors[0].pointer, '/handle');
  const b = await product({ title: uniq('Handle B') });
  const etag = (await A('GET', `/v1/admin/products/${b.id}`)).headers.get('etag');
  r = await A('PATCH', `/v1/admin/products/${b.id}`, { handle: a.handle }, { 'if-match': etag });
  assert.equal(r.status, 409);
  assert.equal(r.body.errors[0].pointer, '/handle');
});

test('a taken SKU points at the variant that has it; a broken SQL rule points at its field', async () => {
  const taken = sku('TAKEN');
  await product({ title: uniq('Has sku'), variants: [{ sku: taken }] });
  const two = (a, b) => ({ options: [{ title: 'N', values: ['1', '2'] }], variants: [{ options: { N: '1' }, ...a }, { options: { N: '2' }, ...b }] });
  let r = await A('POST', '/v1/admin/products', { title: uniq('Dup'), ...two({ sku: sku() }, { sku: taken }) });
  assert.equal(r.status, 409, r.text);
  assert.equal(r.body.type, type('already-exists'));
  assert.equal(r.body.errors[0].pointer, '/variants/1/sku');
  r = await A('POST', '/v1/admin/products', { title: uniq('Bad tax'), ...two({ sku: sku() }, { sku: sku(), tax_class: 'Not Valid!' }) });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.body.errors[0].pointer, '/variants/1/tax_class');
  const p = await product({ title: uniq('Var host') });
  r = await A('POST', `/v1/admin/products/${p.id}/variants`, { sku: taken });
  assert.equal(r.status, 409);
  assert.equal(r.body.errors[0].pointer, '/sku', 'on the variant endpoint the body is the variant');
  r = await A('POST', `/v1/admin/products/${p.id}/variants`, { sku: sku(), tax_class: 'BAD CLASS' });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/tax_class');
});

test('q finds products by text and by a variant SKU', async () => {
  const code = `ZX${process.pid}Q${++seq}`;
  const p = await product({ title: uniq('Quokka lamp'), variants: [{ sku: code }] });
  let r = await A('GET', '/v1/admin/products?q=quokka');
  assert.ok(r.body.data.some((x) => x.id === p.id), 'by title');
  r = await A('GET', `/v1/admin/products?q=${code}`);
  assert.deepEqual(r.body.data.map((x) => x.id), [p.id], 'by SKU');
  r = await A('GET', `/v1/admin/products?q=${code.toLowerCase()}`);
  assert.deepEqual(r.body.data.map((x) => x.id), [p.id], 'SKUs match case-insensitively');
  r = await A('GET', '/v1/admin/products?q=nothingmatchesthisword');
  assert.deepEqual(r.body.data, []);
});

test('list filters are validated: 400 with the parameter', async () => {
  for (const [qs, param] of [
    ['status=published', 'status'],
    ['status=', 'status'],
    [`q=${'a'.repeat(257)}`, 'q'],
    ['q=', 'q'],
    [`sku=${'A'.repeat(65)}`, 'sku'],
    ['limit=0', 'limit'],
    ['cursor=forged.abc', 'cursor'],
  ]) {
    const r = await A('GET', `/v1/admin/products?${qs}`);
    assert.equal(r.status, 400, `${qs}: ${r.text}`);
    assert.equal(r.body.type, type('invalid-parameter'));
    assert.equal(r.body.errors[0].parameter, param, qs);
  }
  const two = await A('GET', `/v1/admin/products?status=live&sku=${'B'.repeat(70)}`);
  assert.deepEqual(two.body.errors.map((e) => e.parameter).sort(), ['sku', 'status'], 'every bad parameter at once');
  const kind = await A('GET', '/v1/admin/price-lists?kind=clearance');
  assert.equal(kind.status, 400);
  assert.equal(kind.body.errors[0].parameter, 'kind');
  for (const st of ['draft', 'active', 'archived']) assert.equal((await A('GET', `/v1/admin/products?status=${st}`)).status, 200, st);
});

test('pages of products: every product once, newest first', async () => {
  const mine = [];
  for (let i = 0; i < 3; i++) mine.push((await product({ title: uniq('Paged') })).id);
  const seen = [];
  let cursor = null;
  do {
    const r = await A('GET', `/v1/admin/products?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
    assert.equal(r.status, 200);
    seen.push(...r.body.data.map((x) => x.id));
    cursor = r.body.next_cursor;
  } while (cursor);
  assert.equal(new Set(seen).size, seen.length, 'no duplicates');
  const idx = mine.map((id) => seen.indexOf(id));
  assert.ok(idx.every((i) => i >= 0));
  assert.deepEqual([...idx].sort((a, b) => b - a), idx, 'newest first');
});

test('updates need a current ETag; metadata merges', async () => {
  const p = await product({ title: uniq('Etag'), metadata: { a: 1, b: 2 } });
  let r = await A('PATCH', `/v1/admin/products/${p.id}`, { title: 'x' });
  assert.equal(r.status, 428);
  const etag = (await A('GET', `/v1/admin/products/${p.id}`)).headers.get('etag');
  r = await A('PATCH', `/v1/admin/products/${p.id}`, { title: 'Renamed', status: 'active', metadata: { b: null, c: 3 } }, { 'if-match': etag });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.title, 'Renamed');
  assert.equal(r.body.handle, p.handle, 'the handle stays when the title changes');
  assert.deepEqual(r.body.metadata, { a: 1, c: 3 });
  r = await A('PATCH', `/v1/admin/products/${p.id}`, { title: 'Again' }, { 'if-match': etag });
  assert.equal(r.status, 412);
  r = await A('PATCH', '/v1/admin/products/prod_01zzzzzzzzzzzzzzzzzzzzzzzz', { title: 'x' }, { 'if-match': etag });
  assert.equal(r.status, 404);
  r = await A('DELETE', `/v1/admin/products/${p.id}`);
  assert.equal(r.status, 405, 'products are archived, not deleted');
});

test('variants: add, change, delete; each bumps the product', async () => {
  const p = await product({ title: uniq('Variants'), options: [{ title: 'Color', values: ['Red', 'Blue'] }],
    variants: [{ sku: sku(), options: { Color: 'Red' } }] });
  const e0 = (await A('GET', `/v1/admin/products/${p.id}`)).headers.get('etag');
  let r = await A('POST', `/v1/admin/products/${p.id}/variants`, { sku: sku(), options: { Color: 'Blue' }, prices: [{ currency_code: 'eur', amount: 500 }] });
  assert.equal(r.status, 201, r.text);
  const v = r.body;
  assert.equal(v.product_id, p.id);
  assert.equal(v.title, 'Blue');
  const e1 = (await A('GET', `/v1/admin/products/${p.id}`)).headers.get('etag');
  assert.notEqual(e1, e0);
  r = await A('POST', `/v1/admin/products/${p.id}/variants`, { sku: sku(), options: { Color: 'Red' } });
  assert.equal(r.status, 409, 'the same options as another variant');
  r = await A('PATCH', `/v1/admin/products/${p.id}/variants/${v.id}`, { prices: [{ currency_code: 'eur', amount: 450 }, { currency_code: 'eur', amount: 400, min_quantity: 10 }] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.prices.map((x) => [x.amount, x.min_quantity]), [[450, 1], [400, 10]]);
  r = await A('PATCH', `/v1/admin/products/${p.id}/variants/${v.id}`, { prices: [{ currency_code: 'eur', amount: 1 }, { currency_code: 'EUR', amount: 2 }] });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/prices/1');
  const other = await product({ title: uniq('Other') });
  r = await A('PATCH', `/v1/admin/products/${other.id}/variants/${v.id}`, { title: 'stolen' });
  assert.equal(r.status, 404, 'a variant of another product');
  r = await A('DELETE', `/v1/admin/products/${p.id}/variants/${v.id}`);
  assert.equal(r.status, 204);
  r = await A('DELETE', `/v1/admin/products/${p.id}/variants/${v.id}`);
  assert.equal(r.status, 404);
  assert.equal((await A('GET', `/v1/admin/products/${p.id}`)).body.variants.length, 1);
});

test('a 404 for a wrong variant id changes nothing of the product', async () => {
  const p = await product({ title: uniq('Untouched'), variants: [{ sku: sku() }] });
  const before = await A('GET', `/v1/admin/products/${p.id}`);
  let r = await A('PATCH', `/v1/admin/products/${p.id}/variants/${MISSING_VAR}`, { title: 'x' });
  assert.equal(r.status, 404);
  r = await A('DELETE', `/v1/admin/products/${p.id}/variants/${MISSING_VAR}`);
  assert.equal(r.status, 404);
  const after = await A('GET', `/v1/admin/products/${p.id}`);
  assert.equal(after.body.updated_at, before.body.updated_at);
  assert.equal(after.headers.get('etag'), before.headers.get('etag'));
});

test('a variant with active stock reservations cannot be deleted', async () => {
  const p = await product({ title: uniq('Reserved'), status: 'active', options: [{ title: 'N', values: ['1', '2'] }],
    variants: [{ sku: sku(), options: { N: '1' }, inventory: [{ location_id: loc, quantity: 4 }] }, { sku: sku(), options: { N: '2' } }] });
  const v = p.variants[0];
  const ref = uniq('cart');
  await s.sql('SELECT souq_reserve($1::jsonb, $2, $3, 600)', [JSON.stringify([{ variant_id: v.id, quantity: 2 }]), channel, ref]);
  const before = await A('GET', `/v1/admin/products/${p.id}`);
  let r = await A('DELETE', `/v1/admin/products/${p.id}/variants/${v.id}`);
  assert.equal(r.status, 409, r.text);
  assert.equal(r.body.type, type('conflict'));
  const after = await A('GET', `/v1/admin/products/${p.id}`);
  assert.equal(after.body.variants.length, 2, 'the variant is still there');
  assert.equal(after.headers.get('etag'), before.headers.get('etag'));
  await s.sql('SELECT souq_release($1)', [ref]);
  r = await A('DELETE', `/v1/admin/products/${p.id}/variants/${v.id}`);
  assert.equal(r.status, 204, 'released: it can go');
});

test('initial stock is in the ledger with who created it', async () => {
  const cm = await newStaff(s.client, t, 'catalog_manager');
  const r = await A('POST', '/v1/admin/products', { title: uniq('Stocked'), variants: [{ sku: sku(), inventory: [{ location_id: loc, quantity: 7 }] }] }, undefined, cm.token);
  assert.equal(r.status, 201, r.text);
  const item = r.body.variants[0].inventory_items[0].inventory_item_id;
  const l = await A('GET', `/v1/admin/inventory-ledger?inventory_item_id=${item}`);
  assert.deepEqual(l.body.data.map((e) => [e.reason, e.delta_on_hand, e.actor]), [['receive', 7, cm.user.id]]);
});

test('handles: validated, derived from titles, made unique when derived', async () => {
  let r = await A('POST', '/v1/admin/products', { title: 'x', handle: 'Not A Handle' });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/handle');
  r = await A('POST', '/v1/admin/products', { title: 'x', handle: '-leading' });
  assert.equal(r.status, 422);
  r = await A('POST', '/v1/admin/products', { title: '!!!' });
  assert.equal(r.status, 422, `a title without letters or digits needs a handle: ${r.text}`);
  assert.equal(r.body.errors[0].pointer, '/handle');
  const title = `Twin ${process.pid} ${++seq}`;
  const a = await product({ title });
  const b = await product({ title });
  assert.notEqual(a.handle, b.handle, 'a derived handle that is taken gets a suffix');
  assert.equal(b.handle, `${a.handle}-2`);
  const c = await product({ title: `  ${title.toUpperCase()}!! ` });
  assert.equal(c.handle, `${a.handle}-3`);
});

test('roles: support reads products, cannot write; customers and keys-less callers cannot', async () => {
  const sup = await newStaff(s.client, t, 'support');
  assert.equal((await A('GET', '/v1/admin/products', undefined, undefined, sup.token)).status, 200);
  assert.equal((await A('POST', '/v1/admin/products', { title: 'no' }, undefined, sup.token)).status, 403);
  assert.equal((await s.client.request('GET', '/v1/admin/products', { pk: null })).status, 401);
});

test('product translations: set, read, replace, remove; foreign ids refused', async () => {
  await A('PATCH', '/v1/admin/store', { locales: ['en', 'de', 'fr'] });
  const p = await product({ title: uniq('Translated'), options: [{ title: 'Size', values: ['S'] }], variants: [{ sku: sku(), options: { Size: 'S' } }] });
  const base = `/v1/admin/products/${p.id}/translations`;
  let r = await A('GET', `${base}/de`);
  assert.equal(r.status, 200);
  assert.equal(r.body.title, null);
  r = await A('PUT', `${base}/de`, { title: 'Übersetzt', variants: { [p.variants[0].id]: 'Klein' }, options: { [p.options[0].id]: { title: 'Größe', values: { S: 'K' } } } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.title, 'Übersetzt');
  assert.deepEqual(r.body.variants, { [p.variants[0].id]: 'Klein' });
  assert.deepEqual(r.body.options, { [p.options[0].id]: { title: 'Größe', values: { S: 'K' } } });
  r = await A('PUT', `${base}/de`, { description: 'Nur Text' });
  assert.equal(r.body.title, null, 'a PUT replaces the whole translation');
  assert.deepEqual(r.body.variants, {});
  const other = await product({ title: uniq('Other'), variants: [{ sku: sku() }] });
  r = await A('PUT', `${base}/de`, { variants: { [other.variants[0].id]: 'x' } });
  assert.equal(r.status, 422, 'a variant of another product');
  assert.equal((await A('PUT', `${base}/it`, { title: 'x' })).status, 422, 'a locale the store does not offer');
  assert.equal((await A('PUT', `${base}/en`, { title: 'x' })).status, 422, 'the default locale');
  assert.equal((await A('PUT', `${base}/de-`, { title: 'x' })).status, 404);
  assert.equal((await A('DELETE', `${base}/de`)).status, 204);
  assert.equal((await A('DELETE', `${base}/de`)).status, 404);
});

test('links: unknown channels and categories point at their field; rule collections refuse hand-added products', async () => {
  let r = await A('POST', '/v1/admin/products', { title: uniq('Links'), category_ids: ['pcat_01zzzzzzzzzzzzzzzzzzzzzzzz'] });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.body.errors[0].pointer, '/category_ids');
  r = await A('POST', '/v1/admin/products', { title: uniq('Links'), sales_channel_ids: ['sc_01zzzzzzzzzzzzzzzzzzzzzzzz'] });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/sales_channel_ids');
  const rule = await A('POST', '/v1/admin/collections', { title: 'Rules', handle: uniq('rules'), kind: 'rule', rules: { tags: ['x'] } });
  r = await A('POST', '/v1/admin/products', { title: uniq('Links'), collection_ids: [rule.body.id] });
  assert.equal(r.status, 409);
  const c1 = await A('POST', '/v1/admin/categories', { name: 'One', handle: uniq('one') });
  const c2 = await A('POST', '/v1/admin/categories', { name: 'Two', handle: uniq('two') });
  const p = await product({ title: uniq('Linked'), category_ids: [c1.body.id], media: [{ url: 'https://cdn.example.com/a.jpg' }] });
  assert.deepEqual(p.category_ids, [c1.body.id]);
  const etag = (await A('GET', `/v1/admin/products/${p.id}`)).headers.get('etag');
  r = await A('PATCH', `/v1/admin/products/${p.id}`, { category_ids: [c2.body.id, c2.body.id], media: [] }, { 'if-match': etag });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.category_ids, [c2.body.id], 'replaced, duplicates once');
  assert.deepEqual(r.body.media, []);
});

test('variant edge cases: a taken SKU on PATCH, unknown products, odd search text', async () => {
  const taken = sku('VT');
  await product({ title: uniq('Owner'), variants: [{ sku: taken }] });
  const p = await product({ title: uniq('Patchy'), variants: [{ sku: sku() }] });
  let r = await A('PATCH', `/v1/admin/products/${p.id}/variants/${p.variants[0].id}`, { sku: taken });
  assert.equal(r.status, 409);
  assert.equal(r.body.errors[0].pointer, '/sku');
  r = await A('PATCH', `/v1/admin/products/${p.id}/variants/${p.variants[0].id}`, { sku: '' });
  assert.equal(r.status, 422);
  r = await A('POST', '/v1/admin/products/prod_01zzzzzzzzzzzzzzzzzzzzzzzz/variants', { sku: sku() });
  assert.equal(r.status, 404);
  r = await A('PUT', '/v1/admin/products/prod_01zzzzzzzzzzzzzzzzzzzzzzzz/translations/de', { title: 'x' });
  assert.equal(r.status, 404);
  for (const q of ["it's", 'a:*|b', '!!!', '&', '(((', 'ü']) {
    r = await A('GET', `/v1/admin/products?q=${encodeURIComponent(q)}`);
    assert.equal(r.status, 200, `${q}: ${r.text}`);
  }
});
