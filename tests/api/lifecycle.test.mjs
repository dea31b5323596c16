// lifecycle.test.mjs: configuration errors, the durability check, migrations, the CLI, SIGTERM draining
// and SIGHUP reloading.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { startServer, startStack, createDatabase, seed, souq, dbUrl, sql, BIN, JWT_SECRET, freePort, Client, newCustomer } from './lib/harness.mjs';

/** Runs `souq serve` expecting it to refuse to start; returns { code, log }. */
async function serveFails(env, args = []) {
  const port = await freePort();
  const dbName = env.__db ?? 'souq_template';
  delete env.__db;
  const full = { PATH: process.env.PATH, ASAN_OPTIONS: process.env.ASAN_OPTIONS, SOUQ_DATABASE_URL: dbUrl(dbName), SOUQ_LISTEN: `127.0.0.1:${port}`, SOUQ_JWT_SECRET: JWT_SECRET, SOUQ_DURABILITY_CHECK: 'warn', ...env };
  for (const [k, v] of Object.entries(full)) if (v === undefined) delete full[k];
  const p = spawn(BIN, ['serve', ...args], { env: full });
  let log = '';
  p.stdout.on('data', (d) => (log += d));
  p.stderr.on('data', (d) => (log += d));
  const code = await new Promise((resolve) => {
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      resolve('timeout');
    }, 10000);
    p.on('exit', (c) => {
      clearTimeout(t);
      resolve(c);
    });
  });
  return { code, log };
}

test('bad configuration exits non-zero with a message naming the key', async () => {
  const cases = [
    [{ SOUQ_THREADS: 'abc' }, /threads/],
    [{ SOUQ_THREADS: '1000' }, /threads/],
    [{ SOUQ_JWT_SECRET: 'short' }, /jwt_secret/],
    [{ SOUQ_JWT_SECRET: undefined }, /jwt_secret/],
    [{ SOUQ_LISTEN: 'localhost' }, /listen/],
    [{ SOUQ_LISTEN: '127.0.0.1:99999' }, /listen/],
    [{ SOUQ_ACCESS_LOG: 'maybe' }, /access_log/],
    [{ SOUQ_DURABILITY_CHECK: 'sometimes' }, /durability_check/],
    [{ SOUQ_JWT_ALG: 'HS512' }, /jwt_alg/],
    [{ SOUQ_JWT_ALG: 'RS256' }, /jwt_private_key_file/],
    [{ SOUQ_CORS_ORIGINS: 'shop.example.com' }, /cors_origins/],
    [{ SOUQ_ACCESS_TOKEN_TTL: '3600' }, /access_token_ttl/],
    [{ SOUQ_DATABASE_URL: 'postgresql://souq@/no_such_db?host=/nonexistent' }, /database_url/],
  ];
  for (const [env, re] of cases) {
    const { code, log } = await serveFails({ ...env });
    assert.ok(code !== 0 && code !== 'timeout', `${JSON.stringify(env)} exited ${code}`);
    assert.match(log, re, JSON.stringify(env));
    assert.doesNotMatch(log, /listening/);
  }
});

test('a config file is read; unknown keys and bad lines are refused; env overrides the file', async () => {
  const file = `/tmp/souq-test-${process.pid}.conf`;
  try {
    fs.writeFileSync(file, '# comment\nthreads = 1\nunknown_key = 1\n');
    let r = await serveFails({}, ['--config', file]);
    assert.notEqual(r.code, 0);
    assert.match(r.log, /unknown key "unknown_key"/);
    assert.match(r.log, /line 3/);
    fs.writeFileSync(file, 'threads\n');
    r = await serveFails({}, ['--config', file]);
    assert.match(r.log, /line 1: expected key = value/);
    fs.writeFileSync(file, 'threads = 1\nlog_level = "debug"\naccess_log = off\n');
    const dbName = await createDatabase();
    const srv = await startServer({ dbName, args: ['--config', file], env: { SOUQ_THREADS: '3' } });
    try {
      const m = await fetch(srv.url + '/metrics').then((x) => x.text());
      assert.match(m, /souq_db_connection_up\{thread="2"\}/, 'SOUQ_THREADS=3 overrides threads = 1');
      assert.doesNotMatch(srv.log, /"component":"access"/, 'access_log = off from the file');
    } finally {
      await srv.stop();
    }
    r = await serveFails({}, ['--config', '/nonexistent/souq.conf']);
    assert.match(r.log, /config file \/nonexistent\/souq.conf/);
  } finally {
    fs.rmSync(file, { force: true });
  }
});

test('serve refuses a database with fsync=off unless durability_check = warn', async () => {
  // the test cluster runs with fsync=off and synchronous_commit=off for speed
  const r = await serveFails({ SOUQ_DURABILITY_CHECK: undefined });
  assert.equal(r.code, 1);
  assert.match(r.log, /fsync=off/);
  assert.match(r.log, /durability_check = warn/);
  const dbName = await createDatabase();
  const srv = await startServer({ dbName });
  try {
    assert.match(srv.log, /DURABILITY WARNING/);
  } finally {
    await srv.stop();
  }
});

test('migrate is idempotent, refuses a changed migration, and concurrent migrators are safe', async () => {
  const a = 't_mig_' + process.pid;
  await sql(`CREATE DATABASE ${a}`);
  const runs = await Promise.all([0, 1, 2].map(() => new Promise((resolve) => {
    const p = spawn(BIN, ['migrate'], { env: { PATH: process.env.PATH, ASAN_OPTIONS: process.env.ASAN_OPTIONS, SOUQ_DATABASE_URL: dbUrl(a) } });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('exit', (code) => resolve({ code, out }));
  })));
  assert.deepEqual(runs.map((r) => r.code), [0, 0, 0], JSON.stringify(runs));
  assert.equal(runs.filter((r) => /applied 0001/.test(r.out)).length, 1, 'exactly one migrator applied it');
  const [{ n }] = await sql('SELECT count(*)::int AS n FROM schema_migrations', [], a);
  assert.ok(n >= 1);
  let r = souq(['migrate'], { SOUQ_DATABASE_URL: dbUrl(a) });
  assert.equal(r.status, 0);
  assert.match(r.stdout, /current/);
  const [orig] = await sql('SELECT checksum FROM schema_migrations WHERE version = 1', [], a);
  await sql("UPDATE schema_migrations SET checksum = 'tampered' WHERE version = 1", [], a);
  r = souq(['migrate'], { SOUQ_DATABASE_URL: dbUrl(a) });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /0001_foundation.sql was changed/);
  await sql('UPDATE schema_migrations SET checksum = $1 WHERE version = 1', [orig.checksum], a);
  await sql("INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, '9999_future.sql', 'x')", [], a);
  r = souq(['migrate'], { SOUQ_DATABASE_URL: dbUrl(a) });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /which this binary does not know/);
  await sql(`DROP DATABASE ${a}`);
});

test('readyz is 503 until the schema is migrated', async () => {
  const empty = 't_empty_' + process.pid;
  await sql(`CREATE DATABASE ${empty}`);
  const srv = await startServer({ dbName: empty });
  try {
    assert.match(srv.log, /schema is behind/);
    let r = await fetch(srv.url + '/readyz');
    assert.equal(r.status, 503);
    assert.ok(r.headers.get('retry-after'));
    const m = souq(['migrate'], { SOUQ_DATABASE_URL: dbUrl(empty) });
    assert.equal(m.status, 0, m.stderr);
    r = await fetch(srv.url + '/readyz');
    assert.equal(r.status, 200);
  } finally {
    await srv.stop();
    await sql(`DROP DATABASE ${empty}`);
  }
});

test('CLI: admin create-user and create-api-key, with validation', async () => {
  const dbName = await createDatabase();
  seed(dbName);
  const env = { SOUQ_DATABASE_URL: dbUrl(dbName) };
  let r = souq(['admin', 'create-user', '--email', 'ops@test.local', '--password', 'ops-password-1', '--role', 'admin'], env);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).role, 'admin');
  r = souq(['admin', 'create-user', '--email', 'ops@test.local', '--password', 'ops-password-1', '--role', 'admin'], env);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /already exists/);
  r = souq(['admin', 'create-user', '--email', 'x@test.local', '--password', 'short', '--role', 'king'], env);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /\/password/);
  assert.match(r.stderr, /\/role/);
  r = souq(['admin', 'create-api-key', '--type', 'secret', '--scopes', 'customers:read,staff:read'], env);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout.trim(), /^sk_[A-Za-z0-9_-]{43}$/);
  const sk = r.stdout.trim();
  r = souq(['admin', 'create-api-key', '--type', 'publishable', '--json'], env);
  assert.equal(r.status, 0, r.stderr);
  assert.match(JSON.parse(r.stdout).token, /^pk_/);
  r = souq(['admin', 'create-api-key', '--type', 'secret', '--scopes', 'everything'], env);
  assert.equal(r.status, 2);
  r = souq(['admin', 'create-api-key', '--type', 'publishable', '--channel', 'sc_01zzzzzzzzzzzzzzzzzzzzzzzz'], env);
  assert.equal(r.status, 1);
  r = souq(['admin', 'bogus'], env);
  assert.equal(r.status, 2);
  r = souq(['--help']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /serve/);
  r = souq(['version']);
  assert.match(r.stdout, /^souq \d+\.\d+\.\d+/);
  const srv = await startServer({ dbName });
  try {
    const res = await fetch(srv.url + '/v1/admin/users', { headers: { authorization: `Bearer ${sk}` } });
    assert.equal(res.status, 200, 'the CLI key works against the API');
  } finally {
    await srv.stop();
  }
});

test('seed is idempotent and prints the owner password once when none is given', async () => {
  const dbName = await createDatabase();
  let r = souq(['seed'], { SOUQ_DATABASE_URL: dbUrl(dbName) });
  assert.equal(r.status, 0, r.stderr);
  const pw = /password: (\S+)/.exec(r.stdout)?.[1];
  assert.ok(pw && pw.length >= 12, r.stdout);
  const pk = /publishable key:\s+(\S+)/.exec(r.stdout)[1];
  r = souq(['seed'], { SOUQ_DATABASE_URL: dbUrl(dbName) });
  assert.doesNotMatch(r.stdout, /password/);
  assert.equal(/publishable key:\s+(\S+)/.exec(r.stdout)[1], pk);
  const [{ n }] = await sql("SELECT count(*)::int AS n FROM currencies WHERE code IN ('eur', 'usd', 'jpy')", [], dbName);
  assert.equal(n, 3);
  const [jpy] = await sql("SELECT minor_units FROM currencies WHERE code = 'jpy'", [], dbName);
  assert.equal(jpy.minor_units, 0);
});

test('SIGTERM drains in-flight requests, then exits 0', async () => {
  // slow password hashes on one pool thread: the logins queue there, in flight, for seconds
  const s = await startStack({ env: { SOUQ_REQUEST_TIMEOUT_MS: '60000', SOUQ_SHUTDOWN_TIMEOUT_MS: '60000', SOUQ_POOL_THREADS: '1', SOUQ_PASSWORD_HASH_ITERATIONS: '16', SOUQ_PASSWORD_HASH_MEMORY_KIB: '65536' } });
  const c = await newCustomer(s.client);
  let settled = 0;
  const inflight = Array.from({ length: 6 }, () =>
    s.client.post('/v1/store/auth/token', { email: c.email, password: c.password }, { raw: true }).finally(() => settled++));
  // signal only once every login has reached the server: finished, or waiting on the hashing pool
  await waitFor(async () => {
    const m = await (await fetch(s.url + '/metrics')).text();
    return settled + Number(/^souq_worker_pool_depth (\d+)$/m.exec(m)[1]) >= 6;
  }, 20000);
  s.server.proc.kill('SIGTERM');
  const results = await Promise.all(inflight.map((p) => p.catch((e) => ({ status: 'error:' + e.message }))));
  assert.deepEqual(results.map((r) => r.status), [200, 200, 200, 200, 200, 200]);
  const ex = await s.server.exitPromise;
  assert.equal(ex.code, 0);
  assert.match(s.server.log, /draining/);
  assert.match(s.server.log, /stopped/);
  await assert.rejects(fetch(s.url + '/healthz'), 'no longer listening');
  s.server.assertClean();
});

test('SIGHUP reloads the configuration; a broken one is refused and the old stays', async () => {
  const file = `/tmp/souq-hup-${process.pid}.conf`;
  fs.writeFileSync(file, 'cors_origins = https://a.example.com\n');
  const dbName = await createDatabase();
  const { pk } = seed(dbName);
  const srv = await startServer({ dbName, args: ['--config', file] });
  const cl = new Client(srv.url, pk);
  const origin = async (o) => (await cl.get('/healthz', { pk: null, headers: { origin: o } })).headers.get('access-control-allow-origin');
  try {
    assert.equal(await origin('https://a.example.com'), 'https://a.example.com');
    assert.equal(await origin('https://b.example.com'), null);
    fs.writeFileSync(file, 'cors_origins = https://b.example.com\nrequest_timeout_ms = 5000\n');
    srv.proc.kill('SIGHUP');
    await waitFor(() => /configuration reloaded/.test(srv.log));
    assert.equal(await origin('https://b.example.com'), 'https://b.example.com');
    assert.equal(await origin('https://a.example.com'), null);
    assert.match(srv.log, /need a restart to take effect: request_timeout_ms/);
    fs.writeFileSync(file, 'cors_origins = not-an-origin\n');
    srv.proc.kill('SIGHUP');
    await waitFor(() => /reload refused/.test(srv.log));
    assert.equal(await origin('https://b.example.com'), 'https://b.example.com', 'the running config stays');
    assert.equal((await cl.get('/healthz', { pk: null })).status, 200);
  } finally {
    await srv.stop();
    fs.rmSync(file, { force: true });
  }
});

async function waitFor(cond, ms = 5000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}


test('the request deadline answers 503 request-timeout; the late result is dropped and the server lives on', async () => {
  // a login for an unknown email still hashes (so timing reveals nothing), with the configured cost: a
  // 256 MiB argon2 cost makes it take far longer than the 100 ms deadline
  const s = await startStack();
  try {
    const c = await newCustomer(s.client);
    await s.stop();
    const srv = await startServer({ dbName: s.dbName, env: { SOUQ_REQUEST_TIMEOUT_MS: '100', SOUQ_PASSWORD_HASH_MEMORY_KIB: '262144' } });
    try {
      const cl = new Client(srv.url, s.pk);
      const t0 = Date.now();
      const r = await cl.post('/v1/store/auth/token', { email: 'nobody-' + c.email, password: c.password });
      assert.equal(r.status, 503);
      assert.equal(r.body.type, 'https://docs.souq.dev/problems/request-timeout');
      assert.ok(Number(r.headers.get('retry-after')) >= 1);
      assert.ok(Date.now() - t0 < 5000, 'answered at the deadline, not when the work ended');
      await new Promise((res) => setTimeout(res, 1500)); // the hashing finishes; its answer has nowhere to go
      assert.equal((await cl.get('/healthz', { pk: null })).status, 200);
      srv.assertClean();
    } finally {
      await srv.stop();
    }
  } catch (e) {
    if (!s.server.exited) await s.stop();
    throw e;
  }
});
