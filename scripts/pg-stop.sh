#!/usr/bin/env bash
# Stops the cluster started by pg-start.sh and removes its directory.
set -u
BASE=${PG_BASE:?PG_BASE must name a directory}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ -d "$BASE/data" ]; then
  as_pg "$BIN/pg_ctl" -D "$BASE/data" -m immediate -w stop >/dev/null 2>&1 || true
fi
rm -rf "$BASE"
