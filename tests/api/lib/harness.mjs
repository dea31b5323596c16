// harness.mjs: starts the real server (sanitizer build) on a fresh database cloned from the migrated
// template, seeds it, and gives tests an HTTP client whose every response is checked against the contract.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import assert from 'node:assert/strict';
import pg from 'pg';
import { validateResponse } from './contract.mjs';

export const SOCK = process.env.SOUQ_TEST_PG_SOCK;
export const PGPORT = process.env.SOUQ_TEST_PG_PORT;
export const BIN = process.env.SOUQ_BIN;
export const ROOT = process.env.SOUQ_TEST_ROOT;
export const JWT_SECRET = 'test-only-jwt-secret-0123456789-abcdefghij';
export const OWNER = { email: 'owner@test.local', password: 'owner-password-1' };

/** The fixtures of tests/plugins that every load refuses (each for its own reason). */
export const REFUSED_PLUGIN_FIXTURES = ['broken-manifest', 'broken-syntax'];

/** The names (from manifest.json) of the plugins a load of these folders publishes, sorted: every subfolder with a
 * manifest but the refused fixtures. Read from the tree, so adding a bundled plugin or a fixture breaks no test. */
export function loadablePlugins(...dirs) {
  const names = [];
  for (const dir of dirs) {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const manifest = `${dir}/${e.name}/manifest.json`;
      if (!e.isDirectory() || REFUSED_PLUGIN_FIXTURES.includes(e.name) || !fs.existsSync(manifest)) continue;
      names.push(JSON.parse(fs.readFileSync(manifest, 'utf8')).name);
    }
  }
  assert.ok(names.length > 0, `plugins under ${dirs.join(', ')}`);
  return names.sort();
}

export const dbUrl = (name) => `postgresql://souq@/${name}?host=${SOCK}&port=${PGPORT}`;

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Runs SQL on a database of the test cluster (default: postgres). */
export async function sql(text, params = [], database = 'postgres') {
  const c = new pg.Client({ host: SOCK, port: Number(PGPORT), user: 'souq', database });
  await c.connect();
  try {
    return (await c.query(text, params)).rows;
  } finally {
    await c.end();
  }
}

export async function createDatabase() {
  const name = 't_' + crypto.randomBytes(6).toString('hex');
  await sql(`CREATE DATABASE ${name} TEMPLATE souq_template`);
  return name;
}

const baseEnv = () => {
  const env = {};
  for (const k of ['PATH', 'ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LANG']) if (process.env[k]) env[k] = process.env[k];
  return env;
};

/** Runs a souq CLI command synchronously. */
export function souq(args, env = {}) {
  return spawnSync(BIN, args, { env: { ...baseEnv(), ...env }, encoding: 'utf8', timeout: 60000 });
}

export function seed(dbName, env = {}) {
  const r = souq(['seed'], { SOUQ_DATABASE_URL: dbUrl(dbName), SOUQ_OWNER_EMAIL: OWNER.email, SOUQ_OWNER_PASSWORD: OWNER.password, ...env });
  assert.equal(r.status, 0, `seed failed: ${r.stderr}`);
  const pk = /publishable key:\s+(pk_\S+)/.exec(r.stdout)?.[1];
  const channel = /default sales channel:\s+(sc_\S+)/.exec(r.stdout)?.[1];
  assert.ok(pk && channel, `seed output: ${r.stdout}`);
  return { pk, channel, stdout: r.stdout };
}

const sanitizerError = /ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:|SUMMARY: .*Sanitizer/;

/** Starts `souq serve`; resolves when /healthz answers (or rejects with the log if it exits first). */
export async function startServer({ dbName, env = {}, args = [], bin = BIN } = {}) {
  const port = await freePort();
  const fullEnv = {
    ...baseEnv(),
    SOUQ_DATABASE_URL: dbUrl(dbName),
    SOUQ_LISTEN: `127.0.0.1:${port}`,
    SOUQ_JWT_SECRET: JWT_SECRET,
    SOUQ_DURABILITY_CHECK: 'warn',
    SOUQ_THREADS: '2',
    SOUQ_LOG_LEVEL: 'info',
    ...env,
  };
  for (const [k, v] of Object.entries(fullEnv)) if (v === undefined) delete fullEnv[k];
  const proc = spawn(bin, ['serve', ...args], { env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const server = { url: `http://127.0.0.1:${port}`, port, proc, log: '', exited: null };
  proc.stdout.on('data', (d) => (server.log += d));
  proc.stderr.on('data', (d) => (server.log += d));
  server.exitPromise = new Promise((resolve) => proc.on('exit', (code, signal) => resolve((server.exited = { code, signal }))));
  const deadline = Date.now() + 20000;
  for (;;) {
    if (server.exited) throw Object.assign(new Error(`server exited (${JSON.stringify(server.exited)}):\n${server.log}`), { server });
    try {
      const r = await fetch(server.url + '/healthz');
      if (r.status === 200) break;
    } catch {}
    if (Date.now() > deadline) throw new Error(`server did not start:\n${server.log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  /** Stops the server and asserts it exited cleanly with no sanitizer report. */
  server.stop = async (signal = 'SIGTERM') => {
    if (!server.exited) proc.kill(signal);
    const ex = await server.exitPromise;
    assert.doesNotMatch(server.log, sanitizerError, `sanitizer report:\n${server.log}`);
    return ex;
  };
  server.assertClean = () => assert.doesNotMatch(server.log, sanitizerError, `sanitizer report:\n${server.log}`);
  return server;
}

const internals = /\.c:\d|\/src\/|SQLSTATE|ERROR:|libpq|jansson|libjwt|argon2|h2o|postgres|pg_|stack trace|relation "|syntax error/i;

export class Client {
  constructor(url, pk) {
    this.url = url;
    this.pk = pk;
  }

  /** One request; the response is checked against the contract unless raw is set. */
  async request(method, path, { json, body, headers = {}, token, pk = this.pk, raw = false } = {}) {
    const h = { ...headers };
    if (pk) h['x-publishable-api-key'] = pk;
    if (token) h.authorization = `Bearer ${token}`;
    let payload = body;
    if (json !== undefined) {
      payload = JSON.stringify(json);
      if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
    }
    const res = await fetch(this.url + path, { method, headers: h, body: payload });
    const text = await res.text();
    const ctype = res.headers.get('content-type') ?? '';
    let data = null;
    if (text && ctype.includes('json')) data = JSON.parse(text);
    const r = { status: res.status, headers: res.headers, body: data, text };
    if (!raw) validateResponse(method, path, r);
    if (!raw && res.status >= 400) {
      assert.match(ctype, /^application\/problem\+json/, `error without problem+json: ${res.status} ${text}`);
      assert.equal(data.status, res.status, 'problem status equals the HTTP status');
      // instance echoes the path the client sent (random ids may spell "H2o" or "pg_"); the rest is ours
      assert.doesNotMatch(JSON.stringify({ ...data, instance: undefined }), internals, `internal details leaked: ${text}`);
      assert.ok(data.request_id && data.request_id === res.headers.get('x-request-id'), 'request id in body and header');
    }
    return r;
  }
  get(path, o) { return this.request('GET', path, o); }
  post(path, json, o = {}) { return this.request('POST', path, { json, ...o }); }
  patch(path, json, o = {}) { return this.request('PATCH', path, { json, ...o }); }
  del(path, o) { return this.request('DELETE', path, o); }
}

/** A fresh database + seeded store + running server + client. Call stop() in after(). */
export async function startStack({ env = {} } = {}) {
  const dbName = await createDatabase();
  const seeded = seed(dbName);
  const server = await startServer({ dbName, env });
  const client = new Client(server.url, seeded.pk);
  const stack = {
    ...seeded,
    dbName,
    server,
    client,
    url: server.url,
    sql: (text, params) => sql(text, params, dbName),
    async stop() {
      await server.stop();
      assert.equal(server.exited.code, 0, `server exit: ${JSON.stringify(server.exited)}\n${server.log}`);
    },
  };
  return stack;
}

let counter = 0;
export const uniqueEmail = (tag = 'c') => `${tag}-${process.pid}-${++counter}-${crypto.randomBytes(3).toString('hex')}@example.com`;

/** Registers a customer and logs in; returns { customer, email, password, tokens }. */
export async function newCustomer(client, extra = {}) {
  const email = uniqueEmail();
  const password = 'correct horse 42';
  const reg = await client.post('/v1/store/customers', { email, password, ...extra });
  assert.equal(reg.status, 201, reg.text);
  const login = await client.post('/v1/store/auth/token', { email, password });
  assert.equal(login.status, 200, login.text);
  return { customer: reg.body, email, password, tokens: login.body, token: login.body.access_token };
}

/** Logs a staff user in; returns the token response. */
export async function staffLogin(client, email = OWNER.email, password = OWNER.password) {
  const r = await client.post('/v1/admin/auth/token', { email, password }, { pk: null });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

/** Creates a staff user with a role (as the owner) and logs in; returns { user, token }. */
export async function newStaff(client, ownerToken, role) {
  const email = uniqueEmail(role);
  const password = 'staff-password-9';
  const r = await client.post('/v1/admin/users', { email, password, role }, { token: ownerToken, pk: null });
  assert.equal(r.status, 201, r.text);
  const t = await staffLogin(client, email, password);
  return { user: r.body, token: t.access_token, refresh: t.refresh_token, email, password };
}

/** Base64url JWT pieces, for hand-made tokens in attack tests. */
export function signHS256(header, payload, secret = JWT_SECRET) {
  const enc = (o) => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)).toString('base64url');
  const data = `${enc(header)}.${enc(payload)}`;
  const sig = crypto.createHmac('sha256', secret).update(data).digest('base64url');
  return `${data}.${sig}`;
}

const PREFIXES = {
  users: 'usr', 'api-keys': 'key', customers: 'cus', addresses: 'addr', 'sales-channels': 'sc', regions: 'reg',
  'stock-locations': 'sloc', locations: 'sloc', 'customer-groups': 'cgrp', categories: 'pcat', collections: 'pcol',
  'price-lists': 'plist', products: 'prod', variants: 'var', 'inventory-items': 'iitem', 'line-items': 'cali',
  orders: 'order', charges: 'ch', fulfillments: 'ful', returns: 'ret', 'draft-orders': 'draft',
  'tax-rates': 'txr', 'shipping-options': 'so',
  promotions: 'promo', 'gift-cards': 'gcard', webhooks: 'whk', events: 'evt', rules: 'arule',
  'price-changes': 'pchg', 'price-schedules': 'psch', 'pricing-rules': 'prule',
  suppliers: 'sup', 'reorder-rules': 'rrule', 'purchase-orders': 'po',
  'loyalty-tiers': 'ltier', segments: 'seg',
  shipments: 'shp',
};

/** A route template with every {param} replaced by a well-formed id that does not exist ({locale} by de). */
export function concretePath(template) {
  const parts = template.split('/');
  return parts
    .map((p, i) =>
      p === '{locale}' ? 'de'
      : p.startsWith('{') && parts[i - 1] === 'carts' ? `cart_01${'z'.repeat(41)}` // cart ids: 43 base64url characters
      : p.startsWith('{') ? `${PREFIXES[parts[i - 1]] ?? 'x'}_01zzzzzzzzzzzzzzzzzzzzzzzz` : p)
    .join('/');
}
