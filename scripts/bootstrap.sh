#!/usr/bin/env bash
# Installs the system libraries swift-stratum links against (Debian 12), when missing, and python3 (CI runs the
# message generator, scripts/gen-messages.py, to check the committed generated code is current).
# Safe to run repeatedly; needs root (or sudo) only when something is missing.
set -euo pipefail
need=()
for pkg in liburing-dev libsecp256k1-dev libssl-dev libsqlite3-dev libpq-dev pkg-config python3; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "bootstrap: installing ${need[*]}" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
command -v swift >/dev/null || { echo "bootstrap: swift is not on PATH (need Swift 6.1+)" >&2; exit 1; }
