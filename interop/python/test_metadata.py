"""RFC 8414 authorization server metadata, read as a stock client would."""

import requests

from helpers import TIMEOUT


def test_metadata_names_issuer(issuer):
    response = requests.get(
        f"{issuer}/.well-known/oauth-authorization-server", timeout=TIMEOUT
    )

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["issuer"] == issuer


def test_metadata_endpoints_under_issuer(issuer, metadata):
    for name in ("token_endpoint", "revocation_endpoint", "introspection_endpoint", "jwks_uri"):
        assert metadata[name].startswith(issuer + "/"), name


def test_metadata_required_fields(metadata):
    # Required even by a server without an authorization endpoint.
    assert isinstance(metadata["response_types_supported"], list)
    assert {"password", "refresh_token", "client_credentials"} <= set(
        metadata["grant_types_supported"]
    )
    assert {"client_secret_basic", "client_secret_post"} <= set(
        metadata["token_endpoint_auth_methods_supported"]
    )
    assert "api" in metadata["scopes_supported"]


def test_jwks_public_keys_only(metadata):
    response = requests.get(metadata["jwks_uri"], timeout=TIMEOUT)

    assert response.status_code == 200
    keys = response.json()["keys"]
    assert keys
    for key in keys:
        assert key["kid"]
        assert "d" not in key, "a private key part is published"
