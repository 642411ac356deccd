#!/usr/bin/env bash
# Interoperability tests: stock Python and Node OAuth/JOSE libraries against
# a real auth-server on Redis.
#
# Installs the test dependencies when they are missing (pip for
# interop/requirements.txt, `npm ci` in interop/node) and builds the server.
# Then starts its own redis-server and auth-server on free loopback ports and
# runs the Python tests (pytest), then the Node tests (node --test). It stops
# everything it started, whatever the outcome.
#
# Needs python3 with pip, node with npm, redis-server and redis-cli.
# Set INTEROP_KEEP_LOGS=1 to keep the work directory with the server log.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)

redis_server=${REDIS_SERVER:-redis-server}
redis_cli=${REDIS_CLI:-redis-cli}
for tool in python3 node npm "$redis_server" "$redis_cli"; do
    if ! command -v "$tool" >/dev/null; then
        echo "interop: $tool not found" >&2
        exit 1
    fi
done

# --- dependencies ----------------------------------------------------------

# Installs interop/requirements.txt unless every pinned version is present.
python_deps_present() {
    python3 - interop/requirements.txt <<'EOF'
import sys
from importlib import metadata

for line in open(sys.argv[1], encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, _, version = line.partition("==")
    name = name.split("[", 1)[0]
    try:
        if version and metadata.version(name) != version:
            sys.exit(1)
    except metadata.PackageNotFoundError:
        sys.exit(1)
EOF
}
if ! python_deps_present; then
    python3 -m pip install --quiet --disable-pip-version-check -r interop/requirements.txt
fi

# `npm ci` writes node_modules/.package-lock.json; reinstall when the
# lockfile is newer than that copy.
node_lock=interop/node/node_modules/.package-lock.json
if [[ ! -f $node_lock || interop/node/package-lock.json -nt $node_lock ]]; then
    (cd interop/node && npm ci --no-audit --no-fund --loglevel=error)
fi

cargo build -p auth-server --bins
server_bin="$root/target/debug/auth-server"

# --- processes -------------------------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/auth-interop.XXXXXX")
redis_pid=""
server_pid=""

# Stops only the two processes this script started, by their ids.
cleanup() {
    local status=$?
    if [[ -n $server_pid ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [[ -n $redis_pid ]]; then
        kill "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
    fi
    if [[ $status -ne 0 && -f $work/server.log ]]; then
        echo "interop: last lines of the server log:" >&2
        tail -n 40 "$work/server.log" >&2
    fi
    if [[ ${INTEROP_KEEP_LOGS:-0} == 1 ]]; then
        echo "interop: logs kept in $work" >&2
    else
        rm -rf "$work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits up to 20 s for a command to succeed.
wait_for() {
    local what=$1
    shift
    for _ in $(seq 1 200); do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    echo "interop: $what did not come up" >&2
    return 1
}

redis_port=$(free_port)
"$redis_server" --port "$redis_port" --bind 127.0.0.1 --protected-mode yes \
    --save "" --appendonly no --dir "$work" --logfile "$work/redis.log" \
    </dev/null &
redis_pid=$!
wait_for redis-server "$redis_cli" -h 127.0.0.1 -p "$redis_port" ping

# The server connects as the least-privilege ACL user that deploy/redis.conf
# recommends, so a command missing from that rule fails these tests.
redis_password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
acl_rule=$(sed -n 's/^# user auth-server //p' deploy/redis.conf)
if [[ -z $acl_rule ]]; then
    echo "interop: no '# user auth-server' rule in deploy/redis.conf" >&2
    exit 1
fi
read -ra acl_args <<<"${acl_rule/>PASSWORD/>$redis_password}"
"$redis_cli" -h 127.0.0.1 -p "$redis_port" ACL SETUSER auth-server reset "${acl_args[@]}" >/dev/null

# One confidential client with a URL-safe secret, and one whose secret has
# printable characters (RFC 6749 appendix A.2) that client_secret_basic must
# form-encode (RFC 6749 §2.3.1) and client_secret_post must percent-encode.
client_secret=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
special_secret="$(python3 -c 'import secrets; print(secrets.token_hex(8))')+/ =:%&"
sha256_hex() { printf '%s' "$1" | python3 -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'; }

port=$(free_port)
config="$work/auth-server.toml"
cat >"$config" <<EOF
[keys]
# Short, so that rotation tests do not wait for a long cache lifetime.
jwks_max_age_secs = 1

[[clients]]
id = "cli"
kind = "native"
grants = ["password", "refresh_token"]
scopes = ["api"]

[[clients]]
id = "svc"
kind = "confidential"
grants = ["client_credentials"]
scopes = ["api", "reports"]
default_scopes = ["api"]
secret_sha256 = "$(sha256_hex "$client_secret")"

[[clients]]
id = "svc-special"
kind = "confidential"
grants = ["client_credentials"]
scopes = ["api"]
secret_sha256 = "$(sha256_hex "$special_secret")"
EOF

export AUTH__HTTP__BIND="127.0.0.1:$port"
export AUTH__STORE__URL="redis://auth-server:$redis_password@127.0.0.1:$redis_port/0"
AUTH__SECURITY__REFRESH_PEPPER=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
AUTH__SECURITY__KEY_ENCRYPTION_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export AUTH__SECURITY__REFRESH_PEPPER AUTH__SECURITY__KEY_ENCRYPTION_KEY
export AUTH__LOG__FILTER="info"

"$server_bin" --config "$config" serve </dev/null >"$work/server.log" 2>&1 &
server_pid=$!
issuer="http://127.0.0.1:$port"
wait_for auth-server python3 -c "
import sys, urllib.request
sys.exit(urllib.request.urlopen('$issuer/readyz', timeout=3).status != 200)"

# --- tests -----------------------------------------------------------------

export INTEROP_ISSUER="$issuer"
export INTEROP_CLIENT_ID="svc"
export INTEROP_CLIENT_SECRET="$client_secret"
export INTEROP_SPECIAL_CLIENT_ID="svc-special"
export INTEROP_SPECIAL_CLIENT_SECRET="$special_secret"
export INTEROP_PUBLIC_CLIENT_ID="cli"
export INTEROP_AUTH_SERVER_BIN="$server_bin"
export INTEROP_CONFIG="$config"

status=0
python3 -m pytest -q -p no:cacheprovider interop/python || status=1
(cd interop/node && node --test --test-reporter=spec) || status=1
exit "$status"
