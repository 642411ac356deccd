// openid-client (v6) discovers the RFC 8414 metadata and runs the password,
// refresh_token and client_credentials grants, revocation and introspection.
//
// openid-client refuses plain http; the server listens on loopback, so the
// tests turn on its documented allowInsecureRequests option.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as client from 'openid-client';

import {
  confidential,
  issuer,
  publicClientId,
  signUp,
  specialConfidential,
} from '../lib/helpers.js';

// `algorithm: 'oauth2'` makes discovery read
// /.well-known/oauth-authorization-server (RFC 8414) instead of the OpenID
// Connect document, which this server does not publish.
const discoveryOptions = { algorithm: 'oauth2', execute: [client.allowInsecureRequests] };

function discoverPublic() {
  return client.discovery(
    new URL(issuer()),
    publicClientId(),
    undefined,
    client.None(),
    discoveryOptions,
  );
}

function discoverConfidential({ id, secret }, auth = client.ClientSecretBasic) {
  return client.discovery(new URL(issuer()), id, undefined, auth(secret), discoveryOptions);
}

async function logIn(config) {
  const { username, password } = await signUp();
  return client.genericGrantRequest(config, 'password', { username, password, scope: 'api' });
}

async function rejectsWith(promise, code) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof client.ResponseBodyError, String(error));
    assert.equal(error.error, code);
    return true;
  });
}

test('discovery reads the RFC 8414 metadata', async () => {
  const metadata = (await discoverPublic()).serverMetadata();

  assert.equal(metadata.issuer, issuer());
  for (const name of ['token_endpoint', 'revocation_endpoint', 'introspection_endpoint']) {
    assert.ok(metadata[name].startsWith(`${issuer()}/`), name);
  }
  assert.ok(metadata.grant_types_supported.includes('client_credentials'));
});

test('a public client logs in and refreshes', async () => {
  const config = await discoverPublic();

  const first = await logIn(config);
  const second = await client.refreshTokenGrant(config, first.refresh_token);

  assert.equal(first.token_type, 'bearer');
  assert.ok(second.access_token);
  assert.notEqual(second.refresh_token, first.refresh_token);
});

test('a revoked refresh token no longer refreshes', async () => {
  const config = await discoverPublic();
  const tokens = await logIn(config);

  await client.tokenRevocation(config, tokens.refresh_token, {
    token_type_hint: 'refresh_token',
  });

  await rejectsWith(client.refreshTokenGrant(config, tokens.refresh_token), 'invalid_grant');
});

for (const [name, auth] of [
  ['client_secret_basic', client.ClientSecretBasic],
  ['client_secret_post', client.ClientSecretPost],
]) {
  test(`client_credentials with ${name} gives an access token only`, async () => {
    const config = await discoverConfidential(confidential(), auth);

    const tokens = await client.clientCredentialsGrant(config, { scope: 'api' });

    assert.ok(tokens.access_token);
    assert.equal(tokens.refresh_token, undefined);
    assert.equal(tokens.scope, 'api');
  });

  // oauth4webapi form-encodes the id and secret inside Basic credentials as
  // RFC 6749 §2.3.1 requires, so the server must decode them.
  test(`client_credentials with ${name} and a secret with reserved characters`, async () => {
    const config = await discoverConfidential(specialConfidential(), auth);

    const tokens = await client.clientCredentialsGrant(config);

    assert.ok(tokens.access_token);
  });
}

test('a wrong client secret is invalid_client', async () => {
  const { id, secret } = confidential();
  const config = await discoverConfidential({ id, secret: `${secret}x` });

  // RFC 6749 §5.2: a 401 after Basic authentication carries a Basic
  // challenge, which oauth4webapi reports as its own error type.
  const error = await client.clientCredentialsGrant(config).then(
    () => assert.fail('a wrong secret was accepted'),
    (rejection) => rejection,
  );

  assert.ok(error instanceof client.WWWAuthenticateChallengeError, String(error));
  assert.equal(error.status, 401);
  assert.equal(error.cause[0].scheme, 'basic');
  assert.equal((await error.response.json()).error, 'invalid_client');
});

test('introspection follows the session of a token', async () => {
  const publicConfig = await discoverPublic();
  const introspector = await discoverConfidential(confidential());
  const tokens = await logIn(publicConfig);

  const live = await client.tokenIntrospection(introspector, tokens.access_token);
  await client.tokenRevocation(publicConfig, tokens.access_token);
  const revoked = await client.tokenIntrospection(introspector, tokens.access_token);
  const revokedRefresh = await client.tokenIntrospection(introspector, tokens.refresh_token);

  assert.equal(live.active, true);
  assert.equal(live.client_id, publicClientId());
  assert.equal(revoked.active, false);
  assert.equal(revokedRefresh.active, false);
});
