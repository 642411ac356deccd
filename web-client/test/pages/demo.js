// The demo app: renders the session state and exposes `window.demo` for the
// browser tests. Query parameters tune the client for a test:
// proactive=0 turns proactive refresh off, leeway=N sets its lead time,
// retries=N sets the refresh retries, server=URL picks a registered server.
import { AuthClient, AuthError } from '/web-client/index.js';

const params = new URLSearchParams(location.search);
const config = await (await fetch(`/config.json${location.search}`)).json();
const auth = new AuthClient({
  authServer: config.authServer,
  proactiveRefresh: params.get('proactive') !== '0',
  refreshLeewaySecs: Number(params.get('leeway') ?? '30'),
  networkRetries: Number(params.get('retries') ?? '4'),
  retryBaseDelayMs: 50,
  retryMaxDelayMs: 200,
});

const statusEl = document.getElementById('status');
const logEl = document.getElementById('log');
const events = [];

function render() {
  statusEl.textContent = auth.isLoggedIn ? 'logged in' : 'logged out';
}

function note(line) {
  logEl.textContent += `${line}\n`;
}

for (const type of ['loggedin', 'tokenrefreshed', 'sessionended']) {
  auth.on(type, (event) => {
    events.push({ type, detail: event.detail });
    note(`${type} ${JSON.stringify(event.detail)}`);
    render();
  });
}

/** Calls the API once and resolves to the status, or to the client's error code. */
async function callApi() {
  try {
    const response = await auth.fetch('/api/me');
    await response.text();
    return response.status;
  } catch (error) {
    return error instanceof AuthError ? error.code : String(error);
  }
}

async function settle(promise) {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    if (error instanceof AuthError) {
      const { code, status, retryAfterSecs } = error;
      return { ok: false, code, status, retryAfterSecs: retryAfterSecs ?? null };
    }
    return { ok: false, code: String(error) };
  }
}

document.getElementById('login').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  auth.logIn(String(form.get('username')), String(form.get('password'))).then(
    () => note('logged in'),
    (error) => note(`login failed: ${error.code}`),
  );
});
document.getElementById('logout').addEventListener('click', () => {
  auth.logOut().then(
    () => note('logged out'),
    (error) => note(`logout failed: ${error.code}`),
  );
});
document.getElementById('call-api').addEventListener('click', async () => {
  note(`api: ${await callApi()}`);
});

const pageshows = [];
window.addEventListener('pageshow', (event) => {
  pageshows.push(event.persisted);
  if (event.persisted) {
    note('restored from the back-forward cache');
  }
});

window.demo = {
  auth,
  events,
  pageshows,
  callApi,
  callMany: (n) => Promise.all(Array.from({ length: n }, () => callApi())),
  signUp: (u, p) => settle(auth.signUp(u, p)),
  logIn: (u, p) => settle(auth.logIn(u, p)),
  logOut: () => settle(auth.logOut()),
  changePassword: (current, next) => settle(auth.changePassword(current, next)),
  refresh: () => settle(auth.refresh().then(() => 'ok')),
  storage: () => ({ local: localStorage.length, session: sessionStorage.length }),
};

const restored = await settle(auth.restore());
note(`restore: ${JSON.stringify(restored)}`);
render();
document.body.dataset.ready = 'true';
