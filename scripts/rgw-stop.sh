#!/bin/bash
# Stop the daemons that rgw-start.sh started (only the pids in its pid files, and only if they
# still run with this cluster's ceph.conf), then delete the cluster dir.
#   default        : SIGKILL (the data is thrown away anyway; < 0.5 s)
#   RGW_GRACEFUL=1 : SIGTERM in order rgw -> osd -> mgr -> mon, waiting for each.
#                    The order matters: a radosgw whose OSD is gone hangs ~120 s on SIGTERM.
#   RGW_KEEP=1     : keep $RGW_BASE (logs) instead of deleting it.
BASE=${RGW_BASE:-${TMPDIR:-/tmp}/fieldproof-rgw}
RUN=$BASE/run
SIG=KILL; [ "${RGW_GRACEFUL:-0}" = 1 ] && SIG=TERM

alive() { [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }  # a zombie is dead
stop_one() {  # $1 = daemon name (pid file basename)
  local f=$RUN/$1.pid pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  # signal it only if it really is the daemon started with this conf (pids get reused)
  grep -q -- "$BASE/ceph.conf" "/proc/$pid/cmdline" 2>/dev/null || return 0
  kill -"$SIG" "$pid" 2>/dev/null
  for _ in $(seq 1 100); do alive "$pid" || return 0; sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null
  for _ in $(seq 1 20); do alive "$pid" || return 0; sleep 0.05; done
}
for name in client.rgw.gw osd.0 mgr.x mon.a; do stop_one "$name"; done
[ "${RGW_KEEP:-0}" = 1 ] || rm -rf "$BASE"
exit 0
