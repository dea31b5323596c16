// imports.test.mjs: bulk imports (CSV and NDJSON) through POST /v1/admin/imports and `souq import`, per-row
// errors, products never half-written, resuming after a restart, and the CSV export round trip.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startStack, staffLogin, newStaff, souq, dbUrl } from './lib/harness.mjs';

let s, t, loc;
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const A = (method, p, o = {}) => s.client.request(method, p, { pk: null, token: t, ...o });
const upload = (body, ctype = 'text/csv', token = t) => s.client.request('POST', '/v1/admin/imports', { pk: null, token, body, headers: { 'content-type': ctype } });
const csv = (rows) => rows.map((r) => r.join(',')).join('\r\n') + '\r\n';

/** Uploads and waits until the import has finished; returns it. */
async function importFile(body, ctype) {
  const r = await upload(body, ctype);
  assert.equal(r.status, 202, r.text);
  assert.equal(r.headers.get('location'), `/v1/admin/imports/${r.body.id}`);
  assert.equal(r.body.status, r.body.products_total === r.body.products_failed ? 'failed' : 'queued');
  return waitFor(r.body.id);
}

async function waitFor(id) {
  for (let i = 0; i < 400; i++) {
    const g = await A('GET', `/v1/admin/imports/${id}`);
    assert.equal(g.status, 200, g.text);
    if (!['queued', 'running'].includes(g.body.status)) return g.body;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`import ${id} did not finish`);
}

const productBySku = async (sku) => {
  const r = await A('GET', `/v1/admin/products?sku=${encodeURIComponent(sku)}`);
  assert.equal(r.status, 200);
  return r.body.data[0];
};
const stockOf = async (sku) => {
  const r = await A('GET', `/v1/admin/inventory-items?sku=${encodeURIComponent(sku)}`);
  return r.body.data[0]?.levels.find((l) => l.location_id === loc)?.on_hand;
};

before(async () => {
  s = await startStack({ env: { SOUQ_MAX_IMPORT_BYTES: '65536' } });
  t = (await staffLogin(s.client)).access_token;
  loc = (await A('POST', '/v1/admin/stock-locations', { json: { name: 'Main' } })).body.id;
});
after(async () => s && (await s.stop()));

const HEAD = () => ['handle', 'title', 'status', 'tags', 'option1_name', 'option1_value', 'sku', 'price.eur', 'compare_at.eur', `stock.${loc}`];

test('a CSV creates products with options, variants, prices and stock', async () => {
  const imp = await importFile(csv([
    HEAD(),
    ['tee', '"Tee, classic"', 'active', '"summer, cotton"', 'Size', 'S', 'TEE-S', '1900', '2500', '5'],
    ['tee', '', '', '', '', 'M', 'TEE-M', '2000', '', '7'],
    ['mug', 'Mug', '', '', '', '', 'MUG-1', '800', '', ''],
  ]));
  assert.equal(imp.status, 'succeeded', JSON.stringify(imp.errors));
  assert.deepEqual([imp.rows_total, imp.rows_done, imp.products_total, imp.products_created, imp.products_failed], [3, 3, 2, 2, 0]);
  assert.deepEqual(imp.errors, []);
  assert.equal(imp.format, 'csv');
  const tee = await productBySku('TEE-S');
  assert.equal(tee.handle, 'tee');
  assert.equal(tee.title, 'Tee, classic');
  assert.equal(tee.status, 'active');
  assert.deepEqual(tee.tags, ['summer', 'cotton']);
  assert.deepEqual(tee.options.map((o) => [o.title, o.values]), [['Size', ['S', 'M']]]);
  assert.deepEqual(tee.variants.map((v) => [v.sku, v.options.Size, v.prices[0].amount, v.prices[0].compare_at_amount]),
    [['TEE-S', 'S', 1900, 2500], ['TEE-M', 'M', 2000, null]]);
  assert.equal(await stockOf('TEE-S'), 5);
  assert.equal(await stockOf('TEE-M'), 7);
  assert.equal((await productBySku('MUG-1')).status, 'draft', 'status defaults as in the API');
  const list = await A('GET', '/v1/admin/imports?limit=1');
  assert.equal(list.body.data[0].id, imp.id);
});

test('a second import updates by handle and SKU: changed fields, new variants, stock counts; nothing is deleted', async () => {
  const before = await productBySku('TEE-S');
  const imp = await importFile(csv([
    ['handle', 'title', 'option1_name', 'option1_value', 'sku', 'price.eur', 'price.usd', `stock.${loc}`],
    ['tee', 'Tee v2', 'Size', 'S', 'TEE-S', '1800', '2100', '3'],
    ['tee', '', '', 'L', 'TEE-L', '2200', '', '1'],
  ]));
  assert.equal(imp.status, 'succeeded', JSON.stringify(imp.errors));
  assert.equal(imp.products_updated, 1);
  const tee = await productBySku('TEE-S');
  assert.equal(tee.id, before.id);
  assert.equal(tee.title, 'Tee v2');
  assert.deepEqual(tee.tags, ['summer', 'cotton'], 'columns not in the file stay');
  assert.deepEqual(tee.options[0].values, ['S', 'M', 'L']);
  assert.deepEqual(tee.variants.map((v) => v.sku), ['TEE-S', 'TEE-M', 'TEE-L'], 'TEE-M is kept');
  const s1 = tee.variants[0].prices.map((p) => [p.currency_code, p.amount, p.compare_at_amount]);
  assert.deepEqual(s1, [['eur', 1800, 2500], ['usd', 2100, null]], 'compare_at kept when the file has no such column');
  assert.equal(await stockOf('TEE-S'), 3);
  assert.equal(await stockOf('TEE-L'), 1);
  const item = (await A('GET', '/v1/admin/inventory-items?sku=TEE-S')).body.data[0].id;
  const ledger = await A('GET', `/v1/admin/inventory-ledger?inventory_item_id=${item}`);
  assert.deepEqual(ledger.body.data.map((e) => [e.reason, e.delta_on_hand]), [['count', -2], ['receive', 5]]);
});

test('bad rows are reported with row and column, and their products are skipped whole', async () => {
  const imp = await importFile(csv([
    ['handle', 'title', 'sku', 'price.eur', `stock.${loc}`],
    ['good', 'Good', 'GOOD-1', '100', '1'],
    ['badprice', 'Bad price', 'BP-1', '100', '1'],
    ['badprice', '', 'BP-2', '12.50', ''],                     // row 4: not minor units
    ['half', 'Half', 'HALF-1', '100', '2'],
    ['half', '', 'TEE-S', '100', ''],                          // row 6: a SKU of another product (found by the database)
    ['', 'No handle', 'NH-1', '1', ''],                        // row 7
    ['newbie', '', 'NEW-1', '1', ''],                          // row 8: a new product needs a title
  ]));
  assert.equal(imp.status, 'partially_succeeded');
  assert.deepEqual([imp.products_total, imp.products_created, imp.products_failed, imp.rows_done, imp.rows_total], [4, 1, 3, 7, 7]);
  const at = (row) => imp.errors.find((e) => e.row === row);
  assert.equal(at(4).column, 'price.eur');
  assert.equal(at(4).code, 'invalid_format');
  assert.match(at(6).message, /TEE-S belongs to product tee/);
  assert.equal(at(6).pointer, '/variants/1/sku');
  assert.equal(at(6).column, 'sku');
  assert.equal(at(7).column, 'handle');
  assert.match(at(8).message, /needs a title/);
  assert.equal(at(8).column, 'title');
  assert.equal(imp.errors_total, 4);
  assert.ok(await productBySku('GOOD-1'));
  for (const sku of ['BP-1', 'HALF-1', 'NEW-1']) assert.equal(await productBySku(sku), undefined, `${sku} was not written`);
  assert.equal((await A('GET', '/v1/admin/inventory-items?sku=HALF-1')).body.data.length, 0, 'not even its inventory item');
  assert.equal((await productBySku('TEE-S')).handle, 'tee', 'the other product keeps its SKU');
});

test('a file whose every row fails is stored as a failed import at once', async () => {
  const r = await upload(csv([['handle', 'title', 'sku', 'price.eur'], ['a', 'A', 'A-1', 'x'], ['b', 'B', 'B-1', '-']]));
  assert.equal(r.status, 202, r.text);
  assert.equal(r.body.status, 'failed');
  assert.deepEqual([r.body.rows_done, r.body.rows_total, r.body.products_failed, r.body.errors.length], [2, 2, 2, 2]);
  assert.ok(r.body.finished_at);
  assert.deepEqual((await A('GET', `/v1/admin/imports/${r.body.id}`)).body, r.body);
});

test('NDJSON: one product per line in the admin create shape, validated by its rules', async () => {
  const lines = [
    { handle: 'lamp', title: 'Lamp', options: [{ title: 'Color', values: ['Red'] }],
      variants: [{ sku: 'LAMP-R', options: { Color: 'Red' }, prices: [{ currency_code: 'eur', amount: 4999 }], inventory: [{ location_id: loc, quantity: 4 }] }] },
    { handle: 'chair', title: 'Chair', variants: [{ sku: 'CH-1', prices: [{ currency_code: 'eur', amount: -5 }] }] },
    { handle: 'desk', title: 'Desk', colour: 'oak' },
  ].map((l) => JSON.stringify(l));
  const imp = await importFile(lines.join('\n') + '\n\nnot json\n', 'application/x-ndjson');
  assert.equal(imp.format, 'ndjson');
  assert.equal(imp.status, 'partially_succeeded');
  assert.deepEqual([imp.rows_total, imp.products_created, imp.products_failed], [4, 1, 3]);
  const at = (row) => imp.errors.find((e) => e.row === row);
  assert.equal(at(2).pointer, '/variants/0/prices/0/amount');
  assert.equal(at(3).pointer, '/colour');
  assert.equal(at(3).code, 'unknown_field');
  assert.equal(at(5).code, 'invalid_json');
  assert.equal(await stockOf('LAMP-R'), 4);
  assert.equal(await productBySku('CH-1'), undefined);
});

test('an export imports back with no changes', async () => {
  const e1 = await A('GET', '/v1/admin/exports/products.csv', { headers: { accept: 'text/csv' } });
  assert.equal(e1.status, 200);
  assert.match(e1.headers.get('content-type'), /^text\/csv/);
  const lines = e1.text.trimEnd().split('\r\n');
  assert.match(lines[0], /^handle,title,subtitle,description,status,type,brand,tags,seo_title,seo_description,option1_name/);
  assert.ok(lines[0].includes(`stock.${loc}`) && lines[0].includes('price.usd') && lines[0].includes('compare_at.eur'));
  assert.ok(lines.some((l) => l.startsWith('tee,Tee v2,')));
  const products = (await A('GET', '/v1/admin/products?limit=100')).body.data;
  const imp = await importFile(e1.text);
  assert.equal(imp.status, 'succeeded', JSON.stringify(imp.errors));
  assert.equal(imp.products_unchanged, products.length);
  assert.deepEqual([imp.products_created, imp.products_updated], [0, 0]);
  const after = (await A('GET', '/v1/admin/products?limit=100')).body.data;
  assert.deepEqual(after, products, 'not even updated_at moved');
  const e2 = await A('GET', '/v1/admin/exports/products.csv');
  assert.equal(e2.text, e1.text);
  assert.equal((await A('GET', '/v1/admin/exports/products.csv', { headers: { accept: 'application/xml' } })).status, 406);
});

test('the upload must be CSV or NDJSON (415), within max_import_bytes (413), with a usable header (422)', async () => {
  for (const ctype of ['application/json', 'application/x-www-form-urlencoded', 'text/plain', 'text/csv; charset=latin1']) {
    const r = await upload('handle\nx\n', ctype);
    assert.equal(r.status, 415, ctype);
    assert.equal(r.body.type, type('unsupported-media-type'));
  }
  assert.equal((await upload('handle,title\nx,X\n', 'text/csv; charset=utf-8; header=present')).status, 202);
  const big = 'handle,title\n' + 'h,x\n'.repeat(70000 / 4);
  const r = await upload(big);
  assert.equal(r.status, 413);
  assert.equal(r.body.type, type('payload-too-large'));
  const h = await upload('handle,colour,price.xyz,handle\nx,y,1,x\n');
  assert.equal(h.status, 422);
  assert.deepEqual(h.body.errors.map((e) => [e.pointer, e.code]), [['colour', 'unknown_column'], ['price.xyz', 'invalid_value'], ['handle', 'duplicate']]);
  for (const body of ['title\nx\n', '', 'handle,title\n', 'handle\n"open\n']) {
    const b = await upload(body);
    assert.equal(b.status, 422, JSON.stringify(body));
  }
  const bad = await upload(Buffer.from([0x68, 0x61, 0x6e, 0x64, 0x6c, 0x65, 0x0a, 0xff, 0xfe, 0x0a]));
  assert.equal(bad.status, 422);
  assert.match(bad.body.detail, /UTF-8/);
});

test('permissions: catalog:write to import, catalog:read to read imports and export', async () => {
  const ro = await newStaff(s.client, t, 'read_only');
  const key = await A('POST', '/v1/admin/api-keys', { json: { type: 'secret', title: 'stock only', scopes: ['inventory:read'] } });
  assert.equal(key.status, 201, key.text);
  const om = { token: key.body.token };
  const r = await upload('handle,title\nx,X\n', 'text/csv', ro.token);
  assert.equal(r.status, 403);
  assert.equal((await upload('handle,title\nx,X\n', 'application/json', ro.token)).status, 403, 'no hint about the body before authorization');
  const id = (await A('GET', '/v1/admin/imports?limit=1')).body.data[0].id;
  assert.equal((await A('GET', `/v1/admin/imports/${id}`, { token: ro.token })).status, 200);
  assert.equal((await A('GET', '/v1/admin/exports/products.csv', { token: ro.token })).status, 200);
  assert.equal((await A('GET', `/v1/admin/imports/${id}`, { token: om.token })).status, 403);
  assert.equal((await A('GET', '/v1/admin/exports/products.csv', { token: om.token })).status, 403);
  assert.equal((await s.client.request('POST', '/v1/admin/imports', { pk: null, body: 'handle\nx\n', headers: { 'content-type': 'text/csv' } })).status, 401);
});

test('unknown and malformed import ids are 404', async () => {
  for (const id of ['imp_01zzzzzzzzzzzzzzzzzzzzzzzz', 'imp_x', 'prod_01zzzzzzzzzzzzzzzzzzzzzzzz']) {
    const r = await A('GET', `/v1/admin/imports/${id}`);
    assert.equal(r.status, 404, id);
    assert.equal(r.body.type, type('not-found'));
  }
});

test('an import interrupted half-way (a restart) is resumed by the worker', async () => {
  // the state a crash leaves: running, some rows done, the rest of the items still stored
  const body = JSON.stringify({ handle: 'resumed', title: 'Resumed', variants: [{ sku: 'RES-1' }] });
  // one statement (one transaction): the worker must never see the import without its remaining item
  const [{ id }] = await s.sql(`WITH i AS (INSERT INTO imports (format, status, rows_total, rows_done, products_total, products_created, started_at)
                                VALUES ('ndjson', 'running', 2, 1, 2, 1, now()) RETURNING id),
                                it AS (INSERT INTO import_items (import_id, seq, first_row, rows, body) SELECT i.id, 2, 2, 1, $1 FROM i)
                                SELECT id FROM i`, [body]);
  const imp = await waitFor(id);
  assert.equal(imp.status, 'succeeded');
  assert.deepEqual([imp.rows_done, imp.products_created], [2, 2]);
  assert.ok(await productBySku('RES-1'));
  assert.equal((await s.sql('SELECT count(*)::int AS n FROM import_items WHERE import_id = $1', [id]))[0].n, 0);
});

test('souq import FILE: the same pipeline from the command line, per-row errors and the exit code', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'souq-import-'));
  const good = path.join(dir, 'good.csv');
  fs.writeFileSync(good, csv([['handle', 'title', 'sku', 'price.eur', `stock.${loc}`], ['cli-a', 'CLI A', 'CLI-A', '100', '9']]));
  const env = { SOUQ_DATABASE_URL: dbUrl(s.dbName) };
  let r = souq(['import', good], env);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /succeeded: 1 created, 0 updated, 0 unchanged, 0 failed \(1 of 1 rows\)/);
  assert.match(r.stderr, /progress: 1\/1 rows \(100%\)/, 'plain progress lines when stderr is not a terminal');
  const bad = path.join(dir, 'bad.ndjson');
  fs.writeFileSync(bad, JSON.stringify({ handle: 'cli-a', title: 'CLI A2' }) + '\n' + JSON.stringify({ handle: 'cli-b' }) + '\n');
  r = souq(['import', bad], env);
  assert.equal(r.status, 1, r.stderr + r.stdout);
  assert.match(r.stdout, /partially_succeeded: 0 created, 1 updated, 0 unchanged, 1 failed/);
  assert.match(r.stdout, /row 2: \/title: cli-b is a new product, so it needs a title\./);
  r = souq(['import', path.join(dir, 'none.csv')], env);
  assert.equal(r.status, 2);
  fs.writeFileSync(path.join(dir, 'x.txt'), 'handle\nx\n');
  r = souq(['import', path.join(dir, 'x.txt')], env);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--format/);
  fs.writeFileSync(path.join(dir, 'h.csv'), 'handel,title\nx,X\n');
  r = souq(['import', path.join(dir, 'h.csv')], env);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /handel/);
  fs.rmSync(dir, { recursive: true });
});
