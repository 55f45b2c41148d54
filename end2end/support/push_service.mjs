// A local push service (RFC 8030) and the browser's side of Web Push: it
// takes the server's messages, checks their VAPID token (RFC 8292) and
// decrypts them (RFC 8291) with the subscription's private key, as the
// browser's push service and the browser would.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';

export async function startPushService() {
  const received = [];
  const server = http.createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ path: request.url, headers: request.headers, body: Buffer.concat(chunks) });
      response.writeHead(201);
      response.end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    received,
    /** Waits for the `count`th message to `path`. */
    async message(path, count = 1) {
      for (let i = 0; i < 200; i += 1) {
        const messages = received.filter((m) => m.path === path);
        if (messages.length >= count) return messages[count - 1];
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`no push message ${count} to ${path} within 10 s`);
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** A browser's subscription to `endpoint`: its key pair and auth secret. */
export function newSubscription(endpoint) {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  const auth = crypto.randomBytes(16);
  return {
    json: {
      endpoint,
      expirationTime: null,
      keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') },
    },
    /** Decrypts an `aes128gcm` message body to its text. */
    read(body) {
      const salt = body.subarray(0, 16);
      const keyLength = body[20];
      const sender = body.subarray(21, 21 + keyLength);
      const record = body.subarray(21 + keyLength);
      const info = Buffer.concat([Buffer.from('WebPush: info\0'), ecdh.getPublicKey(), sender]);
      const ikm = Buffer.from(crypto.hkdfSync('sha256', ecdh.computeSecret(sender), auth, info, 32));
      const derive = (label, length) =>
        Buffer.from(crypto.hkdfSync('sha256', ikm, salt, Buffer.from(`Content-Encoding: ${label}\0`), length));
      const decipher = crypto.createDecipheriv('aes-128-gcm', derive('aes128gcm', 16), derive('nonce', 12));
      decipher.setAuthTag(record.subarray(record.length - 16));
      const plain = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
      let end = plain.length;
      while (end > 0 && plain[end - 1] === 0) end -= 1;
      assert.equal(plain[end - 1], 2, "the last record's delimiter");
      return plain.subarray(0, end - 1).toString();
    },
  };
}

/** Checks `Authorization: vapid t=…, k=…`: an ES256 token for `audience`,
 * signed by `serverKey` (the key browsers subscribe with), not expired. */
export function checkVapid(headers, serverKey, audience) {
  const match = /^vapid t=([^,]+), k=(.+)$/.exec(headers.authorization ?? '');
  assert.ok(match, headers.authorization);
  assert.equal(match[2], serverKey);
  const [jose, claims, signature] = match[1].split('.');
  assert.equal(JSON.parse(Buffer.from(jose, 'base64url')).alg, 'ES256');
  const point = Buffer.from(serverKey, 'base64url');
  const key = crypto.createPublicKey({
    format: 'jwk',
    key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') },
  });
  assert.ok(
    crypto.verify('sha256', Buffer.from(`${jose}.${claims}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url')),
    'the VAPID token is signed by the server key',
  );
  const payload = JSON.parse(Buffer.from(claims, 'base64url'));
  assert.equal(payload.aud, audience);
  const now = Date.now() / 1000;
  assert.ok(payload.exp > now && payload.exp <= now + 24 * 3600, JSON.stringify(payload));
  return payload;
}
