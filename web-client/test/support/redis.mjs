// A redis-server child process for one test, with its data in a temporary
// directory so that a restart on the same port keeps every session.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { freePort } from './auth-server.mjs';

const REDIS_SERVER = process.env.REDIS_SERVER ?? 'redis-server';
const REDIS_CLI = process.env.REDIS_CLI ?? 'redis-cli';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class RedisProcess {
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'web-client-redis-'));
    this.port = null;
    this.child = null;
  }

  get url() {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  /** Starts Redis on a free port, or on the port it had before a `stop`. */
  async start() {
    this.port ??= await freePort();
    this.child = spawn(
      REDIS_SERVER,
      [
        '--bind',
        '127.0.0.1',
        '--port',
        String(this.port),
        '--dir',
        this.dir,
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
      ],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const ping = spawnSync(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(this.port), 'ping'], {
        encoding: 'utf8',
        timeout: 2000,
      });
      if (ping.stdout?.startsWith('PONG')) {
        return;
      }
      if (this.child.exitCode !== null) {
        break;
      }
      await sleep(100);
    }
    throw new Error(`redis-server did not start on port ${this.port}`);
  }

  /** Stops this Redis (SIGTERM to our own child, which writes its data first). */
  async stop() {
    const child = this.child;
    if (child === null || child.exitCode !== null || child.signalCode !== null) {
      return;
    }
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  async remove() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
