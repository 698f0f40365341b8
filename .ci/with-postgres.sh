#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL server on loopback, for the review store's tests:
#   bash .ci/with-postgres.sh make test
# Installs Debian's postgresql if it is missing (as root, or through sudo -n), starts a fresh
# cluster in a temporary folder (127.0.0.1, port $EWP_TEST_POSTGRES_PORT or 54329, fsync off,
# trust auth, nothing else listening), creates role and database ewp / ewp_test, exports
# EWP_TEST_POSTGRES_URL, runs the command, then stops the server and removes the folder. The
# system's own cluster is never touched. If PostgreSQL cannot be installed or started, the
# command still runs, without the URL, and the PostgreSQL tests skip with a message; under CI
# (CI=true) that is an error instead, so CI never passes without them.
set -euo pipefail

port="${EWP_TEST_POSTGRES_PORT:-54329}"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"; else return 1; fi
}

pg_bin() {
  local found
  found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$found" ] && [ -x "$found/initdb" ] && echo "$found"
}

if ! pg_bin >/dev/null; then
  echo "with-postgres: installing Debian's postgresql" >&2
  as_root apt-get update -qq >/dev/null 2>&1 || true
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1 || true
fi

bin="$(pg_bin || true)"
unavailable() {
  if [ "${CI:-}" = true ]; then
    echo "with-postgres: $1; CI needs it for the review store's PostgreSQL tests" >&2
    exit 1
  fi
  echo "with-postgres: $1; its tests will skip" >&2
}

if [ -z "$bin" ]; then
  unavailable "PostgreSQL is not installed and could not be"
  exec "$@"
fi

# initdb refuses to run as root: as root the server runs as the postgres user.
if [ "$(id -u)" = 0 ]; then
  owner=postgres
  run_pg() { runuser -u postgres -- "$@"; }
else
  owner="$(id -un)"
  run_pg() { "$@"; }
fi

dir="$(mktemp -d /tmp/ewp-postgres.XXXXXX)"
chown "$owner" "$dir"
stop() {
  run_pg "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT

started=false
if run_pg "$bin/initdb" -D "$dir/data" -U ewp --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1; then
  # A port another server holds makes the start fail: try the next few.
  for try_port in "$port" $((port + 1)) $((port + 2)) $((port + 3)); do
    if run_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $try_port -k $dir -c fsync=off -c full_page_writes=off" \
      start >/dev/null 2>&1; then
      port="$try_port"
      run_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U ewp ewp_test && started=true
      break
    fi
  done
fi

if $started; then
  export EWP_TEST_POSTGRES_URL="postgresql+psycopg://ewp@127.0.0.1:$port/ewp_test"
  echo "with-postgres: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
else
  cat "$dir/initdb.log" "$dir/server.log" 2>/dev/null | tail -n 20 >&2 || true
  unavailable "could not start PostgreSQL (log above)"
fi

# Not exec: the trap stops the server when the command ends, and its exit status is kept.
"$@"
