#!/usr/bin/env bash
# The project's test command (README "Run the tests", and what CI runs):
# installs system libraries, builds release with warnings as errors, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
echo "== release build (warnings are errors)"
swift build -c release -Xswiftc -warnings-as-errors
echo "== swift test"
swift test 2>&1 | tee .build/test.log
