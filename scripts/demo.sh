#!/usr/bin/env bash
# The project's main job (README "Run the demo"): a pool on the embedded template source with miners.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
swift run -c release sv2 demo "$@"
