// price_index.test.mjs: product_price_index (the lowest base price of quantity 1 per product and currency, kept by
// statement triggers since 0010) equals a from-scratch computation after every kind of bulk and single change of
// prices and variants. Database-level: no server.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createDatabase, seed, sql } from './lib/harness.mjs';

let db;
const q = (text, params) => sql(text, params, db);

// rows of the index that differ from a recomputation, both ways
const DIFF = `
  WITH truth AS (SELECT v.product_id, pr.currency_code, min(pr.amount) AS amount FROM prices pr
                   JOIN product_variants v ON v.id = pr.variant_id
                  WHERE pr.price_list_id IS NULL AND pr.min_quantity = 1 GROUP BY 1, 2)
  SELECT 'missing' AS kind, * FROM (SELECT * FROM truth EXCEPT SELECT product_id, currency_code, amount FROM product_price_index) a
  UNION ALL
  SELECT 'extra', * FROM (SELECT product_id, currency_code, amount FROM product_price_index EXCEPT SELECT * FROM truth) b`;

async function assertConsistent(step) {
  const diff = await q(DIFF);
  assert.deepEqual(diff, [], `${step}: index differs from the prices`);
}

async function product(handle, variants) {
  const body = {
    title: handle, handle, status: 'active',
    options: [{ title: 'Size', values: variants.map((_, i) => `S${i}`) }],
    variants: variants.map((prices, i) => ({ sku: `${handle}-${i}`, options: { Size: `S${i}` }, prices })),
  };
  const [r] = await q('SELECT souq_product_save(NULL, $1::jsonb, NULL) AS p', [JSON.stringify(body)]);
  return r.p;
}

let a, b, c, list;
before(async () => {
  db = await createDatabase();
  seed(db);
  a = await product('pi-a', [[{ currency_code: 'eur', amount: 1000 }, { currency_code: 'usd', amount: 1200 }], [{ currency_code: 'eur', amount: 900 }]]);
  b = await product('pi-b', [[{ currency_code: 'eur', amount: 500 }], [{ currency_code: 'eur', amount: 700, min_quantity: 1 }, { currency_code: 'eur', amount: 100, min_quantity: 10 }]]);
  c = await product('pi-c', [[], []]);
  [list] = await q(`INSERT INTO price_lists (title, kind) VALUES ('Sale', 'sale') RETURNING id`);
});

test('the check can fail: a wrong or missing index row is seen', async () => {
  await assertConsistent('after create');
  await q(`UPDATE product_price_index SET amount = amount + 1 WHERE product_id = $1 AND currency_code = 'eur'`, [a.id]);
  assert.equal((await q(DIFF)).length, 2, 'a wrong amount is one missing and one extra row');
  await q(`SELECT souq_product_prices_reindex(ARRAY[$1], ARRAY['eur'])`, [a.id]);
  await q(`DELETE FROM product_price_index WHERE product_id = $1`, [b.id]);
  assert.equal((await q(DIFF)).length, 1);
  await q(`SELECT souq_product_prices_reindex(ARRAY[$1, $1], ARRAY['eur', 'usd'])`, [b.id]);
  await assertConsistent('after repair');
  const rows = await q(`SELECT product_id, currency_code, amount FROM product_price_index WHERE product_id IN ($1, $2, $3) ORDER BY 1, 2`, [a.id, b.id, c.id]);
  assert.deepEqual(rows.map((r) => [r.product_id, r.currency_code, Number(r.amount)]),
    [[a.id, 'eur', 900], [a.id, 'usd', 1200], [b.id, 'eur', 500]].sort((x, y) => (x[0] + x[1] < y[0] + y[1] ? -1 : 1)));
});

test('bulk insert across products and currencies, list prices and tiers ignored', async () => {
  // one statement: many prices of several products, including lower list and tier prices that must not count
  await q(`INSERT INTO prices (variant_id, currency_code, amount, min_quantity, price_list_id)
           SELECT v.id, cur, 100 + (row_number() OVER ())::int, 1, NULL FROM product_variants v
             CROSS JOIN (VALUES ('gbp'), ('chf')) AS x(cur) WHERE v.product_id IN ($1, $2, $3)`, [a.id, b.id, c.id]);
  await q(`INSERT INTO prices (variant_id, currency_code, amount, min_quantity, price_list_id)
           SELECT v.id, 'eur', 1, 1, $2 FROM product_variants v WHERE v.product_id = $1`, [a.id, list.id]);
  await q(`INSERT INTO prices (variant_id, currency_code, amount, min_quantity)
           SELECT v.id, 'usd', 2, 5 FROM product_variants v WHERE v.product_id = $1`, [c.id]);
  await assertConsistent('after bulk inserts');
  const [{ n }] = await q(`SELECT count(*)::int AS n FROM product_price_index WHERE product_id = $1`, [c.id]);
  assert.equal(n, 2, 'product c has gbp and chf now, not usd (only a tier price)');
  const [{ amount }] = await q(`SELECT amount FROM product_price_index WHERE product_id = $1 AND currency_code = 'eur'`, [a.id]);
  assert.equal(Number(amount), 900, 'a sale-list price does not lower the base index');
});

test('bulk updates: amounts up and down, tier and currency and list moves, upserts', async () => {
  await q(`UPDATE prices SET amount = amount * 3 WHERE currency_code = 'gbp'`);
  await q(`UPDATE prices p SET amount = 1 FROM product_variants v WHERE v.id = p.variant_id AND v.product_id = $1 AND p.currency_code = 'chf'`, [b.id]);
  await assertConsistent('after amount updates');
  // the cheapest eur price of a moves to tier 2: the index rises to the other variant's price
  await q(`UPDATE prices p SET min_quantity = 2 FROM product_variants v WHERE v.id = p.variant_id AND v.product_id = $1
           AND p.currency_code = 'eur' AND p.amount = 900 AND p.price_list_id IS NULL`, [a.id]);
  await assertConsistent('after a tier move');
  const [{ amount }] = await q(`SELECT amount FROM product_price_index WHERE product_id = $1 AND currency_code = 'eur'`, [a.id]);
  assert.equal(Number(amount), 1000);
  // a currency change empties one index row and creates another; a base price joins a list
  await q(`UPDATE prices p SET currency_code = 'jpy' FROM product_variants v WHERE v.id = p.variant_id AND v.product_id = $1
           AND p.currency_code = 'usd'`, [a.id]);
  await q(`UPDATE prices p SET price_list_id = $2 FROM product_variants v WHERE v.id = p.variant_id AND v.product_id = $1
           AND p.currency_code = 'gbp'`, [b.id, list.id]);
  await assertConsistent('after currency and list moves');
  assert.deepEqual(await q(`SELECT 1 FROM product_price_index WHERE (product_id = $1 AND currency_code = 'usd') OR (product_id = $2 AND currency_code = 'gbp')`, [a.id, b.id]), []);
  // the API's upsert path (souq_variant_prices: delete others, insert ... on conflict do update)
  const [v] = await q(`SELECT id FROM product_variants WHERE product_id = $1 ORDER BY rank LIMIT 1`, [c.id]);
  await q(`SELECT souq_variant_prices($1, $2::jsonb)`, [v.id, JSON.stringify([{ currency_code: 'gbp', amount: 5 }, { currency_code: 'eur', amount: 77 }])]);
  await assertConsistent('after souq_variant_prices');
});

test('deletes: prices, variants (cascade), products, and a variant moved between products', async () => {
  await q(`DELETE FROM prices WHERE currency_code = 'chf' AND amount = 1`);
  await assertConsistent('after price deletes');
  await q(`DELETE FROM product_variants WHERE id IN (SELECT id FROM product_variants WHERE product_id = $1 ORDER BY rank LIMIT 1)`, [b.id]);
  await assertConsistent('after a variant delete');
  await q(`UPDATE product_variants SET product_id = $2 WHERE id IN (SELECT id FROM product_variants WHERE product_id = $1 ORDER BY rank LIMIT 1)`, [a.id, c.id]);
  await assertConsistent('after a variant move');
  await q(`DELETE FROM product_variants WHERE product_id = $1`, [c.id]);
  await assertConsistent('after deleting all variants of a product');
  assert.deepEqual(await q(`SELECT 1 FROM product_price_index WHERE product_id = $1`, [c.id]), []);
  await q(`DELETE FROM products WHERE id = $1`, [a.id]);
  await assertConsistent('after a product delete');
  await q(`DELETE FROM prices`);
  await assertConsistent('after deleting every price');
  assert.deepEqual(await q(`SELECT * FROM product_price_index`), []);
});
