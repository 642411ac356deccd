"""Shared fixtures of the Python interoperability tests.

scripts/interop-tests.sh starts auth-server on Redis and exports the
INTEROP_* variables read here; the tests talk only to that server.
"""

import os
import secrets

import pytest
import requests

from helpers import TIMEOUT, env

# authlib refuses to send tokens over plain http. The server under test
# listens on loopback only, so its documented switch for that is turned on
# here, for these tests alone.
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"


@pytest.fixture(scope="session")
def issuer():
    value = env("INTEROP_ISSUER")
    host = value.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
    assert host in ("127.0.0.1", "[::1]", "localhost"), "tests run on loopback only"
    return value


@pytest.fixture(scope="session")
def metadata(issuer):
    """The RFC 8414 authorization server metadata."""
    response = requests.get(
        f"{issuer}/.well-known/oauth-authorization-server", timeout=TIMEOUT
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="session")
def confidential():
    """(client_id, client_secret) of a client allowed client_credentials."""
    return env("INTEROP_CLIENT_ID"), env("INTEROP_CLIENT_SECRET")


@pytest.fixture(scope="session")
def special_confidential():
    """A confidential client whose secret needs form encoding."""
    return env("INTEROP_SPECIAL_CLIENT_ID"), env("INTEROP_SPECIAL_CLIENT_SECRET")


@pytest.fixture(scope="session")
def public_client_id():
    return env("INTEROP_PUBLIC_CLIENT_ID")


@pytest.fixture()
def user(issuer, public_client_id):
    """A freshly signed-up user: (username, password)."""
    username = f"interop-{secrets.token_hex(6)}"
    password = f"Pw-{secrets.token_urlsafe(18)}"
    response = requests.post(
        f"{issuer}/signup",
        data={"username": username, "password": password, "client_id": public_client_id},
        timeout=TIMEOUT,
    )
    assert response.status_code == 201, response.text
    return username, password
