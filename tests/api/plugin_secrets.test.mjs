// plugin_secrets.test.mjs: plugin settings marked secret are sealed at rest with AES-256-GCM (plugins/host/secrets.c):
// ciphertext in the database, the plugin sees the value; a sealed value moved to another plugin does not open; a key
// rotation (previous key opens, POST .../reseal-secrets rewrites with the new key, compare-and-set); values stored
// before a key was set are resealed too; without the key the value counts as unset; bad keys stop the server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startStack, startServer, staffLogin, Client, ROOT } from './lib/harness.mjs';

const K1 = crypto.randomBytes(32).toString('hex');
const K2 = crypto.randomBytes(32).toString('hex');
const kid = (k) => crypto.createHash('sha256').update(Buffer.from(k, 'hex')).digest('hex').slice(0, 8);
const TOKEN = `tok-${crypto.randomBytes(8).toString('hex')}`;
const sha = (s) => crypto.createHash('sha256').update(s).digest('hex');
const DIRS = `${ROOT}/tests/plugins-sdk`;
const type = (slug) => `https://docs.souq.dev/problems/${slug}`;

let s, server, client, t;
const A = (method, path, json) => client.request(method, path, { pk: null, token: t, json });
const stored = async (name) => (await s.sql('SELECT config FROM plugin_settings WHERE name = $1', [name]))[0]?.config ?? {};
const digest = async () => {
  const r = await A('POST', '/v1/admin/plugins/sdk-fixture/actions/secret_digest');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.output.same, true, 'the hook argument and souq.config agree');
  return r.body.output.digest;
};
/* restarts the server on the same database with other keys */
async function restart(env) {
  await server.stop();
  server = await startServer({ dbName: s.dbName, env: { SOUQ_PLUGIN_DIRS: DIRS, ...env } });
  client = new Client(server.url, s.pk);
  t = (await staffLogin(client)).access_token;
}

before(async () => {
  s = await startStack({ env: { SOUQ_PLUGIN_DIRS: DIRS, SOUQ_PLUGIN_SECRETS_KEY: K1 } });
  server = s.server;
  client = s.client;
  t = (await staffLogin(client)).access_token;
});
after(async () => {
  if (server) await server.stop();
});

test('a secret setting is stored sealed (AES-256-GCM, key id, never the value) and the plugin sees the value', async () => {
  const r = await A('PATCH', '/v1/admin/plugins/sdk-fixture', { config: { token: TOKEN, label: 'visible' } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.secrets_set, ['token']);
  assert.equal(r.body.config.token, undefined);
  const cfg = await stored('sdk-fixture');
  assert.equal(cfg.label, 'visible', 'other settings stay readable');
  assert.match(cfg.token, new RegExp(`^sq1:${kid(K1)}:[A-Za-z0-9_-]+$`));
  assert.ok(!JSON.stringify(cfg).includes(TOKEN), 'no plaintext in the database');
  assert.equal(await digest(), sha(TOKEN));
  // sealing is randomized: the same value twice gives two ciphertexts
  assert.equal((await A('PATCH', '/v1/admin/plugins/sdk-fixture', { config: { token: TOKEN } })).status, 200);
  assert.notEqual((await stored('sdk-fixture')).token, cfg.token);
  assert.equal(await digest(), sha(TOKEN));
  // a value that looks sealed is refused (it would read back as ciphertext)
  const bad = await A('PATCH', '/v1/admin/plugins/sdk-fixture', { config: { token: 'sq1:deadbeef:abc' } });
  assert.equal(bad.status, 422, bad.text);
  assert.deepEqual(bad.body.errors.map((e) => e.pointer), ['/config/token']);
  assert.ok(!server.log.includes(TOKEN), 'never in the log');
});

test('a sealed value copied to another plugin, or tampered with, does not open (logged, counts as unset)', async () => {
  const sealed = (await stored('sdk-fixture')).token;
  await s.sql("INSERT INTO plugin_settings (name, config) VALUES ('sdk-other', jsonb_build_object('token', $1::text))", [sealed]);
  const flipped = sealed.slice(0, -2) + (sealed.at(-2) === 'A' ? 'B' : 'A') + sealed.at(-1);
  await s.sql("UPDATE plugin_settings SET config = jsonb_set(config, '{token}', to_jsonb($1::text)) WHERE name = 'sdk-fixture'", [flipped]);
  assert.equal((await A('POST', '/v1/admin/plugins/reload')).status, 200);
  assert.deepEqual((await A('GET', '/v1/admin/plugins/sdk-other')).body.secrets_set, [], 'bound to its plugin and field');
  assert.deepEqual((await A('GET', '/v1/admin/plugins/sdk-fixture')).body.secrets_set, [], 'the tag catches tampering');
  assert.equal(await digest(), sha(''));
  assert.match(server.log, /plugin sdk-other: the stored secret setting token cannot be opened/);
  await s.sql("DELETE FROM plugin_settings WHERE name = 'sdk-other'");
  assert.equal((await A('PATCH', '/v1/admin/plugins/sdk-fixture', { config: { token: TOKEN } })).status, 200);
  assert.equal(await digest(), sha(TOKEN));
});

test('rotation: the previous key still opens, reseal-secrets rewrites with the new key; without any key the value is unset', async () => {
  await restart({ SOUQ_PLUGIN_SECRETS_KEY: K2, SOUQ_PLUGIN_SECRETS_PREVIOUS_KEY: K1 });
  assert.equal(await digest(), sha(TOKEN), 'opened with the previous key');
  assert.match((await stored('sdk-fixture')).token, new RegExp(`^sq1:${kid(K1)}:`));
  let r = await A('POST', '/v1/admin/plugins/sdk-fixture/reseal-secrets');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body, { object: 'plugin_secrets_reseal', plugin: 'sdk-fixture', resealed: ['token'] });
  assert.match((await stored('sdk-fixture')).token, new RegExp(`^sq1:${kid(K2)}:`));
  r = await A('POST', '/v1/admin/plugins/sdk-fixture/reseal-secrets', {});
  assert.deepEqual(r.body.resealed, [], 'nothing left to reseal');
  assert.equal(await digest(), sha(TOKEN));
  r = await A('POST', '/v1/admin/plugins/no-such-plugin/reseal-secrets');
  assert.equal(r.status, 404);
  assert.equal(r.body.type, type('not-found'));
  // the old key can go now
  await restart({ SOUQ_PLUGIN_SECRETS_KEY: K2 });
  assert.equal(await digest(), sha(TOKEN));
  // without a key the sealed value cannot be opened: it counts as unset (a required secret would leave the plugin unconfigured)
  await restart({});
  assert.equal(await digest(), sha(''));
  assert.match(server.log, /plugin sdk-fixture: the stored secret setting token cannot be opened/);
  assert.ok(!server.log.includes(TOKEN));
});

test('values stored before a key was set stay readable, and reseal-secrets seals them once a key is configured', async () => {
  assert.equal((await A('PATCH', '/v1/admin/plugins/sdk-fixture', { config: { token: `${TOKEN}-plain` } })).status, 200);
  assert.equal((await stored('sdk-fixture')).token, `${TOKEN}-plain`, 'no key: stored as given (documented)');
  assert.deepEqual((await A('POST', '/v1/admin/plugins/sdk-fixture/reseal-secrets')).body.resealed, [], 'no key: nothing to do');
  await restart({ SOUQ_PLUGIN_SECRETS_KEY: K2 });
  assert.equal(await digest(), sha(`${TOKEN}-plain`));
  const r = await A('POST', '/v1/admin/plugins/sdk-fixture/reseal-secrets');
  assert.deepEqual(r.body.resealed, ['token']);
  assert.match((await stored('sdk-fixture')).token, new RegExp(`^sq1:${kid(K2)}:`));
  assert.equal(await digest(), sha(`${TOKEN}-plain`));
});

test('malformed keys stop the server at start with the key named', async () => {
  for (const [env, want] of [
    [{ SOUQ_PLUGIN_SECRETS_KEY: 'abc' }, /config plugin_secrets_key: must be 64 hex characters/],
    [{ SOUQ_PLUGIN_SECRETS_KEY: 'z'.repeat(64) }, /config plugin_secrets_key/],
    [{ SOUQ_PLUGIN_SECRETS_KEY: K1, SOUQ_PLUGIN_SECRETS_PREVIOUS_KEY: K1 }, /plugin_secrets_previous_key: must differ/],
    [{ SOUQ_PLUGIN_SECRETS_KEY: K1, SOUQ_PLUGIN_SECRETS_PREVIOUS_KEY: '00' }, /plugin_secrets_previous_key: must be 64 hex/],
  ]) {
    await assert.rejects(startServer({ dbName: s.dbName, env: { SOUQ_PLUGIN_DIRS: DIRS, ...env } }), (e) => {
      assert.match(e.message, want);
      assert.ok(!e.message.includes(K1), 'the key is not echoed');
      return true;
    });
  }
});
