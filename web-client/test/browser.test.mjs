// The web client in headless Chromium against the real auth server and
// Redis. Needs REDIS_URL (a Redis this run owns) and the server binary
// (AUTH_SERVER_BIN, default ../target/debug/auth-server); the script
// scripts/browser-tests.sh provides both.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { AuthServer } from './support/auth-server.mjs';
import {
  cookieValue,
  eventually,
  launchChromium,
  newProfile,
  openDemo,
  sent,
  status,
  waitReady,
} from './support/browser.mjs';
import { DemoServer, HostileServer } from './support/web-servers.mjs';

const binary =
  process.env.AUTH_SERVER_BIN ??
  fileURLToPath(new URL('../../target/debug/auth-server', import.meta.url));
const redisUrl = process.env.REDIS_URL;

const PASSWORD = 'violet tangerine skyline 47';
const REFRESH_COOKIE = '__Host-refresh_token';
const CSRF_COOKIE = '__Host-csrf_token';

let auth;
let demo;
let hostileSameSite;
let hostileOtherSite;
let browser;

before(async () => {
  assert.ok(redisUrl, 'REDIS_URL must name a Redis started for this run');
  demo = new DemoServer();
  await demo.listen();
  auth = await AuthServer.start({ binary, redisUrl, allowedOrigin: demo.origin });
  demo.useAuthServer(auth.url);
  hostileSameSite = new HostileServer();
  await hostileSameSite.listen();
  hostileOtherSite = new HostileServer();
  await hostileOtherSite.listen();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await auth?.stop();
  await demo?.close();
  await hostileSameSite?.close();
  await hostileOtherSite?.close();
});

function newUsername() {
  return `user-${randomBytes(6).toString('hex')}`;
}

/** Creates an account over plain HTTP (no browser, no Origin). */
async function signUp(username) {
  const response = await fetch(`${auth.url}/signup`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password: PASSWORD, client_id: 'web' }),
  });
  assert.equal(response.status, 201, await response.text());
}

/** A new profile with a new account, logged in through the demo page's form. */
async function loggedInDemo(query = '') {
  const username = newUsername();
  await signUp(username);
  const profile = await newProfile(browser);
  const page = await openDemo(profile.context, demo.origin, query);
  assert.equal(await status(page), 'logged out');
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', PASSWORD);
  await page.click('#login-button');
  await page.locator('#status', { hasText: 'logged in' }).waitFor();
  return { ...profile, page, username };
}

const refreshUrl = () => `${auth.url}/refresh`;

async function expireSeenTokens() {
  const response = await fetch(`${demo.origin}/__test/expire-seen`, { method: 'POST' });
  assert.equal(response.status, 204);
}

describe('the web client in Chromium', () => {
  test('Chromium stores the __Host- cookies over plain http on loopback', async () => {
    const { context } = await loggedInDemo();
    const cookies = await context.cookies(auth.url);
    const names = cookies.map((c) => c.name).sort();
    assert.deepEqual(names, [CSRF_COOKIE, REFRESH_COOKIE]);
    await context.close();
  });

  test('scripts cannot read the refresh cookie; the CSRF cookie is readable; flags as specified', async () => {
    const { context, page } = await loggedInDemo();
    const cookies = await context.cookies(auth.url);
    const refresh = cookies.find((c) => c.name === REFRESH_COOKIE);
    const csrf = cookies.find((c) => c.name === CSRF_COOKIE);
    for (const cookie of [refresh, csrf]) {
      assert.equal(cookie.domain, '127.0.0.1');
      assert.equal(cookie.path, '/');
      assert.equal(cookie.secure, true);
      assert.equal(cookie.sameSite, 'Strict');
      assert.ok(cookie.expires > Date.now() / 1000, 'a persistent cookie with Max-Age');
    }
    assert.equal(refresh.httpOnly, true);
    assert.equal(csrf.httpOnly, false);

    const documentCookie = await page.evaluate(() => document.cookie);
    assert.ok(!documentCookie.includes(REFRESH_COOKIE), documentCookie);
    assert.ok(!documentCookie.includes(refresh.value));
    assert.equal(cookieValue(documentCookie, CSRF_COOKIE), csrf.value);

    // The access token is in memory only: no web storage, no readable cookie.
    assert.deepEqual(await page.evaluate(() => demo.storage()), { local: 0, session: 0 });
    assert.equal(await page.evaluate(() => demo.callApi()), 200);
    await context.close();
  });

  test('twenty API calls with an expired access token share one refresh and all succeed', async () => {
    const { context, page, requests } = await loggedInDemo('?proactive=0');
    assert.equal(await page.evaluate(() => demo.callApi()), 200);
    await expireSeenTokens();
    const before = { browser: sent(requests, 'POST', refreshUrl()).length };
    before.server = auth.answered('POST', '/refresh').length;
    const answersBefore = demo.apiAnswers.length;

    const statuses = await page.evaluate(() => demo.callMany(20));

    assert.deepEqual(statuses, Array(20).fill(200));
    assert.equal(sent(requests, 'POST', refreshUrl()).length - before.browser, 1);
    await eventually(() => auth.answered('POST', '/refresh').length - before.server === 1);
    const api = demo.apiAnswers.slice(answersBefore);
    assert.equal(api.filter((s) => s === 200).length, 20);
    assert.ok(api.includes(401), 'the old token was refused at least once');
    await context.close();
  });
});
