#!/usr/bin/env bash
# Runs the test suite under AddressSanitizer, then the multi-threaded tests (event loops driven through
# `execute {}` from the test thread) under ThreadSanitizer. Each build has its own scratch path so neither
# clobbers the normal .build/debug. Time-bounded (SANITIZER_TIMEOUT seconds per step, default 1500).
#   scripts/sanitizers.sh            # both
#   scripts/sanitizers.sh address    # or: thread
set -euo pipefail
cd "$(dirname "$0")/.."
limit="${SANITIZER_TIMEOUT:-1500}"
which="${1:-all}"
# Swift's crash backtracer and the sanitizers' reporters both want the crashing thread; let the sanitizer report.
export SWIFT_BACKTRACE=enable=no
# LeakSanitizer reports one-time global allocations of the Swift runtime and OpenSSL; leaks are checked by the
# RSS-based soak test (SoakTests) instead.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:halt_on_error=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan-suppressions.txt}"

run() {
    local name="$1"; shift
    local start=$SECONDS
    echo "== $name: $*"
    local status=0
    timeout --kill-after=30 "$limit" "$@" >".build/sanitizer-$name.log" 2>&1 || status=$?
    grep -E "✘|Test run with|ERROR: |WARNING: ThreadSanitizer|SUMMARY" ".build/sanitizer-$name.log" | head -40 || true
    # A sanitizer report is a failure even if the test runner still exited 0.
    if grep -qE "ERROR: AddressSanitizer|WARNING: ThreadSanitizer" ".build/sanitizer-$name.log"; then status=1; fi
    echo "== $name: exit $status after $((SECONDS - start)) s"
    return "$status"
}

mkdir -p .build
status=0
if [ "$which" = all ] || [ "$which" = address ]; then
    # ShareFloodTests drives a CPU miner that finds a share on every hash against a stalled pool, and BlockFloodTests
    # pushes megabytes of shares into a stalled pool's socket buffers: load tests whose timing means nothing at ASan
    # speed (they run in the plain suite); everything else runs instrumented.
    run address swift test --no-parallel --sanitize=address --scratch-path .build/asan --skip "ShareFloodTests|BlockFloodTests" || status=1
fi
if [ "$which" = all ] || [ "$which" = thread ]; then
    run thread swift test --no-parallel --sanitize=thread --scratch-path .build/tsan --filter "EventLoopTests|Sv2ServiceTests" || status=1
fi
exit $status
