#!/usr/bin/env bash
# The loopback round-trip floor beside `sv2 loadtest run` latencies: a C ping-pong of 32-byte frames between core 0
# (echo, where the server runs in compare.sh) and core 1 (where the load generator runs), back to back and with
# 200 ms between round trips (a light-load miner's pace: the cores idle in between, so wake-up costs show).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")" && pwd)
BIN=$(mktemp /tmp/loopback_rtt.XXXXXX)
cc -O2 -o "$BIN" "$ROOT/LoopbackRTT/loopback_rtt.c"
"$BIN" 20000 0 1 0
"$BIN" ${LIGHT_ROUNDS:-50} 0 1 200000
rm -f "$BIN"
