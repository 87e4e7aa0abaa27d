#!/usr/bin/env bash
# Heap allocations per share in a running server, steady state: counts the server process's calls into glibc's
# malloc, calloc, realloc, posix_memalign and aligned_alloc with uprobes (`perf probe`, needs root) during a window
# in the middle of a fixed-rate `sv2 loadtest run`, and divides by the shares offered in that window
# (CONNECTIONS x RATE x WINDOW; the load generator's share clock holds the rate). Handshakes and channel opens
# happen before the window, so they are not counted.
#
#   bash Benchmarks/allocations-per-share.sh "sv2 loadtest serve"            # the reference pool, plain
#   NOISE=1 bash Benchmarks/allocations-per-share.sh "sv2 loadtest serve --noise"
#   bash Benchmarks/allocations-per-share.sh "sv2 pool --no-noise --min-difficulty 2.5e-10 --max-difficulty 2.5e-10 --nbits 1903a30c"
#
# With HANDSHAKES=1 it counts per connection instead: 64 connections connecting, handshaking (Noise with NOISE=1),
# setting up and disconnecting for WINDOW seconds (`--handshake-only`); every allocation of the server from the
# first connection to the last close, divided by the handshakes the load generator completed.
#
# The command is run from .build/release (its first word is the binary's name there unless it holds a slash);
# `--listen 127.0.0.1:PORT` is appended. Environment: CONNECTIONS (100), RATE (400), WINDOW (5 s), NOISE=1,
# HANDSHAKES=1, LOADGEN (the sv2 binary driving the load, default .build/release/sv2), LOADGEN_ARGS (extra
# `loadtest run` arguments, e.g. "--channel extended").
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/Benchmarks/authority-key.sh"
CONNECTIONS=${CONNECTIONS:-100}
RATE=${RATE:-400}
WINDOW=${WINDOW:-5}
PORT=${PORT:-31900}
LIBC=$(ldconfig -p | awk '/libc\.so\.6 .*x86-64/ { print $NF; exit }')
read -r -a command <<<"$1"
[[ ${command[0]} == */* ]] || command[0]="$ROOT/.build/release/${command[0]}"
SV2=${LOADGEN:-$ROOT/.build/release/sv2}
LOADGEN_ARGS=${LOADGEN_ARGS:-}
ulimit -n "$(ulimit -Hn)"

added=()
for function in malloc calloc realloc posix_memalign aligned_alloc; do
    if ! perf probe -l 2>/dev/null | grep -q "probe_libc:$function "; then
        perf probe -q -x "$LIBC" "$function" && added+=("probe_libc:$function")
    fi
done
cleanup() { for probe in "${added[@]}"; do perf probe -q -d "$probe" || true; done; }
trap cleanup EXIT

log=$(mktemp /tmp/sv2-alloc.XXXXXX)
taskset -c 0 stdbuf -oL "${command[@]}" --listen "127.0.0.1:$PORT" >"$log" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q listening "$log" && break; sleep 0.1; done
security=()
if [[ ${NOISE:-0} == 1 ]]; then
    security=(--authority-public-key "$(authority_key "$log")")
fi
if [[ ${HANDSHAKES:-0} == 1 ]]; then
    perf stat -x, -e 'probe_libc:*' -p "$server" 2>"$log.stat" >/dev/null &
    counter=$!
    sleep 0.5
    taskset -c 1 "$SV2" loadtest run --target "127.0.0.1:$PORT" --quiet --json --connections 64 --handshake-only \
        --ramp-up 0 --duration "$WINDOW" "${security[@]}" >"$log.json" 2>&1 || true
    sleep 0.5
    kill -INT "$counter"
    wait "$counter" || true
else
    # shellcheck disable=SC2086
    taskset -c 1 "$SV2" loadtest run --target "127.0.0.1:$PORT" --quiet --json --connections "$CONNECTIONS" \
        --share-rate "$RATE" --ramp-up 1 --duration $((WINDOW + 5)) "${security[@]}" $LOADGEN_ARGS >"$log.json" 2>&1 &
    generator=$!
    sleep 3
    perf stat -x, -e 'probe_libc:*' -p "$server" -- sleep "$WINDOW" 2>"$log.stat" >/dev/null
    wait "$generator" || true
fi
kill -TERM "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
python3 - "$log.stat" "$log.json" "$CONNECTIONS" "$RATE" "$WINDOW" "${HANDSHAKES:-0}" <<'PY'
import json, sys
stat, report, connections, rate, window = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
handshakes = sys.argv[6] == "1"
counts = {}
for line in open(stat):
    parts = line.strip().split(",")
    if len(parts) > 2 and parts[2].startswith("probe_libc:"):
        counts[parts[2].split(":")[1]] = int(parts[0]) if parts[0].isdigit() else 0
r = json.load(open(report))
# Only our five probes: a probe someone else put on the same functions (another name) would count twice.
total = sum(counts.get(name, 0) for name in ("malloc", "calloc", "realloc", "posix_memalign", "aligned_alloc"))
if handshakes:
    done = r["counters"]["handshakesCompleted"]
    print(f"allocations while {done} connections handshook and closed: {total} "
          f"({', '.join(f'{k} {v}' for k, v in counts.items())}); per connection: {total / max(done, 1):.1f}")
    sys.exit(0)
shares = connections * rate * window
print(f"allocations in the {window:.0f} s window: {total} ({', '.join(f'{k} {v}' for k, v in counts.items())}); "
      f"shares offered in it: {shares:,.0f}; allocations per share: {total / shares:.4f}; "
      f"run: {r['counters']['sharesAccepted']} shares accepted, nothing lost: {r['nothingLost']['passed']}")
PY
