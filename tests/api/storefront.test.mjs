// storefront.test.mjs: the storefront catalog (/v1/store/products): visibility, filters, sorting and keyset
// pages, prices, localization and search, categories, and the storefront's caching headers and credentials.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, staffLogin, newCustomer } from './lib/harness.mjs';

let s, t, loc, channel;
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, path, json, headers) => s.client.request(method, path, { pk: null, token: t, json, headers });
const S = (path, o) => s.client.get(path, o);
let seq = 0;
const uniq = (p) => `${p}-${process.pid}-${++seq}`;
const tagged = () => `tag${process.pid}x${++seq}`;
const ids = (r) => r.body.data.map((p) => p.id);

const product = async (body) => {
  const r = await A('POST', '/v1/admin/products', { status: 'active', ...body });
  assert.equal(r.status, 201, r.text);
  return r.body;
};
const eur = (amount) => [{ currency_code: 'eur', amount }];

before(async () => {
  s = await startStack();
  t = (await staffLogin(s.client)).access_token;
  await A('PATCH', '/v1/admin/store', { locales: ['en', 'de', 'fr'] });
  loc = (await A('POST', '/v1/admin/stock-locations', { name: 'Main' })).body.id;
  channel = (await A('GET', '/v1/admin/sales-channels')).body.data.find((c) => c.is_default).id;
  await A('POST', `/v1/admin/sales-channels/${channel}/locations`, { location_id: loc });
});
after(async () => s && (await s.stop()));

test('only active products of the key\'s channel; one by id or handle', async () => {
  const tag = tagged();
  const live = await product({ title: uniq('Live'), tags: [tag], variants: [{ sku: uniq('L'), prices: eur(100) }] });
  const draft = await product({ title: uniq('Draft'), status: 'draft', tags: [tag] });
  const ch2 = await A('POST', '/v1/admin/sales-channels', { name: uniq('B2B') });
  const elsewhere = await product({ title: uniq('Elsewhere'), tags: [tag], sales_channel_ids: [ch2.body.id] });
  const r = await S(`/v1/store/products?tag=${tag}`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(ids(r), [live.id]);
  assert.equal(r.body.data[0].variants, undefined, 'the list expands nothing by default');
  for (const key of [live.id, live.handle]) {
    const one = await S(`/v1/store/products/${key}?currency_code=eur`);
    assert.equal(one.status, 200, one.text);
    assert.equal(one.body.id, live.id);
    assert.equal(one.body.variants[0].price.amount, 100, 'one product comes with prices');
    assert.equal(one.body.status, undefined, 'no admin fields');
  }
  for (const key of [draft.id, draft.handle, elsewhere.id, 'prod_01zzzzzzzzzzzzzzzzzzzzzzzz', 'Not_A_Handle']) {
    const one = await S(`/v1/store/products/${key}`);
    assert.equal(one.status, 404, key);
  }
});

test('fields and expand', async () => {
  const tag = tagged();
  const p = await product({ title: uniq('Fielded'), tags: [tag], variants: [{ sku: uniq('F'), prices: eur(250), inventory: [{ location_id: loc, quantity: 3 }] }] });
  let r = await S(`/v1/store/products?tag=${tag}&fields=title,handle`);
  assert.deepEqual(Object.keys(r.body.data[0]).sort(), ['handle', 'id', 'title']);
  r = await S(`/v1/store/products?tag=${tag}&expand=prices&currency_code=EUR`);
  assert.equal(r.body.data[0].variants[0].price.amount, 250);
  assert.equal(r.body.data[0].variants[0].availability, undefined);
  r = await S(`/v1/store/products/${p.id}?expand=availability`);
  assert.deepEqual(r.body.variants[0].availability, { in_stock: true, quantity: 3 });
  for (const qs of ['expand=everything', 'fields=password', 'expand=prices,', 'currency_code=xyz', 'region_id=a%20b']) {
    r = await S(`/v1/store/products?${qs}`);
    assert.equal(r.status, 400, qs);
    assert.equal(r.body.type, type('invalid-parameter'));
  }
});

test('filters: tag, price range, stock, options, collection', async () => {
  const tag = tagged();
  const cheap = await product({ title: uniq('Cheap'), tags: [tag], options: [{ title: 'Size', values: ['S', 'M'] }],
    variants: [{ sku: uniq('C1'), options: { Size: 'S' }, prices: eur(500), inventory: [{ location_id: loc, quantity: 1 }] }, { sku: uniq('C2'), options: { Size: 'M' }, prices: eur(700) }] });
  const dear = await product({ title: uniq('Dear'), tags: [tag], variants: [{ sku: uniq('D'), prices: eur(5000) }] });
  const q = (qs) => S(`/v1/store/products?tag=${tag}&currency_code=eur&${qs}`);
  assert.deepEqual(ids(await q('price_max=1000')), [cheap.id]);
  assert.deepEqual(ids(await q('price_min=1000')), [dear.id]);
  assert.deepEqual(ids(await q('in_stock=true')), [cheap.id]);
  assert.deepEqual(ids(await q('in_stock=false')), [dear.id]);
  assert.deepEqual(ids(await q('options=Size:M')), [cheap.id]);
  assert.deepEqual(ids(await q('options=Size:XL')), []);
  const col = await A('POST', '/v1/admin/collections', { title: 'Picks', handle: uniq('picks') });
  await A('POST', `/v1/admin/collections/${col.body.id}/products`, { add: [dear.id] });
  assert.deepEqual(ids(await q(`collection_id=${col.body.id}`)), [dear.id]);
  for (const [qs, param] of [['price_min=-1', 'price_min'], ['price_max=abc', 'price_max'], ['in_stock=yes', 'in_stock'], ['options=Size', 'options'],
    ['sort=cheapest', 'sort'], ['sort=relevance', 'sort'], ['q=', 'q'], [`q=${'x'.repeat(257)}`, 'q'], ['limit=101', 'limit'],
    ['price_min=500&price_max=100', 'price_max'], ['tag=', 'tag'], [`tag=${'t'.repeat(257)}`, 'tag'], ['category_id=', 'category_id'],
    [`collection_id=${'c'.repeat(129)}`, 'collection_id']]) {
    const r = await S(`/v1/store/products?${qs}`);
    assert.equal(r.status, 400, qs);
    assert.equal(r.body.errors[0].parameter, param, qs);
  }
});

test('sorts walk every product once, page by page', async () => {
  const tag = tagged();
  const made = [];
  for (const [title, amount] of [['Bravo', 300], ['alpha', 100], ['Delta', 200], ['charlie', 400]])
    made.push(await product({ title, tags: [tag], variants: [{ sku: uniq('S'), prices: eur(amount) }] }));
  const walk = async (sort) => {
    const out = [];
    let cursor = null;
    do {
      const r = await S(`/v1/store/products?tag=${tag}&currency_code=eur&sort=${sort}&limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(r.status, 200, r.text);
      out.push(...r.body.data.map((p) => p.title));
      cursor = r.body.next_cursor;
    } while (cursor);
    return out;
  };
  assert.deepEqual(await walk('title'), ['alpha', 'Bravo', 'charlie', 'Delta']);
  assert.deepEqual(await walk('price_asc'), ['alpha', 'Delta', 'Bravo', 'charlie']);
  assert.deepEqual(await walk('price_desc'), ['charlie', 'Bravo', 'Delta', 'alpha']);
  assert.deepEqual(await walk('newest'), ['charlie', 'Delta', 'alpha', 'Bravo']);
});

test('price sorts keep products without a price in the currency, last', async () => {
  const tag = tagged();
  const a = await product({ title: 'Priced low', tags: [tag], variants: [{ sku: uniq('P'), prices: eur(100) }] });
  const b = await product({ title: 'Unpriced one', tags: [tag], variants: [{ sku: uniq('P'), prices: [{ currency_code: 'usd', amount: 50 }] }] });
  const c = await product({ title: 'Priced high', tags: [tag], variants: [{ sku: uniq('P'), prices: eur(900) }] });
  const d = await product({ title: 'Unpriced two', tags: [tag] });
  const walk = async (sort, limit) => {
    const out = [];
    let cursor = null;
    do {
      const r = await S(`/v1/store/products?tag=${tag}&currency_code=eur&sort=${sort}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(r.status, 200, r.text);
      out.push(...r.body.data.map((p) => p.id));
      cursor = r.body.next_cursor;
    } while (cursor);
    return out;
  };
  const unpriced = [b.id, d.id].sort(); // among themselves by id, in the sort's direction
  for (const limit of [1, 3, 10]) {
    assert.deepEqual(await walk('price_asc', limit), [a.id, c.id, ...unpriced], `price_asc limit ${limit}`);
    assert.deepEqual(await walk('price_desc', limit), [c.id, a.id, ...[...unpriced].reverse()], `price_desc limit ${limit}`);
  }
});

test('a cursor only works with the sort that made it, also when the sort was implied', async () => {
  const tag = tagged();
  for (const n of [1, 2, 3]) await product({ title: `Widget number ${n}`, tags: [tag] });
  const rel = await S(`/v1/store/products?tag=${tag}&q=widget&limit=1`);
  assert.equal(rel.status, 200, rel.text);
  const cursor = rel.body.next_cursor;
  assert.ok(cursor);
  assert.equal((await S(`/v1/store/products?tag=${tag}&q=widget&limit=1&cursor=${cursor}`)).status, 200);
  assert.equal((await S(`/v1/store/products?tag=${tag}&q=widget&sort=relevance&limit=1&cursor=${cursor}`)).status, 200, 'explicit relevance = implied relevance');
  const r = await S(`/v1/store/products?tag=${tag}&limit=1&cursor=${cursor}`);
  assert.equal(r.status, 400, `a relevance cursor on the newest sort: ${r.text}`);
  assert.equal(r.body.errors[0].parameter, 'cursor');
  const newest = await S(`/v1/store/products?tag=${tag}&limit=1`);
  const r2 = await S(`/v1/store/products?tag=${tag}&q=widget&limit=1&cursor=${newest.body.next_cursor}`);
  assert.equal(r2.status, 400, 'a newest cursor on the relevance sort');
});

test('locales: Accept-Language with regions and quality values, ?locale, fallback; Vary', async () => {
  const p = await product({ title: uniq('Jacket'), variants: [{ sku: uniq('J') }] });
  assert.equal((await A('PUT', `/v1/admin/products/${p.id}/translations/de`, { title: 'Jacke' })).status, 200);
  assert.equal((await A('PUT', `/v1/admin/products/${p.id}/translations/fr`, { title: 'Veste' })).status, 200);
  const title = async (headers, qs = '') => {
    const r = await S(`/v1/store/products/${p.id}${qs}`, { headers });
    assert.equal(r.status, 200, r.text);
    return [r.body.title, r.headers.get('content-language')];
  };
  assert.deepEqual(await title({ 'accept-language': 'de' }), ['Jacke', 'de']);
  assert.deepEqual(await title({ 'accept-language': 'de-AT' }), ['Jacke', 'de'], 'a region falls back to its language');
  assert.deepEqual(await title({ 'accept-language': 'de-AT, en;q=0.8' }), ['Jacke', 'de'], 'the preferred language wins over a later exact match');
  assert.deepEqual(await title({ 'accept-language': 'en;q=0.2, fr;q=0.9, de;q=0.5' }), ['Veste', 'fr'], 'quality values order the preferences');
  assert.deepEqual(await title({ 'accept-language': 'fr;q=0, de' }), ['Jacke', 'de'], 'q=0 means not acceptable');
  assert.deepEqual(await title({ 'accept-language': 'de, fr;q=5' }), ['Jacke', 'de'], 'a qvalue above 1 counts as 1 (equal qvalues keep their order)');
  assert.deepEqual(await title({ 'accept-language': 'it, es' }), [p.title, 'en'], 'the default when nothing matches');
  assert.deepEqual(await title({ 'accept-language': 'de' }, '?locale=fr'), ['Veste', 'fr'], '?locale overrides the header');
  assert.deepEqual(await title({}), [p.title, 'en']);
  for (const path of [`/v1/store/products/${p.id}`, '/v1/store/products', '/v1/store/categories', '/v1/store/collections']) {
    const r = await S(path);
    assert.equal(r.status, 200, path);
    assert.match(r.headers.get('vary') ?? '', /accept-language/i, `${path} varies by language`);
  }
});

test('search finds translations, also after the product or the translation changed', async () => {
  const tag = tagged();
  const p = await product({ title: 'Regenmantel classic', tags: [tag] });
  const find = async (q, locale) => ids(await S(`/v1/store/products?tag=${tag}&q=${encodeURIComponent(q)}&locale=${locale}`));
  assert.equal((await A('PUT', `/v1/admin/products/${p.id}/translations/fr`, { description: 'Un imperméable' })).status, 200);
  assert.deepEqual(await find('regenmantel', 'fr'), [p.id], 'untranslated title: the default text is searched');
  const etag = (await A('GET', `/v1/admin/products/${p.id}`)).headers.get('etag');
  assert.equal((await A('PATCH', `/v1/admin/products/${p.id}`, { title: 'Trenchcoat classic', brand: 'Mistral' }, { 'if-match': etag })).status, 200);
  assert.deepEqual(await find('trenchcoat', 'fr'), [p.id], 'the translation\'s vector follows the product\'s title');
  assert.deepEqual(await find('mistral', 'fr'), [p.id], 'and its brand');
  assert.deepEqual(await find('regenmantel', 'fr'), [], 'the old title is gone');
  assert.equal((await A('PUT', `/v1/admin/products/${p.id}/translations/fr`, { title: 'Imperméable' })).status, 200);
  assert.deepEqual(await find('imperméable', 'fr'), [p.id]);
  assert.deepEqual(await find('trenchcoat', 'fr'), [], 'the translated title replaces the default one');
  assert.deepEqual(await find('trenchcoat', 'en'), [p.id]);
});

test('categories: only visible ones are shown or filter; filtering takes subcategories', async () => {
  const cat = async (body) => (await A('POST', '/v1/admin/categories', { handle: uniq(body.name.toLowerCase().replace(' ', '-')), ...body })).body;
  const root = await cat({ name: 'Outdoor' });
  const tents = await cat({ name: 'Tents', parent_id: root.id });
  const off = await cat({ name: 'Retired', parent_id: root.id, is_active: false });
  const under = await cat({ name: 'Under retired', parent_id: off.id });
  const tag = tagged();
  const p1 = await product({ title: uniq('Tent'), tags: [tag], category_ids: [tents.id, off.id, under.id] });
  const p2 = await product({ title: uniq('Old tent'), tags: [tag], category_ids: [under.id] });
  const r = await S(`/v1/store/products/${p1.id}?expand=categories`);
  assert.deepEqual(r.body.categories.map((c) => c.id), [tents.id], 'inactive categories and those below them are hidden');
  const list = await S(`/v1/store/products?tag=${tag}&expand=categories`);
  assert.deepEqual(list.body.data.find((x) => x.id === p2.id).categories, []);
  assert.deepEqual(ids(await S(`/v1/store/products?tag=${tag}&category_id=${root.id}`)), [p1.id], 'the parent takes its visible subcategories only');
  assert.deepEqual(ids(await S(`/v1/store/products?tag=${tag}&category_id=${tents.id}`)), [p1.id]);
  assert.deepEqual(ids(await S(`/v1/store/products?tag=${tag}&category_id=${root.handle}`)), [p1.id], 'by handle too');
  for (const key of [off.id, under.id, off.handle, under.handle, 'pcat_01zzzzzzzzzzzzzzzzzzzzzzzz']) {
    const e = await S(`/v1/store/products?tag=${tag}&category_id=${key}`);
    assert.equal(e.status, 200);
    assert.deepEqual(ids(e), [], `a hidden or unknown category has no products (${key})`);
  }
});

test('credentials: a key of a disabled channel cannot browse', async () => {
  const ch = await A('POST', '/v1/admin/sales-channels', { name: uniq('Popup') });
  const key = await A('POST', '/v1/admin/api-keys', { type: 'publishable', title: 'Popup shop', sales_channel_id: ch.body.id });
  assert.equal(key.status, 201, key.text);
  const p = await product({ title: uniq('Popup thing'), sales_channel_ids: [ch.body.id] });
  let r = await s.client.get(`/v1/store/products/${p.id}`, { pk: key.body.token });
  assert.equal(r.status, 200, 'enabled: it sells');
  const etag = (await A('GET', `/v1/admin/sales-channels/${ch.body.id}`)).headers.get('etag');
  assert.equal((await A('PATCH', `/v1/admin/sales-channels/${ch.body.id}`, { disabled: true }, { 'if-match': etag })).status, 200);
  // the key was cached by a server thread: the flush reaches every thread shortly after the change commits
  let ok = 0;
  const deadline = Date.now() + 3000;
  do {
    r = await s.client.get('/v1/store/products', { pk: key.body.token });
    ok = r.status === 403 ? ok + 1 : 0;
  } while (ok < 8 && Date.now() < deadline);
  assert.ok(ok >= 8, 'refused consistently once disabled');
  for (const path of [`/v1/store/products/${p.id}`, '/v1/store/products', '/v1/store/categories', '/v1/store/collections']) {
    r = await s.client.get(path, { pk: key.body.token });
    assert.equal(r.status, 403, `${path}: ${r.text}`);
    assert.equal(r.body.type, type('forbidden'));
  }
  const etag2 = (await A('GET', `/v1/admin/sales-channels/${ch.body.id}`)).headers.get('etag');
  assert.equal((await A('PATCH', `/v1/admin/sales-channels/${ch.body.id}`, { disabled: false }, { 'if-match': etag2 })).status, 200);
  assert.equal((await s.client.get(`/v1/store/products/${p.id}`, { pk: key.body.token })).status, 200, 'enabled again: it sells again');
  assert.equal((await S('/v1/store/products')).status, 200, 'other channels are not affected');
  assert.equal((await s.client.get('/v1/store/products', { pk: null })).status, 401);
  assert.equal((await s.client.get('/v1/store/products', { pk: 'pk_notakey' })).status, 401);
});

test('translated variants and options; archived products leave; ETags', async () => {
  const p = await product({ title: uniq('Boot'), options: [{ title: 'Size', values: ['Small'] }], variants: [{ sku: uniq('B'), options: { Size: 'Small' } }] });
  const tr = await A('PUT', `/v1/admin/products/${p.id}/translations/de`, { title: 'Stiefel', variants: { [p.variants[0].id]: 'Klein' }, options: { [p.options[0].id]: { title: 'Größe', values: { Small: 'Klein' } } } });
  assert.equal(tr.status, 200, tr.text);
  const de = await S(`/v1/store/products/${p.handle}?locale=de`);
  assert.equal(de.body.title, 'Stiefel');
  assert.deepEqual(de.body.options.map((o) => [o.title, o.values]), [['Größe', ['Klein']]]);
  assert.equal(de.body.variants[0].title, 'Klein');
  assert.deepEqual(de.body.variants[0].options, { Größe: 'Klein' });
  const en = await S(`/v1/store/products/${p.handle}`);
  assert.equal(en.body.variants[0].title, 'Small');
  const etag = en.headers.get('etag');
  assert.equal((await S(`/v1/store/products/${p.handle}`, { headers: { 'if-none-match': etag } })).status, 304);
  const ae = (await A('GET', `/v1/admin/products/${p.id}`)).headers.get('etag');
  assert.equal((await A('PATCH', `/v1/admin/products/${p.id}`, { status: 'archived' }, { 'if-match': ae })).status, 200);
  assert.equal((await S(`/v1/store/products/${p.handle}`)).status, 404, 'archived products are not sold');
});

test('prices: a sale list beats the base price; customer-group lists need the customer', async () => {
  const p = await product({ title: uniq('Priced'), variants: [{ sku: uniq('PR'), prices: eur(1000) }] });
  const vid = p.variants[0].id;
  const sale = await A('POST', '/v1/admin/price-lists', { title: 'Sale', kind: 'sale' });
  await A('POST', `/v1/admin/price-lists/${sale.body.id}/prices`, { upsert: [{ variant_id: vid, currency_code: 'eur', amount: 800 }] });
  let r = await S(`/v1/store/products/${p.id}?currency_code=eur`);
  assert.deepEqual([r.body.variants[0].price.amount, r.body.variants[0].price.price_type, r.body.variants[0].price.compare_at_amount], [800, 'sale', 1000]);
  r = await S(`/v1/store/products/${p.id}?currency_code=usd`);
  assert.equal(r.body.variants[0].price, null, 'no price in the currency');
  const grp = await A('POST', '/v1/admin/customer-groups', { name: uniq('vip') });
  const vip = await A('POST', '/v1/admin/price-lists', { title: 'VIP', kind: 'override', rules: { customer_group: [grp.body.id] } });
  await A('POST', `/v1/admin/price-lists/${vip.body.id}/prices`, { upsert: [{ variant_id: vid, currency_code: 'eur', amount: 500 }] });
  r = await S(`/v1/store/products/${p.id}?currency_code=eur`);
  assert.equal(r.body.variants[0].price.amount, 800, 'anonymous: no group price');
  const c = await newCustomer(s.client);
  await A('POST', `/v1/admin/customer-groups/${grp.body.id}/customers`, { add: [c.customer.id] });
  r = await s.client.get(`/v1/store/products/${p.id}?currency_code=eur`, { token: c.token });
  assert.deepEqual([r.body.variants[0].price.amount, r.body.variants[0].price.price_type], [500, 'override'], 'the member gets the group price');
  const other = await newCustomer(s.client);
  r = await s.client.get(`/v1/store/products/${p.id}?currency_code=eur`, { token: other.token });
  assert.equal(r.body.variants[0].price.amount, 800, 'another customer does not');
});
