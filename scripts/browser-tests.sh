#!/usr/bin/env bash
# Runs the web client's tests in headless Chromium against the real
# auth-server binary and a redis-server of its own on a free loopback port.
#
# Installs what is missing: Debian's chromium (as root, through apt-get),
# the web client's npm packages (npm ci). Needs node and npm (Node 20 or
# newer), redis-server, redis-cli and cargo. Environment overrides: CHROMIUM,
# REDIS_SERVER, REDIS_CLI, AUTH_SERVER_BIN (skips the cargo build).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)

chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "$chromium not found: install Debian's chromium package" >&2
        exit 1
    fi
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
fi

for tool in node npm "${REDIS_SERVER:-redis-server}" "${REDIS_CLI:-redis-cli}"; do
    if ! command -v "$tool" >/dev/null; then
        echo "$tool not found: install it first" >&2
        exit 1
    fi
done

cd "$root/web-client"
if [ ! -d node_modules ] || ! npm ls --depth=0 >/dev/null 2>&1; then
    npm ci --no-audit --no-fund
fi
npm run build

if [ -z "${AUTH_SERVER_BIN:-}" ]; then
    (cd "$root" && cargo build -p auth-server --bin auth-server)
    AUTH_SERVER_BIN="$root/target/debug/auth-server"
fi
export AUTH_SERVER_BIN CHROMIUM="$chromium"

# A Redis of our own: a free port, no persistence, stopped on exit (by its
# process id only).
workdir=$(mktemp -d)
redis_pid=
cleanup() {
    if [ -n "$redis_pid" ]; then
        kill "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
    fi
    rm -rf "$workdir"
}
trap cleanup EXIT

free_port() {
    node -e '
        const server = require("node:net").createServer();
        server.listen(0, "127.0.0.1", () => {
            console.log(server.address().port);
            server.close();
        });'
}

for attempt in 1 2 3 4 5; do
    port=$(free_port)
    "${REDIS_SERVER:-redis-server}" --bind 127.0.0.1 --port "$port" --save '' \
        --appendonly no --dir "$workdir" >"$workdir/redis.log" 2>&1 &
    redis_pid=$!
    for _ in $(seq 50); do
        if ! kill -0 "$redis_pid" 2>/dev/null; then
            break
        fi
        if "${REDIS_CLI:-redis-cli}" -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
            break 2
        fi
        sleep 0.1
    done
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
    redis_pid=
    echo "redis-server did not start on port $port (attempt $attempt)" >&2
done
if [ -z "$redis_pid" ]; then
    cat "$workdir/redis.log" >&2
    exit 1
fi

REDIS_URL="redis://127.0.0.1:$port/0" node --test --test-concurrency=1 test/browser.test.mjs
