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
  tokensSeen,
  eventually,
  launchChromium,
  newProfile,
  openDemo,
  sent,
  status,
  waitReady,
} from './support/browser.mjs';
import { RedisProcess } from './support/redis.mjs';
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
async function signUp(username, server = auth) {
  const response = await fetch(`${server.url}/signup`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password: PASSWORD, client_id: 'web' }),
  });
  assert.equal(response.status, 201, await response.text());
}

let sharedUser = null;

/**
 * Returns the account the tests log in with. Each test has its own session,
 * and one account for all keeps the run under the server's sign-up limit
 * per IP.
 */
async function demoUser() {
  if (sharedUser === null) {
    sharedUser = newUsername();
    await signUp(sharedUser);
  }
  return sharedUser;
}

/** Opens a new profile and logs in through the demo page's form. */
async function loggedInDemo(query = '') {
  const username = await demoUser();
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

  test('scripts read the CSRF cookie but not the refresh cookie; flags as specified', async () => {
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

  test('twenty API calls with an expired token share one refresh and all succeed', async () => {
    const { context, page, requests } = await loggedInDemo('?proactive=0');
    assert.equal(await page.evaluate(() => demo.callApi()), 200);
    await expireSeenTokens();
    const before = { browser: sent(requests, 'POST', refreshUrl()).length };
    before.server = auth.answered('POST', '/refresh').length;
    const answersBefore = demo.apiAnswers.length;

    const statuses = await page.evaluate(() => demo.callMany(20));

    assert.deepEqual(statuses, Array(20).fill(200));
    assert.equal(sent(requests, 'POST', refreshUrl()).length - before.browser, 1);
    // The server writes its log line just after it responds: wait for it,
    // then give a second request, if there were one, time to show up too.
    await eventually(() => auth.answered('POST', '/refresh').length > before.server);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(auth.answered('POST', '/refresh').length - before.server, 1);
    const api = demo.apiAnswers.slice(answersBefore);
    assert.equal(api.filter((s) => s === 200).length, 20);
    assert.ok(api.includes(401), 'the old token was refused at least once');
    await context.close();
  });

  test('two tabs refreshing at the same moment both stay logged in with grace 0', async (t) => {
    const settings = auth.lines.find((l) => l.json?.message === 'configuration loaded')?.json;
    assert.equal(settings?.reuse_grace_secs, 0, 'the server runs with no reuse grace window');
    const { context, page: first, requests } = await loggedInDemo('?proactive=0');
    const second = await openDemo(context, demo.origin, '?proactive=0');
    assert.equal(await status(second), 'logged in', 'the second tab found the session');
    const before = sent(requests, 'POST', refreshUrl()).length;
    const serverBefore = auth.answered('POST', '/refresh').length;

    for (let round = 0; round < 5; round += 1) {
      const results = await Promise.all([
        first.evaluate(() => demo.refresh()),
        second.evaluate(() => demo.refresh()),
      ]);
      assert.deepEqual(results, [
        { ok: true, value: 'ok' },
        { ok: true, value: 'ok' },
      ]);
    }

    const refreshes = sent(requests, 'POST', refreshUrl()).slice(before);
    t.diagnostic(`5 rounds of two simultaneous refreshes sent ${refreshes.length} requests`);
    assert.ok(refreshes.length >= 5, `${refreshes.length} refreshes`);
    assert.ok(refreshes.length <= 10, `${refreshes.length} refreshes`);
    const presented = refreshes.map((r) => cookieValue(r.cookie, REFRESH_COOKIE));
    assert.equal(new Set(presented).size, presented.length, 'no refresh token was sent twice');
    await eventually(
      () => auth.answered('POST', '/refresh').length - serverBefore === refreshes.length,
    );
    assert.deepEqual(
      auth.answered('POST', '/refresh').slice(serverBefore),
      Array(refreshes.length).fill(200),
    );
    for (const page of [first, second]) {
      assert.equal(await status(page), 'logged in');
      assert.equal(await page.evaluate(() => demo.callApi()), 200);
    }
    assert.deepEqual(await first.evaluate(() => demo.refresh()), { ok: true, value: 'ok' });
    await context.close();
  });

  test('a 401 in two tabs at once costs one refresh, shared over the channel', async (t) => {
    const { context, page: first, requests } = await loggedInDemo('?proactive=0');
    const second = await openDemo(context, demo.origin, '?proactive=0');
    assert.equal(await first.evaluate(() => demo.callApi()), 200);
    assert.equal(await second.evaluate(() => demo.callApi()), 200);
    await expireSeenTokens();
    const before = sent(requests, 'POST', refreshUrl()).length;

    const [a, b] = await Promise.all([
      first.evaluate(() => demo.callMany(10)),
      second.evaluate(() => demo.callMany(10)),
    ]);

    assert.deepEqual([...a, ...b], Array(20).fill(200));
    const refreshes = sent(requests, 'POST', refreshUrl()).slice(before);
    t.diagnostic(`20 calls in two tabs sent ${refreshes.length} refresh requests`);
    assert.ok(refreshes.length >= 1, `${refreshes.length} refreshes`);
    assert.ok(refreshes.length <= 2, `${refreshes.length} refreshes`);
    const presented = refreshes.map((r) => cookieValue(r.cookie, REFRESH_COOKIE));
    assert.equal(new Set(presented).size, presented.length, 'no refresh token was sent twice');
    await context.close();
  });

  for (const [label, hostileOrigin] of [
    ['another port of 127.0.0.1 (same site)', () => `http://127.0.0.1:${hostileSameSite.port}`],
    ['localhost (another site)', () => `http://localhost:${hostileOtherSite.port}`],
  ]) {
    test(`a page on ${label} cannot refresh or log out the user`, async (t) => {
      const { context, page, requests } = await loggedInDemo('?proactive=0');
      const cookiesBefore = await context.cookies(auth.url);
      const hostile = await context.newPage();
      await hostile.goto(`${hostileOrigin()}/`);
      const serverBefore = {
        refresh: auth.answered('POST', '/refresh').length,
        logout: auth.answered('POST', '/logout').length,
        token: auth.answered('POST', '/token').length,
        signup: auth.answered('POST', '/signup').length,
      };
      const firstHostile = requests.length;

      const report = await hostile.evaluate((server) => window.attack(server), auth.url);
      t.diagnostic(
        `${report.origin}: document.cookie has ${
          report.documentCookie
            .split('; ')
            .map((c) => c.split('=')[0])
            .join(', ') || 'nothing'
        }`,
      );

      assert.equal(report.refreshCookieReadable, false);
      const byName = Object.fromEntries(report.results.map((r) => [r.name, r]));
      for (const name of [
        'cors refresh',
        'cors refresh with csrf',
        'cors csrf',
        'cors logout with csrf',
      ]) {
        assert.deepEqual(byName[name], { name, outcome: 'error', error: 'TypeError' }, name);
      }
      for (const name of ['no-cors refresh', 'no-cors logout', 'no-cors token', 'no-cors signup']) {
        assert.equal(byName[name].outcome, 'response', name);
        assert.equal(byName[name].type, 'opaque', name);
        assert.equal(byName[name].body, '', `${name}: nothing readable`);
      }

      // Whatever reached the server was refused: no rotation, no logout.
      const hostileRequests = requests
        .slice(firstHostile)
        .filter((r) => r.url.startsWith(auth.url) && r.method === 'POST');
      assert.ok(hostileRequests.length > 0);
      const refreshAnswers = auth.answered('POST', '/refresh').slice(serverBefore.refresh);
      const logoutAnswers = auth.answered('POST', '/logout').slice(serverBefore.logout);
      const tokenAnswers = auth.answered('POST', '/token').slice(serverBefore.token);
      const signupAnswers = auth.answered('POST', '/signup').slice(serverBefore.signup);
      const answers = JSON.stringify({
        refresh: refreshAnswers,
        logout: logoutAnswers,
        token: tokenAnswers,
        signup: signupAnswers,
      });
      t.diagnostic(`server answers: ${answers}`);
      // A login from a foreign origin would let it swap in its own session.
      assert.deepEqual(tokenAnswers, [403]);
      assert.deepEqual(signupAnswers, [403]);
      for (const answer of refreshAnswers) {
        assert.ok(answer === 403 || answer === 401, `/refresh answered ${answer}`);
      }
      for (const answer of logoutAnswers) {
        assert.ok(answer === 403 || answer === 204, `/logout answered ${answer}`);
      }
      const cookiesAfter = await context.cookies(auth.url);
      assert.deepEqual(
        cookiesAfter.map((c) => [c.name, c.value]).sort(),
        cookiesBefore.map((c) => [c.name, c.value]).sort(),
        'the cookies were neither rotated nor cleared',
      );

      // The server sends that origin no CORS headers at all.
      const preflight = await fetch(`${auth.url}/refresh`, {
        method: 'OPTIONS',
        headers: {
          Origin: report.origin,
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'x-csrf-token',
        },
      });
      assert.equal(preflight.headers.get('access-control-allow-origin'), null);
      assert.equal(preflight.headers.get('access-control-allow-credentials'), null);
      assert.match(preflight.headers.get('vary') ?? '', /origin/i);

      // The session still works from the demo page.
      assert.equal(await page.evaluate(() => demo.callApi()), 200);
      await expireSeenTokens();
      assert.equal(await page.evaluate(() => demo.callApi()), 200);
      assert.equal(await status(page), 'logged in');
      await eventually(() => auth.answered('POST', '/refresh').at(-1) === 200);
      await context.close();
    });
  }

  for (const cache of [false, true]) {
    const variant = cache ? 'a cacheable page' : 'a no-store page';
    test(`after logout, back and reload show a logged-out state (${variant})`, async (t) => {
      const query = cache ? '?cache=1' : '';
      const { context, page } = await loggedInDemo(query);
      await page.click('#to-settings');
      await page.waitForURL('**/settings');
      await waitReady(page);
      assert.equal(await status(page), 'logged in');

      await page.click('#logout');
      await page.locator('#status', { hasText: 'logged out' }).waitFor();
      assert.deepEqual(await context.cookies(auth.url), [], 'both cookies cleared');

      await page.goBack();
      await page.waitForURL((url) => url.pathname === '/');
      await waitReady(page);
      await page.locator('#status', { hasText: 'logged out' }).waitFor({ timeout: 10_000 });
      const restoredFromCache = (await page.evaluate(() => demo.pageshows)).includes(true);
      const why = await page.evaluate(() =>
        (performance.getEntriesByType('navigation')[0]?.notRestoredReasons?.reasons ?? [])
          .map((r) => r.reason)
          .join(', '),
      );
      t.diagnostic(`back: ${restoredFromCache ? 'back-forward cache' : `loaded again (${why})`}`);
      assert.equal(await page.evaluate(() => demo.callApi()), 'not_logged_in');

      await page.reload();
      await waitReady(page);
      assert.equal(await status(page), 'logged out');
      assert.equal(await page.evaluate(() => demo.callApi()), 'not_logged_in');
      await context.close();
    });
  }

  test('a page brought back from the back-forward cache asks the server again', async () => {
    const { page, context } = await loggedInDemo('?cache=1&proactive=0');
    await page.goto(`http://localhost:${hostileOtherSite.port}/`);
    // The session ends while the page sits in the cache (here a logout
    // from elsewhere that no tab hears of).
    const cookies = await context.cookies(auth.url);
    const cookie = (name) => cookies.find((c) => c.name === name).value;
    const logout = await fetch(`${auth.url}/logout`, {
      method: 'POST',
      headers: {
        Cookie: `${REFRESH_COOKIE}=${cookie(REFRESH_COOKIE)}`,
        'X-CSRF-Token': cookie(CSRF_COOKIE),
      },
    });
    assert.equal(logout.status, 204);

    // A page from the cache fires no load event: wait for the commit only.
    await page.goBack({ waitUntil: 'commit' });
    await page.waitForURL((url) => url.pathname === '/', { waitUntil: 'commit' });
    await waitReady(page);
    const why = await page.evaluate(() =>
      JSON.stringify(performance.getEntriesByType('navigation')[0]?.notRestoredReasons ?? null),
    );
    await eventually(
      async () => await page.evaluate(() => demo.pageshows.includes(true)),
      5000,
    ).catch(() => assert.fail(`not restored from the back-forward cache: ${why}`));
    await page.locator('#status', { hasText: 'logged out' }).waitFor();
    const events = await page.evaluate(() =>
      demo.events.map((e) => e.type + ' ' + (e.detail.reason ?? '')),
    );
    assert.equal(events.at(-1), 'sessionended logged_out_elsewhere');
    assert.equal(await page.evaluate(() => demo.callApi()), 'not_logged_in');
    await context.close();
  });

  test('a reload finds the session with GET /csrf and one refresh', async () => {
    const { page, context, requests } = await loggedInDemo('?proactive=0');
    const before = requests.length;
    await page.reload();
    await waitReady(page);
    assert.equal(await status(page), 'logged in');
    const after = requests.slice(before);
    assert.equal(sent(after, 'GET', `${auth.url}/csrf`).length, 1);
    assert.equal(sent(after, 'POST', refreshUrl()).length, 1);
    assert.equal(await page.evaluate(() => demo.callApi()), 200);
    await context.close();
  });

  test('a 403 on refresh fetches the CSRF token again once, then gives up', async () => {
    const { page, context, requests } = await loggedInDemo('?proactive=0');
    let tamper = 1;
    await context.route(refreshUrl(), async (route) => {
      if (tamper > 0) {
        tamper -= 1;
        const headers = { ...route.request().headers(), 'x-csrf-token': 'not-the-token' };
        await route.continue({ headers });
      } else {
        await route.continue();
      }
    });

    let before = requests.length;
    assert.deepEqual(await page.evaluate(() => demo.refresh()), { ok: true, value: 'ok' });
    let calls = requests
      .slice(before)
      .map((r) => `${r.method} ${new URL(r.url).pathname} ${r.status}`);
    assert.deepEqual(calls, ['POST /refresh 403', 'GET /csrf 200', 'POST /refresh 200']);
    assert.equal(await status(page), 'logged in');

    tamper = 2;
    before = requests.length;
    const result = await page.evaluate(() => demo.refresh());
    assert.equal(result.ok, false);
    calls = requests.slice(before).map((r) => `${r.method} ${new URL(r.url).pathname} ${r.status}`);
    assert.deepEqual(calls, ['POST /refresh 403', 'GET /csrf 200', 'POST /refresh 403']);
    const events = await page.evaluate(() =>
      demo.events.map((e) => e.type + ' ' + (e.detail.reason ?? '')),
    );
    assert.equal(events.at(-1), 'sessionended csrf_rejected');
    assert.equal(await status(page), 'logged out');
    await context.close();
  });

  test('network errors during refresh are retried with backoff and never log out', async () => {
    const { page, context, requests } = await loggedInDemo('?proactive=0');
    assert.equal(await page.evaluate(() => demo.callApi()), 200);
    let failures = 2;
    await context.route(refreshUrl(), async (route) => {
      if (failures > 0) {
        failures -= 1;
        await route.abort('connectionrefused');
      } else {
        await route.continue();
      }
    });
    await expireSeenTokens();
    let before = sent(requests, 'POST', refreshUrl()).length;
    assert.equal(await page.evaluate(() => demo.callApi()), 200);
    let refreshes = sent(requests, 'POST', refreshUrl()).slice(before);
    assert.deepEqual(
      refreshes.map((r) => r.failed),
      [true, true, false],
    );

    // The server stays unreachable past every retry: the call fails, the
    // session stays.
    failures = 1000;
    await expireSeenTokens();
    before = sent(requests, 'POST', refreshUrl()).length;
    assert.equal(await page.evaluate(() => demo.callApi()), 'network_error');
    refreshes = sent(requests, 'POST', refreshUrl()).slice(before);
    assert.equal(refreshes.length, 5, 'one try and four retries');
    assert.equal(await status(page), 'logged in');

    failures = 0;
    assert.equal(await page.evaluate(() => demo.callApi()), 200);
    const ended = await page.evaluate(() => demo.events.filter((e) => e.type === 'sessionended'));
    assert.deepEqual(ended, []);
    await context.close();
  });

  test('a refused refresh ends the session and tells the app', async () => {
    const { page, context } = await loggedInDemo('?proactive=0');
    // Someone else uses the refresh cookie first (a stolen copy): the
    // browser's next refresh presents a rotated-out token, so the server
    // detects reuse and revokes the session.
    const cookies = await context.cookies(auth.url);
    const cookie = (name) => cookies.find((c) => c.name === name).value;
    const stolen = await fetch(`${auth.url}/refresh`, {
      method: 'POST',
      headers: {
        Cookie: `${REFRESH_COOKIE}=${cookie(REFRESH_COOKIE)}`,
        'X-CSRF-Token': cookie(CSRF_COOKIE),
      },
    });
    assert.equal(stolen.status, 200);

    assert.equal(await page.evaluate(() => demo.callApi()), 200);
    await expireSeenTokens();
    assert.equal(await page.evaluate(() => demo.callApi()), 'invalid_grant');
    const events = await page.evaluate(() =>
      demo.events.map((e) => e.type + ' ' + (e.detail.reason ?? '')),
    );
    assert.equal(events.at(-1), 'sessionended refresh_rejected');
    assert.equal(await status(page), 'logged out');
    assert.deepEqual(await context.cookies(auth.url), [], 'the server cleared both cookies');
    await eventually(() => auth.auditEvents().some((e) => e.event === 'refresh_reuse'));
    const reuse = auth.auditEvents().findLast((e) => e.event === 'refresh_reuse');
    assert.match(reuse.presented_by_user_agent, /Chrome/);
    assert.doesNotMatch(reuse.rotated_by_user_agent, /Chrome/);
    await context.close();
  });

  test('the access token is refreshed shortly before it expires', async () => {
    // With a 60 s token and a 55 s lead, the refresh is due after 5 s.
    const { page, context, requests } = await loggedInDemo('?leeway=55');
    const expiresAt = await page.evaluate(() => demo.auth.expiresAt);
    const before = sent(requests, 'POST', refreshUrl()).length;
    await eventually(() => sent(requests, 'POST', refreshUrl()).length > before, 15_000);
    await eventually(async () => (await page.evaluate(() => demo.auth.expiresAt)) > expiresAt);
    const events = await page.evaluate(() => demo.events.map((e) => e.type));
    assert.equal(events.at(-1), 'tokenrefreshed');
    assert.equal(sent(requests, 'POST', refreshUrl()).length - before, 1);
    assert.equal(await page.evaluate(() => demo.callApi()), 200);
    await context.close();
  });

  test('the page sees a throttled login as 429 with the time to wait', async () => {
    // No such account: the counters key on the username all the same.
    const username = newUsername();
    const { context } = await newProfile(browser);
    const page = await openDemo(context, demo.origin, '?proactive=0');
    const attempts = [];
    for (let i = 0; i < 6; i += 1) {
      attempts.push(await page.evaluate((u) => demo.logIn(u, 'not the password 1'), username));
    }
    assert.deepEqual(
      attempts.slice(0, 5).map((a) => a.code),
      Array(5).fill('invalid_grant'),
    );
    const blocked = attempts[5];
    assert.equal(blocked.code, 'too_many_requests');
    assert.equal(blocked.status, 429);
    assert.ok(blocked.retryAfterSecs > 0, 'Retry-After is exposed to the page');
    assert.equal(await status(page), 'logged out');
    await context.close();
  });

  test('a Redis outage during refresh does not log the user out', async (t) => {
    // A server of its own, on a Redis this test stops and starts again.
    const redis = new RedisProcess();
    let server = null;
    let context = null;
    try {
      await redis.start();
      server = await AuthServer.start({ binary, redisUrl: redis.url, allowedOrigin: demo.origin });
      demo.useAuthServer(server.url);
      const username = newUsername();
      await signUp(username, server);
      let profile;
      ({ context, ...profile } = await newProfile(browser));
      const query = `?proactive=0&retries=40&server=${encodeURIComponent(server.url)}`;
      const page = await openDemo(context, demo.origin, query);
      const login = await page.evaluate(([u, p]) => demo.logIn(u, p), [username, PASSWORD]);
      assert.deepEqual(login, { ok: true, value: undefined });
      assert.equal(await page.evaluate(() => demo.callApi()), 200);
      await expireSeenTokens();

      await redis.stop();
      const call = page.evaluate(() => demo.callApi());
      const refresh = `${server.url}/refresh`;
      await eventually(() => sent(profile.requests, 'POST', refresh).some((r) => r.status === 503));
      await redis.start();

      assert.equal(await call, 200);
      const unavailable = sent(profile.requests, 'POST', refresh).find((r) => r.status === 503);
      const headers = unavailable.responseHeaders ?? {};
      assert.equal(
        headers['access-control-allow-origin'],
        demo.origin,
        'the page can read the 503',
      );
      assert.match(headers['retry-after'] ?? '', /^\d+$/);
      const statuses = sent(profile.requests, 'POST', refresh).map((r) => r.status ?? 'failed');
      t.diagnostic(`refresh statuses during the outage: ${statuses.join(' ')}`);
      assert.equal(statuses.at(-1), 200);
      assert.ok(!statuses.includes(401), 'an outage is never a 401');
      assert.equal(await status(page), 'logged in');
      const ended = await page.evaluate(() => demo.events.filter((e) => e.type === 'sessionended'));
      assert.deepEqual(ended, []);
    } finally {
      await context?.close();
      await server?.stop();
      await redis.remove();
    }
  });

  test('a password change ends the sessions of other devices', async () => {
    const username = newUsername();
    await signUp(username);
    const devices = [];
    for (let i = 0; i < 2; i += 1) {
      const { context } = await newProfile(browser);
      const page = await openDemo(context, demo.origin, '?proactive=0');
      const login = await page.evaluate(([u, p]) => demo.logIn(u, p), [username, PASSWORD]);
      assert.deepEqual(login, { ok: true, value: undefined });
      devices.push({ context, page });
    }
    const [mine, other] = devices;
    const newPassword = 'amber lighthouse quartz 93';

    const wrong = await mine.page.evaluate(
      ([c, n]) => demo.changePassword(c, n),
      ['not the password 2', newPassword],
    );
    assert.equal(wrong.code, 'invalid_grant');
    assert.equal(wrong.status, 400);
    const changed = await mine.page.evaluate(
      ([c, n]) => demo.changePassword(c, n),
      [PASSWORD, newPassword],
    );
    assert.deepEqual(changed, { ok: true, value: undefined });

    // This device keeps its session; the other one loses it at its next refresh.
    assert.deepEqual(await mine.page.evaluate(() => demo.refresh()), { ok: true, value: 'ok' });
    const refused = await other.page.evaluate(() => demo.refresh());
    assert.equal(refused.ok, false);
    assert.equal(await status(other.page), 'logged out');
    const events = await other.page.evaluate(() =>
      demo.events.map((e) => e.type + ' ' + (e.detail.reason ?? '')),
    );
    assert.equal(events.at(-1), 'sessionended refresh_rejected');

    const old = await other.page.evaluate(([u, p]) => demo.logIn(u, p), [username, PASSWORD]);
    assert.equal(old.code, 'invalid_grant');
    const again = await other.page.evaluate(([u, p]) => demo.logIn(u, p), [username, newPassword]);
    assert.deepEqual(again, { ok: true, value: undefined });
    for (const { context } of devices) {
      await context.close();
    }
  });

  // Runs last: it checks the log of every test before it.
  test('the server log contains no token or password of this run', async (t) => {
    t.diagnostic(`${tokensSeen.size} token values checked against ${auth.lines.length} log lines`);
    assert.ok(tokensSeen.size > 20, `only ${tokensSeen.size} tokens collected`);
    const log = auth.lines.map((l) => l.text).join('\n');
    assert.ok(log.length > 0);
    for (const token of tokensSeen) {
      assert.ok(!log.includes(token), `the server log contains a token: ${token.slice(0, 8)}…`);
    }
    assert.ok(!log.includes(PASSWORD), 'the server log contains the password');
    assert.ok(!log.includes('amber lighthouse quartz'), 'the server log contains a new password');
  });
});
