"""authlib's OAuth2Session against auth-server: the password, refresh_token
and client_credentials grants, revocation (RFC 7009) and introspection
(RFC 7662).

conftest.py sets AUTHLIB_INSECURE_TRANSPORT because the server listens on
plain http on loopback.
"""

import pytest
from authlib.integrations.requests_client import OAuth2Session, OAuthError

from helpers import unverified_parts


def public_session(client_id):
    return OAuth2Session(client_id=client_id, token_endpoint_auth_method="none", scope="api")


def confidential_session(client, method="client_secret_basic", **kwargs):
    client_id, secret = client
    return OAuth2Session(
        client_id=client_id,
        client_secret=secret,
        token_endpoint_auth_method=method,
        revocation_endpoint_auth_method=method,
        **kwargs,
    )


def log_in(metadata, client_id, user):
    session = public_session(client_id)
    username, password = user
    token = session.fetch_token(
        metadata["token_endpoint"], username=username, password=password
    )
    return session, token


def test_password_grant_returns_tokens(metadata, public_client_id, user):
    _, token = log_in(metadata, public_client_id, user)

    assert token["token_type"].lower() == "bearer"
    assert token["access_token"] and token["refresh_token"]
    assert token["expires_in"] > 0
    assert token["scope"] == "api"


def test_refresh_grant_rotates_token(metadata, public_client_id, user):
    session, first = log_in(metadata, public_client_id, user)

    second = session.refresh_token(
        metadata["token_endpoint"], refresh_token=first["refresh_token"]
    )
    third = session.refresh_token(
        metadata["token_endpoint"], refresh_token=second["refresh_token"]
    )

    assert len({first["refresh_token"], second["refresh_token"], third["refresh_token"]}) == 3
    assert third["access_token"] != first["access_token"]


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_client_credentials_access_token_only(metadata, confidential, method):
    session = confidential_session(confidential, method)

    token = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")

    assert "refresh_token" not in token
    _, claims = unverified_parts(token["access_token"])
    assert claims["sub"] == confidential[0]
    assert claims["client_id"] == confidential[0]
    assert "sid" not in claims
    assert claims["scope"] == "api"


def test_client_credentials_reserved_characters(metadata, special_confidential):
    # authlib puts the secret into Basic credentials without the form
    # encoding that RFC 6749 §2.3.1 requires. So with this library only
    # client_secret_post works for such a secret. The Node tests cover Basic
    # with a library that encodes.
    session = confidential_session(special_confidential, "client_secret_post")

    token = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")

    assert token["access_token"]


def test_client_credentials_allowed_scope(metadata, confidential):
    session = confidential_session(confidential, scope="reports")

    token = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")

    assert token["scope"] == "reports"


def test_client_credentials_forbidden_scope(metadata, confidential):
    session = confidential_session(confidential, scope="admin")

    with pytest.raises(OAuthError) as error:
        session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")

    assert error.value.error == "invalid_scope"


def test_client_credentials_wrong_secret(metadata, confidential):
    session = confidential_session((confidential[0], confidential[1] + "x"))

    with pytest.raises(OAuthError) as error:
        session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")

    assert error.value.error == "invalid_client"


def test_revoke_refresh_token_ends_session(metadata, public_client_id, user):
    session, token = log_in(metadata, public_client_id, user)

    response = session.revoke_token(
        metadata["revocation_endpoint"],
        token=token["refresh_token"],
        token_type_hint="refresh_token",
    )

    assert response.status_code == 200
    with pytest.raises(OAuthError) as error:
        session.refresh_token(metadata["token_endpoint"], refresh_token=token["refresh_token"])
    assert error.value.error == "invalid_grant"


def test_revoke_access_token_ends_session(metadata, public_client_id, user):
    session, token = log_in(metadata, public_client_id, user)

    response = session.revoke_token(
        metadata["revocation_endpoint"],
        token=token["access_token"],
        token_type_hint="access_token",
    )

    assert response.status_code == 200
    with pytest.raises(OAuthError) as error:
        session.refresh_token(metadata["token_endpoint"], refresh_token=token["refresh_token"])
    assert error.value.error == "invalid_grant"


def test_revoke_unknown_token_returns_200(metadata, public_client_id):
    session = public_session(public_client_id)

    response = session.revoke_token(
        metadata["revocation_endpoint"], token="not-a-token-we-issued"
    )

    assert response.status_code == 200


def test_revoke_by_other_client_ignored(
    metadata, public_client_id, confidential, user
):
    session, token = log_in(metadata, public_client_id, user)

    response = confidential_session(confidential).revoke_token(
        metadata["revocation_endpoint"], token=token["refresh_token"]
    )

    assert response.status_code < 500
    refreshed = session.refresh_token(
        metadata["token_endpoint"], refresh_token=token["refresh_token"]
    )
    assert refreshed["access_token"]


def test_introspect_live_access_token(
    metadata, public_client_id, confidential, user
):
    _, token = log_in(metadata, public_client_id, user)
    introspector = confidential_session(confidential)

    response = introspector.introspect_token(
        metadata["introspection_endpoint"], token=token["access_token"]
    )

    assert response.status_code == 200
    body = response.json()
    assert body["active"] is True
    assert body["client_id"] == public_client_id
    assert body["scope"] == "api"
    assert body["exp"] > body["iat"]


def test_introspect_revoked_session_inactive(
    metadata, public_client_id, confidential, user
):
    session, token = log_in(metadata, public_client_id, user)
    introspector = confidential_session(confidential)
    session.revoke_token(metadata["revocation_endpoint"], token=token["refresh_token"])

    for kind in ("access_token", "refresh_token"):
        response = introspector.introspect_token(
            metadata["introspection_endpoint"], token=token[kind], token_type_hint=kind
        )
        assert response.status_code == 200
        assert response.json() == {"active": False}, kind


def test_introspect_rejects_public_client(metadata, public_client_id, user):
    session, token = log_in(metadata, public_client_id, user)

    response = session.introspect_token(
        metadata["introspection_endpoint"], token=token["access_token"]
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
