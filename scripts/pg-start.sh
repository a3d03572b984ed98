#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on 127.0.0.1:$PG_PORT in $PG_BASE (no fsync: tests only).
# Prints the SQLAlchemy URL on its last line. Stop with scripts/pg-stop.sh.
set -euo pipefail
BASE=${PG_BASE:?PG_BASE must name a directory}
PORT=${PG_PORT:-55432}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$BIN/initdb" ] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
mkdir -p "$BASE"
if [ "$(id -u)" = 0 ]; then chown postgres: "$BASE"; chmod o+x "$(dirname "$BASE")"; fi
as_pg "$BIN/initdb" -D "$BASE/data" -U fieldproof --auth=trust -E UTF8 --locale=C.UTF-8 >"$BASE/initdb.log" 2>&1 \
  || { cat "$BASE/initdb.log" >&2; exit 1; }
as_pg "$BIN/pg_ctl" -D "$BASE/data" -l "$BASE/server.log" -w -t 60 \
  -o "-p $PORT -k $BASE -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
  start >/dev/null || { cat "$BASE/server.log" >&2; exit 1; }
as_pg "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U fieldproof fieldproof_test
echo "postgresql+psycopg://fieldproof@127.0.0.1:$PORT/fieldproof_test"
