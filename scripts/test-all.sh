#!/usr/bin/env bash
# Runs every test of the workspace: unit tests, the store conformance suite
# and the end-to-end tests, which start the auth-server binary and their own
# redis-server processes on free loopback ports.
#
# Needs redis-server and redis-cli on PATH (or REDIS_SERVER / REDIS_CLI);
# .ci/run installs them. Extra arguments go to `cargo test`, for example
# `scripts/test-all.sh -p tests --test reuse`.
set -euo pipefail

cd "$(dirname "$0")/.."

if ! command -v "${REDIS_SERVER:-redis-server}" >/dev/null; then
    echo "redis-server not found: install it (Debian: apt-get install redis-server)" >&2
    exit 1
fi

# The end-to-end tests run the server binary and example services (such as
# resource-guard's protected_api) from target/debug, so build them first.
cargo build --workspace --bins --examples

cargo test --workspace "$@"

# The end-to-end files written for one Redis, again on the test process's
# Redis Cluster (three masters, one replica each). Files that stop or read
# the Redis process itself (outage, storage, key_rotation, faults,
# guard_e2e) stay on one Redis. The other files run their scenarios on the
# cluster through on_each_store! already.
if [ $# -eq 0 ]; then
    AUTH_TESTS_REDIS_AS_CLUSTER=1 cargo test -p tests \
        --test audit_log --test bad_input --test cookies --test cors \
        --test enumeration --test log_secrets --test operator \
        --test password_change --test restart --test scopes --test signup \
        --test throttling
fi

# The web client in headless Chromium against the binary and its own Redis.
scripts/browser-tests.sh

# Stock Python and Node OAuth clients against the binary and its own Redis.
scripts/interop-tests.sh

# The OpenAPI document against the running server, fuzzed by schemathesis.
scripts/openapi-check.sh
