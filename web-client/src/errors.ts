/**
 * Errors thrown by the client. Every failure of a call to the auth server
 * arrives as an {@link AuthError}; its `code` is the server's RFC 6749 error
 * code, or one of the client's own codes listed in {@link ClientErrorCode}.
 */

/** Codes for failures that did not come from a server response. */
export type ClientErrorCode =
  /** The server could not be reached (after the retries, where there are any). */
  | 'network_error'
  /** A call that needs a session was made while logged out. */
  | 'not_logged_in'
  /** The session ended while the call waited; the user must log in again. */
  | 'session_ended'
  /** `fetch` was asked to send the access token to an origin not configured as an API. */
  | 'origin_not_allowed'
  /** Another tab held the refresh lock for longer than the configured limit. */
  | 'lock_timeout';

/** A failed call to the auth server. */
export class AuthError extends Error {
  /** The server's `error` field, or a {@link ClientErrorCode}. */
  readonly code: string;
  /** HTTP status of the response, or 0 when there was none. */
  readonly status: number;
  /** Seconds to wait before retrying, from the `Retry-After` header when present. */
  readonly retryAfterSecs: number | undefined;

  constructor(
    code: string,
    message: string,
    status = 0,
    retryAfterSecs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AuthError';
    this.code = code;
    this.status = status;
    this.retryAfterSecs = retryAfterSecs;
  }
}

/** Parses the `Retry-After` header as whole seconds; undefined unless it is a plain number. */
export function retryAfterSecs(response: Response): number | undefined {
  const header = response.headers.get('Retry-After');
  if (header === null || !/^\d{1,6}$/.test(header.trim())) {
    return undefined;
  }
  return Number(header.trim());
}

/**
 * Builds the error for a non-success response. Only the `error` and
 * `error_description` fields of a JSON body are used, and the rest of the
 * body is ignored.
 */
export async function errorFromResponse(response: Response): Promise<AuthError> {
  let code = `http_${response.status}`;
  let description = `the auth server responded with status ${response.status}`;
  try {
    const body: unknown = await response.json();
    if (typeof body === 'object' && body !== null) {
      const fields = body as Record<string, unknown>;
      if (typeof fields['error'] === 'string') {
        code = fields['error'];
      }
      if (typeof fields['error_description'] === 'string') {
        description = fields['error_description'];
      }
    }
  } catch {
    // Not JSON: keep the status-based code.
  }
  return new AuthError(code, description, response.status, retryAfterSecs(response));
}
