// Starts the real auth-server binary on a free loopback port for the browser
// tests, keeps its log in memory and counts the requests it logged.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';

/** Finds a free TCP port on 127.0.0.1. Another process may take it first, so callers retry. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The auth server process. `lines` contains every log line it printed,
 * parsed when it is JSON.
 */
export class AuthServer {
  constructor(child, url) {
    this.child = child;
    this.url = url;
    this.lines = [];
    this.exited = null;
  }

  /**
   * Starts `binary` with the settings of the browser tests: Redis at
   * `redisUrl`, `allowedOrigin` as the only CORS origin, grace window 0.
   */
  static async start({ binary, redisUrl, allowedOrigin, extraEnv = {} }) {
    let lastError;
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const env = {
        PATH: process.env.PATH,
        AUTH__HTTP__BIND: `127.0.0.1:${port}`,
        AUTH__HTTP__ALLOWED_ORIGINS: allowedOrigin,
        AUTH__STORE__URL: redisUrl,
        AUTH__SECURITY__REFRESH_PEPPER: randomBytes(32).toString('hex'),
        AUTH__SECURITY__KEY_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
        AUTH__TOKENS__REUSE_GRACE_SECS: '0',
        AUTH__TOKENS__ACCESS_TTL_SECS: '60',
        ...extraEnv,
      };
      const child = spawn(binary, [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      const server = new AuthServer(child, url);
      server.#collect(child.stdout);
      server.#collect(child.stderr);
      child.once('exit', (code, signal) => {
        server.exited = { code, signal };
      });
      try {
        await server.#waitReady();
        return server;
      } catch (error) {
        lastError = error;
        await server.stop();
      }
    }
    throw new Error(`auth-server did not start: ${lastError?.message}`);
  }

  #collect(stream) {
    let pending = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      pending += chunk;
      const parts = pending.split('\n');
      pending = parts.pop();
      for (const text of parts) {
        let json = null;
        try {
          json = JSON.parse(text);
        } catch {
          // A plain text line: kept as text.
        }
        this.lines.push({ text, json });
      }
    });
  }

  async #waitReady() {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (this.exited !== null) {
        const tail = this.lines
          .slice(-5)
          .map((l) => l.text)
          .join('\n');
        throw new Error(`exited early (${JSON.stringify(this.exited)}):\n${tail}`);
      }
      try {
        const response = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(1000) });
        if (response.status === 200) {
          return;
        }
      } catch {
        // Not listening yet.
      }
      await sleep(100);
    }
    throw new Error('no 200 from /healthz within 20 s');
  }

  /** Returns the response statuses the server logged for `method path`, in order. */
  answered(method, path) {
    const statuses = [];
    for (const { json } of this.lines) {
      const span = json?.span;
      if (json?.message === 'request done' && span?.method === method && span?.path === path) {
        statuses.push(json.status);
      }
    }
    return statuses;
  }

  /** Log lines written by the `audit` target. */
  auditEvents() {
    return this.lines.filter(({ json }) => json?.target === 'audit').map(({ json }) => json);
  }

  /** Stops the process (only this child, by its own handle). */
  async stop() {
    if (this.exited !== null) {
      return;
    }
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}
