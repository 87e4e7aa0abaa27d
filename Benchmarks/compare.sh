#!/usr/bin/env bash
# Compares swift-stratum's server (io_uring and epoll) with a SwiftNIO baseline under the same `sv2 loadtest`.
#
#   bash Benchmarks/compare.sh            # ~4 minutes after the release builds
#
# Each server gets core 0 (taskset -c 0); the load generator runs on core 1. Servers:
#   io_uring, epoll  `sv2 loadtest serve` — the minimal reference pool (one job per channel, every share validated)
#   pool             `sv2 pool` — the full pool app (embedded template source, vardiff, duplicate filter, jobs
#                    refreshed every 30 s) with the share difficulty pinned tiny (--min/--max-difficulty
#                    $POOL_DIFFICULTY) and acknowledgements batched by $POOL_ACK_BATCH (1 = one per share, like the
#                    others), on its default backend (io_uring); its per-source admission limits are lifted (the
#                    load generator reconnects from few addresses far faster than a real source may), as
#                    `loadtest serve` does on its own
#   nio              NIOBaselineServer — the same minimal pool on SwiftNIO (standard channels only)
# Per server:
#   µs/share      the server's own CPU per acknowledged share, user and system separately (/proc/PID/stat utime and
#                 stime over the whole load test ÷ shares the load generator saw accepted), at a fixed offered load
#                 ($CONNECTIONS connections x $RATE shares/s, well below saturation: the headline, stable to a few %)
#                 and in closed loop (a second view: how many frames each read and write carries depends on the
#                 load generator's speed, so it swings between runs); with the server's CPU utilisation over each
#   shares/s      closed loop, $CONNECTIONS connections x $IN_FLIGHT shares in flight, $DURATION s measured; marked
#                 "LG-bound" when the server was below $SATURATED of a core (the load generator was the bottleneck,
#                 so the figure says nothing about the server's capacity)
#   handshakes/s  $HANDSHAKE_CONNECTIONS connections connecting, handshaking and disconnecting for $HANDSHAKE_DURATION s
#   p99           share-acknowledgement latency of the shares/s run
#   RSS/10k idle  server VmRSS once it holds $IDLE idle connections (channel open) minus before, scaled to 10k
# all with Noise on and off. Ratios are ours / NIO (for p99 and RSS lower is better, so NIO / ours is shown).
# Tunables (environment): DURATION, CONNECTIONS, IN_FLIGHT, RATE, SATURATED (utilisation taken as saturated, default
# 0.9), LOADGEN_LOOPS (event loops of the load generator), LOADGEN_CORES (its taskset list, default 1; e.g. "1" with
# LOADGEN_LOOPS=2 still gives it one core), HANDSHAKE_CONNECTIONS, HANDSHAKE_DURATION, IDLE, PORT,
# KINDS (servers to measure, default "io_uring epoll pool nio"), CHANNEL (standard | extended; extended drops nio,
# which has no extended channels), POOL_DIFFICULTY, POOL_ACK_BATCH, SKIP_BUILD=1, OUT (directory for the raw
# JSON reports).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/Benchmarks/authority-key.sh"
DURATION=${DURATION:-15}
CONNECTIONS=${CONNECTIONS:-100}
IN_FLIGHT=${IN_FLIGHT:-16}
RATE=${RATE:-400}
SATURATED=${SATURATED:-0.9}
LOADGEN_LOOPS=${LOADGEN_LOOPS:-1}
LOADGEN_CORES=${LOADGEN_CORES:-1}
HANDSHAKE_CONNECTIONS=${HANDSHAKE_CONNECTIONS:-64}
HANDSHAKE_DURATION=${HANDSHAKE_DURATION:-8}
IDLE=${IDLE:-10000}
# Below Linux's ephemeral range (32768–60999), so no outgoing connection on this machine can hold the port.
PORT=${PORT:-31300}
KINDS=${KINDS:-io_uring epoll pool nio}
CHANNEL=${CHANNEL:-standard}
[[ $CHANNEL == extended ]] && KINDS=${KINDS//nio/}
# Target just below 2^256: about 9 hashes in 10 meet it, so the load generator does not grind nonces.
POOL_DIFFICULTY=${POOL_DIFFICULTY:-2.5e-10}
POOL_ACK_BATCH=${POOL_ACK_BATCH:-1}
OUT=${OUT:-$(mktemp -d /tmp/sv2-compare.XXXXXX)}
mkdir -p "$OUT"

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    echo "building release binaries…" >&2
    (cd "$ROOT" && swift build -c release --product sv2 >&2)
    if [[ $KINDS == *nio* ]]; then
        (cd "$ROOT/Benchmarks" && swift build -c release --product NIOBaselineServer >&2)
    fi
fi
SV2="$ROOT/.build/release/sv2"
NIO="$ROOT/Benchmarks/.build/release/NIOBaselineServer"
ulimit -n "$(ulimit -Hn)"

SERVER_PID=""
SERVER_LOG=""
AUTHORITY=""

# start_server KIND NOISE — KIND: io_uring | epoll | pool | nio; NOISE: plain | noise.
start_server() {
    local kind=$1 noise=$2 flag="" attempt
    [[ $noise == noise ]] && flag="--noise"
    local pool_noise="--no-noise"
    [[ $noise == noise ]] && pool_noise=""
    SERVER_LOG="$OUT/server-$kind-$noise${3:-}.log"
    for attempt in 1 2 3 4 5; do
        PORT=$((PORT + 1))
        case $kind in
            nio) taskset -c 0 "$NIO" --listen "127.0.0.1:$PORT" $flag >"$SERVER_LOG" 2>&1 & ;;
            # stdbuf: the pool prints with stdio, which a file would otherwise buffer until exit. --nbits: a real
            # network target, so no share is a block (a block moves the chain tip and makes in-flight shares stale).
            pool) taskset -c 0 stdbuf -oL "$SV2" pool --listen "127.0.0.1:$PORT" $pool_noise --log-level warning \
                      --min-difficulty "$POOL_DIFFICULTY" --max-difficulty "$POOL_DIFFICULTY" \
                      --ack-batch-size "$POOL_ACK_BATCH" --nbits 1903a30c --inactivity-timeout 600 \
                      --source-connection-rate 1000000 --source-connection-burst 1000000 \
                      >"$SERVER_LOG" 2>&1 & ;;
            *) taskset -c 0 "$SV2" loadtest serve --listen "127.0.0.1:$PORT" --backend "$kind" $flag \
                   >"$SERVER_LOG" 2>&1 & ;;
        esac
        SERVER_PID=$!
        for _ in $(seq 100); do
            grep -q '^\(pool \)\?listening' "$SERVER_LOG" 2>/dev/null && break
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if grep -q '^\(pool \)\?listening' "$SERVER_LOG"; then
            AUTHORITY=$(authority_key "$SERVER_LOG")
            return
        fi
        echo "server $kind did not start on port $PORT (attempt $attempt):" >&2
        cat "$SERVER_LOG" >&2
        kill "$SERVER_PID" 2>/dev/null || true
    done
    exit 1
}

stop_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# cpu_mark — "utime stime wall" of the server now (ticks, ticks, seconds); fields 14 and 15 of /proc/PID/stat, read
# after the command name (which may hold spaces).
cpu_mark() { echo "$(sed 's/^.*) //' "/proc/$SERVER_PID/stat" | awk '{ print $12, $13 }') $(date +%s.%N)"; }

# loadtest NAME ARGS… — runs the load generator on core 1 against the current server, JSON into $OUT/NAME.json.
loadtest() {
    local name=$1; shift
    local security=()
    [[ -n $AUTHORITY ]] && security=(--authority-public-key "$AUTHORITY")
    local before
    before=$(cpu_mark)
    taskset -c "$LOADGEN_CORES" "$SV2" loadtest run --target "127.0.0.1:$PORT" --quiet --json --channel "$CHANNEL" \
        --loops "$LOADGEN_LOOPS" "${security[@]}" "$@" >"$OUT/$name.json" 2>"$OUT/$name.err" || true
    echo "$before $(cpu_mark)" >"$OUT/cpu-$name.txt"
}

# server_counters KIND — the server's final counters as JSON (the pool's last status line, converted).
server_counters() {
    if [[ $1 == pool ]]; then
        sed -n 's/^pool: .* \([0-9]*\) shares accepted, \([0-9]*\) rejected.*/{"sharesAccepted":\1,"sharesRejected":\2}/p' \
            "$SERVER_LOG" | tail -1
    else
        tail -1 "$SERVER_LOG"
    fi
}

for kind in $KINDS; do
    for noise in plain noise; do
        echo "== $kind, $noise" >&2
        start_server "$kind" "$noise"
        loadtest "fixed-$kind-$noise" --connections "$CONNECTIONS" --share-rate "$RATE" --ramp-up 1 --duration "$DURATION"
        loadtest "shares-$kind-$noise" --connections "$CONNECTIONS" --share-rate 0 --in-flight "$IN_FLIGHT" \
            --ramp-up 1 --duration "$DURATION"
        loadtest "handshakes-$kind-$noise" --connections "$HANDSHAKE_CONNECTIONS" --handshake-only --ramp-up 0 \
            --duration "$HANDSHAKE_DURATION"
        stop_server
        server_counters "$kind" >"$OUT/server-$kind-$noise.json"
        # Idle-but-connected, on a fresh server (memory freed by the runs above would hide the cost): wait until it
        # holds all $IDLE connections (Noise handshakes take a while), read its RSS, then stop the load generator.
        start_server "$kind" "$noise" -idle
        sleep 0.5
        before=$(rss_kib "$SERVER_PID")
        taskset -c 1 "$SV2" loadtest run --target "127.0.0.1:$PORT" --quiet --json --channel "$CHANNEL" \
            ${AUTHORITY:+--authority-public-key "$AUTHORITY"} \
            --connections "$IDLE" --idle --ramp-up 2 --duration 60 --drain-timeout 0 \
            >"$OUT/idle-$kind-$noise.json" 2>"$OUT/idle-$kind-$noise.err" &
        idle_pid=$!
        established=0
        for _ in $(seq 120); do
            sleep 0.5
            established=$(ss -Htn state established "( sport = :$PORT )" | wc -l)
            (( established >= IDLE )) && break
        done
        sleep 1
        after=$(rss_kib "$SERVER_PID")
        echo "$before $after $established" >"$OUT/rss-$kind-$noise.txt"
        kill -TERM "$idle_pid" 2>/dev/null || true
        wait "$idle_pid" 2>/dev/null || true
        rm -f "$OUT/idle-$kind-$noise.json"
        stop_server
    done
done

python3 - "$OUT" "$IDLE" "$KINDS" "$CHANNEL" "$(getconf CLK_TCK)" "$SATURATED" "$CONNECTIONS" "$RATE" <<'PY'
import json, os, platform, subprocess, sys, datetime
out, idle, measured, channel = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4]
tick, saturated, connections, rate = float(sys.argv[5]), float(sys.argv[6]), sys.argv[7], sys.argv[8]
def load(name):
    try:
        with open(os.path.join(out, name + ".json")) as f: return json.load(f)
    except Exception: return None
def rss(kind, noise):
    try:
        before, after, up = map(int, open(os.path.join(out, f"rss-{kind}-{noise}.txt")).read().split())
        if up < idle * 0.99: print(f"note: {kind} {noise}: only {up} of {idle} idle connections were up")
        return (after - before) * 10000 / max(up, 1) / 1024  # MiB per 10k
    except Exception: return None
def cpu(name):
    """(user µs/share, system µs/share, utilisation) of the server over load test `name`, or None."""
    try:
        u0, s0, t0, u1, s1, t1 = map(float, open(os.path.join(out, f"cpu-{name}.txt")).read().split())
        shares = load(name)["counters"]["sharesAccepted"]
        if shares <= 0: return None
        user, system = (u1 - u0) / tick, (s1 - s0) / tick
        return (user * 1e6 / shares, system * 1e6 / shares, (user + system) / max(t1 - t0, 1e-9))
    except Exception: return None
kinds = ["io_uring", "epoll", "pool", "nio"]
rows = []
bound = []
for noise in ["plain", "noise"]:
    shares = {k: load(f"shares-{k}-{noise}") for k in kinds}
    hands = {k: load(f"handshakes-{k}-{noise}") for k in kinds}
    for mode, label in [("fixed", f"fixed {connections}×{rate}/s"), ("shares", "closed loop")]:
        c = {k: cpu(f"{mode}-{k}-{noise}") for k in kinds}
        rows.append((f"server µs/share, {label} ({noise})", {k: c[k] and c[k][0] + c[k][1] for k in kinds}, False, "{:.2f}"))
        rows.append((f"  of which user ({noise})", {k: c[k] and c[k][0] for k in kinds}, False, "{:.2f}"))
        rows.append((f"  of which system ({noise})", {k: c[k] and c[k][1] for k in kinds}, False, "{:.2f}"))
        rows.append((f"  server CPU utilisation ({noise})", {k: c[k] and c[k][2] * 100 for k in kinds}, None, "{:.0f} %"))
        if mode == "shares":
            for k in kinds:
                if c[k] and c[k][2] < saturated: bound.append((k, noise))
    rows.append((f"shares/s closed loop ({noise})", {k: shares[k] and shares[k]["sharesAcceptedPerSecond"] for k in kinds}, True, "{:,.0f}"))
    rows.append((f"handshakes/s ({noise})", {k: hands[k] and hands[k]["handshakesPerSecond"] for k in kinds}, True, "{:,.0f}"))
    rows.append((f"p99 ack latency µs ({noise})", {k: shares[k] and shares[k]["latencyMicroseconds"]["p99"] for k in kinds}, False, "{:,.0f}"))
    rows.append((f"RSS MiB per 10k idle ({noise})", {k: rss(k, noise) for k in kinds}, False, "{:,.1f}"))
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
print(f"date {datetime.datetime.now().isoformat(timespec='minutes')}, {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, "
      f"kernel {platform.release()}; server on core 0, load generator on core 1; {channel} channels")
def fmt(v, f): return "—" if v is None else f.format(v)
def ratio(ours, nio, higher):
    if higher is None or not ours or not nio: return "—"
    return f"{(ours / nio if higher else nio / ours):.2f}×"
print("| metric | ours io_uring | ours epoll | sv2 pool | NIO baseline | io_uring vs NIO | epoll vs NIO | pool vs NIO |")
print("|---|---|---|---|---|---|---|---|")
def cell(name, kind, value, f):
    text = fmt(value, f)
    if name.startswith("shares/s closed loop") and value is not None:
        noise = name[name.index("(") + 1:-1]
        if (kind, noise) in bound: text += " (LG-bound)"
    return text
for name, values, higher, f in rows:
    print(f"| {name} | {cell(name, 'io_uring', values['io_uring'], f)} | {cell(name, 'epoll', values['epoll'], f)} | "
          f"{cell(name, 'pool', values['pool'], f)} | {cell(name, 'nio', values['nio'], f)} | "
          f"{ratio(values['io_uring'], values['nio'], higher)} | "
          f"{ratio(values['epoll'], values['nio'], higher)} | {ratio(values['pool'], values['nio'], higher)} |")
# Every load-generator report, once: "nothing lost" failures, and rejections. µs/share divides by
# acknowledged-as-accepted shares, so a run with rejections (which the server also paid for) is not comparable: say
# so instead of letting it pass silently.
lost, rejected = [], []
for name in sorted(os.listdir(out)):
    if name.endswith(".json") and not name.startswith("server-"):
        r = load(name[:-5])
        if not r: continue
        if not r["nothingLost"]["passed"]: lost.append(f"{name[:-5]}: {'; '.join(r['nothingLost']['problems'])}")
        counters = r["counters"]
        if counters["sharesRejected"] > 0:
            # A long closed-loop run renews each channel's job when its duplicate filter fills; the shares in flight
            # then come back stale-share (in-flight × renewals, a few per million). More than 1 % means something else.
            share = counters["sharesRejected"] / max(counters["sharesSent"], 1)
            rejected.append((share, f"{name[:-5]}: {counters['sharesRejected']:,} of {counters['sharesSent']:,} "
                                    f"({share:.4%}, {counters['rejectionCodes']})"))
for kind in measured:
    for noise in ["plain", "noise"]:
        server = load(f"server-{kind}-{noise}")
        clients = sum((load(f"{run}-{kind}-{noise}") or {"counters": {"sharesAccepted": 0}})["counters"]["sharesAccepted"]
                      for run in ["fixed", "shares", "handshakes", "idle"])
        if server is None: lost.append(f"server {kind} {noise}: no final counters")
        elif server["sharesAccepted"] != clients:
            lost.append(f"server {kind} {noise} counted {server['sharesAccepted']} accepted shares, clients {clients}")
print(f"server µs/share: /proc utime and stime over the load test ÷ shares acknowledged (includes the ramp-up and "
      f"the {connections} handshakes; ratios for µs/share, p99 and RSS are NIO / ours, so higher is better everywhere). "
      f"LG-bound: the server used less than {saturated:.0%} of its core in closed loop, so the load generator, not the "
      f"server, set that throughput.")
print("nothing lost: " + ("PASS in every run" if not lost else "FAIL\n  " + "\n  ".join(lost)))
bad = [line for share, line in rejected if share > 0.01]
print("rejected shares: " + ("none" if not rejected else
      ("OVER 1 % (µs/share of these runs is inflated)" if bad else "under 1 % in every run") + "\n  " +
      "\n  ".join(line for _, line in rejected)))
print(f"raw reports: {out}")
PY
