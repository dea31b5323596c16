// admin.test.mjs: staff login and sessions, staff users and their role rules, API keys, the customer
// directory, and the authorization matrix generated from the router table.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, newCustomer, newStaff, staffLogin, souq, uniqueEmail, OWNER, concretePath } from './lib/harness.mjs';

let s, owner;
before(async () => {
  s = await startStack();
  owner = await staffLogin(s.client);
});
after(async () => s && (await s.stop()));

const type = (slug) => `https://docs.souq.dev/problems/${slug}`;
const admin = (method, path, o = {}) => s.client.request(method, path, { pk: null, ...o });

// The expected permissions, written down independently of core/auth.c: a change there must change this.
const ROLES = ['owner', 'admin', 'catalog_manager', 'order_manager', 'support', 'read_only'];
const EXPECTED = {
  'plugins:read': ['owner', 'admin'],
  'plugins:write': ['owner', 'admin'],
  'staff:read': ['owner', 'admin'],
  'staff:write': ['owner', 'admin'],
  'api_keys:read': ['owner', 'admin'],
  'api_keys:write': ['owner', 'admin'],
  'customers:read': ['owner', 'admin', 'order_manager', 'support', 'read_only'],
  'customers:write': ['owner', 'admin', 'support'],
  'sales_channels:read': ROLES,
  'sales_channels:write': ['owner', 'admin'],
  'settings:read': ROLES,
  'settings:write': ['owner', 'admin'],
  'inventory:read': ROLES,
  'inventory:write': ['owner', 'admin', 'catalog_manager', 'order_manager'],
  'catalog:read': ROLES,
  'catalog:write': ['owner', 'admin', 'catalog_manager'],
  'orders:read': ['owner', 'admin', 'order_manager', 'support', 'read_only'],
  'orders:write': ['owner', 'admin', 'order_manager'],
  'promotions:read': ROLES,
  'promotions:write': ['owner', 'admin', 'catalog_manager'],
  'webhooks:read': ['owner', 'admin'],
  'webhooks:write': ['owner', 'admin'],
  'events:read': ['owner', 'admin'],
  'automation:read': ['owner', 'admin'],
  'automation:write': ['owner', 'admin'],
};

test('staff login, me, refresh and logout (which ends the access token at once)', async () => {
  const t = await staffLogin(s.client);
  let r = await admin('GET', '/v1/admin/users/me', { token: t.access_token });
  assert.equal(r.status, 200);
  assert.equal(r.body.email, OWNER.email);
  assert.equal(r.body.role, 'owner');
  r = await admin('POST', '/v1/admin/auth/refresh', { json: { refresh_token: t.refresh_token } });
  assert.equal(r.status, 200);
  const t2 = r.body;
  r = await admin('POST', '/v1/admin/auth/logout', { json: { refresh_token: t2.refresh_token } });
  assert.equal(r.status, 204);
  r = await admin('GET', '/v1/admin/users/me', { token: t2.access_token });
  assert.equal(r.status, 401, 'staff sessions are checked on every request');
  r = await admin('POST', '/v1/admin/auth/token', { json: { email: OWNER.email, password: 'wrong' } });
  assert.equal(r.status, 401);
  assert.equal(r.body.type, type('invalid-credentials'));
});

test('admin routes need credentials; customer tokens are forbidden; publishable keys are not credentials', async () => {
  let r = await admin('GET', '/v1/admin/users');
  assert.equal(r.status, 401);
  const c = await newCustomer(s.client);
  r = await admin('GET', '/v1/admin/users/me', { token: c.token });
  assert.equal(r.status, 403);
  r = await admin('GET', '/v1/admin/customers', { token: s.pk });
  assert.equal(r.status, 401);
  r = await admin('GET', '/v1/admin/customers', { headers: { authorization: 'Basic b3duZXI6eA==' } });
  assert.equal(r.status, 401);
});

test('staff users: create, read, list, update; emails unique; passwords hashed', async () => {
  const email = uniqueEmail('staff');
  let r = await admin('POST', '/v1/admin/users', { token: owner.access_token, json: { email, password: 'a-good-password', role: 'support', first_name: 'Sam' } });
  assert.equal(r.status, 201);
  assert.equal(r.body.role, 'support');
  assert.equal(r.body.disabled, false);
  const id = r.body.id;
  r = await admin('POST', '/v1/admin/users', { token: owner.access_token, json: { email: email.toUpperCase(), password: 'a-good-password', role: 'support' } });
  assert.equal(r.status, 409);
  r = await admin('GET', `/v1/admin/users/${id}`, { token: owner.access_token });
  assert.equal(r.body.first_name, 'Sam');
  r = await admin('PATCH', `/v1/admin/users/${id}`, { token: owner.access_token, json: { role: 'order_manager', last_name: 'Smith' } });
  assert.equal(r.status, 200);
  assert.equal(r.body.role, 'order_manager');
  r = await admin('GET', '/v1/admin/users?limit=1', { token: owner.access_token });
  assert.equal(r.body.data.length, 1);
  assert.equal(r.body.has_more, true);
  r = await admin('POST', '/v1/admin/users', { token: owner.access_token, json: { email: uniqueEmail(), password: 'a-good-password', role: 'superuser' } });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/role');
  r = await admin('GET', '/v1/admin/users/usr_01zzzzzzzzzzzzzzzzzzzzzzzz', { token: owner.access_token });
  assert.equal(r.status, 404);
  const [row] = await s.sql('SELECT password_hash FROM staff_users WHERE id = $1', [id]);
  assert.match(row.password_hash, /^\$argon2id\$/);
});

test('role rules: admins cannot grant or touch owner; nobody changes their own role or status', async () => {
  const adm = await newStaff(s.client, owner.access_token, 'admin');
  let r = await admin('POST', '/v1/admin/users', { token: adm.token, json: { email: uniqueEmail(), password: 'a-good-password', role: 'owner' } });
  assert.equal(r.status, 403);
  r = await admin('POST', '/v1/admin/users', { token: adm.token, json: { email: uniqueEmail(), password: 'a-good-password', role: 'support' } });
  assert.equal(r.status, 201);
  const [own] = await s.sql("SELECT id FROM staff_users WHERE email = $1", [OWNER.email]);
  r = await admin('PATCH', `/v1/admin/users/${own.id}`, { token: adm.token, json: { disabled: true } });
  assert.equal(r.status, 403);
  r = await admin('PATCH', `/v1/admin/users/${adm.user.id}`, { token: adm.token, json: { role: 'owner' } });
  assert.equal(r.status, 409, 'nobody changes their own role');
  const sup = await newStaff(s.client, owner.access_token, 'support');
  r = await admin('PATCH', `/v1/admin/users/${sup.user.id}`, { token: adm.token, json: { role: 'owner' } });
  assert.equal(r.status, 403, 'admins cannot grant owner');
  r = await admin('PATCH', `/v1/admin/users/${adm.user.id}`, { token: adm.token, json: { first_name: 'Me' } });
  assert.equal(r.status, 200, 'names are fine');
  r = await admin('PATCH', `/v1/admin/users/${own.id}`, { token: owner.access_token, json: { role: 'admin' } });
  assert.equal(r.status, 409, 'the owner cannot demote themself');
});

test('disabling a user ends their sessions immediately', async () => {
  const u = await newStaff(s.client, owner.access_token, 'support');
  let r = await admin('GET', '/v1/admin/users/me', { token: u.token });
  assert.equal(r.status, 200);
  r = await admin('PATCH', `/v1/admin/users/${u.user.id}`, { token: owner.access_token, json: { disabled: true } });
  assert.equal(r.status, 200);
  assert.equal(r.body.disabled, true);
  r = await admin('GET', '/v1/admin/users/me', { token: u.token });
  assert.equal(r.status, 401);
  r = await admin('POST', '/v1/admin/auth/refresh', { json: { refresh_token: u.refresh } });
  assert.equal(r.status, 401);
  r = await admin('POST', '/v1/admin/auth/token', { json: { email: u.email, password: u.password } });
  assert.equal(r.status, 401, 'a disabled user cannot log in, and cannot tell why');
});

test('two owners demoting each other at once: exactly one wins, an owner always remains', async () => {
  const t = await startStack();
  try {
    const o1 = await staffLogin(t.client);
    const o2 = await newStaff(t.client, o1.access_token, 'owner');
    const [me] = await t.sql('SELECT id FROM staff_users WHERE email = $1', [OWNER.email]);
    const [r1, r2] = await Promise.all([
      t.client.request('PATCH', `/v1/admin/users/${o2.user.id}`, { pk: null, token: o1.access_token, json: { role: 'admin' } }),
      t.client.request('PATCH', `/v1/admin/users/${me.id}`, { pk: null, token: o2.token, json: { role: 'admin' } }),
    ]);
    const codes = [r1.status, r2.status].sort();
    assert.equal(codes[0], 200, JSON.stringify([r1.body, r2.body]));
    assert.ok([403, 409].includes(codes[1]), `loser got ${codes[1]}`);
    const [n] = await t.sql("SELECT count(*)::int AS n FROM staff_users WHERE role = 'owner' AND disabled_at IS NULL");
    assert.equal(n.n, 1);
  } finally {
    await t.stop();
  }
});

test('API keys: publishable keys are shown; secret keys only once, stored as a hash', async () => {
  let r = await admin('POST', '/v1/admin/api-keys', { token: owner.access_token, json: { type: 'publishable', title: 'Mobile app' } });
  assert.equal(r.status, 201);
  assert.match(r.body.token, /^pk_/);
  assert.equal(r.body.sales_channel_id, s.channel, 'the default channel');
  assert.equal(r.headers.get('cache-control'), 'no-store');
  const pk = r.body;
  r = await admin('GET', `/v1/admin/api-keys/${pk.id}`, { token: owner.access_token });
  assert.equal(r.body.token, pk.token);
  r = await admin('POST', '/v1/admin/api-keys', { token: owner.access_token, json: { type: 'secret', title: 'ERP', scopes: ['customers:read'] } });
  assert.equal(r.status, 201);
  const sk = r.body;
  assert.match(sk.token, /^sk_[A-Za-z0-9_-]{43}$/);
  assert.equal(sk.redacted, `sk_...${sk.token.slice(-4)}`);
  assert.deepEqual(sk.scopes, ['customers:read']);
  r = await admin('GET', `/v1/admin/api-keys/${sk.id}`, { token: owner.access_token });
  assert.equal(r.body.token, null, 'never shown again');
  const rows = await s.sql('SELECT * FROM api_keys WHERE id = $1', [sk.id]);
  assert.ok(!JSON.stringify(rows).includes(sk.token.slice(3)), 'the secret is not stored');
  r = await admin('GET', '/v1/admin/api-keys?type=secret', { token: owner.access_token });
  assert.ok(r.body.data.every((k) => k.type === 'secret' && k.token === null));
  r = await admin('GET', '/v1/admin/api-keys?type=other', { token: owner.access_token });
  assert.equal(r.status, 400);
});

test('API key validation', async () => {
  const cases = [
    [{ type: 'secret', title: 'x' }, '/scopes'],
    [{ type: 'secret', title: 'x', scopes: ['root'] }, '/scopes/0'],
    [{ type: 'secret', title: 'x', scopes: ['customers:read'], sales_channel_id: s.channel }, '/sales_channel_id'],
    [{ type: 'publishable', title: 'x', scopes: ['customers:read'] }, '/scopes'],
    [{ type: 'publishable', title: 'x', sales_channel_id: 'sc_01zzzzzzzzzzzzzzzzzzzzzzzz' }, '/sales_channel_id'],
    [{ type: 'magic', title: 'x' }, '/type'],
    [{ type: 'secret', title: '', scopes: ['customers:read'] }, '/title'],
  ];
  for (const [json, pointer] of cases) {
    const r = await admin('POST', '/v1/admin/api-keys', { token: owner.access_token, json });
    assert.equal(r.status, 422, JSON.stringify(json));
    assert.ok(r.body.errors.some((e) => e.pointer === pointer), `${JSON.stringify(json)}: ${JSON.stringify(r.body.errors)}`);
  }
});

test('secret keys act within their scopes, record their use, and stop when revoked', async () => {
  const r0 = await admin('POST', '/v1/admin/api-keys', { token: owner.access_token, json: { type: 'secret', title: 'CRM', scopes: ['customers:read'] } });
  const key = r0.body;
  let r = await admin('GET', '/v1/admin/customers', { token: key.token });
  assert.equal(r.status, 200);
  r = await admin('GET', '/v1/admin/users', { token: key.token });
  assert.equal(r.status, 403);
  assert.match(r.body.detail, /staff:read/);
  r = await admin('POST', '/v1/admin/api-keys', { token: key.token, json: { type: 'secret', title: 'x', scopes: ['customers:read'] } });
  assert.equal(r.status, 403, 'a key cannot mint keys without api_keys:write');
  r = await admin('GET', '/v1/admin/users/me', { token: key.token });
  assert.equal(r.status, 403);
  r = await admin('GET', `/v1/admin/api-keys/${key.id}`, { token: owner.access_token });
  assert.ok(r.body.last_used_at, 'last use is recorded');
  r = await admin('POST', `/v1/admin/api-keys/${key.id}/revoke`, { token: owner.access_token });
  assert.equal(r.status, 200);
  assert.ok(r.body.revoked_at);
  r = await admin('GET', '/v1/admin/customers', { token: key.token });
  assert.equal(r.status, 401);
  r = await admin('GET', '/v1/admin/customers', { token: 'sk_' + 'A'.repeat(43) });
  assert.equal(r.status, 401);
});

test('a revoked publishable key stops working on every thread at once (cache invalidated)', async () => {
  const r0 = await admin('POST', '/v1/admin/api-keys', { token: owner.access_token, json: { type: 'publishable', title: 'Kiosk' } });
  const pk = r0.body.token;
  for (let i = 0; i < 8; i++) {
    const r = await s.client.post('/v1/store/auth/password-reset', { email: uniqueEmail() }, { pk });
    assert.equal(r.status, 202, 'warm every thread cache');
  }
  await admin('POST', `/v1/admin/api-keys/${r0.body.id}/revoke`, { token: owner.access_token });
  let ok = 0;
  const deadline = Date.now() + 3000;
  let last;
  do {
    last = await s.client.post('/v1/store/auth/password-reset', { email: uniqueEmail() }, { pk });
    if (last.status === 401) ok++;
    else ok = 0;
  } while (ok < 8 && Date.now() < deadline);
  assert.equal(last.status, 401);
  assert.ok(ok >= 8, 'refused consistently after revocation');
});

test('customer directory: list with q prefix filter and get by id', async () => {
  const c = await newCustomer(s.client, { first_name: 'Dora' });
  let r = await admin('GET', `/v1/admin/customers?q=${encodeURIComponent(c.email.slice(0, 12))}`, { token: owner.access_token });
  assert.equal(r.status, 200);
  assert.ok(r.body.data.some((x) => x.id === c.customer.id));
  assert.ok(r.body.data.every((x) => x.email.startsWith(c.email.slice(0, 12))));
  r = await admin('GET', `/v1/admin/customers/${c.customer.id}`, { token: owner.access_token });
  assert.equal(r.body.first_name, 'Dora');
  r = await admin('GET', '/v1/admin/customers/cus_01zzzzzzzzzzzzzzzzzzzzzzzz', { token: owner.access_token });
  assert.equal(r.status, 404);
  r = await admin('GET', '/v1/admin/customers?q=', { token: owner.access_token });
  assert.equal(r.status, 400);
  r = await admin('GET', "/v1/admin/customers?q=%27%20OR%201%3D1%20--", { token: owner.access_token });
  assert.equal(r.status, 200);
  assert.equal(r.body.data.length, 0, 'search text is a value, never SQL');
});

test('authorization matrix: every admin route x every role matches the permission table', async () => {
  const routes = JSON.parse(souq(['routes']).stdout).filter((x) => x.auth === 'admin');
  const tokens = {};
  for (const role of ROLES) tokens[role] = role === 'owner' ? owner.access_token : (await newStaff(s.client, owner.access_token, role)).token;
  const c = await newCustomer(s.client);
  let checked = 0;
  for (const route of routes) {
    const path = concretePath(route.path);
    const json = route.method === 'GET' || route.method === 'DELETE' ? undefined : {};
    for (const role of ROLES) {
      if (route.permission && !(route.permission in EXPECTED)) assert.fail(`permission ${route.permission} of ${route.method} ${route.path} is not in the test's table`);
      const allowed = route.permission === null || EXPECTED[route.permission].includes(role);
      const r = await admin(route.method, path, { token: tokens[role], json });
      if (allowed) assert.notEqual(r.status, 403, `${role} ${route.method} ${route.path}: ${r.text}`);
      else assert.equal(r.status, 403, `${role} ${route.method} ${route.path}`);
      assert.notEqual(r.status, 401);
      checked++;
    }
    const asCustomer = await admin(route.method, path, { token: c.token, json });
    assert.equal(asCustomer.status, 403, `customer ${route.method} ${route.path}`);
    const anonymous = await admin(route.method, path, { json });
    assert.equal(anonymous.status, 401, `anonymous ${route.method} ${route.path}`);
  }
  assert.ok(checked >= routes.length * ROLES.length && routes.length >= 40);
});
