#!/usr/bin/env bash
# Starts (idempotently) a private PostgreSQL server for the tests, on loopback, and prints its
# URL. Installs Debian's postgresql package first if it is missing. Drops the databases earlier
# test runs left (each test makes its own, `t_<pid>_<nanos>_<n>`): run it before the tests, not during.
#   PGPORT (55432)  FLOWBOX_PG_DIR (target/postgres; when run as root and the `postgres` user
#   cannot reach the checkout, e.g. under a mode-700 home, a folder under /var/tmp named after it)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
port=${PGPORT:-55432}
dir=${FLOWBOX_PG_DIR:-$root/target/postgres}
url="postgres://postgres@127.0.0.1:$port/postgres"

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq postgresql; } >&2
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi

# PostgreSQL refuses to run as root: run it as the `postgres` user when we are root.
as_pg() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}

# Each test makes a database of its own and leaves it: drop those of earlier runs.
drop_leftovers() {
  local names
  names=$("$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -Atc \
    "SELECT datname FROM pg_database WHERE datname ~ '^t_[0-9]+_[0-9]+_[0-9]+$'" postgres 2>/dev/null) || return 0
  for name in $names; do
    "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" postgres >/dev/null 2>&1 || true
  done
}

if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
  drop_leftovers
  echo "$url"
  exit 0
fi
mkdir -p "$dir"
if [ "$(id -u)" = 0 ]; then
  chown postgres:postgres "$dir"
  # The server runs as `postgres`: every folder above its data must let that user in.
  if ! su postgres -s /bin/sh -c "test -w '$dir'"; then
    if [ -n "${FLOWBOX_PG_DIR:-}" ]; then
      echo "test-postgres: the postgres user cannot write to FLOWBOX_PG_DIR=$dir (a folder above it is private); choose a folder it can reach" >&2
      exit 2
    fi
    dir=/var/tmp/flowbox-postgres-$(printf %s "$root" | sha256sum | cut -c1-12)
    echo "test-postgres: the postgres user cannot reach $root, so its data is in $dir" >&2
    mkdir -p "$dir"
    chown postgres:postgres "$dir"
    chmod 700 "$dir"
  fi
fi
if [ ! -f "$dir/data/PG_VERSION" ]; then
  as_pg "'$bin/initdb' -D '$dir/data' -U postgres --auth=trust -E UTF8 >'$dir/initdb.log' 2>&1"
fi
as_pg "'$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -t 60 \
  -o \"-p $port -c listen_addresses=127.0.0.1 -k '$dir' -c max_connections=400 -c fsync=on\" start >/dev/null"
drop_leftovers
echo "$url"
