#!/usr/bin/env bash
# Checks the running server against its own OpenAPI document with
# schemathesis: every operation is fuzzed, unauthenticated and then with a
# valid access token for the operations that need one, under every check
# schemathesis has except `positive_data_acceptance`.
#
# That one check is left out on purpose: a schema cannot say that a
# password must not be a common one, that credentials must match a user,
# or that an RFC 6750 bearer header must hold a token this server signed,
# so schema-valid requests are rightly refused with 400 or 401 here. Every
# other finding is a bug to fix.
set -euo pipefail

cd "$(dirname "$0")/.."

if ! python3 -c 'import schemathesis' 2>/dev/null; then
    python3 -m pip install --quiet 'schemathesis==4.32.5'
fi

cargo build -p auth-server --bins

work=$(mktemp -d)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
# Throttling would turn fuzzed logins into 429s; the limits are raised so
# that the fuzzer reaches the handlers.
AUTH__HTTP__BIND="127.0.0.1:$port" \
AUTH__THROTTLE__MAX_FAILURES_PER_IP=1000000 \
AUTH__THROTTLE__MAX_FAILURES_PER_USER_IP=10000 \
AUTH__THROTTLE__SIGNUPS_PER_IP=1000000 \
AUTH__THROTTLE__USER_FAILURES_BEFORE_DELAY=10000 \
    target/debug/auth-server >"$work/server.log" 2>&1 &
server_pid=$!

for _ in $(seq 1 100); do
    curl -sf "$base/healthz" >/dev/null && break
    sleep 0.1
done

token=$(curl -sf "$base/signup" -d username=schemathesis -d password='quartz-lantern-417' \
    -d client_id=cli | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

common=(--url "$base" --checks all --exclude-checks positive_data_acceptance
    --max-examples "${SCHEMATHESIS_EXAMPLES:-50}" --seed 1)
st run "$base/openapi.json" "${common[@]}"
st run "$base/openapi.json" "${common[@]}" \
    --include-path-regex '^/(sessions|password|logout-all)' \
    -H "Authorization: Bearer $token"
