// The demo app server (pages, the built web client and a tiny API that
// checks access tokens against the auth server's JWKS) and the hostile
// servers. All listen on 127.0.0.1 only.

import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';

const here = fileURLToPath(new URL('.', import.meta.url));
const pagesDir = join(here, '..', 'pages');
const distDir = join(here, '..', '..', 'dist');

const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
};

/** Reads `name` inside `dir`, refusing any path that leaves it. */
async function staticFile(dir, name) {
  const path = normalize(join(dir, name));
  if (!path.startsWith(dir + sep)) {
    return null;
  }
  try {
    return { body: await readFile(path), type: types[extname(path)] ?? 'application/octet-stream' };
  } catch {
    return null;
  }
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'Cache-Control': 'no-store', ...headers });
  res.end(body);
}

function sendJson(res, status, value, headers = {}) {
  send(res, status, JSON.stringify(value), { 'Content-Type': 'application/json', ...headers });
}

function listen(server, port, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server.address().port));
  });
}

function close(server) {
  return new Promise((resolve) => {
    server.closeAllConnections?.();
    server.close(() => resolve());
  });
}

/**
 * The demo app. Its API returns the token's subject for `GET /api/me` when
 * the token verifies against the auth server's JWKS and has not been marked
 * expired. `POST /__test/expire-seen` marks every token seen so far as
 * expired, so a test can give the page an expired access token without
 * waiting a minute.
 */
export class DemoServer {
  constructor() {
    this.authServer = null;
    this.jwksByIssuer = new Map();
    this.seen = new Set();
    this.expired = new Set();
    this.apiAnswers = [];
    this.server = createServer((req, res) => {
      this.#handle(req, res).catch(() => send(res, 500, 'demo server error'));
    });
  }

  /** Listens on `127.0.0.1:port` (0 picks a free one); returns the port. */
  async listen(port = 0) {
    this.port = await listen(this.server, port);
    this.origin = `http://127.0.0.1:${this.port}`;
    return this.port;
  }

  /**
   * Registers an auth server: the API accepts its tokens, and a page opened
   * with `?server=URL` uses it. The first one registered is the default.
   */
  useAuthServer(url) {
    this.authServer ??= url;
    this.jwksByIssuer.set(url, createRemoteJWKSet(new URL('/.well-known/jwks.json', url)));
  }

  async #handle(req, res) {
    const url = new URL(req.url, this.origin);
    if (url.pathname === '/config.json') {
      const chosen = url.searchParams.get('server');
      const authServer = this.jwksByIssuer.has(chosen) ? chosen : this.authServer;
      return sendJson(res, 200, { authServer });
    }
    if (url.pathname === '/api/me' && req.method === 'GET') {
      return this.#api(req, res);
    }
    if (url.pathname === '/__test/expire-seen' && req.method === 'POST') {
      for (const jti of this.seen) {
        this.expired.add(jti);
      }
      return send(res, 204, '');
    }
    if (url.pathname.startsWith('/web-client/')) {
      const file = await staticFile(distDir, url.pathname.slice('/web-client/'.length));
      return file ? send(res, 200, file.body, { 'Content-Type': file.type }) : send(res, 404, '');
    }
    const page = url.pathname === '/' || url.pathname === '/settings' ? 'demo.html' : null;
    const name = page ?? url.pathname.slice(1);
    const file = name.startsWith('demo') ? await staticFile(pagesDir, name) : null;
    if (file === null) {
      return send(res, 404, '');
    }
    // `?cache=1` lets the page into the back-forward cache; by default the
    // demo's pages are `no-store`, as an app's logged-in pages should be.
    const caching = url.searchParams.get('cache') === '1' ? { 'Cache-Control': 'private' } : {};
    return send(res, 200, file.body, { 'Content-Type': file.type, ...caching });
  }

  async #api(req, res) {
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : null;
    const reject = (reason) => {
      this.apiAnswers.push(401);
      sendJson(
        res,
        401,
        { error: 'invalid_token', reason },
        {
          'WWW-Authenticate': 'Bearer error="invalid_token"',
        },
      );
    };
    if (token === null) {
      return reject('no token');
    }
    let payload;
    try {
      // The issuer picks the key set; jwtVerify then checks it again.
      const issuer = decodeJwt(token).iss;
      const jwks = this.jwksByIssuer.get(issuer);
      if (jwks === undefined) {
        return reject('unknown issuer');
      }
      ({ payload } = await jwtVerify(token, jwks, {
        issuer,
        audience: 'api',
        typ: 'at+jwt',
        algorithms: ['EdDSA', 'ES256'],
      }));
    } catch {
      return reject('does not verify');
    }
    this.seen.add(payload.jti);
    if (this.expired.has(payload.jti)) {
      return reject('expired');
    }
    this.apiAnswers.push(200);
    return sendJson(res, 200, { sub: payload.sub, jti: payload.jti });
  }

  close() {
    return close(this.server);
  }
}

/**
 * A page that attacks the user's session from another origin: another port
 * of 127.0.0.1 (same site) or `localhost` (another site).
 */
export class HostileServer {
  constructor() {
    this.server = createServer((req, res) => {
      this.#handle(req, res).catch(() => send(res, 500, 'hostile server error'));
    });
  }

  async listen() {
    this.port = await listen(this.server, 0);
    return this.port;
  }

  async #handle(req, res) {
    const url = new URL(req.url, 'http://127.0.0.1');
    const name = url.pathname === '/' ? 'hostile.html' : url.pathname.slice(1);
    const file = name.startsWith('hostile') ? await staticFile(pagesDir, name) : null;
    return file ? send(res, 200, file.body, { 'Content-Type': file.type }) : send(res, 404, '');
  }

  close() {
    return close(this.server);
  }
}
