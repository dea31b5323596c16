// receiver.mjs: a loopback webhook receiver for the webhook and event tests. The path decides the answer:
//   /status/<code>        always <code>
//   /seq/<c1>,<c2>,...    the n-th delivery of an event (by Souq-Event-Id) gets c<n> (the last one repeats)
//   /hang                 never answers (until release() or close())
//   /latin1               200 with a body that is not UTF-8
// Every request is recorded with its raw body, so tests can verify signatures byte for byte.
import http from 'node:http';
import crypto from 'node:crypto';

export async function startReceiver() {
  const requests = [];
  const held = [];
  const seen = new Map();
  const waiters = [];
  let hangAll = false;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const entry = { path: req.url, headers: req.headers, body, at: Date.now() };
      requests.push(entry);
      for (const w of [...waiters]) if (w.pred()) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
      if (hangAll || req.url === '/hang') return held.push(res);
      if (req.url === '/latin1') { // 200 with a body that is not UTF-8 ("café" in ISO-8859-1)
        res.writeHead(200, { 'content-type': 'text/plain; charset=iso-8859-1' });
        return res.end(Buffer.from([0x63, 0x61, 0x66, 0xe9]));
      }
      let code = 200;
      const m = /^\/status\/(\d{3})/.exec(req.url);
      const s = /^\/seq\/([\d,]+)/.exec(req.url);
      if (m) code = Number(m[1]);
      else if (s) {
        const codes = s[1].split(',').map(Number);
        const key = req.url + '|' + req.headers['souq-event-id'];
        const n = seen.get(key) ?? 0;
        seen.set(key, n + 1);
        code = codes[Math.min(n, codes.length - 1)];
      }
      res.writeHead(code, { 'content-type': 'text/plain' });
      res.end(code < 300 ? 'ok' : 'nope');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    requests,
    /** Requests for one event id. */
    of: (eventId) => requests.filter((r) => r.headers['souq-event-id'] === eventId),
    /** Resolves when pred() holds after a request (or at once), rejects after ms. */
    until(pred, ms = 20000, what = 'receiver condition') {
      if (pred()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        waiters.push(w);
        setTimeout(() => { const i = waiters.indexOf(w); if (i >= 0) { waiters.splice(i, 1); reject(new Error(`timed out waiting for ${what}`)); } }, ms).unref();
      });
    },
    hang(on) { hangAll = on; },
    release() { for (const r of held.splice(0)) { try { r.socket.destroy(); } catch {} } },
    async close() {
      this.release();
      server.closeAllConnections?.();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Verifies a Souq-Signature header against the raw body: true when one v1 matches the secret. */
export function signatureValid(header, body, secret, toleranceS = 300) {
  const parts = header.split(',').map((p) => p.split('='));
  const t = parts.find(([k]) => k === 't')?.[1];
  if (!t || Math.abs(Date.now() / 1000 - Number(t)) > toleranceS) return false;
  const want = crypto.createHmac('sha256', secret).update(`${t}.${body}`).digest();
  return parts.filter(([k]) => k === 'v1').some(([, v]) => {
    const got = Buffer.from(v, 'hex');
    return got.length === want.length && crypto.timingSafeEqual(got, want);
  });
}

/** Polls fn until it returns a truthy value (state in the database or the API), up to ms. */
export async function eventually(fn, ms = 20000, what = 'condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
