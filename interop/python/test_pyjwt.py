"""PyJWT's PyJWKClient verifies our access tokens with our JWKS, before and
after a signing-key rotation."""

import os

import jwt
import pytest
import requests

from helpers import TIMEOUT, client_credentials_token, rotate_keys_and_wait

AUDIENCE = os.environ.get("INTEROP_AUDIENCE", "api")
# Every algorithm the server can sign with. PyJWT checks that the key from
# the JWKS fits the algorithm in the header.
ALGORITHMS = ["EdDSA", "ES256", "RS256"]
REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"]


def verify(jwks_client, token, issuer, audience=AUDIENCE):
    header = jwt.get_unverified_header(token)
    # RFC 9068 §4: resource servers must check the at+jwt type.
    assert header["typ"].lower() in ("at+jwt", "application/at+jwt")
    key = jwks_client.get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key,
        algorithms=ALGORITHMS,
        audience=audience,
        issuer=issuer,
        options={"require": REQUIRED_CLAIMS},
    )


def password_login(issuer, client_id, user):
    username, password = user
    response = requests.post(
        f"{issuer}/token",
        data={
            "grant_type": "password",
            "username": username,
            "password": password,
            "client_id": client_id,
        },
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def test_user_access_token_verifies(issuer, metadata, public_client_id, user):
    token = password_login(issuer, public_client_id, user)

    claims = verify(jwt.PyJWKClient(metadata["jwks_uri"]), token, issuer)

    assert claims["client_id"] == public_client_id
    assert claims["scope"] == "api"
    assert claims["sid"]


def test_client_token_verifies(issuer, metadata, confidential):
    token = client_credentials_token(issuer, confidential)

    claims = verify(jwt.PyJWKClient(metadata["jwks_uri"]), token, issuer)

    assert claims["sub"] == confidential[0]


def test_tampered_token_rejected(issuer, metadata, confidential):
    header, payload, signature = client_credentials_token(issuer, confidential).split(".")
    claims = jwt.utils.base64url_decode(payload)
    assert b'"api"' in claims
    forged = jwt.utils.base64url_encode(claims.replace(b'"api"', b'"adm"')).decode()

    with pytest.raises(jwt.InvalidSignatureError):
        verify(jwt.PyJWKClient(metadata["jwks_uri"]), f"{header}.{forged}.{signature}", issuer)


def test_other_audience_rejected(issuer, metadata, confidential):
    token = client_credentials_token(issuer, confidential)

    with pytest.raises(jwt.InvalidAudienceError):
        verify(jwt.PyJWKClient(metadata["jwks_uri"]), token, issuer, audience="other-api")


def test_tokens_verify_across_rotation(issuer, metadata, confidential):
    cached = jwt.PyJWKClient(metadata["jwks_uri"])
    verify(cached, client_credentials_token(issuer, confidential), issuer)

    # ES256 here and RS256 in the Node tests, so that both libraries also
    # read our EC and RSA public keys.
    before, after = rotate_keys_and_wait(issuer, confidential, "ES256")

    # A client that cached the old key set refetches on the unknown kid;
    # a new client sees both keys.
    verify(cached, after, issuer)
    fresh = jwt.PyJWKClient(metadata["jwks_uri"])
    verify(fresh, before, issuer)
    verify(fresh, after, issuer)
    kids = {key.key_id for key in fresh.get_signing_keys()}
    assert {jwt.get_unverified_header(t)["kid"] for t in (before, after)} <= kids
    assert jwt.get_unverified_header(after)["alg"] == "ES256"
