// seed.test.mjs: `souq seed --demo` and `souq seed --bench N`: the catalog they promise, browsing it through the
// storefront (lists, handles, German search, the category tree, collections), idempotency and bad arguments.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client, OWNER, createDatabase, dbUrl, souq, sql, startServer } from './lib/harness.mjs';

const seedArgs = (db, args) =>
  souq(['seed', ...args], { SOUQ_DATABASE_URL: dbUrl(db), SOUQ_OWNER_EMAIL: OWNER.email, SOUQ_OWNER_PASSWORD: OWNER.password });

// what a catalog must satisfy whatever its size
async function assertConsistent(db) {
  const q = (text) => sql(text, [], db);
  const [r] = await q(`SELECT
      (SELECT count(*) FROM product_variants v WHERE (SELECT count(*) FROM prices p WHERE p.variant_id = v.id
         AND p.price_list_id IS NULL AND p.min_quantity = 1 AND p.currency_code IN ('eur', 'usd')) <> 2)::int AS unpriced,
      (SELECT count(*) FROM (
         SELECT v.product_id, pr.currency_code, min(pr.amount) FROM prices pr JOIN product_variants v ON v.id = pr.variant_id
          WHERE pr.price_list_id IS NULL AND pr.min_quantity = 1 GROUP BY 1, 2
         EXCEPT SELECT product_id, currency_code, amount FROM product_price_index) d)::int AS index_missing,
      (SELECT count(*) FROM product_price_index)::int - (SELECT count(DISTINCT (v.product_id, pr.currency_code)) FROM prices pr
         JOIN product_variants v ON v.id = pr.variant_id WHERE pr.price_list_id IS NULL AND pr.min_quantity = 1)::int AS index_extra,
      (SELECT count(*) FROM product_variants v WHERE NOT EXISTS (SELECT 1 FROM variant_inventory_items i WHERE i.variant_id = v.id))::int AS no_item,
      (SELECT count(*) FROM inventory_items i WHERE (SELECT count(*) FROM inventory_levels l WHERE l.inventory_item_id = i.id) <> 2)::int AS not_two_levels,
      (SELECT count(*) FROM inventory_levels l WHERE l.on_hand <> (SELECT coalesce(sum(g.delta_on_hand), 0) FROM inventory_ledger g
         WHERE g.inventory_item_id = l.inventory_item_id AND g.location_id = l.location_id))::int AS unexplained,
      (SELECT count(*) FROM product_variants v WHERE (SELECT count(*) FROM variant_option_values o WHERE o.variant_id = v.id) <> 1)::int AS no_options,
      (SELECT count(*) FROM products p WHERE p.status <> 'active' OR NOT EXISTS (SELECT 1 FROM product_sales_channels c
         JOIN sales_channels s ON s.id = c.sales_channel_id AND s.is_default WHERE c.product_id = p.id)
         OR NOT EXISTS (SELECT 1 FROM product_categories c WHERE c.product_id = p.id))::int AS not_visible,
      (SELECT count(*) FROM outbox_events WHERE type = 'price.changed')::int AS price_events`);
  assert.deepEqual(r, { unpriced: 0, index_missing: 0, index_extra: 0, no_item: 0, not_two_levels: 0, unexplained: 0,
    no_options: 0, not_visible: 0, price_events: 0 });
}

let db, server, client, pk;
before(async () => {
  db = await createDatabase();
  const r = seedArgs(db, ['--demo']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /demo catalog:\s+200 products, \d+ variants, 17 categories, 3 collections/);
  pk = /publishable key:\s+(pk_\S+)/.exec(r.stdout)[1];
  server = await startServer({ dbName: db });
  client = new Client(server.url, pk);
});
after(async () => server && (await server.stop()));

test('the demo catalog has what it promises', async () => {
  const [c] = await sql(`SELECT
      (SELECT count(*) FROM products)::int AS products,
      (SELECT count(*) FROM product_variants)::int AS variants,
      (SELECT count(DISTINCT sku) FROM product_variants)::int AS skus,
      (SELECT count(DISTINCT barcode) FROM product_variants WHERE barcode ~ '^[0-9]{13}$')::int AS barcodes,
      (SELECT count(*) FROM product_variants WHERE weight_g > 0)::int AS weighed,
      (SELECT count(DISTINCT type) FROM products)::int AS types,
      (SELECT count(*) FROM categories)::int AS categories,
      (SELECT count(*) FROM categories WHERE parent_id IS NULL)::int AS roots,
      (SELECT count(*) FROM collections WHERE kind = 'manual')::int AS manual,
      (SELECT count(*) FROM collections WHERE kind = 'rule')::int AS rule,
      (SELECT count(*) FROM collection_products)::int AS picked,
      (SELECT count(DISTINCT currency_code) FROM prices)::int AS currencies,
      (SELECT count(*) FROM prices WHERE compare_at_amount > amount)::int AS compare_at,
      (SELECT count(*) FROM prices p JOIN price_lists l ON l.id = p.price_list_id WHERE l.kind = 'sale' AND l.status = 'active')::int AS sale_prices,
      (SELECT count(*) FROM stock_locations)::int AS locations,
      (SELECT count(*) FROM sales_channel_locations)::int AS channel_locations,
      (SELECT count(*) FROM inventory_levels WHERE on_hand = 0 AND location_id = (SELECT id FROM stock_locations ORDER BY name LIMIT 1))::int AS sold_out_berlin,
      (SELECT count(*) FROM inventory_items i WHERE (SELECT sum(on_hand) FROM inventory_levels l WHERE l.inventory_item_id = i.id) BETWEEN 1 AND 5)::int AS low,
      (SELECT locales FROM store_settings) AS locales,
      (SELECT count(*) FROM product_translations WHERE locale = 'de')::int AS de_products,
      (SELECT count(*) FROM category_translations WHERE locale = 'de')::int AS de_categories,
      (SELECT count(*) FROM collection_translations WHERE locale = 'de')::int AS de_collections,
      (SELECT count(*) FROM option_translations WHERE locale = 'de')::int AS de_options,
      (SELECT count(*) FROM products p WHERE NOT EXISTS (SELECT 1 FROM product_media m WHERE m.product_id = p.id AND m.alt <> ''))::int AS no_media,
      (SELECT count(*) FROM regions)::int AS regions`, [], db);
  assert.equal(c.products, 200);
  assert.ok(c.variants >= 550 && c.variants <= 650, `variants: ${c.variants}`);
  assert.equal(c.skus, c.variants);
  assert.equal(c.barcodes, c.variants, 'every variant has its own 13-digit barcode');
  assert.equal(c.weighed, c.variants);
  assert.equal(c.types, 13);
  assert.equal(c.categories, 17);
  assert.equal(c.roots, 4);
  assert.deepEqual([c.manual, c.rule], [1, 2]);
  assert.ok(c.picked > 0);
  assert.equal(c.currencies, 2);
  assert.ok(c.compare_at > 0 && c.sale_prices > 0);
  assert.deepEqual([c.locations, c.channel_locations], [2, 2]);
  assert.ok(c.sold_out_berlin > 0 && c.low > 0, `sold out ${c.sold_out_berlin}, low ${c.low}`);
  assert.deepEqual(c.locales, ['de', 'en']);
  assert.deepEqual([c.de_products, c.de_categories, c.de_collections, c.de_options], [200, 17, 3, 200]);
  assert.equal(c.no_media, 0);
  assert.equal(c.regions, 2);
  await assertConsistent(db);
  // EAN-13 check digits are right
  const bad = await sql(`SELECT barcode FROM product_variants WHERE (SELECT sum(substr(barcode, d, 1)::int * CASE WHEN d % 2 = 0 THEN 3 ELSE 1 END)
                          FROM generate_series(1, 13) d) % 10 <> 0`, [], db);
  assert.deepEqual(bad, []);
});

test('running the demo seed again changes nothing and says why', async () => {
  const before = await sql(`SELECT (SELECT count(*) FROM products)::int AS p, (SELECT count(*) FROM prices)::int AS pr,
                              (SELECT count(*) FROM inventory_ledger)::int AS l`, [], db);
  for (const args of [['--demo'], ['--bench', '10']]) {
    const r = seedArgs(db, args);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /catalog:\s+skipped, the catalog is not empty \(200 products, 17 categories, 3 collections\)/);
  }
  assert.deepEqual(await sql(`SELECT (SELECT count(*) FROM products)::int AS p, (SELECT count(*) FROM prices)::int AS pr,
                                (SELECT count(*) FROM inventory_ledger)::int AS l`, [], db), before);
});

test('bad seed arguments are refused before anything is written', async () => {
  const fresh = await createDatabase();
  for (const args of [['--bench', '0'], ['--bench', 'many'], ['--bench', '5x'], ['--bench', '1000001'], ['--demo', '--bench', '5'], ['--bench']]) {
    const r = seedArgs(fresh, args);
    assert.equal(r.status, 2, `${args}: ${r.stdout}${r.stderr}`);
  }
  const [r] = await sql(`SELECT count(*)::int AS n FROM sales_channels`, [], fresh);
  assert.equal(r.n, 0);
  const help = souq(['--help']);
  assert.match(help.stdout, /--demo/);
  assert.match(help.stdout, /--bench N/);
});

test('the demo store can check out: tax rates and a flat-rate shipping option per region, a cart gets both', async () => {
  const [c] = await sql(`SELECT (SELECT count(*) FROM tax_rates)::int AS rates,
      (SELECT count(DISTINCT region_id) FROM shipping_options WHERE provider = 'flat_rate' AND is_active)::int AS shipped_regions,
      (SELECT tax_inclusive FROM regions WHERE currency_code = 'eur') AS eu_inclusive`, [], db);
  assert.ok(c.rates >= 10, `rates: ${c.rates}`);
  assert.deepEqual([c.shipped_regions, c.eu_inclusive], [2, true]);
  const p = (await client.get('/v1/store/products?limit=1&expand=variants')).body.data[0];
  const variant = p.variants.find((v) => v.in_stock !== false) ?? p.variants[0];
  let r = await client.post('/v1/store/carts', { shipping_address: { country_code: 'de', city: 'Berlin' }, items: [{ variant_id: variant.id, quantity: 1 }] });
  assert.equal(r.status, 201, r.text);
  const cart = r.body, l = cart.items[0];
  assert.equal(cart.tax_inclusive, true, 'the channel\'s default region, Europe');
  assert.deepEqual(l.tax_lines.map((x) => [x.code, x.rate_bp]), [['VAT', 1900]]);
  assert.equal(l.tax_total, Math.round((l.subtotal * 1900) / 11900));
  assert.equal(cart.total, l.subtotal);
  r = await client.get(`/v1/store/carts/${cart.id}/shipping-options`);
  assert.deepEqual(r.body.data.map((o) => o.name), ['Standard', 'Express']);
  const [{ ready: before }] = await sql('SELECT souq_cart_shipping_ready($1) AS ready', [cart.id], db);
  r = await client.post(`/v1/store/carts/${cart.id}/shipping-methods`, { option_id: r.body.data[0].id });
  assert.equal(r.status, 200, r.text);
  const [{ ready }] = await sql('SELECT souq_cart_shipping_ready($1) AS ready', [cart.id], db);
  assert.deepEqual([before, ready], [false, true]);
  assert.equal(r.body.shipping_total, l.subtotal >= 5000 ? 0 : 495);
});

test('storefront: newest first, cursor pages over the whole catalog, prices in the region currency or USD', async () => {
  const first = await client.get('/v1/store/products?limit=20&expand=variants,prices');
  assert.equal(first.status, 200, first.text);
  assert.equal(first.body.data.length, 20);
  assert.equal(first.body.has_more, true);
  for (const p of first.body.data) {
    assert.ok(p.variants.length >= 2);
    for (const v of p.variants) {
      assert.equal(v.price.currency_code, 'eur', 'the default channel sells in the Europe region');
      assert.ok(Number.isInteger(v.price.amount) && v.price.amount > 0);
    }
  }
  const usd = await client.get('/v1/store/products?limit=5&expand=prices&currency_code=usd');
  assert.ok(usd.body.data.every((p) => p.variants.every((v) => v.price.currency_code === 'usd')));
  const ids = new Set();
  let cursor = null;
  do {
    const r = await client.get(`/v1/store/products?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
    assert.equal(r.status, 200, r.text);
    for (const p of r.body.data) ids.add(p.id);
    cursor = r.body.has_more ? r.body.next_cursor : null;
  } while (cursor);
  assert.equal(ids.size, 200);
  // the sale shows as a sale price with the list's id; compare-at prices come through
  const sale = await client.get('/v1/store/products?tag=sale&limit=100&expand=prices');
  assert.equal(sale.body.data.length, 20);
  assert.ok(sale.body.data.every((p) => p.variants.every((v) => v.price.price_type === 'sale' && v.price.price_list_id)));
  const all = await client.get('/v1/store/products?limit=100&expand=prices');
  assert.ok(all.body.data.some((p) => p.variants.some((v) => v.price.compare_at_amount > v.price.amount)));
});

test('storefront: a product by handle, in English and German, with stock', async () => {
  const [{ handle }] = await sql(`SELECT handle FROM products WHERE type = 'Headphones' ORDER BY created_at LIMIT 1`, [], db);
  const en = await client.get(`/v1/store/products/${handle}?expand=variants,availability`);
  assert.equal(en.status, 200, en.text);
  assert.match(en.body.title, /Headphones|Earbuds/);
  assert.equal(en.body.options[0].title, 'Color');
  assert.ok(en.body.media.length === 2 && en.body.media.every((m) => m.alt));
  assert.ok(en.body.variants.every((v) => typeof v.availability.in_stock === 'boolean'));
  const de = await client.get(`/v1/store/products/${handle}?expand=variants`, { headers: { 'accept-language': 'de-DE,de;q=0.9' } });
  assert.equal(de.status, 200, de.text);
  assert.equal(de.headers.get('content-language'), 'de');
  assert.match(de.body.title, /Kopfhörer/);
  assert.equal(de.body.options[0].title, 'Farbe');
  assert.ok(de.body.variants.some((v) => v.title === 'Schwarz'));
  assert.equal((await client.get('/v1/store/products/no-such-demo-product')).status, 404);
});

test('storefront: search finds German words in German only', async () => {
  const de = await client.get('/v1/store/products?q=Kopfhörer&limit=100', { headers: { 'accept-language': 'de' } });
  assert.equal(de.status, 200, de.text);
  assert.ok(de.body.data.length >= 10, `found ${de.body.data.length}`);
  assert.ok(de.body.data.every((p) => /Kopfhörer/.test(p.title)));
  const en = await client.get('/v1/store/products?q=Kopfhörer&limit=100', { headers: { 'accept-language': 'en' } });
  assert.equal(en.body.data.length, 0);
  const enWord = await client.get('/v1/store/products?q=headphones&limit=100');
  assert.ok(enWord.body.data.length >= 10);
  const stem = await client.get('/v1/store/products?q=Regenjacke&limit=100&locale=de');
  assert.ok(stem.body.data.length > 0 && stem.body.data.every((p) => p.title.startsWith('Regenjacke')));
});

test('storefront: the category tree and collections, localized; a rule collection filters by price', async () => {
  const tree = await client.get('/v1/store/categories');
  assert.equal(tree.status, 200, tree.text);
  assert.equal(tree.body.data.length, 17);
  assert.deepEqual(tree.body.data.filter((c) => c.depth === 0).map((c) => c.name), ['Apparel', 'Shoes', 'Home', 'Electronics']);
  const de = await client.get('/v1/store/categories', { headers: { 'accept-language': 'de' } });
  assert.deepEqual(de.body.data.filter((c) => c.depth === 0).map((c) => c.name), ['Bekleidung', 'Schuhe', 'Wohnen', 'Elektronik']);
  const shoes = tree.body.data.find((c) => c.handle === 'shoes');
  const inShoes = await client.get(`/v1/store/products?category_id=${shoes.id}&limit=100&expand=categories`);
  assert.ok(inShoes.body.data.length > 40 && inShoes.body.data.every((p) => ['sneakers', 'boots', 'sandals'].includes(p.categories[0].handle)));
  const cols = await client.get('/v1/store/collections', { headers: { 'accept-language': 'de' } });
  assert.deepEqual(cols.body.data.map((c) => c.title).sort(), ['Empfehlungen des Teams', 'Sommer-Essentials', 'Unter 50 €']);
  const under = cols.body.data.find((c) => c.handle === 'under-50');
  const cheap = await client.get(`/v1/store/products?collection_id=${under.id}&limit=100&expand=prices&currency_code=eur`);
  assert.ok(cheap.body.data.length > 0);
  for (const p of cheap.body.data) {
    const [{ min }] = await sql(`SELECT min(amount)::int AS min FROM prices pr JOIN product_variants v ON v.id = pr.variant_id
                                  WHERE v.product_id = $1 AND pr.currency_code = 'eur' AND pr.price_list_id IS NULL`, [p.id], db);
    assert.ok(min <= 4999, `${p.title}: ${min}`);
  }
});

test('bench seed: N products of the same shapes, consistent', async () => {
  const bench = await createDatabase();
  const r = seedArgs(bench, ['--bench', '500']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /bench catalog:\s+500 products/);
  const [c] = await sql(`SELECT (SELECT count(*) FROM products)::int AS products, (SELECT count(DISTINCT handle) FROM products)::int AS handles,
                           (SELECT count(*) FROM product_variants)::int AS variants, (SELECT count(*) FROM product_translations)::int AS de,
                           (SELECT count(*) FROM categories)::int AS categories`, [], bench);
  assert.deepEqual([c.products, c.handles, c.de, c.categories], [500, 500, 0, 17]);
  assert.ok(c.variants > 1300 && c.variants < 1600, `variants ${c.variants}`);
  await assertConsistent(bench);
  // deterministic: the same N gives the same catalog
  const again = await createDatabase();
  assert.equal(seedArgs(again, ['--bench', '500']).status, 0);
  const shape = `SELECT string_agg(p.handle || ':' || v.sku || ':' || coalesce(v.barcode, '') || ':' || pr.currency_code || pr.amount, ',' ORDER BY v.sku, pr.currency_code) AS s
                   FROM products p JOIN product_variants v ON v.product_id = p.id JOIN prices pr ON pr.variant_id = v.id`;
  assert.equal((await sql(shape, [], bench))[0].s, (await sql(shape, [], again))[0].s);
});
