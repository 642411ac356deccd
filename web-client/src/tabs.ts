/**
 * Coordination between tabs of the same origin.
 *
 * A Web Lock serializes every request that presents or replaces the refresh
 * cookie, so two tabs never send the same refresh token. The second tab
 * takes the lock after the first has rotated the cookie. By then it has
 * usually received the new access token over the BroadcastChannel and uses
 * it without a request of its own; otherwise it refreshes with the rotated
 * cookie. Without Web Locks (see `exclusive`) tabs are not serialized.
 * Both APIs are same-origin only, so a page of another origin (another port
 * included) can neither take the lock nor read the messages.
 */

import { AuthError } from './errors.js';

/** A message from one tab to the others. */
export type TabMessage =
  | {
      readonly type: 'tokens';
      readonly accessToken: string;
      readonly expiresAt: number;
      readonly lifetimeMs: number;
      readonly scope: string;
      readonly csrfToken: string | null;
    }
  | { readonly type: 'ended' };

/** Checks the shape of a message before it is believed. */
export function parseTabMessage(data: unknown): TabMessage | null {
  if (typeof data !== 'object' || data === null) {
    return null;
  }
  const m = data as Record<string, unknown>;
  if (m['type'] === 'ended') {
    return { type: 'ended' };
  }
  if (
    m['type'] === 'tokens' &&
    typeof m['accessToken'] === 'string' &&
    typeof m['expiresAt'] === 'number' &&
    typeof m['lifetimeMs'] === 'number' &&
    typeof m['scope'] === 'string' &&
    (typeof m['csrfToken'] === 'string' || m['csrfToken'] === null)
  ) {
    return {
      type: 'tokens',
      accessToken: m['accessToken'],
      expiresAt: m['expiresAt'],
      lifetimeMs: m['lifetimeMs'],
      scope: m['scope'],
      csrfToken: m['csrfToken'],
    };
  }
  return null;
}

/** The lock and the channel shared by the tabs using one auth server. */
export class TabCoordinator {
  readonly #lockName: string;
  readonly #lockTimeoutMs: number;
  readonly #channel: BroadcastChannel | null;

  constructor(name: string, lockTimeoutMs: number, onMessage: (message: TabMessage) => void) {
    this.#lockName = name;
    this.#lockTimeoutMs = lockTimeoutMs;
    this.#channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(name) : null;
    this.#channel?.addEventListener('message', (event: MessageEvent<unknown>) => {
      const message = parseTabMessage(event.data);
      if (message !== null) {
        onMessage(message);
      }
    });
  }

  /** Tells the other tabs; a tab never receives its own messages. */
  post(message: TabMessage): void {
    this.#channel?.postMessage(message);
  }

  /**
   * Runs `work` while holding the lock. Without Web Locks (an insecure
   * context or an old browser) the work runs directly: the in-page single
   * flight still holds, but tabs are not serialized.
   */
  async exclusive<T>(work: () => Promise<T>): Promise<T> {
    const locks = typeof navigator === 'undefined' ? undefined : navigator.locks;
    if (locks === undefined) {
      return work();
    }
    let acquired = false;
    try {
      return await locks.request(
        this.#lockName,
        { signal: AbortSignal.timeout(this.#lockTimeoutMs) },
        () => {
          acquired = true;
          return work();
        },
      );
    } catch (error) {
      if (!acquired) {
        throw new AuthError(
          'lock_timeout',
          'another tab held the session lock for too long',
          0,
          undefined,
          { cause: error },
        );
      }
      throw error;
    }
  }

  close(): void {
    this.#channel?.close();
  }
}
