#!/usr/bin/env bash
# The project's test command (README "Run the tests", and what CI runs):
# installs system libraries, builds release with warnings as errors, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
echo "== release build (warnings are errors)"
swift build -c release -Xswiftc -warnings-as-errors
echo "== swift test (suites one after another: many of them open hundreds of sockets and time real protocols,"
echo "   and a serial run costs ~1.5 min instead of ~1 min while keeping timing-based checks honest)"
swift test --no-parallel 2>&1 | tee .build/test.log
