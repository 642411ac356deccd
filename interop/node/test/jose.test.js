// jose's createRemoteJWKSet verifies our access tokens with our JWKS, before
// and after a signing-key rotation.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { createRemoteJWKSet, errors, jwtVerify } from 'jose';

import {
  audience,
  clientCredentialsToken,
  confidential,
  header,
  issuer,
  rotateKeysAndWait,
} from '../lib/helpers.js';

const jwksUri = () => new URL(`${issuer()}/.well-known/jwks.json`);

async function verify(jwks, token, options = {}) {
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer: issuer(),
    audience,
    typ: 'at+jwt',
    // Every algorithm the server can sign with; jose checks that the key
    // from the JWKS fits the algorithm in the header.
    algorithms: ['EdDSA', 'ES256', 'RS256'],
    requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id'],
    ...options,
  });
  return { payload, protectedHeader };
}

test('a client_credentials access token verifies with the remote JWKS', async () => {
  const token = await clientCredentialsToken();

  const { payload } = await verify(createRemoteJWKSet(jwksUri()), token);

  assert.equal(payload.sub, confidential().id);
  assert.equal(payload.sid, undefined);
});

test('a token checked against another audience is rejected', async () => {
  const token = await clientCredentialsToken();

  await assert.rejects(
    verify(createRemoteJWKSet(jwksUri()), token, { audience: 'other-api' }),
    errors.JWTClaimValidationFailed,
  );
});

test('a token with a forged payload is rejected', async () => {
  const [head, payload, signature] = (await clientCredentialsToken()).split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
  claims.scope = 'admin';
  const forged = Buffer.from(JSON.stringify(claims)).toString('base64url');

  await assert.rejects(
    verify(createRemoteJWKSet(jwksUri()), `${head}.${forged}.${signature}`),
    errors.JWSSignatureVerificationFailed,
  );
});

test('tokens verify across a key rotation', { timeout: 240_000 }, async () => {
  const cached = createRemoteJWKSet(jwksUri());
  await verify(cached, await clientCredentialsToken());

  // RS256 here and ES256 in the Python tests, so that both libraries also
  // read our RSA and EC public keys.
  const { before, after } = await rotateKeysAndWait('RS256');

  // The set fetched before the rotation refetches on the unknown kid: the
  // server waited past jose's 30 s cooldown before signing with the new key.
  await verify(cached, after);
  const fresh = createRemoteJWKSet(jwksUri());
  await verify(fresh, before);
  await verify(fresh, after);
  assert.notEqual(header(before).kid, header(after).kid);
  assert.equal(header(after).alg, 'RS256');
});
