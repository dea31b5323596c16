// jwt.test.mjs: every JWT attack of the reliability notes (A2) through the running server, RS256 and
// ES256 key files, algorithm confusion, and key rotation with kid.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startStack, startServer, newCustomer, signHS256, JWT_SECRET, Client, createDatabase, seed } from './lib/harness.mjs';

let s, c, claims;
before(async () => {
  s = await startStack();
  c = await newCustomer(s.client);
  claims = JSON.parse(Buffer.from(c.token.split('.')[1], 'base64url').toString());
});
after(async () => s && (await s.stop()));

const now = () => Math.floor(Date.now() / 1000);
const me = (token) => s.client.get('/v1/store/customers/me', { token });
const good = () => ({ ...claims, iat: now(), nbf: now(), exp: now() + 300 });
const H = { alg: 'HS256', typ: 'JWT', kid: 'k1' };

test('the minted token carries the pinned header and the required claims', () => {
  const header = JSON.parse(Buffer.from(c.token.split('.')[0], 'base64url').toString());
  assert.equal(header.alg, 'HS256');
  assert.equal(header.kid, 'k1');
  for (const k of ['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'sid', 'jti', 'token_use']) assert.ok(k in claims, k);
  assert.equal(claims.aud, 'souq:store');
  assert.equal(claims.exp - claims.iat, 900);
});

test('a hand-made token with the right secret and claims is accepted (the attack tests below can fail)', async () => {
  const r = await me(signHS256(H, good()));
  assert.equal(r.status, 200);
});

test('alg none, alg case games, HS512 and a missing signature are refused', async () => {
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const tokens = [
    `${enc({ alg: 'none', typ: 'JWT' })}.${enc(good())}.`,
    `${enc({ alg: 'NoNe', typ: 'JWT' })}.${enc(good())}.`,
    `${enc({ alg: 'none' })}.${enc(good())}`,
    signHS256({ alg: 'hs256', kid: 'k1' }, good()),
  ];
  const data = `${enc({ alg: 'HS512', kid: 'k1' })}.${enc(good())}`;
  tokens.push(`${data}.${crypto.createHmac('sha512', JWT_SECRET).update(data).digest('base64url')}`);
  for (const t of tokens) {
    const r = await me(t);
    assert.equal(r.status, 401, t);
    assert.equal(r.body.type, 'https://docs.souq.dev/problems/invalid-token');
  }
});

test('tampering, a wrong secret and a wrong issuer are refused', async () => {
  const [h, p, sig] = signHS256(H, good()).split('.');
  const other = Buffer.from(JSON.stringify({ ...good(), sub: 'cus_01zzzzzzzzzzzzzzzzzzzzzzzz' })).toString('base64url');
  const flipped = sig.slice(0, -2) + (sig.at(-2) === 'A' ? 'B' : 'A') + sig.at(-1);
  for (const t of [`${h}.${other}.${sig}`, `${h}.${p}.${flipped}`, signHS256(H, good(), 'x'.repeat(40)), signHS256(H, { ...good(), iss: 'evil' })]) {
    assert.equal((await me(t)).status, 401, t);
  }
});

test('exp is required and checked with 60 s of leeway; nbf and iat too', async () => {
  const { exp, ...noExp } = good();
  assert.ok(exp);
  assert.equal((await me(signHS256(H, noExp))).status, 401, 'no exp');
  assert.equal((await me(signHS256(H, { ...good(), exp: now() - 120 }))).status, 401, 'expired');
  assert.equal((await me(signHS256(H, { ...good(), exp: now() - 10 }))).status, 200, 'within leeway');
  assert.equal((await me(signHS256(H, { ...good(), exp: String(now() + 300) }))).status, 401, 'exp as a string');
  assert.equal((await me(signHS256(H, { ...good(), exp: now() + 300.5 }))).status, 401, 'exp as a float');
  assert.equal((await me(signHS256(H, { ...good(), nbf: now() + 600 }))).status, 401, 'not yet valid');
  assert.equal((await me(signHS256(H, { ...good(), iat: now() + 600 }))).status, 401, 'issued in the future');
});

test('audience, token type, subject and session claims are checked', async () => {
  assert.equal((await me(signHS256(H, { ...good(), aud: 'someone-else' }))).status, 401);
  assert.equal((await me(signHS256(H, { ...good(), aud: ['souq:store', 'x'] }))).status, 401);
  assert.equal((await me(signHS256(H, { ...good(), token_use: 'refresh' }))).status, 401);
  const { sub, ...noSub } = good();
  assert.ok(sub);
  assert.equal((await me(signHS256(H, noSub))).status, 401);
  const { sid, ...noSid } = good();
  assert.ok(sid);
  assert.equal((await me(signHS256(H, noSid))).status, 401);
  const r = await s.client.get('/v1/admin/users/me', { pk: null, token: signHS256(H, good()) });
  assert.equal(r.status, 403, 'a store token at the admin API is forbidden, not anonymous');
  const adminAud = await s.client.get('/v1/admin/users/me', { pk: null, token: signHS256(H, { ...good(), aud: 'souq:admin' }) });
  assert.equal(adminAud.status, 401, 'a forged staff token finds no staff session');
});

test('kid is only a lookup key; jku/x5u/jwk/crit headers are refused', async () => {
  for (const h of [{ ...H, kid: '../../etc/passwd' }, { ...H, kid: "k1' OR '1'='1" }, { ...H, kid: 5 }, { ...H, jku: 'https://evil/jwks' }, { ...H, x5u: 'https://evil/x' }, { ...H, jwk: { kty: 'oct' } }, { ...H, crit: ['exp'] }, { ...H, typ: 'refresh+jwt' }]) {
    assert.equal((await me(signHS256(h, good()))).status, 401, JSON.stringify(h));
  }
  const { kid, ...noKid } = H;
  assert.ok(kid);
  assert.equal((await me(signHS256(noKid, good()))).status, 200, 'no kid means the current key');
});

test('malformed tokens and oversized tokens are refused without harm', async () => {
  const huge = signHS256(H, { ...good(), pad: 'x'.repeat(9000) });
  const cases = ['a', 'a.b', 'a.b.c.d', '..', 'e30.e30.', '!!!.###.$$$', huge, signHS256(H, good()) + '.', `${'{'}.e30.x`];
  for (const t of cases) {
    const r = await s.client.request('GET', '/v1/store/customers/me', { headers: { authorization: `Bearer ${t}` }, raw: t === huge });
    assert.ok([401, 431].includes(r.status), `${t.slice(0, 40)} -> ${r.status}`);
  }
  for (const h of ['Bearer', 'Bearer ', 'bearer x y', 'Token abc', `Bearer ${c.token} extra`]) {
    const r = await s.client.request('GET', '/v1/store/customers/me', { headers: { authorization: h } });
    assert.equal(r.status, 401, h);
  }
  const dup = `${Buffer.from('{"alg":"HS256","alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(good())).toString('base64url')}.x`;
  assert.equal((await me(dup)).status, 401, 'duplicate header keys');
});

function keyPair(kind) {
  const dir = fs.mkdtempSync('/tmp/souq-keys-');
  const { publicKey, privateKey } = kind === 'rsa' ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }) : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pub = path.join(dir, 'pub.pem');
  const priv = path.join(dir, 'priv.pem');
  fs.writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
  fs.writeFileSync(priv, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  return { pub, priv, pubPem: fs.readFileSync(pub, 'utf8'), dir };
}

for (const [alg, kind] of [['RS256', 'rsa'], ['ES256', 'ec']]) {
  test(`${alg}: tokens verify with the public key; HS256 signed with that public key is refused`, async () => {
    const k = keyPair(kind);
    const dbName = await createDatabase();
    const { pk } = seed(dbName);
    const srv = await startServer({ dbName, env: { SOUQ_JWT_ALG: alg, SOUQ_JWT_SECRET: undefined, SOUQ_JWT_PRIVATE_KEY_FILE: k.priv, SOUQ_JWT_PUBLIC_KEY_FILE: k.pub } });
    try {
      const cl = new Client(srv.url, pk);
      const cust = await newCustomer(cl);
      assert.equal(JSON.parse(Buffer.from(cust.token.split('.')[0], 'base64url')).alg, alg);
      assert.equal((await cl.get('/v1/store/customers/me', { token: cust.token })).status, 200);
      const cc = JSON.parse(Buffer.from(cust.token.split('.')[1], 'base64url'));
      const confused = signHS256({ alg: 'HS256', kid: 'k1' }, cc, k.pubPem);
      assert.equal((await cl.get('/v1/store/customers/me', { token: confused })).status, 401, 'algorithm confusion');
      const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${cust.token.split('.')[1]}.`;
      assert.equal((await cl.get('/v1/store/customers/me', { token: none })).status, 401);
    } finally {
      await srv.stop();
      fs.rmSync(k.dir, { recursive: true });
    }
  });
}

test('key rotation: tokens of the previous kid stay valid during the overlap, then are refused', async () => {
  const dbName = await createDatabase();
  const { pk } = seed(dbName);
  const oldSecret = JWT_SECRET;
  const newSecret = 'the-new-rotated-secret-0123456789abcdef';
  const srv1 = await startServer({ dbName });
  const cl1 = new Client(srv1.url, pk);
  const cust = await newCustomer(cl1);
  await srv1.stop();
  const srv2 = await startServer({ dbName, env: { SOUQ_JWT_SECRET: newSecret, SOUQ_JWT_KID: 'k2', SOUQ_JWT_PREVIOUS_KID: 'k1', SOUQ_JWT_PREVIOUS_SECRET: oldSecret } });
  try {
    const cl2 = new Client(srv2.url, pk);
    assert.equal((await cl2.get('/v1/store/customers/me', { token: cust.token })).status, 200, 'k1 token still valid');
    const fresh = await cl2.post('/v1/store/auth/token', { email: cust.email, password: cust.password });
    assert.equal(JSON.parse(Buffer.from(fresh.body.access_token.split('.')[0], 'base64url')).kid, 'k2');
    assert.equal((await cl2.get('/v1/store/customers/me', { token: fresh.body.access_token })).status, 200);
    const forged = signHS256({ alg: 'HS256', kid: 'k2' }, JSON.parse(Buffer.from(cust.token.split('.')[1], 'base64url')), oldSecret);
    assert.equal((await cl2.get('/v1/store/customers/me', { token: forged })).status, 401, 'each kid has its own key');
  } finally {
    await srv2.stop();
  }
  const srv3 = await startServer({ dbName, env: { SOUQ_JWT_SECRET: newSecret, SOUQ_JWT_KID: 'k2' } });
  try {
    const cl3 = new Client(srv3.url, pk);
    assert.equal((await cl3.get('/v1/store/customers/me', { token: cust.token })).status, 401, 'k1 retired');
  } finally {
    await srv3.stop();
  }
});
