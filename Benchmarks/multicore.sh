#!/usr/bin/env bash
# Multi-core pool scaling: `sv2 pool --threads N` for each N given (default "1 2"), interleaved ROUNDS times
# (1 2 1 2 …), each driven in closed loop by LG_PROCS separate `sv2 loadtest run` processes (other processes than the
# pool, each from its own 127.0.0.x source address, so the kernel spreads their connections over the pool's
# SO_REUSEPORT listeners). Nothing is pinned: pool and load generators share the machine's cores, as in the issue.
#
# Per run it reports: shares per wall second (sum over the load generators of their measured-phase rate), the pool's
# CPU per share (utime + stime of the pool process, all threads, from /proc/PID/stat over the whole load test, divided
# by the shares the load generators saw accepted), the pool's CPU utilisation (cores), the whole machine's busy
# cores over the run (/proc/stat: includes the load generators and anything else running), and the load average.
#
# LOOP_CPU_PERCENT=P (root, cgroup v1 `cpu` controller) caps every loop thread of the pool at P % of one CPU, each in
# its own cgroup (the kernel's CFS quota over a 10 ms period; v1 groups take single threads). That emulates cores of
# P % speed: on a 2-vCPU machine the pool is then the saturated side with 2 loops as with 1, and the load generators
# keep the rest of the machine, so shares per wall second show how the pool scales per core instead of how fast the
# load generators are. Without it nothing is capped and on 2 vCPUs the load generators are the limit.
#
#   bash Benchmarks/multicore.sh            # THREADS="1 2" ROUNDS=3 LG_PROCS=2 CONNECTIONS=50 IN_FLIGHT=16 DURATION=10
#   LOOP_CPU_PERCENT=20 bash Benchmarks/multicore.sh   # the scaling measurement of Docs/Performance.md
#   NOISE=1 LOOP_CPU_PERCENT=30 bash Benchmarks/multicore.sh   # the same with Noise (the pool's key from its data dir)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/Benchmarks/authority-key.sh"
SV2=${SV2:-$ROOT/.build/release/sv2}
THREADS=${THREADS:-"1 2"}
ROUNDS=${ROUNDS:-3}
LG_PROCS=${LG_PROCS:-2}
CONNECTIONS=${CONNECTIONS:-50}
IN_FLIGHT=${IN_FLIGHT:-16}
RATE=${RATE:-0}
DURATION=${DURATION:-10}
BACKEND=${BACKEND:-}
PORT=${PORT:-31900}
LOOP_CPU_PERCENT=${LOOP_CPU_PERCENT:-}
OUT=$(mktemp -d /tmp/sv2-multicore.XXXXXX)
CPU_CGROUP=/sys/fs/cgroup/cpu
if [[ -n $LOOP_CPU_PERCENT && ! -f $CPU_CGROUP/cpu.cfs_quota_us ]]; then
    echo "LOOP_CPU_PERCENT needs the cgroup v1 cpu controller at $CPU_CGROUP (and root)" >&2
    exit 1
fi
CAPS=()
trap 'for c in "${CAPS[@]}"; do rmdir "$c" 2>/dev/null || true; done' EXIT
MODE=(--share-rate 0 --in-flight "$IN_FLIGHT")
[[ $RATE != 0 ]] && MODE=(--share-rate "$RATE")
TICK=$(getconf CLK_TCK)
ulimit -n "$(ulimit -Hn)"

# cap_loops PID THREADS — puts each of the pool's loop threads (the main thread runs loop 0, the others are named
# sv2-loop-N) into its own cgroup capped at LOOP_CPU_PERCENT % of a CPU. Waits (bounded) for all loops to start.
cap_loops() {
    local pid=$1 threads=$2 tids=() task
    for _ in $(seq 100); do
        tids=("$pid")
        for task in /proc/"$pid"/task/*; do
            [[ $(cat "$task/comm" 2>/dev/null) == sv2-loop-* ]] && tids+=("${task##*/}")
        done
        ((${#tids[@]} == threads)) && break
        sleep 0.1
    done
    if ((${#tids[@]} != threads)); then
        echo "pool $pid: ${#tids[@]} loop threads, expected $threads" >&2
        kill -TERM "$pid" 2>/dev/null || true
        exit 1
    fi
    local k=0
    for tid in "${tids[@]}"; do
        local group=$CPU_CGROUP/sv2-multicore-$$-$k
        mkdir -p "$group"
        CAPS+=("$group")
        echo 10000 >"$group/cpu.cfs_period_us"
        echo $((LOOP_CPU_PERCENT * 100)) >"$group/cpu.cfs_quota_us"
        echo "$tid" >"$group/tasks"
        k=$((k + 1))
    done
}

cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12, $13 }'; }
# Busy and total jiffies of the whole machine (all cores).
machine() { awk '/^cpu / { idle = $5 + $6; total = 0; for (i = 2; i <= NF; i++) total += $i; print total - idle, total }' /proc/stat; }

measure() {
    local threads=$1 round=$2
    PORT=$((PORT + 1))
    local log="$OUT/pool-$threads-$round.log"
    local backend=()
    [[ -n $BACKEND ]] && backend=(--backend "$BACKEND")
    local security=(--no-noise)
    [[ ${NOISE:-0} == 1 ]] && security=(--data-dir "$OUT/data-$threads-$round")
    "$SV2" pool --threads "$threads" --listen "127.0.0.1:$PORT" "${security[@]}" --accounting off \
        --block-journal "$OUT/blocks-$threads-$round" --min-difficulty 2.5e-10 --max-difficulty 2.5e-10 \
        --ack-batch-size 1 --nbits 1903a30c "${backend[@]}" >"$log" 2>&1 &
    local pid=$!
    for _ in $(seq 100); do
        grep -q 'pool listening' "$log" 2>/dev/null && break
        sleep 0.1
    done
    [[ -n $LOOP_CPU_PERCENT ]] && cap_loops "$pid" "$threads"
    local authority=()
    if [[ ${NOISE:-0} == 1 ]]; then
        authority=(--authority-public-key "$(authority_key "$log")")
    fi
    local load
    load=$(cut -d' ' -f1 /proc/loadavg)
    read -r u0 s0 < <(cpu_ticks "$pid")
    read -r b0 a0 < <(machine)
    local t0 t1
    t0=$(date +%s.%N)
    local lgs=()
    for k in $(seq "$LG_PROCS"); do
        # Each load generator runs under a small wrapper that writes its CPU seconds (user + system) when it exits.
        python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[2:])
r = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write(str(r.ru_utime + r.ru_stime))' "$OUT/lg-$threads-$round-$k.cpu" \
        "$SV2" loadtest run --target "127.0.0.1:$PORT" --quiet --json --connections "$CONNECTIONS" \
            "${MODE[@]}" "${authority[@]}" --ramp-up 1 --duration "$DURATION" \
            --source-address "127.0.$((round % 200 + 1)).$((k + 1))" \
            >"$OUT/lg-$threads-$round-$k.json" 2>"$OUT/lg-$threads-$round-$k.err" &
        lgs+=($!)
    done
    for lg in "${lgs[@]}"; do wait "$lg" || true; done
    t1=$(date +%s.%N)
    read -r u1 s1 < <(cpu_ticks "$pid")
    read -r b1 a1 < <(machine)
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    python3 - "$OUT" "$threads" "$round" "$LG_PROCS" "$TICK" "$u0" "$s0" "$u1" "$s1" "$t0" "$t1" "$b0" "$a0" "$b1" "$a1" \
        "$load" <<'PY' >>"$OUT/results.txt"
import json, sys
out, threads, rnd, procs, tick, u0, s0, u1, s1, t0, t1, b0, a0, b1, a1, load = sys.argv[1:]
tick = float(tick)
shares, rate, lost, lg_cpu = 0, 0.0, False, 0.0
for k in range(1, int(procs) + 1):
    r = json.load(open(f"{out}/lg-{threads}-{rnd}-{k}.json"))
    shares += r["counters"]["sharesAccepted"]
    rate += r["sharesAcceptedPerSecond"]
    lost = lost or not r["nothingLost"]["passed"]
    lg_cpu += float(open(f"{out}/lg-{threads}-{rnd}-{k}.cpu").read())
cpu = (int(u1) - int(u0) + int(s1) - int(s0)) / tick
wall = float(t1) - float(t0)
cores = 2 * (int(b1) - int(b0)) / max(1, int(a1) - int(a0))  # busy cores of a 2-core machine
print(json.dumps({"threads": int(threads), "round": int(rnd), "rate": rate, "shares": shares,
                  "cpu_us": cpu * 1e6 / max(shares, 1), "pool_cores": cpu / wall, "lg_cores": lg_cpu / wall,
                  "lg_us": lg_cpu * 1e6 / max(shares, 1),
                  "machine_busy": (int(b1) - int(b0)) / max(1, int(a1) - int(a0)), "load": float(load), "lost": lost}))
PY
    tail -1 "$OUT/results.txt" >&2
}

for round in $(seq "$ROUNDS"); do
    for threads in $THREADS; do measure "$threads" "$round"; done
done

python3 - "$OUT/results.txt" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| threads | round | shares/s | pool µs CPU/share | pool CPU (cores) | load generators µs/share | load generators (cores) | machine busy | load avg | lost |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['threads']} | {r['round']} | {r['rate']:,.0f} | {r['cpu_us']:.2f} | {r['pool_cores']:.2f} | {r['lg_us']:.2f} | {r['lg_cores']:.2f} | "
          f"{r['machine_busy'] * 100:.0f} % | {r['load']:.1f} | {'LOST' if r['lost'] else 'no'} |")
base = [r for r in rows if r["threads"] == rows[0]["threads"]]
for t in sorted({r["threads"] for r in rows}):
    rs = [r for r in rows if r["threads"] == t]
    rate = statistics.median(r["rate"] for r in rs)
    cpu = statistics.median(r["cpu_us"] for r in rs)
    print(f"threads {t}: median {rate:,.0f} shares/s ({rate / statistics.median(b['rate'] for b in base):.2f}×), "
          f"{cpu:.2f} µs/share ({cpu / statistics.median(b['cpu_us'] for b in base):.2f}×)")
print(f"raw: {sys.argv[1]}")
PY
