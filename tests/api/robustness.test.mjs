// robustness.test.mjs: a corpus of hostile and malformed requests. Each gets a clear 4xx problem+json,
// nothing is written, and the same server process keeps serving.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, newCustomer } from './lib/harness.mjs';

let s, c, pid;
before(async () => {
  s = await startStack();
  c = await newCustomer(s.client);
  pid = s.server.proc.pid;
});
after(async () => s && (await s.stop()));

const counts = async () => (await s.sql('SELECT ((SELECT count(*) FROM customers) + (SELECT count(*) FROM customer_addresses) + (SELECT count(*) FROM outbox_events))::int AS n'))[0].n;

async function send(path, body, { token, method = 'POST' } = {}) {
  return s.client.request(method, path, { body, token, headers: { 'content-type': 'application/json' } });
}

const deep = (n) => '['.repeat(n) + ']'.repeat(n);
const deepObj = (n) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);

const malformed = [
  ['empty body', ''],
  ['truncated', '{"email": "a@b.co", "password": "passw'],
  ['trailing garbage', '{"email":"a@b.co","password":"password-1"} x'],
  ['two documents', '{}{}'],
  ['trailing comma', '{"email":"a@b.co",}'],
  ['single quotes', "{'email':'a@b.co'}"],
  ['comments', '{/* hi */"email":"a@b.co"}'],
  ['duplicate keys', '{"email":"a@b.co","email":"c@d.co","password":"password-1"}'],
  ['NUL escape', '{"email":"a\\u0000@b.co","password":"password-1"}'],
  ['raw NUL byte', '{"email":"a\u0000@b.co"}'],
  ['lone surrogate', '{"email":"\\ud800@b.co","password":"password-1"}'],
  ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
  ['overlong UTF-8', Buffer.from([0x7b, 0x22, 0x65, 0x22, 0x3a, 0x22, 0xc0, 0xaf, 0x22, 0x7d])],
  ['depth 33 arrays', `{"metadata":${deep(33)}}`],
  ['depth bomb (10 KiB of brackets)', deep(5000)],
  ['depth 40 objects', deepObj(40)],
  ['NaN', '{"email":NaN}'],
  ['huge number', '{"email":"a@b.co","password":"password-1","metadata":{"n":1e999999}}'],
  ['bare string', '"hello"'],
  ['array root', '[{"email":"a@b.co"}]'],
  ['null root', 'null'],
  ['BOM', '\ufeff{"email":"a@b.co","password":"password-1"}'],
];

test('malformed JSON bodies: 400 invalid-json (or 422 for a non-object root), nothing written', async () => {
  const before = await counts();
  for (const [name, body] of malformed) {
    const r = await send('/v1/store/customers', body);
    assert.ok([400, 422].includes(r.status), `${name}: ${r.status} ${r.text.slice(0, 200)}`);
    if (r.status === 400) assert.equal(r.body.type, 'https://docs.souq.dev/problems/invalid-json', name);
  }
  assert.equal(await counts(), before);
});

test('schema violations: wrong types, ranges and shapes are 422 with a pointer per field', async () => {
  const before = await counts();
  const cases = [
    [{ email: 123, password: 'password-1' }, '/email'],
    [{ email: ['a@b.co'], password: 'password-1' }, '/email'],
    [{ email: 'a@b.co', password: true }, '/password'],
    [{ email: 'a@b.co', password: 'password-1', metadata: [] }, '/metadata'],
    [{ email: 'a@b.co', password: 'password-1', metadata: 'x' }, '/metadata'],
    [{ email: 'a@b.co', password: 'password-1', first_name: { $gt: '' } }, '/first_name'],
    [{ email: 'a@b.co\r\nBcc: victim@x.co', password: 'password-1' }, '/email'],
    [{ email: 'a@b.co', password: 'password-1', first_name: 'Ann\r\nX-Injected: 1' }, '/first_name'],
    [{ email: 'x'.repeat(250) + '@b.co', password: 'password-1' }, '/email'],
    [{ email: 'a@b.co', password: 'x'.repeat(257) }, '/password'],
    [{ email: '"a"@b.co', password: 'password-1' }, '/email'],
    [{ email: 'a@b', password: 'password-1' }, '/email'],
  ];
  for (const [json, pointer] of cases) {
    const r = await s.client.post('/v1/store/customers', json);
    assert.equal(r.status, 422, JSON.stringify(json));
    assert.ok(r.body.errors.some((e) => e.pointer === pointer), `${JSON.stringify(json)}: ${JSON.stringify(r.body.errors)}`);
  }
  assert.equal(await counts(), before);
});

test('SQL-shaped values are stored as plain text, never executed', async () => {
  const evil = "Robert'); DROP TABLE customers;--";
  const r = await s.client.patch('/v1/store/customers/me', { last_name: evil, metadata: { "k'; DELETE FROM customers;--": "v'--" } }, { token: c.token });
  assert.equal(r.status, 200);
  assert.equal(r.body.last_name, evil);
  const [{ n }] = await s.sql('SELECT count(*)::int AS n FROM customers');
  assert.ok(n >= 1);
  const a = await s.client.post('/v1/store/customers/me/addresses', { address_1: "1' OR '1'='1", city: '$(reboot)', country_code: 'de' }, { token: c.token });
  assert.equal(a.status, 201);
  assert.equal(a.body.address_1, "1' OR '1'='1");
});

test('mass assignment on every writable resource is refused', async () => {
  const before = await counts();
  const tries = [
    ['PATCH', '/v1/store/customers/me', { id: 'cus_x' }],
    ['PATCH', '/v1/store/customers/me', { created_at: '2000-01-01' }],
    ['PATCH', '/v1/store/customers/me', { version: 99 }],
    ['POST', '/v1/store/customers/me/addresses', { address_1: 'a', city: 'b', country_code: 'de', id: 'addr_x' }],
    ['POST', '/v1/store/customers/me/addresses', { address_1: 'a', city: 'b', country_code: 'de', created_at: 'x' }],
  ];
  for (const [method, path, json] of tries) {
    const r = await s.client.request(method, path, { json, token: c.token });
    assert.equal(r.status, 422, `${method} ${path} ${JSON.stringify(json)}`);
    assert.equal(r.body.type, 'https://docs.souq.dev/problems/unknown-field');
  }
  assert.equal(await counts(), before);
});

test('wide inputs: many keys and long arrays are bounded', async () => {
  const manyKeys = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, i]));
  let r = await s.client.patch('/v1/store/customers/me', manyKeys, { token: c.token });
  assert.equal(r.status, 422);
  assert.ok(r.body.errors.length <= 16, 'the error list is capped');
  r = await s.client.patch('/v1/store/customers/me', { metadata: manyKeys }, { token: c.token });
  assert.equal(r.status, 422);
});

test('the same server process is still up and answering', async () => {
  const r = await s.client.get('/healthz', { pk: null });
  assert.equal(r.status, 200);
  assert.equal(s.server.proc.pid, pid);
  assert.equal(s.server.exited, null);
  s.server.assertClean();
});
