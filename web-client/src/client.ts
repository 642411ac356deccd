/**
 * The browser client of the auth server.
 *
 * The access token lives only in this object's memory. The refresh token
 * lives in the auth server's HttpOnly cookie, which scripts cannot read. The
 * CSRF token lives in memory too, and `GET /csrf` fetches it again after a
 * reload. Nothing is written to `localStorage`, `sessionStorage` or
 * `document.cookie`.
 */

import { AuthError, errorFromResponse } from './errors.js';
import { TabCoordinator, type TabMessage } from './tabs.js';

/** Settings of an {@link AuthClient}. Only `authServer` is required. */
export interface AuthClientOptions {
  /** Base URL of the auth server, such as `https://auth.example.com`. */
  readonly authServer: string;
  /** The browser client registered on the server. Default `web`. */
  readonly clientId?: string;
  /**
   * Origins that `fetch` may send the access token to. Default: the page's
   * own origin. A request to any other origin is refused, so the token
   * cannot leak to a third party by mistake.
   */
  readonly apiOrigins?: readonly string[];
  /** Refresh proactively this many seconds before expiry. Default 30. */
  readonly refreshLeewaySecs?: number;
  /** Whether to refresh before the access token expires. Default true. */
  readonly proactiveRefresh?: boolean;
  /** Retries of a refresh that met a network error or a 429/5xx. Default 4. */
  readonly networkRetries?: number;
  /** First retry delay in milliseconds; it doubles each time. Default 500. */
  readonly retryBaseDelayMs?: number;
  /** Maximum delay between two retries, in milliseconds. Default 8000. */
  readonly retryMaxDelayMs?: number;
  /** Maximum wait for another tab's refresh, in milliseconds. Default 60000. */
  readonly lockTimeoutMs?: number;
  /** Timeout of one request to the auth server, in milliseconds. Default 15000. */
  readonly requestTimeoutMs?: number;
  /** Name of the Web Lock and the BroadcastChannel. Default from the server and client id. */
  readonly coordinationName?: string;
  /** The `fetch` to use. Default: the global one. */
  readonly fetch?: typeof globalThis.fetch;
}

/** The reason a session ended. */
export type SessionEndReason =
  /** `logOut()` in this tab. */
  | 'logged_out'
  /**
   * Another tab logged out or lost the session, or the back button brought
   * back a page whose session is gone.
   */
  | 'logged_out_elsewhere'
  /** The server refused the refresh: expired, revoked or reused. */
  | 'refresh_rejected'
  /** The server refused the CSRF token again after a fresh one was fetched. */
  | 'csrf_rejected';

/** The way a tab became logged in. */
export type LoginSource = 'login' | 'signup' | 'restore' | 'other_tab';

/** The events an {@link AuthClient} emits, by name. */
export interface AuthClientEventMap {
  /** A session started in this tab (or was found after a reload). */
  loggedin: CustomEvent<{ readonly source: LoginSource }>;
  /** A new access token arrived, from this tab's refresh or another tab's. */
  tokenrefreshed: CustomEvent<{ readonly expiresAt: number; readonly fromOtherTab: boolean }>;
  /** The session is over: send the user to log in again. */
  sessionended: CustomEvent<{ readonly reason: SessionEndReason }>;
}

interface Session {
  readonly accessToken: string;
  /** Epoch milliseconds, by this machine's clock. */
  readonly expiresAt: number;
  readonly lifetimeMs: number;
  readonly scope: string;
}

interface TokenBody {
  readonly access_token: string;
  readonly expires_in: number;
  readonly scope: string;
  readonly csrf_token: string | null;
}

function parseTokenBody(body: unknown): TokenBody {
  const fields = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const token = fields['access_token'];
  const expiresIn = fields['expires_in'];
  if (
    typeof token !== 'string' ||
    token === '' ||
    typeof expiresIn !== 'number' ||
    !(expiresIn > 0)
  ) {
    throw new AuthError('invalid_response', 'the token response lacks access_token or expires_in');
  }
  return {
    access_token: token,
    expires_in: expiresIn,
    scope: typeof fields['scope'] === 'string' ? fields['scope'] : '',
    csrf_token: typeof fields['csrf_token'] === 'string' ? fields['csrf_token'] : null,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function isTransientStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/**
 * Any failure as an {@link AuthError}: a body that is not JSON is an
 * invalid response; an aborted or broken body read is a network error.
 */
function asAuthError(error: unknown): AuthError {
  if (error instanceof AuthError) {
    return error;
  }
  if (error instanceof SyntaxError) {
    const message = 'the auth server sent a body that is not JSON';
    return new AuthError('invalid_response', message, 0, undefined, { cause: error });
  }
  const message = 'reading the auth server response failed';
  return new AuthError('network_error', message, 0, undefined, { cause: error });
}

function isTransient(error: unknown): boolean {
  if (error instanceof AuthError) {
    return error.code === 'network_error' || isTransientStatus(error.status);
  }
  return false;
}

/**
 * Talks to the auth server for one page and keeps the session.
 *
 * ```ts
 * const auth = new AuthClient({ authServer: 'https://auth.example.com' });
 * auth.on('sessionended', () => showLogin());
 * if (!(await auth.restore())) showLogin();
 * const response = await auth.fetch('/api/orders');
 * ```
 */
export class AuthClient extends EventTarget {
  readonly #server: string;
  readonly #clientId: string;
  readonly #apiOrigins: readonly string[];
  readonly #leewayMs: number;
  readonly #proactive: boolean;
  readonly #retries: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #requestTimeoutMs: number;
  readonly #fetch: typeof globalThis.fetch;
  readonly #tabs: TabCoordinator;

  #session: Session | null = null;
  #csrf: string | null = null;
  /** Bumps whenever the access token changes. */
  #generation = 0;
  /** Bumps when a session starts or ends; results of an older epoch are dropped. */
  #epoch = 0;
  #refreshing: Promise<string> | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  readonly #onPageShow = (event: PageTransitionEvent): void => {
    if (event.persisted) {
      void this.#recheckRestoredPage();
    }
  };

  constructor(options: AuthClientOptions) {
    super();
    this.#server = new URL(options.authServer).origin;
    this.#clientId = options.clientId ?? 'web';
    const pageOrigin = typeof location === 'undefined' ? [] : [location.origin];
    this.#apiOrigins = (options.apiOrigins ?? pageOrigin).map((o) => new URL(o).origin);
    this.#leewayMs = Math.max(0, options.refreshLeewaySecs ?? 30) * 1000;
    this.#proactive = options.proactiveRefresh ?? true;
    this.#retries = Math.max(0, Math.floor(options.networkRetries ?? 4));
    this.#baseDelayMs = Math.max(1, options.retryBaseDelayMs ?? 500);
    this.#maxDelayMs = Math.max(this.#baseDelayMs, options.retryMaxDelayMs ?? 8000);
    this.#requestTimeoutMs = Math.max(1, options.requestTimeoutMs ?? 15_000);
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    const name = options.coordinationName ?? `auth-client ${this.#server} ${this.#clientId}`;
    this.#tabs = new TabCoordinator(name, options.lockTimeoutMs ?? 60_000, (m) =>
      this.#onTabMessage(m),
    );
    if (typeof window !== 'undefined') {
      window.addEventListener('pageshow', this.#onPageShow);
    }
  }

  /** True while this tab has an access token. */
  get isLoggedIn(): boolean {
    return this.#session !== null;
  }

  /** When the access token expires (epoch milliseconds), or null when logged out. */
  get expiresAt(): number | null {
    return this.#session?.expiresAt ?? null;
  }

  /** The scope of the access token, or null when logged out. */
  get scope(): string | null {
    return this.#session?.scope ?? null;
  }

  /** Adds a typed listener; returns a function that removes it. */
  on<K extends keyof AuthClientEventMap>(
    type: K,
    listener: (event: AuthClientEventMap[K]) => void,
  ): () => void {
    const wrapped = (event: Event): void => listener(event as AuthClientEventMap[K]);
    this.addEventListener(type, wrapped);
    return () => this.removeEventListener(type, wrapped);
  }

  /** Creates an account and logs it in. */
  async signUp(username: string, password: string): Promise<void> {
    const body = JSON.stringify({ username, password, client_id: this.#clientId });
    await this.#startSession('signup', () =>
      this.#call('/signup', { body, headers: { 'Content-Type': 'application/json' } }),
    );
  }

  /** Logs in with a username and password (the first-party password grant). */
  async logIn(username: string, password: string, scope?: string): Promise<void> {
    const form = new URLSearchParams({
      grant_type: 'password',
      username,
      password,
      client_id: this.#clientId,
    });
    if (scope !== undefined) {
      form.set('scope', scope);
    }
    await this.#startSession('login', () => this.#call('/token', { body: form }));
  }

  /**
   * Finds the session after a page load: fetches the CSRF token with
   * `GET /csrf`, then refreshes. Resolves false when there is no session;
   * rejects only when the server cannot be reached.
   */
  async restore(): Promise<boolean> {
    if (this.#session !== null) {
      return true;
    }
    try {
      await this.refresh();
      return true;
    } catch (error) {
      if (error instanceof AuthError && !isTransient(error) && error.code !== 'lock_timeout') {
        return false;
      }
      throw error;
    }
  }

  /**
   * Revokes the session on the server and clears it here and in every tab.
   * Network errors are retried; if the server still cannot be reached the
   * call rejects and the session is kept, so the app can say so and let the
   * user try again.
   */
  async logOut(): Promise<void> {
    await this.#tabs.exclusive(async () => {
      let csrfRetried = false;
      for (let failures = 0; ;) {
        try {
          if (this.#csrf === null && (await this.#loadCsrf()) === null) {
            break;
          }
          const response = await this.#call('/logout', { headers: this.#csrfHeader() });
          if (response.ok) {
            break;
          }
          if (response.status === 403 && !csrfRetried) {
            csrfRetried = true;
            this.#csrf = null;
            continue;
          }
          throw await errorFromResponse(response);
        } catch (error) {
          const failure = asAuthError(error);
          if (!isTransient(failure) || failures >= this.#retries) {
            throw failure;
          }
          await sleep(this.#backoff(failures++, failure));
        }
      }
      this.#end('logged_out', true);
    });
  }

  /**
   * Changes the user's password with `POST /password`. The server revokes
   * every other session of the user and keeps this one. Rejects with
   * `invalid_grant` for a wrong current password and `invalid_request` for
   * a new password that breaks the sign-up rules.
   */
  async changePassword(currentPassword: string, newPassword: string): Promise<void> {
    const body = JSON.stringify({ current_password: currentPassword, new_password: newPassword });
    const send = (token: string): Promise<Response> =>
      this.#call('/password', {
        body,
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      });
    const token = await this.getAccessToken();
    let response = await send(token);
    if (response.status === 401) {
      await response.body?.cancel();
      response = await send(await this.#tokenAfterRejection(token));
    }
    if (!response.ok) {
      throw await errorFromResponse(response);
    }
    await response.body?.cancel();
  }

  /**
   * Returns a valid access token: the current one, or a new one when it has
   * expired. For the rare caller that cannot use {@link AuthClient.fetch},
   * such as a WebSocket handshake.
   */
  async getAccessToken(): Promise<string> {
    const session = this.#session;
    if (session === null) {
      throw new AuthError('not_logged_in', 'no session: log in first');
    }
    if (session.expiresAt <= Date.now()) {
      return this.refresh();
    }
    return session.accessToken;
  }

  /**
   * `fetch` with the access token. On a 401 it waits for one refresh shared
   * by every caller in the page (and serialized with other tabs), then sends
   * the request once more with the new token. The second response is
   * returned whatever its status. Bound: it can be passed around as a plain function.
   */
  readonly fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    if (!this.#apiOrigins.includes(new URL(request.url).origin)) {
      throw new AuthError(
        'origin_not_allowed',
        `not an API origin: ${new URL(request.url).origin}`,
      );
    }
    const token = await this.getAccessToken();
    const first = await this.#withToken(request, token);
    if (first.status !== 401) {
      return first;
    }
    await first.body?.cancel();
    return this.#withToken(request, await this.#tokenAfterRejection(token));
  };

  /**
   * Gets a new access token. Concurrent calls in the page share one
   * request; across tabs a Web Lock lets one tab refresh while the others
   * wait and take its result. Network errors and 429/5xx responses are retried
   * with backoff and never end the session; a refused refresh ends it and
   * emits `sessionended`.
   */
  refresh(): Promise<string> {
    if (this.#refreshing === null) {
      const seen = this.#generation;
      const epoch = this.#epoch;
      const flight = this.#tabs.exclusive(() => this.#refreshUnlessShared(seen, epoch));
      this.#refreshing = flight;
      flight
        .finally(() => {
          if (this.#refreshing === flight) {
            this.#refreshing = null;
          }
        })
        .catch(() => undefined);
    }
    return this.#refreshing;
  }

  /** Stops timers and listeners. The session on the server is left as it is. */
  dispose(): void {
    this.#clearTimer();
    this.#tabs.close();
    if (typeof window !== 'undefined') {
      window.removeEventListener('pageshow', this.#onPageShow);
    }
  }

  #withToken(request: Request, token: string): Promise<Response> {
    const headers = new Headers(request.headers);
    headers.set('Authorization', `Bearer ${token}`);
    return this.#fetch(new Request(request.clone(), { headers }));
  }

  /** Returns the token to retry with after `rejected` got a 401. */
  async #tokenAfterRejection(rejected: string): Promise<string> {
    const session = this.#session;
    if (session === null) {
      throw new AuthError('session_ended', 'the session ended; log in again');
    }
    if (session.accessToken !== rejected) {
      return session.accessToken;
    }
    return this.refresh();
  }

  /** Runs under the lock: uses another tab's fresh token if one came, else refreshes. */
  async #refreshUnlessShared(seen: number, epoch: number): Promise<string> {
    const session = this.#session;
    if (this.#generation !== seen && session !== null && this.#isFresh(session)) {
      return session.accessToken;
    }
    return this.#refreshNow(epoch);
  }

  async #refreshNow(epoch: number): Promise<string> {
    let csrfRetried = false;
    for (let failures = 0; ;) {
      this.#checkEpoch(epoch);
      try {
        if (this.#csrf === null && (await this.#loadCsrf()) === null) {
          this.#end('refresh_rejected', true);
          throw new AuthError('not_logged_in', 'no session on the server', 401);
        }
        const form = new URLSearchParams({ client_id: this.#clientId });
        const response = await this.#call('/refresh', { body: form, headers: this.#csrfHeader() });
        if (response.ok) {
          const body = parseTokenBody(await response.json());
          this.#checkEpoch(epoch);
          return this.#accept(body, this.#session === null ? 'restore' : null);
        }
        if (response.status === 403 && !csrfRetried) {
          csrfRetried = true;
          this.#csrf = null;
          continue;
        }
        const error = await errorFromResponse(response);
        if (!isTransientStatus(response.status)) {
          this.#checkEpoch(epoch);
          this.#end(response.status === 403 ? 'csrf_rejected' : 'refresh_rejected', true);
        }
        throw error;
      } catch (error) {
        const failure = asAuthError(error);
        if (!isTransient(failure) || failures >= this.#retries) {
          throw failure;
        }
        await sleep(this.#backoff(failures++, failure));
      }
    }
  }

  /** Fetches the CSRF token with `GET /csrf`; null when the cookie names no live session. */
  async #loadCsrf(): Promise<string | null> {
    const response = await this.#call('/csrf', { method: 'GET' });
    if (response.status === 401) {
      await response.body?.cancel();
      return null;
    }
    if (!response.ok) {
      throw await errorFromResponse(response);
    }
    const body: unknown = await response.json();
    const token = (body as Record<string, unknown> | null)?.['csrf_token'];
    if (typeof token !== 'string' || token === '') {
      throw new AuthError('invalid_response', 'the /csrf response lacks csrf_token');
    }
    this.#csrf = token;
    return token;
  }

  async #startSession(source: LoginSource, send: () => Promise<Response>): Promise<void> {
    await this.#tabs.exclusive(async () => {
      const response = await send();
      if (!response.ok) {
        throw await errorFromResponse(response);
      }
      let body: TokenBody;
      try {
        body = parseTokenBody(await response.json());
      } catch (error) {
        throw asAuthError(error);
      }
      this.#epoch += 1;
      this.#session = null;
      this.#accept(body, source);
    });
  }

  /** Stores a token response, sends it to the other tabs and emits the event. */
  #accept(body: TokenBody, loginSource: LoginSource | null): string {
    const session: Session = {
      accessToken: body.access_token,
      expiresAt: Date.now() + body.expires_in * 1000,
      lifetimeMs: body.expires_in * 1000,
      scope: body.scope,
    };
    this.#setSession(session);
    if (body.csrf_token !== null) {
      this.#csrf = body.csrf_token;
    }
    this.#tabs.post({ type: 'tokens', ...session, csrfToken: this.#csrf });
    if (loginSource !== null) {
      this.#emit('loggedin', { source: loginSource });
    } else {
      this.#emit('tokenrefreshed', { expiresAt: session.expiresAt, fromOtherTab: false });
    }
    return session.accessToken;
  }

  #onTabMessage(message: TabMessage): void {
    if (message.type === 'ended') {
      this.#end('logged_out_elsewhere', false);
      return;
    }
    const current = this.#session;
    if (current !== null && message.expiresAt <= current.expiresAt) {
      return;
    }
    const { accessToken, expiresAt, lifetimeMs, scope } = message;
    if (current === null) {
      this.#epoch += 1;
    }
    this.#setSession({ accessToken, expiresAt, lifetimeMs, scope });
    if (message.csrfToken !== null) {
      this.#csrf = message.csrfToken;
    }
    if (current === null) {
      this.#emit('loggedin', { source: 'other_tab' });
    } else {
      this.#emit('tokenrefreshed', { expiresAt, fromOtherTab: true });
    }
  }

  #setSession(session: Session): void {
    this.#session = session;
    this.#generation += 1;
    this.#schedule(session);
  }

  /** Clears the session and emits `sessionended` if there was one. */
  #end(reason: SessionEndReason, tellOtherTabs: boolean): void {
    const had = this.#session !== null;
    this.#session = null;
    this.#csrf = null;
    this.#epoch += 1;
    this.#generation += 1;
    this.#clearTimer();
    if (tellOtherTabs) {
      this.#tabs.post({ type: 'ended' });
    }
    if (had) {
      this.#emit('sessionended', { reason });
    }
  }

  /**
   * The back button can bring back a page from the back-forward cache with
   * a token in memory whose session was since logged out. Such a page
   * clears its state and restores the session from the server again.
   */
  async #recheckRestoredPage(): Promise<void> {
    const had = this.#session !== null;
    this.#session = null;
    this.#csrf = null;
    this.#epoch += 1;
    this.#generation += 1;
    this.#clearTimer();
    let found = false;
    try {
      found = await this.restore();
    } catch {
      // Unreachable server: stay logged out until the app retries.
    }
    if (!found && had) {
      this.#emit('sessionended', { reason: 'logged_out_elsewhere' });
    }
  }

  #isFresh(session: Session): boolean {
    return session.expiresAt - Date.now() > this.#leeway(session);
  }

  #leeway(session: Session): number {
    return Math.min(this.#leewayMs, session.lifetimeMs * 0.9);
  }

  #schedule(session: Session): void {
    this.#clearTimer();
    if (!this.#proactive) {
      return;
    }
    const delay = Math.max(0, session.expiresAt - this.#leeway(session) - Date.now());
    this.#timer = setTimeout(() => {
      this.#timer = null;
      // Failures end the session (and emit) or leave it for the next call to retry.
      this.refresh().catch(() => undefined);
    }, delay);
  }

  #clearTimer(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }

  #checkEpoch(epoch: number): void {
    if (epoch !== this.#epoch) {
      throw new AuthError('session_ended', 'the session ended; log in again');
    }
  }

  #csrfHeader(): Record<string, string> {
    return this.#csrf === null ? {} : { 'X-CSRF-Token': this.#csrf };
  }

  /** Exponential backoff with jitter, at least the server's `Retry-After`. */
  #backoff(failures: number, error: unknown): number {
    const exponential = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** failures);
    const jittered = exponential * (0.5 + Math.random() / 2);
    const asked = error instanceof AuthError ? (error.retryAfterSecs ?? 0) * 1000 : 0;
    return Math.min(this.#maxDelayMs, Math.max(jittered, asked));
  }

  /**
   * A credentialed request to the auth server. Network failures and
   * timeouts (which also cover reading the body) become `network_error`.
   */
  async #call(
    path: string,
    init: { method?: string; body?: BodyInit; headers?: Record<string, string> },
  ): Promise<Response> {
    try {
      return await this.#fetch(`${this.#server}${path}`, {
        method: init.method ?? 'POST',
        credentials: 'include',
        mode: 'cors',
        cache: 'no-store',
        signal: AbortSignal.timeout(this.#requestTimeoutMs),
        headers: init.headers ?? {},
        ...(init.body === undefined ? {} : { body: init.body }),
      });
    } catch (error) {
      throw new AuthError('network_error', `cannot reach the auth server (${path})`, 0, undefined, {
        cause: error,
      });
    }
  }

  #emit<K extends keyof AuthClientEventMap>(
    type: K,
    detail: AuthClientEventMap[K]['detail'],
  ): void {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
