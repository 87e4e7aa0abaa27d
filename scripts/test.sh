#!/usr/bin/env bash
# The project's test command (README "Run the tests", and what CI runs via .ci/run):
# installs system libraries, builds release with warnings as errors, runs every test — next to a throwaway
# PostgreSQL server (scripts/with-postgres.sh) so the PostgreSQL accounting tests run too. With
# SV2_TEST_POSTGRES_URL already set (your own server), that server is used instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
echo "== release build (warnings are errors)"
swift build -c release -Xswiftc -warnings-as-errors
echo "== swift test (suites one after another: many of them open hundreds of sockets and time real protocols,"
echo "   and a serial run keeps timing-based checks honest)"
mkdir -p .build
# Under `set -e` a failing pipeline would end the script here, before the digest below: catch its status instead
# (with pipefail it is the test runner's, not tee's).
status=0
if [ -n "${SV2_TEST_POSTGRES_URL:-}" ]; then
  swift test --no-parallel 2>&1 | tee .build/test.log || status=$?
else
  bash scripts/with-postgres.sh swift test --no-parallel 2>&1 | tee .build/test.log || status=$?
fi
if [ "$status" -ne 0 ]; then
  # CI keeps only the tail of the output, and a failure's own lines scroll away under the suites that ran after
  # it: repeat them last, with a few lines of what the failing test logged before, so the record names the test.
  echo "== what failed (exit $status; full log .build/test.log)"
  grep -n -B6 -A3 -E "✘ Test .*(recorded an issue|failed)|Fatal error|fatalError|Caught signal|Exited with (unexpected )?signal|Program crashed|error: .*XCT" \
      .build/test.log | grep -v -E "^[0-9]+[-:](◇|✔) " | tail -60 || true
fi
exit "$status"
