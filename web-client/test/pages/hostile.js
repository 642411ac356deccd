// Attacks that a page of a foreign origin can try against the user's session.
// `window.attack(authServer)` runs each attempt and reports what the page
// could observe; the test then checks the session on the demo page.

async function attempt(name, run) {
  try {
    const response = await run();
    let body = null;
    try {
      body = await response.text();
    } catch {
      body = null;
    }
    return { name, outcome: 'response', type: response.type, status: response.status, body };
  } catch (error) {
    return { name, outcome: 'error', error: String(error && error.name) };
  }
}

function readCookie(name) {
  const found = document.cookie.split('; ').find((c) => c.startsWith(`${name}=`));
  return found === undefined ? null : found.slice(name.length + 1);
}

/** Submits a form in the hidden iframe and waits for it to load (bounded). */
function submitForm(action, fields) {
  return new Promise((resolve) => {
    const frame = document.querySelector('iframe[name=sink]');
    const timer = setTimeout(() => resolve('timeout'), 5000);
    frame.addEventListener(
      'load',
      () => {
        clearTimeout(timer);
        resolve('loaded');
      },
      { once: true },
    );
    const form = document.createElement('form');
    form.method = 'POST';
    form.action = action;
    form.target = 'sink';
    for (const [key, value] of Object.entries(fields)) {
      const input = document.createElement('input');
      input.type = 'hidden';
      input.name = key;
      input.value = value;
      form.append(input);
    }
    document.body.append(form);
    form.submit();
    form.remove();
  });
}

window.attack = async (authServer) => {
  const csrfCookie = readCookie('__Host-csrf_token');
  const csrf = csrfCookie ?? 'guessed-csrf-token';
  const results = [];
  const add = async (name, run) => results.push(await attempt(name, run));
  const post = (path, init = {}) =>
    fetch(`${authServer}${path}`, { method: 'POST', credentials: 'include', ...init });

  await add('cors refresh', () => post('/refresh'));
  await add('cors refresh with csrf', () =>
    post('/refresh', { headers: { 'X-CSRF-Token': csrf } }),
  );
  await add('cors csrf', () => fetch(`${authServer}/csrf`, { credentials: 'include' }));
  await add('cors logout with csrf', () => post('/logout', { headers: { 'X-CSRF-Token': csrf } }));
  await add('no-cors refresh', () => post('/refresh', { mode: 'no-cors' }));
  await add('no-cors logout', () =>
    post('/logout', {
      mode: 'no-cors',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: 'web', csrf_token: csrf }),
    }),
  );
  await add('no-cors token', () =>
    post('/token', {
      mode: 'no-cors',
      body: new URLSearchParams({
        grant_type: 'password',
        username: 'x',
        password: 'y',
        client_id: 'web',
      }),
    }),
  );
  await add('no-cors signup', () =>
    post('/signup', {
      mode: 'no-cors',
      body: new URLSearchParams({
        username: `hostile-${Date.now()}`,
        password: 'hostile page password 7',
        client_id: 'web',
      }),
    }),
  );
  const forms = {
    refresh: await submitForm(`${authServer}/refresh`, { client_id: 'web', csrf_token: csrf }),
    logout: await submitForm(`${authServer}/logout`, { client_id: 'web', csrf_token: csrf }),
  };
  return {
    origin: location.origin,
    documentCookie: document.cookie,
    csrfCookieReadable: csrfCookie !== null,
    refreshCookieReadable: readCookie('__Host-refresh_token') !== null,
    results,
    forms,
  };
};
