"""Helpers of the Python interoperability tests."""

import base64
import json
import os
import subprocess
import time

import pytest
import requests

TIMEOUT = 10


def env(name):
    """Read an INTEROP_* variable, stopping the run when it is unset."""
    value = os.environ.get(name)
    if not value:
        pytest.exit(f"{name} is not set: run scripts/interop-tests.sh", returncode=2)
    return value


def unverified_parts(token):
    """Header and claims of a compact JWS, without checking the signature."""
    header, claims, _ = token.split(".")
    return _b64json(header), _b64json(claims)


def _b64json(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def client_credentials_token(issuer, client):
    response = requests.post(
        f"{issuer}/token",
        data={"grant_type": "client_credentials"},
        auth=client,
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def rotate_keys_and_wait(issuer, client, alg, deadline_secs=150):
    """Run `auth-server keys rotate --alg ALG`, then wait until the server
    signs with the new key. Returns (token signed before, token signed after).

    A new key signs nothing until the JWKS max-age plus the guards' refetch
    cooldown have passed, so this waits at least that long.
    """
    before = client_credentials_token(issuer, client)
    old_kid = unverified_parts(before)[0]["kid"]
    command = [env("INTEROP_AUTH_SERVER_BIN"), "--config", env("INTEROP_CONFIG")]
    subprocess.run(
        command + ["keys", "rotate", "--alg", alg],
        check=True,
        timeout=60,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + deadline_secs
    while time.monotonic() < deadline:
        after = client_credentials_token(issuer, client)
        if unverified_parts(after)[0]["kid"] != old_kid:
            return before, after
        time.sleep(1)
    pytest.fail(f"no token signed by a new key within {deadline_secs} s of a rotation")
