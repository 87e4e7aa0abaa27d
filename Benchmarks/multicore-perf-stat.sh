#!/usr/bin/env bash
# Steady-state CPU of `sv2 pool --threads 1` vs `--threads 2` at a fixed 80,000 shares/s (2 load generators × 100
# connections × 400 shares/s): `perf stat` on the pool process for 5 s in the middle of each run (task clock, context
# switches, io_uring_enter calls), threads 1 and 2 interleaved, 2 rounds. Needs perf with tracepoint access.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SV2=${SV2:-$ROOT/.build/release/sv2}
for round in 1 2; do
for t in 1 2; do
  PORT=$((32100 + t + round * 10)); D=$(mktemp -d)
  $SV2 pool --threads $t --listen 127.0.0.1:$PORT --no-noise --accounting off --block-journal $D/b --min-difficulty 2.5e-10 --max-difficulty 2.5e-10 --ack-batch-size 1 --nbits 1903a30c > $D/log 2>&1 &
  P=$!
  sleep 1
  for k in 1 2; do $SV2 loadtest run --target 127.0.0.1:$PORT --quiet --json -c 100 --share-rate 400 --ramp-up 1 --duration 8 --source-address 127.0.9.$((k+1)) > $D/lg$k.json 2>/dev/null & done
  sleep 3
  perf stat -e task-clock,context-switches,cpu-migrations,syscalls:sys_enter_io_uring_enter -p $P -x, -o $D/perf.txt -- sleep 5
  wait %2 %3 2>/dev/null; sleep 1
  kill -TERM $P; wait $P
  echo "threads $t round $round"; grep -v "^#" $D/perf.txt | grep -v "^$"
done
done
