// store_auth.test.mjs: customer registration, login, refresh rotation, logout, password change and the
// password-reset flow, with their negative cases and throttling.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, newCustomer, uniqueEmail } from './lib/harness.mjs';

let s;
before(async () => {
  s = await startStack();
});
after(async () => s && (await s.stop()));

const type = (slug) => `https://docs.souq.dev/problems/${slug}`;

test('register returns the customer; the password is stored only as an argon2id hash', async () => {
  const email = uniqueEmail();
  const r = await s.client.post('/v1/store/customers', { email: email.toUpperCase(), password: 'hunter2hunter2', first_name: 'Ann', metadata: { source: 'ad' } });
  assert.equal(r.status, 201);
  assert.equal(r.body.email, email, 'emails are stored lower-case');
  assert.equal(r.body.first_name, 'Ann');
  assert.deepEqual(r.body.metadata, { source: 'ad' });
  assert.match(r.body.id, /^cus_[0-9a-z]{26}$/);
  assert.ok(!('password' in r.body) && !('password_hash' in r.body));
  const [row] = await s.sql('SELECT password_hash FROM customers WHERE id = $1', [r.body.id]);
  assert.match(row.password_hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  assert.ok(!row.password_hash.includes('hunter2'));
  const [ev] = await s.sql("SELECT payload FROM outbox_events WHERE type = 'customer.created' AND payload->>'id' = $1", [r.body.id]);
  assert.equal(ev.payload.email, email, 'customer.created is in the outbox');
});

test('register refuses a taken email with 409 and the pointer, case-insensitively', async () => {
  const { email } = await newCustomer(s.client);
  const r = await s.client.post('/v1/store/customers', { email: email.toUpperCase(), password: 'another-pass-1' });
  assert.equal(r.status, 409);
  assert.equal(r.body.type, type('already-exists'));
  assert.equal(r.body.errors[0].pointer, '/email');
});

test('register validates every field and reports them all', async () => {
  const r = await s.client.post('/v1/store/customers', { email: 'not-an-email', password: 'short', first_name: 5, phone: 'call me', metadata: { nested: { a: 1 } } });
  assert.equal(r.status, 422);
  assert.equal(r.body.type, type('validation-failed'));
  const pointers = r.body.errors.map((e) => e.pointer).sort();
  assert.deepEqual(pointers, ['/email', '/first_name', '/metadata', '/password', '/phone']);
  const missing = await s.client.post('/v1/store/customers', {});
  assert.equal(missing.status, 422);
  assert.deepEqual(missing.body.errors.map((e) => [e.pointer, e.code]).sort(), [['/email', 'required'], ['/password', 'required']]);
});

test('register refuses server-owned fields (mass assignment) and writes nothing', async () => {
  const email = uniqueEmail();
  for (const extra of [{ has_account: false }, { id: 'cus_01aaaaaaaaaaaaaaaaaaaaaaaa' }, { password_hash: 'x' }, { role: 'admin' }]) {
    const r = await s.client.post('/v1/store/customers', { email, password: 'hunter2hunter2', ...extra });
    assert.equal(r.status, 422);
    assert.equal(r.body.type, type('unknown-field'));
    assert.equal(r.body.errors[0].pointer, '/' + Object.keys(extra)[0]);
  }
  const rows = await s.sql('SELECT count(*)::int AS n FROM customers WHERE lower(email) = $1', [email]);
  assert.equal(rows[0].n, 0);
});

test('register: long names, control characters and metadata limits', async () => {
  const base = { email: uniqueEmail(), password: 'hunter2hunter2' };
  let r = await s.client.post('/v1/store/customers', { ...base, first_name: 'x'.repeat(101) });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].code, 'too_long');
  r = await s.client.post('/v1/store/customers', { ...base, last_name: 'a\u0007b' });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].code, 'invalid_characters');
  const many = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v']));
  r = await s.client.post('/v1/store/customers', { ...base, metadata: many });
  assert.equal(r.status, 422);
  r = await s.client.post('/v1/store/customers', { ...base, first_name: 'Ünïcødé ✓'.repeat(10) });
  assert.equal(r.status, 201, '100 characters in multi-byte UTF-8 are fine');
});

test('the storefront needs a valid publishable key', async () => {
  let r = await s.client.post('/v1/store/customers', { email: uniqueEmail(), password: 'hunter2hunter2' }, { pk: null });
  assert.equal(r.status, 401);
  assert.equal(r.body.type, type('unauthorized'));
  r = await s.client.post('/v1/store/auth/token', { email: 'a@b.co', password: 'x' }, { pk: 'pk_doesnotexist' });
  assert.equal(r.status, 401);
  assert.equal(r.body.type, type('invalid-token'));
  r = await s.client.post('/v1/store/auth/token', { email: 'a@b.co', password: 'x' }, { pk: 'sk_' + 'a'.repeat(43) });
  assert.equal(r.status, 401);
});

test('login returns Bearer tokens; wrong password and unknown email look the same', async () => {
  const c = await newCustomer(s.client);
  assert.equal(c.tokens.token_type, 'Bearer');
  assert.equal(c.tokens.expires_in, 900);
  assert.match(c.tokens.refresh_token, /^rt_/);
  assert.equal(c.tokens.access_token.split('.').length, 3);
  const bad = await s.client.post('/v1/store/auth/token', { email: c.email, password: 'wrong-password' });
  const none = await s.client.post('/v1/store/auth/token', { email: uniqueEmail(), password: 'wrong-password' });
  assert.equal(bad.status, 401);
  assert.equal(none.status, 401);
  assert.equal(bad.body.type, type('invalid-credentials'));
  assert.equal(bad.body.detail, none.body.detail);
  assert.equal(bad.headers.get('cache-control'), 'no-store');
  const me = await s.client.get('/v1/store/customers/me', { token: c.token });
  assert.equal(me.status, 200);
  assert.equal(me.body.id, c.customer.id);
  const [hash] = await s.sql('SELECT count(*)::int AS n FROM refresh_tokens WHERE token_hash = encode(sha256($1::bytea), \'hex\')', [c.tokens.refresh_token]);
  assert.equal(hash.n, 1, 'refresh tokens are stored as SHA-256 only');
});

test('the sixth failed login for an account within a minute is 429 with Retry-After', async () => {
  const c = await newCustomer(s.client);
  for (let i = 0; i < 5; i++) {
    const r = await s.client.post('/v1/store/auth/token', { email: c.email, password: 'wrong-' + i });
    assert.equal(r.status, 401);
  }
  const r = await s.client.post('/v1/store/auth/token', { email: c.email, password: c.password });
  assert.equal(r.status, 429, 'even the right password waits');
  assert.equal(r.body.type, type('rate-limited'));
  const ra = Number(r.headers.get('retry-after'));
  assert.ok(ra >= 1 && ra <= 60, `Retry-After ${ra}`);
  // another account is not affected
  const other = await newCustomer(s.client);
  assert.equal(other.tokens.token_type, 'Bearer');
});

test('failed logins are also throttled per client address', async () => {
  const t = await startStack({ env: { SOUQ_LOGIN_RATE_IP: '3' } });
  try {
    for (let i = 0; i < 3; i++) {
      const r = await t.client.post('/v1/store/auth/token', { email: uniqueEmail(), password: 'nope-nope' });
      assert.equal(r.status, 401);
    }
    const r = await t.client.post('/v1/store/auth/token', { email: uniqueEmail(), password: 'nope-nope' });
    assert.equal(r.status, 429);
    assert.ok(Number(r.headers.get('retry-after')) > 0);
  } finally {
    await t.stop();
  }
});

test('refresh rotates the token; reusing a rotated token revokes the whole session', async () => {
  const c = await newCustomer(s.client);
  const r1 = await s.client.post('/v1/store/auth/refresh', { refresh_token: c.tokens.refresh_token });
  assert.equal(r1.status, 200);
  assert.notEqual(r1.body.refresh_token, c.tokens.refresh_token);
  const me = await s.client.get('/v1/store/customers/me', { token: r1.body.access_token });
  assert.equal(me.status, 200);
  const reuse = await s.client.post('/v1/store/auth/refresh', { refresh_token: c.tokens.refresh_token });
  assert.equal(reuse.status, 401);
  assert.equal(reuse.body.type, type('invalid-token'));
  const after = await s.client.post('/v1/store/auth/refresh', { refresh_token: r1.body.refresh_token });
  assert.equal(after.status, 401, 'the leaked family is dead');
  const [sess] = await s.sql("SELECT revoke_reason FROM auth_sessions WHERE subject_id = $1", [c.customer.id]);
  assert.equal(sess.revoke_reason, 'refresh_token_reuse');
});

test('refresh refuses garbage, unknown tokens and staff tokens', async () => {
  for (const refresh_token of ['rt_nope', 'x'.repeat(128)]) {
    const r = await s.client.post('/v1/store/auth/refresh', { refresh_token });
    assert.equal(r.status, 401);
  }
  const r = await s.client.post('/v1/store/auth/refresh', { refresh_token: 'x'.repeat(129) });
  assert.equal(r.status, 422);
  const staff = await s.client.post('/v1/admin/auth/token', { email: 'owner@test.local', password: 'owner-password-1' }, { pk: null });
  const cross = await s.client.post('/v1/store/auth/refresh', { refresh_token: staff.body.refresh_token });
  assert.equal(cross.status, 401, 'a staff refresh token is not a customer refresh token');
});

test('logout revokes the refresh token; unknown tokens are accepted silently', async () => {
  const c = await newCustomer(s.client);
  let r = await s.client.post('/v1/store/auth/logout', { refresh_token: c.tokens.refresh_token });
  assert.equal(r.status, 204);
  r = await s.client.post('/v1/store/auth/refresh', { refresh_token: c.tokens.refresh_token });
  assert.equal(r.status, 401);
  r = await s.client.post('/v1/store/auth/logout', { refresh_token: 'rt_unknown' });
  assert.equal(r.status, 204);
  r = await s.client.post('/v1/store/auth/logout', {});
  assert.equal(r.status, 422);
});

test('password change checks the current password and ends the other sessions', async () => {
  const c = await newCustomer(s.client);
  const second = await s.client.post('/v1/store/auth/token', { email: c.email, password: c.password });
  let r = await s.client.post('/v1/store/customers/me/password', { current_password: 'wrong-one', new_password: 'new-password-1' }, { token: c.token });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/current_password');
  r = await s.client.post('/v1/store/customers/me/password', { current_password: c.password, new_password: 'short' }, { token: c.token });
  assert.equal(r.status, 422);
  r = await s.client.post('/v1/store/customers/me/password', { current_password: c.password, new_password: 'new-password-1' }, { token: c.token });
  assert.equal(r.status, 204);
  r = await s.client.post('/v1/store/auth/refresh', { refresh_token: second.body.refresh_token });
  assert.equal(r.status, 401, 'the other session ended');
  r = await s.client.post('/v1/store/auth/refresh', { refresh_token: c.tokens.refresh_token });
  assert.equal(r.status, 200, 'the session that changed the password lives on');
  r = await s.client.post('/v1/store/auth/token', { email: c.email, password: 'new-password-1' });
  assert.equal(r.status, 200);
  r = await s.client.post('/v1/store/customers/me/password', { current_password: c.password, new_password: 'x-password-2' });
  assert.equal(r.status, 401, 'needs a customer token');
});

test('password reset: 202 for any email, token by event, single use, sessions ended', async () => {
  const c = await newCustomer(s.client);
  let r = await s.client.post('/v1/store/auth/password-reset', { email: uniqueEmail() });
  assert.equal(r.status, 202, 'unknown emails are not revealed');
  r = await s.client.post('/v1/store/auth/password-reset', { email: c.email });
  assert.equal(r.status, 202);
  const [ev] = await s.sql("SELECT payload FROM outbox_events WHERE type = 'customer.password_reset_requested' AND payload->>'email' = $1", [c.email]);
  assert.match(ev.payload.token, /^prt_/);
  const [stored] = await s.sql('SELECT count(*)::int AS n FROM password_reset_tokens WHERE token_hash = $1', [ev.payload.token]);
  assert.equal(stored.n, 0, 'the token is stored hashed');
  r = await s.client.post('/v1/store/auth/password-reset/confirm', { token: 'prt_wrong', password: 'brand-new-pass' });
  assert.equal(r.status, 422);
  assert.equal(r.body.errors[0].pointer, '/token');
  r = await s.client.post('/v1/store/auth/password-reset/confirm', { token: ev.payload.token, password: 'brand-new-pass' });
  assert.equal(r.status, 204);
  r = await s.client.post('/v1/store/auth/password-reset/confirm', { token: ev.payload.token, password: 'other-new-pass' });
  assert.equal(r.status, 422, 'single use');
  r = await s.client.post('/v1/store/auth/refresh', { refresh_token: c.tokens.refresh_token });
  assert.equal(r.status, 401, 'existing sessions ended');
  r = await s.client.post('/v1/store/auth/token', { email: c.email, password: 'brand-new-pass' });
  assert.equal(r.status, 200);
});

test('password reset requests are throttled per account (3 per hour)', async () => {
  const c = await newCustomer(s.client);
  for (let i = 0; i < 3; i++) assert.equal((await s.client.post('/v1/store/auth/password-reset', { email: c.email })).status, 202);
  const r = await s.client.post('/v1/store/auth/password-reset', { email: c.email });
  assert.equal(r.status, 429);
  assert.ok(Number(r.headers.get('retry-after')) > 60);
  const [n] = await s.sql("SELECT count(*)::int AS n FROM password_reset_tokens WHERE customer_id = $1", [c.customer.id]);
  assert.equal(n.n, 3, 'the refused request created nothing');
});

test('malformed JSON bodies on auth endpoints are 400 and change nothing', async () => {
  const before = await s.sql('SELECT count(*)::int AS n FROM customers');
  for (const body of ['{', '{"email":"a@b.co",}', '{"email":"a@b.co","email":"c@d.co","password":"password-1"}', '[1,2]', '"str"', '{"email":"a@b.co"} trailing', '\u0000']) {
    const r = await s.client.request('POST', '/v1/store/customers', { body, headers: { 'content-type': 'application/json' } });
    assert.ok([400, 422].includes(r.status), `${JSON.stringify(body)} -> ${r.status}`);
  }
  const after = await s.sql('SELECT count(*)::int AS n FROM customers');
  assert.equal(after[0].n, before[0].n);
});
