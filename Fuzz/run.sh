#!/usr/bin/env bash
# Builds every libFuzzer target (ASan + libFuzzer) and runs each for a bounded time; fails on the first crash.
#   Fuzz/run.sh [seconds-per-target] [target...]      default: 30 s, all targets
# New interesting inputs go to Fuzz/.build/corpus/<target> (not committed); the committed seeds in
# Fuzz/Corpus/<target> are read only. A crash leaves Fuzz/artifacts/<target>-crash-<sha1> and prints it as hex.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-30}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(FuzzFrames FuzzHandshake FuzzTransport FuzzRoundTrip FuzzSv1)

# Swift's own crash backtracer and ASan's reporter fight over the crashing thread; let ASan/libFuzzer report.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}"
flags=(-Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address)

for target in "${targets[@]}"; do
    echo "== build $target"
    swift build --product "$target" "${flags[@]}" 2>&1 | grep -vE "Cannot export local symbol|^\[[0-9]+/[0-9]+\]" || true
    [ -x ".build/debug/$target" ] || { echo "build of $target failed"; exit 1; }
done

mkdir -p artifacts
status=0
for target in "${targets[@]}"; do
    work=".build/corpus/$target"
    mkdir -p "$work"
    max_len=4096
    [ "$target" = FuzzRoundTrip ] && max_len=512
    [ "$target" = FuzzTransport ] && max_len=16384
    echo "== run $target for ${seconds}s"
    if ! ".build/debug/$target" -max_total_time="$seconds" -max_len="$max_len" -timeout=20 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="artifacts/$target-" "$work" "Corpus/$target" \
        >"artifacts/$target.log" 2>&1; then
        status=1
        echo "!! $target failed — log: Fuzz/artifacts/$target.log"
        grep -E "Fatal error|ERROR: AddressSanitizer|SUMMARY|deadly signal|Test unit written" "artifacts/$target.log" | head -5 || true
        for crash in artifacts/"$target"-*; do
            case "$crash" in *.log) continue ;; esac
            [ -f "$crash" ] && echo "   input $(basename "$crash"): $(xxd -p "$crash" | tr -d '\n' | head -c 400)"
        done
    else
        grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "artifacts/$target.log" | tr '\n' ' '
        echo "corpus $(ls "$work" | wc -l) files"
    fi
done
exit $status
