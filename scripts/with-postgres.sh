#!/usr/bin/env bash
# Runs a command next to a throwaway PostgreSQL server (Debian's `postgresql` package), then stops and deletes it.
#   bash scripts/with-postgres.sh bash scripts/test.sh
# The cluster lives in a temporary directory (initdb), runs as a non-root user (`postgres` when run as root),
# listens on 127.0.0.1 only, on a free port; trust authentication for the local user `sv2`. The command gets
# SV2_TEST_POSTGRES_URL=postgres://sv2@127.0.0.1:PORT/sv2test: the PostgreSQL tests then run (and fail if the
# server is unreachable); without that variable they are skipped. CI (.ci/run) uses this script; so can you.
set -euo pipefail
(($#)) || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 64; }

need=()
for pkg in postgresql libpq-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "with-postgres: installing ${need[*]}" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # The package's own cluster is not used (no service manager needed): only its binaries.
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  AS=(runuser -u postgres --)
else
  AS=()
fi

DIR=$(mktemp -d /tmp/sv2-postgres.XXXXXX)
chmod 755 "$DIR"
[ "$(id -u)" -eq 0 ] && chown postgres "$DIR"

# A free port: ask the kernel for one, then hand it to the server (it fails loudly if taken meanwhile).
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')

stop() {
  "${AS[@]}" "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap stop EXIT

"${AS[@]}" "$BIN/initdb" -D "$DIR/data" -U sv2 --auth=trust -E UTF8 --locale=C >"$DIR/initdb.log" 2>&1 \
  || { cat "$DIR/initdb.log" >&2; exit 1; }
"${AS[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c max_connections=100" start >/dev/null \
  || { cat "$DIR/server.log" >&2; exit 1; }
"$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U sv2 sv2test

export SV2_TEST_POSTGRES_URL="postgres://sv2@127.0.0.1:$PORT/sv2test"
echo "with-postgres: PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT (data in $DIR)" >&2
set +e
"$@"
status=$?
set -e
exit $status
