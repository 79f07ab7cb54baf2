#!/usr/bin/env bash
# A private PostgreSQL server for the tests and benches: a new cluster in a folder of its
# own, on a free loopback port, trusting local connections (it holds only test data), never
# a system service. Installs Debian's server packages when they are missing (without the
# packages' own "main" cluster).
#
#   scripts/private-postgres.sh start DIR [PID]  starts it; prints its URL (user "gateway",
#                                                database "postgres"); with PID, it is stopped
#                                                and DIR deleted when that process ends
#   scripts/private-postgres.sh stop DIR         stops it and deletes DIR
set -euo pipefail
command=${1:?start or stop}
dir=${2:?a folder}

binaries() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

# The server refuses to run as root: as root, it runs as the packages' "postgres" user.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$command" in
start)
  # The server outlives this script: it must not hold the caller's open files (a test
  # process's pipes would then never reach their end).
  for fd in $(ls /proc/$$/fd); do
    [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null || true
  done
  if [ -z "$(binaries)" ] || ! command -v psql >/dev/null; then
    echo "installing postgresql" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.conf >/dev/null
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql postgresql-client >&2
  fi
  bin=$(binaries)
  mkdir -p "$dir"
  [ "$(id -u)" -ne 0 ] || chown postgres "$dir"
  as_owner "$bin/initdb" -D "$dir/data" -U gateway --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # fsync off: a test cluster loses nothing worth keeping in a crash, and runs faster.
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start -o \
    "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=600 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >&2 \
    || { cat "$dir/server.log" >&2; exit 1; }
  if [ -n "${3:-}" ]; then
    # A watcher of its own session, its output nowhere: the caller's pipes close when it exits.
    setsid bash -c "while kill -0 $3 2>/dev/null; do sleep 1; done; '$0' stop '$dir'" </dev/null >/dev/null 2>&1 &
  fi
  echo "postgres://gateway@127.0.0.1:$port/postgres?sslmode=disable"
  ;;
stop)
  bin=$(binaries)
  [ ! -d "$dir/data" ] || as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  ;;
*)
  echo "usage: $0 start|stop DIR" >&2
  exit 2
  ;;
esac
