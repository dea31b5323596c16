// plugin_kit.test.mjs: the plugin author's kit. `souq plugin test` runs every bundled plugin's specs in the real
// sandbox; `souq plugin new` makes a plugin whose own spec passes; the harness reports failures where they are
// (assertions with file:line, budgets, sandbox violations, unfaked requests) and refuses what it cannot run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ROOT, souq } from './lib/harness.mjs';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'souq-kit-'));
const summary = (out) => {
  const m = /^(\d+) passed, (\d+) failed$/m.exec(out);
  assert.ok(m, `no summary line in:\n${out}`);
  return { passed: Number(m[1]), failed: Number(m[2]) };
};

test('every bundled plugin has specs, and they pass in the sandbox', () => {
  const dirs = fs.readdirSync(path.join(ROOT, 'plugins'))
    .filter((d) => fs.existsSync(path.join(ROOT, 'plugins', d, 'manifest.json')));
  assert.ok(dirs.length >= 2, `bundled plugins: ${dirs}`);
  for (const d of dirs) {
    const r = souq(['plugin', 'test', path.join(ROOT, 'plugins', d)]);
    assert.equal(r.status, 0, `${d}:\n${r.stdout}${r.stderr}`);
    const s = summary(r.stdout);
    assert.ok(s.passed >= 3, `${d} has ${s.passed} passing specs`);
    assert.equal(s.failed, 0);
    assert.doesNotMatch(r.stdout, /FAIL/);
  }
});

test('plugin new makes a plugin whose spec passes; names and existing folders are refused', () => {
  const dir = tmp();
  const r = souq(['plugin', 'new', 'payment-acme', dir]);
  assert.equal(r.status, 0, r.stderr);
  for (const f of ['manifest.json', 'handler.lua', 'README.md', 'spec/payment_spec.lua'])
    assert.ok(fs.existsSync(path.join(dir, 'payment-acme', f)), f);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'payment-acme', 'manifest.json'), 'utf8'));
  assert.deepEqual(manifest.provides, ['payment:acme']);
  const t = souq(['plugin', 'test', path.join(dir, 'payment-acme')]);
  assert.equal(t.status, 0, t.stdout + t.stderr);
  assert.deepEqual(summary(t.stdout), { passed: 4, failed: 0 });

  const again = souq(['plugin', 'new', 'payment-acme', dir]);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /cannot create/);
  for (const bad of ['Acme', '9lives', 'a b', 'reload', 'x'.repeat(49), '../up'])
    assert.equal(souq(['plugin', 'new', bad, dir]).status, 2, bad);
  assert.equal(souq(['plugin', 'frobnicate']).status, 2);
});

test('failures are reported where they are, and each is contained to its test', () => {
  const dir = tmp();
  assert.equal(souq(['plugin', 'new', 'payment-acme', dir]).status, 0);
  const p = path.join(dir, 'payment-acme');
  const req = '{ amount = 1, currency = "eur", idempotency_key = "k", data = { token = "t" } }';
  const conf = '{ secret_key = "s", base_url = "https://gw.test" }';
  fs.writeFileSync(path.join(p, 'spec', 'bad_spec.lua'), [
    'spec.test("a wrong expectation", function()',
    '  spec.http.respond("POST", "https://gw.test/v1/charges", { status = 200, body = \'{"id":"ch_1"}\' })',
    `  spec.eq(spec.call("payment_authorize", ${req}, ${conf}).provider_ref, "ch_2", "the charge id")`,
    'end)',
    'spec.test("an endless loop", function() while true do end end)',
    'spec.test("a sandbox violation", function() os.execute("true") end)',
    'spec.test("a config the manifest refuses", function() spec.call("payment_authorize", {}, {}) end)',
    `spec.test("a request nobody faked", function() spec.call("payment_authorize", ${req}, ${conf}) end)`,
    'spec.test("a prefix fake answers", function()',
    '  spec.http.respond("POST", "https://gw.test/*", { status = 200, body = \'{"id":"ch_9"}\' })',
    `  spec.eq(spec.call("payment_authorize", ${req}, ${conf}).provider_ref, "ch_9")`,
    'end)',
    'spec.test("fakes do not leak between tests", function() spec.eq(#spec.http.requests(), 0) end)',
  ].join('\n'));
  const r = souq(['plugin', 'test', p]);
  assert.equal(r.status, 1);
  assert.deepEqual(summary(r.stdout), { passed: 4 + 2, failed: 5 });
  assert.match(r.stdout, /FAIL {2}a wrong expectation\n\s+.*bad_spec\.lua:3: the charge id: expected "ch_2", got "ch_1"/);
  assert.match(r.stdout, /FAIL {2}an endless loop\n\s+timeout: instruction budget/);
  assert.match(r.stdout, /FAIL {2}a sandbox violation\n\s+sandbox_violation: os\.execute/);
  assert.match(r.stdout, /FAIL {2}a config the manifest refuses\n.*\/config\/secret_key/);
  assert.match(r.stdout, /FAIL {2}a request nobody faked\n.*no fake answers POST https:\/\/gw\.test\/v1\/charges/);
  assert.match(r.stdout, /ok {4}a prefix fake answers/);
  assert.match(r.stdout, /ok {4}fakes do not leak between tests/);
  assert.match(r.stdout, /ok {4}authorize holds the amount/); // the other file still ran
});

test('what the harness cannot run is refused: no specs, a spec without tests, a plugin that does not load', () => {
  const dir = tmp();
  assert.equal(souq(['plugin', 'new', 'payment-acme', dir]).status, 0);
  const p = path.join(dir, 'payment-acme');
  fs.writeFileSync(path.join(p, 'spec', 'empty_spec.lua'), '-- nothing registered\n');
  let r = souq(['plugin', 'test', p]);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /empty_spec\.lua\n {2}FAIL {2}\(the file\) registers no test/);
  fs.writeFileSync(path.join(p, 'spec', 'empty_spec.lua'), 'spec.test("x", function() end) this is not lua');
  r = souq(['plugin', 'test', p]);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /\(the file\) .*empty_spec\.lua:1:/);
  fs.rmSync(path.join(p, 'spec'), { recursive: true });
  r = souq(['plugin', 'test', p]);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /no spec files/);
  fs.writeFileSync(path.join(p, 'manifest.json'), '{"name": "payment-acme"}');
  r = souq(['plugin', 'test', p]);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /does not load/);
});

test('sdk/lua/spec.lua stubs exactly the functions of the spec harness', () => {
  const dir = tmp();
  assert.equal(souq(['plugin', 'new', 'payment-acme', dir]).status, 0);
  const p = path.join(dir, 'payment-acme');
  fs.writeFileSync(path.join(p, 'spec', 'payment_spec.lua'), [
    'spec.test("names", function()',
    '  local out = {}',
    '  for k, v in pairs(spec) do',
    '    if type(v) == "function" then out[#out + 1] = "spec." .. k',
    '    elseif type(v) == "table" then',
    '      for f, g in pairs(v) do if type(g) == "function" then out[#out + 1] = "spec." .. k .. "." .. f end end',
    '    end',
    '  end',
    '  table.sort(out)',
    '  error("NAMES " .. table.concat(out, " "), 0)',
    'end)',
  ].join('\n'));
  const r = souq(['plugin', 'test', p]);
  const m = /NAMES ([\w. ]+)/.exec(r.stdout);
  assert.ok(m, r.stdout);
  const harness = m[1].trim().split(' ').sort();
  const stubs = [...fs.readFileSync(path.join(ROOT, 'sdk', 'lua', 'spec.lua'), 'utf8').matchAll(/^function (spec\.[\w.]+)\(/gm)]
    .map((x) => x[1]).sort();
  assert.ok(harness.length >= 8, harness.join(' '));
  assert.deepEqual(stubs, harness);
});

test('sdk/lua/reference.md is generated from the host\'s current doc comments', () => {
  const r = spawnSync('python3', [path.join(ROOT, 'scripts', 'sdkref.py'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const ref = fs.readFileSync(path.join(ROOT, 'sdk', 'lua', 'reference.md'), 'utf8');
  for (const fn of ['souq.json.encode', 'souq.crypto.hmac_sha256', 'souq.money.split', 'souq.http.request'])
    assert.ok(ref.includes('`' + fn), fn);
});
