// Helpers of the Node interoperability tests. scripts/interop-tests.sh
// starts auth-server on Redis and exports the INTEROP_* variables read here.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

const TIMEOUT_MS = 10_000;

/** Reads an INTEROP_* variable; throws when it is unset. */
export function env(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run scripts/interop-tests.sh`);
  }
  return value;
}

/** Returns the issuer under test, which must be on loopback. */
export function issuer() {
  const url = new URL(env('INTEROP_ISSUER'));
  if (!['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname)) {
    throw new Error('the interoperability tests run on loopback only');
  }
  return url.origin;
}

export const audience = process.env.INTEROP_AUDIENCE ?? 'api';
export const publicClientId = () => env('INTEROP_PUBLIC_CLIENT_ID');
export const confidential = () => ({
  id: env('INTEROP_CLIENT_ID'),
  secret: env('INTEROP_CLIENT_SECRET'),
});
export const specialConfidential = () => ({
  id: env('INTEROP_SPECIAL_CLIENT_ID'),
  secret: env('INTEROP_SPECIAL_CLIENT_SECRET'),
});

async function postForm(path, fields, headers = {}) {
  return fetch(`${issuer()}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
}

/** Signs up a new user; returns { username, password }. */
export async function signUp() {
  const user = {
    username: `interop-${randomBytes(6).toString('hex')}`,
    password: `Pw-${randomBytes(18).toString('base64url')}`,
  };
  const response = await postForm('/signup', { ...user, client_id: publicClientId() });
  if (response.status !== 201) {
    throw new Error(`sign-up returned ${response.status}: ${await response.text()}`);
  }
  return user;
}

/** Requests an access token with client_credentials for the URL-safe client. */
export async function clientCredentialsToken() {
  const { id, secret } = confidential();
  const basic = Buffer.from(`${id}:${secret}`).toString('base64');
  const response = await postForm(
    '/token',
    { grant_type: 'client_credentials' },
    { authorization: `Basic ${basic}` },
  );
  if (response.status !== 200) {
    throw new Error(`client_credentials returned ${response.status}: ${await response.text()}`);
  }
  return (await response.json()).access_token;
}

/** Decodes the protected header of a compact JWS without verifying it. */
export function header(token) {
  return JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString());
}

/**
 * Runs `auth-server keys rotate --alg ALG`, then waits until the server signs
 * with the new key; returns { before, after }, tokens signed by the old and
 * the new key. A new key signs nothing until the JWKS max-age plus the guards'
 * refetch cooldown have passed, so this takes at least that long.
 */
export async function rotateKeysAndWait(alg, deadlineMs = 150_000) {
  const before = await clientCredentialsToken();
  const oldKid = header(before).kid;
  execFileSync(
    env('INTEROP_AUTH_SERVER_BIN'),
    ['--config', env('INTEROP_CONFIG'), 'keys', 'rotate', '--alg', alg],
    { stdio: ['ignore', 'ignore', 'inherit'], timeout: 60_000 },
  );
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    const after = await clientCredentialsToken();
    if (header(after).kid !== oldKid) {
      return { before, after };
    }
    await sleep(1000);
  }
  throw new Error(`no token signed by a new key within ${deadlineMs} ms of a rotation`);
}
