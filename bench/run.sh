#!/usr/bin/env bash
# HTTP load benchmark of the auth server. Results and how to read
# them: docs/benchmarks.md, section "HTTP load".
#
# Usage: bench/run.sh [options]
#   --duration S     measured seconds of each run (default 10)
#   --warmup S       warm-up seconds before each run (default 2)
#   --only LIST      parts to run, comma-separated, from:
#                    refresh,static,login,memory,peer,profile
#                    (default: all but profile)
#   --soak S         also drive refresh load for S seconds (e.g. 600) and
#                    sample the server's RSS each second; off by default
#   --sessions N     sessions seeded for the memory part (default 100000)
#   --peer-dir DIR   node-oidc-provider setup with node_modules installed
#                    (default /tmp/peer-oidc; see docs/benchmarks.md)
#   --out DIR        results directory (default bench/results/<UTC time>)
#
# Everything runs on loopback: its own redis-server (append-only file,
# appendfsync everysec) and auth server on free ports, stopped at the end.
# Every load is bounded in time. Needs redis-server, redis-cli, curl, jq;
# oha (cargo install oha) for the static workloads, else loadgen alone.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
DURATION=10
WARMUP=2
ONLY=refresh,static,login,memory,peer
SOAK=0
MEMORY_SESSIONS=100000
PEER_DIR=/tmp/peer-oidc
OUT=

while [ $# -gt 0 ]; do
  case $1 in
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --soak) SOAK=$2; shift 2 ;;
    --sessions) MEMORY_SESSIONS=$2; shift 2 ;;
    --peer-dir) PEER_DIR=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
OUT=${OUT:-$BENCH/results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d /tmp/auth-bench.XXXXXX)
LOADGEN=$BENCH/target/release/loadgen
TOOLS=$BENCH/target/release/bench-tools
SERVER_BIN=$ROOT/target/release/auth-server
GUARD_BIN=$ROOT/target/release/examples/protected_api
OHA=${OHA:-$(command -v oha || true)}

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
wants() { [[ ",$ONLY," == *",$1,"* ]]; }

# ---- processes we start, and only those, are stopped on exit -------------
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_pid() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  echo "no free port found" >&2
  exit 1
}

wait_http() { # URL: waits up to 20 s for a 2xx answer
  for _ in $(seq 1 200); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "no response from $1 within 20 s" >&2
  return 1
}

hex32() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# ---- build ------------------------------------------------------------------
build() {
  log "building auth-server, the guard example and the bench tools (release)"
  (cd "$ROOT" && cargo build --release -q -p auth-server)
  (cd "$ROOT" && cargo build --release -q -p resource-guard --example protected_api)
  (cd "$BENCH" && cargo build --release -q)
}

# ---- machine and load conditions -------------------------------------------
machine() {
  {
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpu: $(lscpu | sed -n 's/^Model name: *//p')"
    echo "cores: $(nproc)"
    echo "memory: $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
    echo "kernel: $(uname -r)"
    echo "redis: $(redis-server --version | awk '{print $3}')"
    echo "rustc: $(rustc --version)"
    echo "commit: $(git -C "$ROOT" rev-parse --short HEAD)"
    echo "uncommitted server changes: $(git -C "$ROOT" status --short -- auth-server \
      resource-guard shared | wc -l) files"
    echo "oha: ${OHA:+$("$OHA" --version)}"
    echo "node: $(node --version 2>/dev/null || echo none)"
    echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  } > "$OUT/machine.txt"
  cat "$OUT/machine.txt" >&2
}

# ---- redis ------------------------------------------------------------------
start_redis() { # NAME: sets REDIS_PORT and REDIS_PID
  REDIS_PORT=$(free_port)
  mkdir -p "$WORK/$1"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --protected-mode yes \
    --dir "$WORK/$1" --logfile "$WORK/$1/redis.log" --save "" \
    --appendonly yes --appendfsync everysec &
  REDIS_PID=$!
  PIDS+=("$REDIS_PID")
  for _ in $(seq 1 100); do
    [ "$(redis-cli -p "$REDIS_PORT" PING 2>/dev/null)" = PONG ] && return 0
    sleep 0.1
  done
  echo "redis-server did not start" >&2
  return 1
}

# ---- auth server --------------------------------------------------------------
CC_SECRET=$(hex32)
write_config() {
  local sha
  sha=$(printf %s "$CC_SECRET" | sha256sum | cut -d' ' -f1)
  cat > "$WORK/auth.toml" <<EOF
# A [[clients]] list replaces the built-in web and cli clients, so both are
# declared again next to the confidential client of the benchmark.
[[clients]]
id = "web"
kind = "browser"
grants = ["password", "refresh_token"]
scopes = ["api"]

[[clients]]
id = "cli"
kind = "native"
grants = ["password", "refresh_token"]
scopes = ["api"]

[[clients]]
id = "bench"
kind = "confidential"
grants = ["client_credentials"]
scopes = ["api"]
secret_sha256 = "$sha"
EOF
}

start_server() { # [VAR=value ...]: sets PORT, URL and SERVER_PID
  PORT=$(free_port)
  URL=http://127.0.0.1:$PORT
  env AUTH__HTTP__BIND="127.0.0.1:$PORT" \
    AUTH__ISSUER="$URL" \
    AUTH__STORE__URL="redis://127.0.0.1:$REDIS_PORT/0" \
    AUTH__SECURITY__REFRESH_PEPPER="$PEPPER" \
    AUTH__SECURITY__KEY_ENCRYPTION_KEY="$KEK" \
    AUTH__THROTTLE__SIGNUPS_PER_IP=1000000 \
    AUTH__THROTTLE__MAX_FAILURES_PER_IP=1000000 \
    AUTH__THROTTLE__MAX_FAILURES_PER_USER_IP=10000 \
    AUTH__THROTTLE__USER_FAILURES_BEFORE_DELAY=10000 \
    AUTH__SECURITY__PASSWORD_HASH_QUEUE=4096 \
    "$@" \
    "$SERVER_BIN" --config "$WORK/auth.toml" serve >> "$OUT/server.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_http "$URL/readyz"
  log "auth server pid $SERVER_PID on $URL (redis $REDIS_PORT) $*"
}

# ---- measurement helpers -------------------------------------------------------
cpu_ticks() { # PID: utime + stime in clock ticks
  awk '{ s = $0; sub(/^.*\) /, "", s); split(s, f, " "); print f[12] + f[13] }' "/proc/$1/stat"
}

busy_ticks() { # all CPUs' busy ticks
  awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

sample_rss() { # PID SECONDS FILE: VmRSS in kB once a second
  for _ in $(seq 1 "$2"); do
    awk -v t="$(date +%s)" '/^VmRSS:/ { print t, $2 }' "/proc/$1/status" 2>/dev/null || break
    sleep 1
  done > "$3"
}

loadgen() { # LABEL ARGS...: one loadgen run, summary in $OUT/LABEL.json
  local label=$1
  shift
  "$LOADGEN" run --url "$URL" --duration "$DURATION" --warmup "$WARMUP" \
    --label "$label" --json "$OUT/$label.json" "$@" > /dev/null
}

oha_run() { # LABEL CONCURRENCY ARGS...: warm-up then a measured oha run, summary in $OUT/LABEL.json
  local label=$1 concurrency=$2
  shift 2
  if [ -z "$OHA" ]; then
    log "oha not found: $label by loadgen only"
    return 0
  fi
  "$OHA" --no-tui -c "$concurrency" -z "${WARMUP}s" "$@" > /dev/null
  "$OHA" --no-tui --output-format json -c "$concurrency" -z "${DURATION}s" "$@" > "$OUT/$label.oha.json"
  jq -c --arg name "$label" --argjson c "$concurrency" 'def ms: . * 1000000 | round / 1000; {
      "label": $name, "tool": "oha", "mode": "closed", "concurrency": $c,
      rps: (.summary.requestsPerSec | round),
      lat_ms: { p50: (.latencyPercentiles.p50 | ms), p99: (.latencyPercentiles.p99 | ms),
                p999: (.latencyPercentiles["p99.9"] | ms), max: (.summary.slowest | ms) },
      statuses: .statusCodeDistribution, errors: .errorDistribution,
      failures: ((.errorDistribution | del(.["aborted due to deadline"]) | add // 0)
                 + ([.statusCodeDistribution | to_entries[] | select(.key != "200") | .value] | add // 0))
    }' "$OUT/$label.oha.json" > "$OUT/$label.json"
}

fresh_tokens() { # COUNT FILE: sessions made through the API before a run
  "$LOADGEN" sessions --url "$URL" --count "$1" > "$2"
}

commandstats() { redis-cli -p "$REDIS_PORT" INFO commandstats | tr -d '\r' | grep '^cmdstat'; }

redis_calls() { # FILE: "command calls" lines
  sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),.*/\1 \2/p' "$1"
}

# ---- parts -----------------------------------------------------------------------
part_refresh() {
  local c rss_secs before_s before_r before_b
  rss_secs=$((WARMUP + DURATION + 2))
  for c in 64 32; do
    fresh_tokens 200 "$WORK/tokens-c$c.txt"
    commandstats > "$OUT/commandstats-before-c$c.txt"
    sample_rss "$SERVER_PID" "$rss_secs" "$OUT/rss-refresh-c$c.txt" &
    local sampler=$!
    before_s=$(cpu_ticks "$SERVER_PID")
    before_r=$(cpu_ticks "$REDIS_PID")
    before_b=$(busy_ticks)
    loadgen "refresh_c$c" --workload refresh --concurrency "$c" \
      --tokens-file "$WORK/tokens-c$c.txt"
    jq -c --argjson s "$(( $(cpu_ticks "$SERVER_PID") - before_s ))" \
      --argjson r "$(( $(cpu_ticks "$REDIS_PID") - before_r ))" \
      --argjson b "$(( $(busy_ticks) - before_b ))" \
      '. + {cpu_ticks: {server: $s, redis: $r, all: $b, other: ($b - $s - $r)}}' \
      "$OUT/refresh_c$c.json" > "$WORK/x.json" && mv "$WORK/x.json" "$OUT/refresh_c$c.json"
    commandstats > "$OUT/commandstats-after-c$c.txt"
    wait "$sampler" || true
    round_trips "$c"
  done
  monitor_check
  fresh_tokens 200 "$WORK/tokens-open.txt"
  loadgen refresh_open5000 --workload refresh --concurrency 64 --rate 5000 \
    --tokens-file "$WORK/tokens-open.txt"
}

round_trips() { # C: Redis commands per refresh during the refresh run at concurrency C
  local rotations dead
  rotations=$(jq '.rotations_incl_warmup' "$OUT/refresh_c$1.json")
  dead=$(jq '.chains_dead' "$OUT/refresh_c$1.json")
  join -a 2 -e 0 -o 0,1.2,2.2 \
    <(redis_calls "$OUT/commandstats-before-c$1.txt" | sort) \
    <(redis_calls "$OUT/commandstats-after-c$1.txt" | sort) |
    awk -v n="$((rotations + dead))" '{ d = $3 - $2; if (d > 0) printf "%s %d %.4f\n", $1, d, d / n }' \
    > "$OUT/redis-per-refresh-c$1.txt"
  {
    echo "refresh requests (incl. warm-up): $((rotations + dead))"
    echo "command  calls  per-refresh"
    cat "$OUT/redis-per-refresh-c$1.txt"
  } >&2
}

monitor_check() { # top-level Redis commands per refresh, from MONITOR on a small run
  fresh_tokens 8 "$WORK/tokens-monitor.txt"
  timeout 8 redis-cli -p "$REDIS_PORT" MONITOR > "$WORK/monitor.txt" &
  local monitor=$!
  sleep 0.5
  "$LOADGEN" run --url "$URL" --workload refresh --concurrency 4 --duration 2 --warmup 0 \
    --tokens-file "$WORK/tokens-monitor.txt" --label refresh_monitor \
    --json "$OUT/refresh_monitor.json" > /dev/null
  sleep 0.5
  stop_pid "$monitor"
  # Commands a script runs are tagged "[0 lua]"; the others came over the
  # network, one round trip each.
  grep -v ' lua\] ' "$WORK/monitor.txt" | awk 'NF > 3 { print tolower($4) }' | tr -d '"' |
    sort | uniq -c > "$OUT/monitor-top-level.txt" || true
  {
    echo "refreshes in the MONITOR run: $(jq '.requests' "$OUT/refresh_monitor.json")"
    echo "top-level commands seen:"
    cat "$OUT/monitor-top-level.txt"
  } | tee "$OUT/monitor-summary.txt" >&2
}

part_static() {
  local basic token guard_port
  basic="Basic $(printf %s "bench:$CC_SECRET" | base64 -w0)"
  oha_run jwks_c64_oha 64 "$URL/.well-known/jwks.json"
  loadgen jwks_c64 --workload jwks --concurrency 64
  oha_run client_credentials_c64_oha 64 -m POST -H "Authorization: $basic" \
    -T application/x-www-form-urlencoded -d "grant_type=client_credentials&scope=api" \
    "$URL/token"
  LOADGEN_BASIC="bench:$CC_SECRET" loadgen client_credentials_c64 \
    --workload client_credentials --concurrency 64 --scope api

  guard_port=$(free_port)
  "$GUARD_BIN" --issuer "$URL" --audience api --bind "127.0.0.1:$guard_port" \
    > "$OUT/guard.log" 2>&1 &
  local guard_pid=$!
  PIDS+=("$guard_pid")
  wait_http "http://127.0.0.1:$guard_port/healthz"
  local password
  password="Gd-$(hex32 | head -c 24)"
  token=$(LOADGEN_PASSWORD=$password "$LOADGEN" user --url "$URL" \
    --username "guard-$(hex32 | head -c 8)" --signup)
  oha_run guard_c64_oha 64 -H "Authorization: Bearer $token" \
    "http://127.0.0.1:$guard_port/whoami"
  LOADGEN_BEARER=$token URL=http://127.0.0.1:$guard_port loadgen guard_c64 \
    --workload guard --concurrency 64
  stop_pid "$guard_pid"
}

part_login() { # run against a server with a one-thread hash pool
  local threads
  for threads in 1 2; do
    stop_pid "$SERVER_PID"
    start_server AUTH__SECURITY__PASSWORD_HASH_THREADS=$threads
    if [ "$threads" = 1 ]; then
      "$TOOLS" hash-time --count 40 > "$OUT/hash-time.json"
      log "hash time: $(cat "$OUT/hash-time.json")"
    fi
    loadgen "login_threads$threads" --workload login --concurrency 16
    fresh_tokens 200 "$WORK/tokens-2k.txt"
    loadgen "refresh_open2000_alone_threads$threads" --workload refresh --concurrency 64 \
      --rate 2000 --tokens-file "$WORK/tokens-2k.txt"
    fresh_tokens 200 "$WORK/tokens-2k-flood.txt"
    DURATION=$((DURATION + WARMUP + 2)) WARMUP=0 \
      loadgen "login_flood_threads$threads" --workload login --concurrency 32 &
    local flood=$!
    sleep 1
    loadgen "refresh_open2000_flood_threads$threads" --workload refresh --concurrency 64 \
      --rate 2000 --tokens-file "$WORK/tokens-2k-flood.txt"
    wait "$flood" || true
  done
  stop_pid "$SERVER_PID"
  start_server
}

part_memory() {
  local main_port=$REDIS_PORT main_pid=$REDIS_PID
  start_redis memory
  log "seeding $MEMORY_SESSIONS sessions through RedisStore (scratch redis $REDIS_PORT)"
  "$TOOLS" memory --redis-url "redis://127.0.0.1:$REDIS_PORT" \
    --sessions "$MEMORY_SESSIONS" --user-agent-len 110 --listpack-values 64,256 \
    > "$OUT/memory.jsonl" || log "memory seeding failed"
  cat "$OUT/memory.jsonl" >&2
  stop_pid "$REDIS_PID"
  REDIS_PORT=$main_port
  REDIS_PID=$main_pid
}

part_soak() {
  log "soak: refresh c=64 for $SOAK s, RSS sampled each second"
  fresh_tokens 200 "$WORK/tokens-soak.txt"
  sample_rss "$SERVER_PID" "$((SOAK + WARMUP + 2))" "$OUT/rss-soak.txt" &
  local sampler=$!
  DURATION=$SOAK loadgen refresh_soak --workload refresh --concurrency 64 \
    --tokens-file "$WORK/tokens-soak.txt"
  wait "$sampler" || true
}

part_peer() {
  if [ ! -d "$PEER_DIR/node_modules" ]; then
    log "no $PEER_DIR/node_modules: skipping the node-oidc-provider comparison"
    return 0
  fi
  stop_pid "$SERVER_PID"
  log "node-oidc-provider: its own load generator (bench.mjs)"
  (cd "$PEER_DIR" && node bench.mjs --no-autocannon --concurrency 64 --idle-wait 60 --retries 1 \
    --duration "$DURATION" --warmup "$WARMUP" --port "$(free_port)" --out bench-session \
    > "$OUT/peer-bench.txt" 2> "$OUT/peer-bench.log")
  cp "$PEER_DIR/results/bench-session.json" "$OUT/peer-bench.json"
  cat "$OUT/peer-bench.txt" >&2

  log "node-oidc-provider: our load generator"
  local peer_port secret
  peer_port=$(free_port)
  (cd "$PEER_DIR" && PEER_PORT=$peer_port PEER_HOST=127.0.0.1 exec node server.mjs) \
    > "$OUT/peer-server.log" 2>&1 &
  local peer_pid=$!
  PIDS+=("$peer_pid")
  wait_http "http://127.0.0.1:$peer_port/.well-known/openid-configuration"
  # The peer's test-only client secret (server.mjs, CLIENT_SECRET).
  secret=bench-secret-0123456789abcdef0123456789abcdef
  (cd "$PEER_DIR" && PEER_PORT=$peer_port PEER_HOST=127.0.0.1 node mint.mjs 200) \
    > "$WORK/peer-tokens.txt"
  LOADGEN_BASIC="bench-client:$secret" URL=http://127.0.0.1:$peer_port \
    loadgen peer_refresh_c64 --workload refresh --concurrency 64 \
    --tokens-file "$WORK/peer-tokens.txt"
  LOADGEN_BASIC="bench-client:$secret" URL=http://127.0.0.1:$peer_port \
    loadgen peer_client_credentials_c64 --workload client_credentials --concurrency 64 \
    --scope api:read
  URL=http://127.0.0.1:$peer_port loadgen peer_jwks_c64 --workload jwks --concurrency 64 \
    --path /jwks
  stop_pid "$peer_pid"
  start_server
}

part_profile() {
  if ! perf record -o "$WORK/probe.data" -- true > /dev/null 2>&1; then
    log "perf unavailable: profile with valgrind --tool=callgrind instead (docs/benchmarks.md)"
    return 0
  fi
  fresh_tokens 200 "$WORK/tokens-profile.txt"
  "$LOADGEN" run --url "$URL" --workload refresh --concurrency 64 --duration 12 --warmup 0 \
    --tokens-file "$WORK/tokens-profile.txt" --label refresh_profiled > /dev/null &
  local load=$!
  sleep 2
  perf record -a -F 999 -o "$WORK/perf.data" -- sleep 8 > /dev/null 2>&1
  wait "$load" || true
  # The machine's CPU by process, then a flat profile of the server alone.
  perf report -i "$WORK/perf.data" --no-children --sort comm,dso --stdio \
    --percent-limit 0.5 2> /dev/null | grep -v '^#' | grep -v '^$' | cut -c1-150 |
    sed 's/ *$//' > "$OUT/perf-refresh-machine.txt" || true
  perf report -i "$WORK/perf.data" --pid "$SERVER_PID" --no-children --sort dso,symbol \
    --percentage relative --stdio --percent-limit 0.3 2> /dev/null | grep -v '^#' |
    grep -v '^$' | cut -c1-150 | sed 's/ *$//' > "$OUT/perf-refresh-server.txt" || true
  log "profile: $OUT/perf-refresh-server.txt"
}

table() {
  echo "| run | tool | mode | req/s | p50 ms | p99 ms | p99.9 ms | max ms | failures |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for f in "$OUT"/*.json; do
    case $f in *.oha.json | */hash-time.json | */peer-bench.json) continue ;; esac
    jq -r '"| \(.label) | \(.tool) | \(.mode)\(if .target_rate then " \(.target_rate)/s" else "" end)"
      + "\(if .concurrency then " c=\(.concurrency)" else "" end) | \(.rps) | \(.lat_ms.p50)"
      + " | \(.lat_ms.p99) | \(.lat_ms.p999) | \(.lat_ms.max) | \(.failures) |"' "$f"
  done
}

# ---- main -----------------------------------------------------------------------
build
machine
write_config
PEPPER=$(hex32)
KEK=$(hex32)
start_redis main
start_server

wants refresh && part_refresh
wants static && part_static
wants login && part_login
wants memory && part_memory
[ "$SOAK" -gt 0 ] && part_soak
wants profile && part_profile
wants peer && part_peer

echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/machine.txt"
table | tee "$OUT/table.md"
log "results in $OUT"
