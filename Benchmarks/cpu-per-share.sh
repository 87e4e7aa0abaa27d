#!/usr/bin/env bash
# Server CPU per share, A/B: runs each given server (a command line, `{PORT}` replaced by the port) on core 0 under
# `sv2 loadtest run` on core 1, and reports the server's user and system µs per acknowledged share (from
# /proc/PID/stat utime and stime over the whole load test, divided by the shares the load generator saw accepted)
# and its CPU utilisation. Servers are interleaved ROUNDS times (A B A B …) so that machine noise hits all alike;
# compare the ratios within one run, not absolute figures across runs.
#
#   bash Benchmarks/cpu-per-share.sh "A=.build/release/sv2 loadtest serve --listen 127.0.0.1:{PORT}" \
#                                    "B=/tmp/sv2-before loadtest serve --listen 127.0.0.1:{PORT}"
#
# Environment: RATE (shares/s per connection; 0 = closed loop, default 400), CONNECTIONS (100), IN_FLIGHT (16, closed
# loop), DURATION (10 s), ROUNDS (3), LOADGEN (the sv2 binary driving the load, default .build/release/sv2),
# LOADGEN_ARGS (extra `loadtest run` arguments, e.g. "--loops 2"), NOISE=1 (read the authority key the server prints
# and turn Noise on), SERVER_CORES (taskset list for the server, default 0), LOADGEN_CORES (default 1),
# SERVER_CPU_PERCENT (cap the server at this share of one CPU with a cgroup CPU quota, root only: in closed loop the
# server is then the saturated side even on 2 cores, and shares/s is its capacity at that CPU; e.g. RATE=0
# SERVER_CPU_PERCENT=15 LOADGEN_CORES=0,1 LOADGEN_ARGS="--loops 2").
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/Benchmarks/authority-key.sh"
RATE=${RATE:-400}
CONNECTIONS=${CONNECTIONS:-100}
IN_FLIGHT=${IN_FLIGHT:-16}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
LOADGEN=${LOADGEN:-$ROOT/.build/release/sv2}
LOADGEN_ARGS=${LOADGEN_ARGS:-}
SERVER_CORES=${SERVER_CORES:-0}
LOADGEN_CORES=${LOADGEN_CORES:-1}
PORT=${PORT:-31700}
OUT=$(mktemp -d /tmp/sv2-cpu.XXXXXX)
CGROUP=""
if [[ -n ${SERVER_CPU_PERCENT:-} ]]; then
    # cgroup v2 (cpu.max) or v1 (cfs quota); a 10 ms period keeps the throttling fine-grained.
    if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
        CGROUP=/sys/fs/cgroup/sv2-cpu-per-share-$$
        mkdir -p "$CGROUP"
        echo "$((SERVER_CPU_PERCENT * 100)) 10000" >"$CGROUP/cpu.max"
    else
        CGROUP=/sys/fs/cgroup/cpu/sv2-cpu-per-share-$$
        mkdir -p "$CGROUP"
        echo 10000 >"$CGROUP/cpu.cfs_period_us"
        echo "$((SERVER_CPU_PERCENT * 100))" >"$CGROUP/cpu.cfs_quota_us"
    fi
    trap 'rmdir "$CGROUP" 2>/dev/null || true' EXIT
fi
TICK=$(getconf CLK_TCK)
ulimit -n "$(ulimit -Hn)"

# cpu_ticks PID — "utime stime" in clock ticks (fields 14 and 15 of /proc/PID/stat; the command name may hold spaces).
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12, $13 }'; }

measure() {
    local label=${1%%=*} command=${1#*=} round=$2
    PORT=$((PORT + 1))
    local log="$OUT/$label-$round.log"
    # shellcheck disable=SC2086
    taskset -c "$SERVER_CORES" stdbuf -oL ${command//\{PORT\}/$PORT} >"$log" 2>&1 &
    local pid=$!
    [[ -n $CGROUP ]] && echo "$pid" >"$CGROUP/cgroup.procs"
    for _ in $(seq 100); do
        grep -q 'listening' "$log" 2>/dev/null && break
        sleep 0.1
    done
    local security=()
    if [[ ${NOISE:-0} == 1 ]]; then
        local key
        key=$(authority_key "$log")
        security=(--authority-public-key "$key")
    else
        security=()
    fi
    local mode=(--share-rate "$RATE")
    [[ $RATE == 0 ]] && mode=(--share-rate 0 --in-flight "$IN_FLIGHT")
    read -r u0 s0 < <(cpu_ticks "$pid")
    local t0 t1
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    taskset -c "$LOADGEN_CORES" "$LOADGEN" loadtest run --target "127.0.0.1:$PORT" --quiet --json \
        --connections "$CONNECTIONS" "${mode[@]}" --ramp-up 1 --duration "$DURATION" "${security[@]}" $LOADGEN_ARGS \
        >"$OUT/$label-$round.json" 2>"$OUT/$label-$round.err" || true
    t1=$(date +%s.%N)
    read -r u1 s1 < <(cpu_ticks "$pid")
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    python3 - "$OUT/$label-$round.json" "$label" "$TICK" "$u0" "$s0" "$u1" "$s1" "$t0" "$t1" <<'PY' >>"$OUT/results.txt"
import json, sys
path, label, tick, u0, s0, u1, s1, t0, t1 = sys.argv[1:]
tick = float(tick)
r = json.load(open(path))
shares = r["counters"]["sharesAccepted"]
user = (int(u1) - int(u0)) / tick
system = (int(s1) - int(s0)) / tick
wall = float(t1) - float(t0)
lat = r["latencyMicroseconds"]
print(json.dumps({"label": label, "shares": shares, "user_us": user * 1e6 / max(shares, 1),
                  "sys_us": system * 1e6 / max(shares, 1), "util": (user + system) / wall,
                  "rate": r["sharesAcceptedPerSecond"], "p50": lat["p50"], "p99": lat["p99"],
                  "rejected": r["counters"]["sharesRejected"],
                  "lost": not r["nothingLost"]["passed"]}))
PY
    tail -1 "$OUT/results.txt" >&2
}

for round in $(seq "$ROUNDS"); do
    for server in "$@"; do measure "$server" "$round"; done
done

python3 - "$OUT/results.txt" "${1%%=*}" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1])]
base = sys.argv[2]
labels = list(dict.fromkeys(r["label"] for r in rows))
med = {}
for l in labels:
    rs = [r for r in rows if r["label"] == l]
    med[l] = {k: statistics.median(r[k] for r in rs) for k in ["user_us", "sys_us", "util", "rate", "p50", "p99"]}
    med[l]["lost"] = any(r["lost"] for r in rs)
    # µs/share divides by accepted shares: rejected ones cost the server too, so a run with many is not comparable.
    med[l]["rejected"] = max(r["rejected"] for r in rs)
print(f"| server | µs/share user | µs/share sys | total | vs {base} | CPU util | shares/s | p50 µs | p99 µs | lost | rejected (max) |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for l in labels:
    m = med[l]
    total = m["user_us"] + m["sys_us"]
    b = med[base]["user_us"] + med[base]["sys_us"]
    print(f"| {l} | {m['user_us']:.2f} | {m['sys_us']:.2f} | {total:.2f} | {total / b:.2f}× | {m['util'] * 100:.0f} % | "
          f"{m['rate']:,.0f} | {m['p50']:,.0f} | {m['p99']:,.0f} | {'LOST' if m['lost'] else 'no'} | {m['rejected']:,} |")
print(f"(medians of {len(rows) // len(labels)} interleaved rounds; raw: {sys.argv[1]})")
PY
