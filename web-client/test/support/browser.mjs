// Headless Chromium from Debian's package, driven by playwright-core, plus
// helpers that open the demo page and count the requests a context sends.

import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** Launches Chromium with a new, empty profile (Playwright makes a temporary one). */
export function launchChromium() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    // Playwright turns the back-forward cache off by default; a user's
    // browser has it on, and the logout test checks a page it brought back.
    ignoreDefaultArgs: ['--disable-back-forward-cache'],
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * Every token value the browser sent or received in this run: cookie
 * values, bearer tokens, and the tokens of JSON token responses. The last
 * test looks for each of them in the server's log.
 */
export const tokensSeen = new Set();

function noteCookieValues(text) {
  for (const match of (text ?? '').matchAll(/__Host-(?:refresh|csrf)_token=([^;,\s]+)/g)) {
    tokensSeen.add(match[1]);
  }
}

async function noteResponse(entry, response) {
  const headers = await response.allHeaders();
  entry.responseHeaders = headers;
  noteCookieValues(headers['set-cookie']);
  if (!(headers['content-type'] ?? '').startsWith('application/json')) {
    return;
  }
  const body = await response.json();
  for (const field of ['access_token', 'refresh_token', 'csrf_token']) {
    if (typeof body?.[field] === 'string') {
      tokensSeen.add(body[field]);
    }
  }
}

/**
 * A browser profile for one test: a new context that records every request
 * its pages send (method, URL, the page that sent it, the refresh cookie it
 * carried) and the status and headers of every response.
 */
export async function newProfile(browser) {
  const context = await browser.newContext();
  context.setDefaultTimeout(15_000);
  const requests = [];
  const entries = new WeakMap();
  context.on('request', (request) => {
    const entry = { method: request.method(), url: request.url(), status: null, failed: false };
    entry.frame = request.frame()?.url() ?? null;
    entries.set(request, entry);
    requests.push(entry);
    request
      .allHeaders()
      .then((headers) => {
        entry.cookie = headers.cookie ?? '';
        noteCookieValues(entry.cookie);
        const bearer = /^Bearer (.+)$/.exec(headers.authorization ?? '');
        if (bearer !== null) {
          tokensSeen.add(bearer[1]);
        }
      })
      .catch(() => undefined);
    request
      .response()
      .then((response) => {
        entry.status = response?.status() ?? null;
        return response === null ? undefined : noteResponse(entry, response);
      })
      .catch(() => undefined);
  });
  context.on('requestfailed', (request) => {
    const entry = entries.get(request);
    if (entry) {
      entry.failed = true;
    }
  });
  return { context, requests };
}

/** Requests of `method` to exactly `url`. */
export function sent(requests, method, url) {
  return requests.filter((r) => r.method === method && r.url === url);
}

/** Opens the demo page (with optional query) and waits until it has restored its session. */
export async function openDemo(context, demoOrigin, query = '') {
  const page = await context.newPage();
  await page.goto(`${demoOrigin}/${query}`);
  await waitReady(page);
  return page;
}

/** Waits until the demo page's start-up (restore) finished. */
export async function waitReady(page) {
  await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
}

/** Reads the demo page's status text. */
export function status(page) {
  return page.locator('#status').textContent();
}

/** Polls `check` every 50 ms until it returns true, at most `ms`. */
export async function eventually(check, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(`condition not met within ${ms} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Extracts the value of cookie `name` from a Cookie header. */
export function cookieValue(header, name) {
  const pair = (header ?? '').split('; ').find((c) => c.startsWith(`${name}=`));
  return pair === undefined ? null : pair.slice(name.length + 1);
}
