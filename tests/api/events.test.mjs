// events.test.mjs: the outbox dispatcher across a crash (kill -9 with deliveries in flight: their leases expire and
// every event is delivered at least once after a restart, events written while no node ran included), two nodes
// sharing the work, and the event catalogue (openapi x-events) against the event types the code writes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { createDatabase, seed, startServer, sql, staffLogin, newCustomer, Client, ROOT } from './lib/harness.mjs';
import { startReceiver, eventually } from './lib/receiver.mjs';

const ENV = {
  SOUQ_OUTBOUND_ALLOW_CIDRS: '127.0.0.1/32',
  SOUQ_WEBHOOK_RETRY_BASE_MS: '40',
  SOUQ_WEBHOOK_MAX_ATTEMPTS: '5',
  SOUQ_WEBHOOK_TIMEOUT_MS: '1000',
  SOUQ_EVENTS_POLL_MS: '50',
  SOUQ_EVENTS_LEASE_MS: '2000',
};
let db, seeded, rx;
const q = (text, params) => sql(text, params, db);

before(async () => {
  rx = await startReceiver();
  db = await createDatabase();
  seeded = seed(db);
});
after(async () => rx && (await rx.close()));

async function webhook(server, url, event_types) {
  const c = new Client(server.url, seeded.pk);
  const t = (await staffLogin(c)).access_token;
  const r = await c.request('POST', '/v1/admin/webhooks', { pk: null, token: t, json: { url, event_types } });
  assert.equal(r.status, 201, r.text);
  return r.body;
}

test('kill -9 with deliveries in flight: leases expire and every event is delivered after a restart', async () => {
  let server = await startServer({ dbName: db, env: ENV });
  const typ = `test.crash_${process.pid}`;
  await webhook(server, rx.url + '/status/200', [typ]);
  rx.hang(true); // the receiver takes the requests but never answers
  const ids = [];
  for (let i = 0; i < 5; i++) ids.push((await q('INSERT INTO outbox_events (type, payload) VALUES ($1, $2) RETURNING id', [typ, { i }]))[0].id);
  await rx.until(() => ids.every((id) => rx.of(id).length === 1), 20000, 'five deliveries in flight');
  const running = await q("SELECT locked_by, locked_until > now() AS leased FROM event_deliveries WHERE event_id = ANY($1) AND state = 'running'", [ids]);
  assert.equal(running.length, 5, 'all five claimed and leased');
  assert.ok(running.every((r) => r.leased && r.locked_by));

  server.proc.kill('SIGKILL');
  await server.exitPromise;
  assert.equal(server.exited.signal, 'SIGKILL');
  rx.release();
  rx.hang(false);
  // written while no node runs: the outbox keeps them
  const later = [];
  for (let i = 0; i < 3; i++) later.push((await q('INSERT INTO outbox_events (type, payload) VALUES ($1, $2) RETURNING id', [typ, { later: i }]))[0].id);
  const stillLeased = await q("SELECT count(*)::int AS n FROM event_deliveries WHERE event_id = ANY($1) AND state = 'running'", [ids]);
  assert.equal(stillLeased[0].n, 5, 'the dead node still holds the leases');

  server = await startServer({ dbName: db, env: ENV });
  try {
    const done = await eventually(async () => {
      const rows = await q("SELECT event_id, state, attempts, locked_by FROM event_deliveries WHERE event_id = ANY($1)", [[...ids, ...later]]);
      return rows.length === 8 && rows.every((r) => r.state === 'completed') ? rows : null;
    }, 30000, 'all eight deliveries completed');
    for (const id of ids) {
      assert.ok(rx.of(id).length >= 2, `${id} delivered again after the crash (at least once)`);
      assert.equal(done.find((r) => r.event_id === id).attempts, 2, 'the lost attempt counts');
    }
    for (const id of later) assert.ok(rx.of(id).length >= 1, `${id} written while down, delivered`);
    const log = await q('SELECT count(*)::int AS n FROM event_delivery_attempts a JOIN event_deliveries d ON d.id = a.delivery_id WHERE d.event_id = ANY($1)', [ids]);
    assert.equal(log[0].n, 5, 'only the finished attempts are logged');
  } finally {
    await server.stop();
  }
});

test('two nodes share the work: each event is fanned out once and delivered once when nothing fails', async () => {
  const a = await startServer({ dbName: db, env: ENV });
  const b = await startServer({ dbName: db, env: ENV });
  try {
    const typ = `test.shared_${process.pid}`;
    await webhook(a, rx.url + '/status/200', [typ]);
    const ids = (await q("INSERT INTO outbox_events (type, payload) SELECT $1, jsonb_build_object('n', n) FROM generate_series(1, 60) n RETURNING id", [typ])).map((r) => r.id);
    await eventually(async () => (await q("SELECT count(*)::int AS n FROM event_deliveries WHERE event_id = ANY($1) AND state = 'completed'", [ids]))[0].n === 60, 30000, '60 deliveries');
    const per = await q('SELECT event_id, count(*)::int AS n FROM event_deliveries WHERE event_id = ANY($1) GROUP BY 1', [ids]);
    assert.equal(per.length, 60);
    assert.ok(per.every((r) => r.n === 1), 'one delivery per event and webhook');
    assert.ok(ids.every((id) => rx.of(id).length === 1), 'each delivered exactly once');
    const nodes = await q('SELECT DISTINCT a.node FROM event_delivery_attempts a JOIN event_deliveries d ON d.id = a.delivery_id WHERE d.event_id = ANY($1)', [ids]);
    assert.ok(nodes.length >= 1);
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('a backlog larger than the in-flight limit drains on NOTIFY alone (no poll helps: events_poll_ms is a minute)', async () => {
  const server = await startServer({ dbName: db, env: { ...ENV, SOUQ_EVENTS_POLL_MS: '60000' } });
  try {
    const typ = `test.backlog_${process.pid}`;
    await webhook(server, rx.url + '/status/200', [typ]);
    // let the start-up poll pass: from here on only the notification of the insert and the dispatcher's own
    // continuation (more steps while work is found, refills as deliveries finish) can move the 150 deliveries
    await eventually(async () => (await fetch(server.url + '/metrics').then((r) => r.text())).includes('souq_events_fanned_out_total'), 5000, 'metrics');
    const ids = (await q("INSERT INTO outbox_events (type, payload) SELECT $1, jsonb_build_object('n', n) FROM generate_series(1, 150) n RETURNING id", [typ])).map((r) => r.id);
    await eventually(async () => (await q("SELECT count(*)::int AS n FROM event_deliveries WHERE event_id = ANY($1) AND state = 'completed'", [ids]))[0].n === 150, 20000, '150 deliveries');
    assert.ok(ids.every((id) => rx.of(id).length === 1));
  } finally {
    await server.stop();
  }
});

test('https: the certificate is verified against the URL host name; an untrusted one is a retried tls error', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'souq-tls-'));
  const cert = (name) => {
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${dir}/${name}.key`, '-out', `${dir}/${name}.pem`,
      '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return { key: fs.readFileSync(`${dir}/${name}.key`), cert: fs.readFileSync(`${dir}/${name}.pem`) };
  };
  const trusted = cert('trusted'), untrusted = cert('untrusted');
  const got = [];
  const serve = (creds) => new Promise((resolve) => {
    const srv = https.createServer(creds, (req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => { got.push({ headers: req.headers, body: Buffer.concat(chunks).toString() }); res.writeHead(200); res.end('ok'); });
    });
    srv.listen(0, '::', () => resolve(srv)); // localhost may resolve to ::1 or 127.0.0.1: listen on both
  });
  const good = await serve(trusted), bad = await serve(untrusted);
  // the server trusts only the first certificate (OpenSSL reads SSL_CERT_FILE for its default verify paths)
  const server = await startServer({ dbName: db, env: { ...ENV, SOUQ_OUTBOUND_ALLOW_CIDRS: '127.0.0.1/32,::1/128', SSL_CERT_FILE: `${dir}/trusted.pem` } });
  try {
    const typ = `test.tls_${process.pid}`;
    const w1 = await webhook(server, `https://localhost:${good.address().port}/hook`, [typ]);
    const w2 = await webhook(server, `https://localhost:${bad.address().port}/hook`, [typ]);
    const id = (await q('INSERT INTO outbox_events (type, payload) VALUES ($1, $2) RETURNING id', [typ, { tls: true }]))[0].id;
    const rows = await eventually(async () => {
      const r = await q('SELECT target_id, state, attempts, last_error FROM event_deliveries WHERE event_id = $1', [id]);
      const byId = Object.fromEntries(r.map((x) => [x.target_id, x]));
      return byId[w1.id]?.state === 'completed' && byId[w2.id]?.attempts >= 2 ? byId : null;
    }, 20000, 'a TLS delivery and a refused one');
    assert.equal(rows[w2.id].last_error, 'tls');
    assert.equal(got.filter((g) => g.headers['souq-event-id'] === id).length, 1, 'only the trusted endpoint got it');
    assert.equal(JSON.parse(got.find((g) => g.headers['souq-event-id'] === id).body).data.tls, true);
  } finally {
    await server.stop();
    good.close();
    bad.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// ---- the catalogue ------------------------------------------------------------------------------------------

const catalogue = () => JSON.parse(fs.readFileSync(path.join(ROOT, 'openapi/openapi.json'), 'utf8'))['x-events'];

/** Event types written by the code: outbox inserts and souq_order_event calls in migrations/ and core/. */
function typesInSources() {
  const files = [];
  for (const dir of ['migrations', 'core']) for (const f of fs.readdirSync(path.join(ROOT, dir))) if (/\.(sql|c)$/.test(f)) files.push(path.join(ROOT, dir, f));
  const found = new Set();
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8');
    // a statement that writes the outbox, up to its end; a souq_order_event call, up to its closing line
    const spans = [...text.matchAll(/INSERT INTO outbox_events[\s\S]*?;/g), ...text.matchAll(/souq_order_event\([^;]*/g)].map((m) => m[0]);
    for (const span of spans) for (const m of span.matchAll(/'([a-z][a-z_]*\.[a-z_.]*[a-z_])'/g)) found.add(m[1]);
  }
  return found;
}

test('every event type the code writes is in the versioned catalogue, with a payload schema', async () => {
  const cat = catalogue();
  assert.equal(cat.version, '1');
  const doc = JSON.parse(fs.readFileSync(path.join(ROOT, 'openapi/openapi.json'), 'utf8'));
  const written = typesInSources();
  for (const t of ['order.placed', 'order.paid', 'refund.created', 'customer.created', 'inventory.low', 'price.changed', 'webhook_endpoint.disabled'])
    assert.ok(written.has(t), `the scan finds ${t} (the scan itself works)`);
  for (const t of written) {
    assert.ok(cat.types[t], `${t} is written by the code but missing from x-events`);
    const ref = cat.types[t].payload.$ref.split('/').pop();
    assert.equal(doc.components.schemas[ref]?.type, 'object', `${t}: payload schema ${ref}`);
  }
  for (const t of Object.keys(cat.types)) assert.ok(written.has(t), `${t} is in the catalogue but nothing writes it`);
});

test('the events a run writes match their catalogue entries', async () => {
  const server = await startServer({ dbName: db, env: ENV });
  try {
    const c = new Client(server.url, seeded.pk);
    const t = (await staffLogin(c)).access_token;
    await newCustomer(c);
    const r = await c.request('GET', '/v1/admin/events?limit=100', { pk: null, token: t });
    assert.equal(r.status, 200);
    const cat = catalogue();
    const doc = JSON.parse(fs.readFileSync(path.join(ROOT, 'openapi/openapi.json'), 'utf8'));
    const seen = await q("SELECT DISTINCT ON (type) type, payload FROM outbox_events WHERE type NOT LIKE 'test.%' ORDER BY type, occurred_at DESC");
    assert.ok(seen.some((e) => e.type === 'customer.created'));
    for (const e of seen) {
      assert.ok(cat.types[e.type], `${e.type} written in a run but not in x-events`);
      const schema = doc.components.schemas[cat.types[e.type].payload.$ref.split('/').pop()];
      for (const k of schema.required) assert.ok(k in e.payload, `${e.type} payload lacks required ${k}`);
    }
  } finally {
    await server.stop();
  }
});

test('a password-reset event keeps its token out of API reads (only an exact-name webhook gets it)', async () => {
  const server = await startServer({ dbName: db, env: ENV });
  try {
    const c = new Client(server.url, seeded.pk);
    const cust = await newCustomer(c);
    assert.equal((await c.post('/v1/store/auth/password-reset', { email: cust.email })).status, 202);
    const t = (await staffLogin(c)).access_token;
    const r = await c.request('GET', '/v1/admin/events?type=customer.password_reset_requested&limit=100', { pk: null, token: t });
    assert.equal(r.status, 200, r.text);
    const mine = r.body.data.filter((e) => e.data.customer_id === cust.customer.id);
    assert.equal(mine.length, 1);
    assert.equal(mine[0].data.token, undefined, 'no token in the list');
    const one = await c.request('GET', `/v1/admin/events/${mine[0].id}`, { pk: null, token: t });
    assert.equal(one.status, 200);
    assert.equal(one.body.data.token, undefined, 'no token in the event');
    assert.ok(!one.text.includes(((await q("SELECT payload->>'token' AS t FROM outbox_events WHERE id = $1", [mine[0].id]))[0].t)));
  } finally {
    await server.stop();
  }
});
