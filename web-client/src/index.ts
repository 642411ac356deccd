/**
 * Browser client of the auth server: log in, keep the access token in
 * memory, refresh through the HttpOnly cookie with one request per page and
 * one tab at a time.
 */

export {
  AuthClient,
  type AuthClientEventMap,
  type AuthClientOptions,
  type LoginSource,
  type SessionEndReason,
} from './client.js';
export { AuthError, type ClientErrorCode } from './errors.js';
