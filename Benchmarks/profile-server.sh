#!/usr/bin/env bash
# Where a server's CPU goes per share: runs the server on core 0 under `sv2 loadtest run` on core 1 at a fixed load,
# records `perf record -g` of the server for a few seconds in the middle, and prints the CPU split into buckets
# (kernel; user space by module: validation, SHA-256d, Swift runtime, framing, Reactor, Sv2Service, Noise) plus the
# top symbols. Root (perf). The table in Docs/Performance.md ("Where the reference server's CPU goes") comes from it.
#
#   bash Benchmarks/profile-server.sh ".build/release/sv2 loadtest serve --listen 127.0.0.1:{PORT}"
#
# Environment: RATE (shares/s per connection, default 400; 0 = closed loop with 16 in flight), CONNECTIONS (100),
# SECONDS_RECORDED (5), FREQUENCY (19999 Hz), LOADGEN (default .build/release/sv2), LOADGEN_ARGS, NOISE=1 (read the
# authority key the server prints and turn Noise on; start the server with its Noise option).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/Benchmarks/authority-key.sh"
SERVER=$1
RATE=${RATE:-400}
CONNECTIONS=${CONNECTIONS:-100}
SECONDS_RECORDED=${SECONDS_RECORDED:-5}
FREQUENCY=${FREQUENCY:-19999}
LOADGEN=${LOADGEN:-$ROOT/.build/release/sv2}
LOADGEN_ARGS=${LOADGEN_ARGS:-}
PORT=${PORT:-32500}
OUT=$(mktemp -d /tmp/sv2-profile.XXXXXX)
ulimit -n "$(ulimit -Hn)"
# shellcheck disable=SC2086
taskset -c 0 ${SERVER//\{PORT\}/$PORT} >"$OUT/server.log" 2>&1 &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    grep -q listening "$OUT/server.log" 2>/dev/null && break
    sleep 0.1
done
security=()
if [[ ${NOISE:-0} == 1 ]]; then
    key=$(authority_key "$OUT/server.log")
    security=(--authority-public-key "$key")
fi
mode=(--share-rate "$RATE")
[[ $RATE == 0 ]] && mode=(--share-rate 0 --in-flight 16)
duration=$((SECONDS_RECORDED + 6))
# shellcheck disable=SC2086
taskset -c 1 "$LOADGEN" loadtest run --target "127.0.0.1:$PORT" --quiet --json --connections "$CONNECTIONS" \
    "${mode[@]}" "${security[@]}" --ramp-up 1 --duration "$duration" $LOADGEN_ARGS >"$OUT/loadtest.json" 2>"$OUT/loadtest.err" &
lg=$!
sleep 4
perf record -F "$FREQUENCY" -g -p "$pid" -o "$OUT/perf.data" -- sleep "$SECONDS_RECORDED" >/dev/null 2>&1
wait "$lg" || true
perf report -i "$OUT/perf.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null >"$OUT/flat.txt"
python3 - "$OUT/flat.txt" <<'PY'
import collections, re, sys
buckets = collections.Counter()
top = []
for line in open(sys.argv[1]):
    m = re.match(r"\s+([0-9.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)", line)
    if not m: continue
    pct, dso, kind, sym = float(m[1]), m[2], m[3], m[4].strip()
    top.append((pct, dso, sym))
    if kind == "k": key = "kernel"
    elif dso.startswith("libcrypto") or "sha256" in sym.lower(): key = "user: SHA-256d"
    elif dso.startswith("libswiftCore"): key = "user: Swift runtime"
    elif "Sv2Noise" in sym or re.search(r"chacha|poly|aead", sym): key = "user: Noise AEAD"
    elif "Sv2Codec" in sym: key = "user: framing (Sv2Codec)"
    elif re.search(r"Sv2Mining|Sv2Bitcoin|Sv2LoadTest|Sv2Pool", sym): key = "user: validation and handler (hashing excluded)"
    elif "Sv2Service" in sym: key = "user: Sv2Service"
    elif "Reactor" in sym or dso.startswith("liburing"): key = "user: Reactor"
    else: key = f"user: other ({dso})"
    buckets[key] += pct
total = sum(buckets.values()) or 1
print("| share of the server's CPU | bucket |\n|---|---|")
for key, pct in sorted(buckets.items(), key=lambda kv: -kv[1]):
    print(f"| {pct / total * 100:.1f} % | {key} |")
print("\ntop symbols:")
for pct, dso, sym in top[:25]:
    print(f"{pct:6.2f} %  {dso:22.22s} {sym[:110]}")
PY
echo "raw: $OUT (perf.data, flat.txt, loadtest.json)"
