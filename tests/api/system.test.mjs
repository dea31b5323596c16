// system.test.mjs: health, readiness, metrics, the contract document, request ids, routing errors,
// content negotiation, CORS and the transport limits.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { startStack, souq, ROOT } from './lib/harness.mjs';
import { operations } from './lib/contract.mjs';

let s;
before(async () => {
  s = await startStack({ env: { SOUQ_CORS_ORIGINS: 'https://shop.example.com' } });
});
after(async () => s && (await s.stop()));

/** Sends raw bytes over one connection and returns the raw response text. */
function rawHttp(port, bytes) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let out = '';
    sock.on('data', (d) => (out += d));
    sock.on('end', () => resolve(out));
    sock.on('error', (e) => (out ? resolve(out) : reject(e)));
    sock.setTimeout(5000, () => sock.destroy());
    sock.on('close', () => resolve(out));
    sock.write(bytes);
  });
}

async function alive() {
  const r = await s.client.get('/healthz', { pk: null });
  assert.equal(r.status, 200);
  assert.equal(s.server.exited, null, 'server still running');
}

test('healthz answers without touching the database', async () => {
  const r = await s.client.get('/healthz', { pk: null });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { status: 'ok' });
  assert.match(r.headers.get('x-request-id'), /^req_[0-9a-f]+$/);
});

test('readyz reports the database and the migrations', async () => {
  const r = await s.client.get('/readyz', { pk: null });
  assert.equal(r.status, 200);
  assert.equal(r.body.status, 'ready');
  assert.equal(r.body.migrations.applied, r.body.migrations.expected);
});

test('openapi.json is served and is the committed document', async () => {
  const r = await s.client.get('/openapi.json', { pk: null });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, JSON.parse(fs.readFileSync(`${ROOT}/openapi/openapi.json`, 'utf8')));
});

test('the router and the OpenAPI document list exactly the same operations', () => {
  const r = souq(['routes']);
  assert.equal(r.status, 0, r.stderr);
  const routes = JSON.parse(r.stdout).map((x) => `${x.method} ${x.path}`).sort();
  const documented = operations.map((o) => `${o.method} ${o.template}`).sort();
  assert.deepEqual(documented, routes);
  // and the documented permission of every admin operation is the one the router enforces
  for (const x of JSON.parse(r.stdout)) {
    const op = operations.find((o) => o.method === x.method && o.template === x.path).op;
    assert.equal(op['x-auth'], x.auth, `x-auth of ${x.method} ${x.path}`);
    if (x.path.startsWith('/v1/admin/') && x.auth === 'admin') assert.equal(op['x-permission'] ?? null, x.permission ?? null, `${x.method} ${x.path}`);
    const idem = (op.parameters ?? []).some((p) => p.in === 'header' && p.name === 'Idempotency-Key');
    assert.equal(idem, x.idempotent, `Idempotency-Key of ${x.method} ${x.path} is documented exactly where the router honours it`);
  }
});

test('X-Request-Id is accepted when well-formed and replaced otherwise', async () => {
  let r = await s.client.get('/healthz', { pk: null, headers: { 'x-request-id': 'abc-123_X.y' } });
  assert.equal(r.headers.get('x-request-id'), 'abc-123_X.y');
  r = await s.client.get('/healthz', { pk: null, headers: { 'x-request-id': 'bad id with spaces' } });
  assert.match(r.headers.get('x-request-id'), /^req_/);
  r = await s.client.get('/healthz', { pk: null, headers: { 'x-request-id': 'x'.repeat(65) } });
  assert.match(r.headers.get('x-request-id'), /^req_/);
});

test('unknown paths are 404 and wrong methods 405 with Allow, as problem+json', async () => {
  let r = await s.client.get('/v1/nope', { pk: null });
  assert.equal(r.status, 404);
  assert.equal(r.body.type, 'https://docs.souq.dev/problems/not-found');
  r = await s.client.get('/v1/store/customers/me/', { pk: null });
  assert.equal(r.status, 404, 'trailing slash is a different path');
  r = await s.client.request('DELETE', '/v1/store/customers/me');
  assert.equal(r.status, 405);
  assert.equal(r.headers.get('allow'), 'GET, PATCH');
  assert.equal(r.body.type, 'https://docs.souq.dev/problems/method-not-allowed');
  r = await s.client.request('PUT', '/healthz', { pk: null });
  assert.equal(r.status, 405);
  assert.equal(r.headers.get('allow'), 'GET');
});

test('406 when the client cannot accept JSON; JSON and wildcards are fine', async () => {
  let r = await s.client.get('/healthz', { pk: null, headers: { accept: 'text/html' } });
  assert.equal(r.status, 406);
  assert.equal(r.body.type, 'https://docs.souq.dev/problems/not-acceptable');
  for (const accept of ['application/json', '*/*', 'text/html, application/*;q=0.8', 'application/problem+json']) {
    r = await s.client.get('/healthz', { pk: null, headers: { accept } });
    assert.equal(r.status, 200, accept);
  }
});

test('415 for a body that is not application/json', async () => {
  for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', 'application/jsonx']) {
    const r = await s.client.request('POST', '/v1/store/customers', { body: '{"email":"a@b.co"}', headers: { 'content-type': ct } });
    assert.equal(r.status, 415, ct);
    assert.equal(r.body.type, 'https://docs.souq.dev/problems/unsupported-media-type');
  }
  const r = await s.client.request('POST', '/v1/store/customers', { body: '{}', headers: { 'content-type': 'application/json; charset=utf-8' } });
  assert.equal(r.status, 422, 'charset=utf-8 is accepted');
});

test('a body on GET is refused', async () => {
  // fetch refuses to send a GET body, so this one is written by hand
  const raw = await rawHttp(s.server.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}');
  assert.match(raw, /^HTTP\/1\.1 400/);
  assert.match(raw, /bad-request/);
});

test('auth endpoints refuse bodies over 16 KiB; others over 1 MiB', async () => {
  const big = JSON.stringify({ email: 'a@b.co', password: 'x'.repeat(17 * 1024) });
  let r = await s.client.request('POST', '/v1/store/auth/token', { body: big, headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 413);
  assert.equal(r.body.type, 'https://docs.souq.dev/problems/payload-too-large');
  const huge = '{"a":"' + 'x'.repeat(1024 * 1024 + 10) + '"}';
  const raw = await rawHttp(s.server.port, `POST /v1/store/customers/me/addresses HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${huge.length}\r\nConnection: close\r\n\r\n${huge}`);
  assert.match(raw, /^HTTP\/1\.1 413/);
  await alive();
});

test('URLs over 8 KiB get 414 and header blocks over 16 KiB get 431', async () => {
  let r = await s.client.get('/healthz?' + 'a'.repeat(9000), { pk: null, raw: true });
  assert.equal(r.status, 414);
  r = await s.client.get('/healthz', { pk: null, headers: { 'x-filler': 'y'.repeat(17000) }, raw: true });
  assert.ok([431, 400].includes(r.status), `status ${r.status}`);
  await alive();
});

test('unknown and repeated query parameters are 400 with the parameter named', async () => {
  let r = await s.client.get('/healthz?verbose=1', { pk: null });
  assert.equal(r.status, 400);
  assert.equal(r.body.type, 'https://docs.souq.dev/problems/invalid-parameter');
  assert.equal(r.body.errors[0].parameter, 'verbose');
  r = await s.client.get('/healthz?a=%zz', { pk: null });
  assert.equal(r.status, 400);
  r = await s.client.get('/healthz?a=%00', { pk: null });
  assert.equal(r.status, 400);
});

test('CORS: allowed origins get headers, others do not; preflight lists the methods', async () => {
  let r = await s.client.get('/healthz', { pk: null, headers: { origin: 'https://shop.example.com' } });
  assert.equal(r.headers.get('access-control-allow-origin'), 'https://shop.example.com');
  assert.equal(r.headers.get('vary'), 'Origin');
  r = await s.client.get('/healthz', { pk: null, headers: { origin: 'https://evil.example.com' } });
  assert.equal(r.headers.get('access-control-allow-origin'), null);
  r = await s.client.request('OPTIONS', '/v1/store/customers/me', {
    pk: null,
    headers: { origin: 'https://shop.example.com', 'access-control-request-method': 'PATCH' },
  });
  assert.equal(r.status, 204);
  assert.equal(r.headers.get('access-control-allow-methods'), 'GET, PATCH');
  assert.match(r.headers.get('access-control-allow-headers'), /X-Publishable-Api-Key/);
  r = await s.client.request('OPTIONS', '/v1/store/customers/me', {
    pk: null,
    headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'PATCH' },
  });
  assert.equal(r.status, 403);
  r = await s.client.request('OPTIONS', '/v1/nothing', { pk: null });
  assert.equal(r.status, 404);
});

test('metrics count requests by route and status in Prometheus text', async () => {
  await s.client.get('/healthz', { pk: null });
  await s.client.get('/v1/nope', { pk: null });
  const r = await s.client.get('/metrics', { pk: null });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/plain/);
  assert.match(r.text, /souq_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/);
  assert.match(r.text, /souq_http_requests_total\{method="",route="unmatched",status="404"\} \d+/);
  assert.match(r.text, /souq_http_request_duration_seconds_bucket\{method="GET",route="\/healthz",le="\+Inf"\} \d+/);
  assert.match(r.text, /souq_db_connection_up\{thread="0"\} 1/);
});

test('every request gets one structured access-log line', async () => {
  await s.client.get('/healthz', { pk: null, headers: { 'x-request-id': 'log-probe-1' } });
  await new Promise((r) => setTimeout(r, 100));
  const lines = s.server.log.split('\n').filter((l) => l.includes('"request_id":"log-probe-1"'));
  assert.equal(lines.length, 1);
  const entry = JSON.parse(lines[0]);
  assert.equal(entry.component, 'access');
  assert.equal(entry.status, 200);
  assert.equal(entry.route, '/healthz');
  assert.equal(typeof entry.duration_ms, 'number');
});

test('malformed HTTP is rejected by the server and it keeps serving', async () => {
  const cases = ['GARBAGE\r\n\r\n', 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', 'GET /\x00 HTTP/1.1\r\n\r\n'];
  for (const c of cases) {
    const raw = await rawHttp(s.server.port, c);
    assert.ok(raw === '' || /^HTTP\/1\.[01] [45]\d\d/.test(raw), JSON.stringify(raw.slice(0, 80)));
  }
  await alive();
});
