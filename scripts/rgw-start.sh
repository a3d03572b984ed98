#!/bin/bash
# Start a throwaway single-node Ceph cluster (mon + optional mgr + one in-memory OSD) and radosgw,
# an S3 endpoint on http://127.0.0.1:$RGW_PORT, for the storage conformance tests.
# Adapted from ../shared/tools/ceph-rgw/start-rgw.sh. Data lives in memory and is thrown away.
#
# Needs (Debian): ceph-mon ceph-mgr ceph-osd radosgw ceph-common, and curl.
# Env: RGW_BASE (cluster dir, default $TMPDIR/fieldproof-rgw), RGW_PORT (7480), RGW_MON_PORT (40300),
#      RGW_WITH_MGR=1|0 (default 0: radosgw does not need it and it costs ~300 MB),
#      RGW_STORE=memstore|bluestore, RGW_ACCESS_KEY, RGW_SECRET_KEY.
# Stdout carries only the `export AWS_...` lines (progress goes to stderr), so `eval "$(rgw-start.sh)"` works.
# On failure the daemons it started are stopped and the logs are kept in $RGW_BASE/log.
set -euo pipefail

BASE=${RGW_BASE:-${TMPDIR:-/tmp}/fieldproof-rgw}
PORT=${RGW_PORT:-7480}
MON_PORT=${RGW_MON_PORT:-40300}
WITH_MGR=${RGW_WITH_MGR:-0}
STORE=${RGW_STORE:-memstore}
ACCESS_KEY=${RGW_ACCESS_KEY:-fieldproof-test}
SECRET_KEY=${RGW_SECRET_KEY:-fieldproof-test-secret}
HERE=$(cd "$(dirname "$0")" && pwd)
T0=$EPOCHREALTIME

log() { local us=$(( ${EPOCHREALTIME/./} - ${T0/./} )); printf '[%3d.%01ds] %s\n' $((us / 1000000)) $((us % 1000000 / 100000)) "$*" >&2; }
new_uuid() { cat /proc/sys/kernel/random/uuid; }

for tool in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool curl; do
  command -v "$tool" >/dev/null || {
    echo "rgw-start.sh: '$tool' not found; install: apt-get install -y --no-install-recommends ceph-mon ceph-mgr ceph-osd radosgw ceph-common curl" >&2
    exit 2
  }
done

# A previous instance in the same dir (or a failed start) is torn down first.
[ -e "$BASE" ] && RGW_BASE=$BASE "$HERE/rgw-stop.sh"
die() {
  trap - ERR
  echo "rgw-start.sh failed: ${1:-}; logs kept in $BASE/log" >&2
  RGW_BASE=$BASE RGW_KEEP=1 "$HERE/rgw-stop.sh"
  exit 1
}
trap 'die "command failed at line $LINENO"' ERR
trap 'die "interrupted"' INT TERM
mkdir -p "$BASE"/{run,log,crash,mon.a,mgr.x,osd.0,rgw.gw}
CONF=$BASE/ceph.conf
export CEPH_CONF=$CONF
FSID=$(new_uuid)

cat > "$CONF" <<EOF
[global]
fsid = $FSID
mon host = v2:127.0.0.1:$MON_PORT
public addr = 127.0.0.1
ms bind msgr1 = false
auth cluster required = none
auth service required = none
auth client required = none
run dir = $BASE/run
admin socket = $BASE/run/\$name.asok
pid file = $BASE/run/\$name.pid
log file = $BASE/log/\$name.log
mon cluster log file = $BASE/log/cluster.log
keyring = /dev/null
crash dir = $BASE/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
mon data avail warn = 1
mon data avail crit = 0
debug ms = 0
# fast mon commits, so pool and PG creation take milliseconds (defaults 1.0 / 0.05)
paxos propose interval = 0.05
paxos min wait = 0.01

[mon]
mon data = $BASE/mon.\$id

[mgr]
mgr data = $BASE/mgr.\$id
mgr initial modules = ""
mgr standby modules = false

[osd]
osd data = $BASE/osd.\$id
osd objectstore = $STORE
memstore device bytes = 2147483648
bluestore block size = 10737418240
bluestore block create = true
osd max object size = 134217728
osd memory target = 1073741824

[client.rgw.gw]
rgw data = $BASE/rgw.\$id
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw dns name = localhost
rgw enable usage log = false
rgw thread pool size = 64
# radosgw defaults to ms_mon_client_mode=secure, which cannot work with auth none
ms mon client mode = crc secure
EOF

# --- monitor
monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" "$BASE/monmap" >/dev/null
ceph-mon --mkfs -i a --monmap "$BASE/monmap" -c "$CONF"
ceph-mon -i a -c "$CONF"
log "mon started on :$MON_PORT"

# --- manager: optional, radosgw works without it ('ceph -s' then shows no PG stats)
if [ "$WITH_MGR" = 1 ]; then
  ceph-mgr -i x -c "$CONF"
  log "mgr started"
fi

# --- one OSD
OSD_UUID=$(new_uuid)
OSD_ID=$(ceph --connect-timeout 30 osd new "$OSD_UUID")
[ "$OSD_ID" = 0 ] || die "unexpected osd id $OSD_ID"
ceph-osd -i 0 --mkfs --osd-uuid "$OSD_UUID" -c "$CONF" 2> "$BASE/log/osd-mkfs.err" >/dev/null
ceph-osd -i 0 -c "$CONF" 2>> "$BASE/log/osd-start.err"
up=0
for _ in $(seq 1 120); do
  if ceph osd dump 2>/dev/null | grep -q '^osd.0 up'; then up=1; break; fi
  sleep 0.25
done
[ "$up" = 1 ] || die "osd.0 did not come up"
log "osd up ($STORE)"

# --- create the rgw pools up front in one ceph CLI session; radosgw would otherwise create them
#     lazily (~9 s at start plus 2-3 s on the first bucket and the first object)
{ for p in .rgw.root default.rgw.control default.rgw.meta default.rgw.log \
           default.rgw.buckets.index default.rgw.buckets.data default.rgw.buckets.non-ec; do
    echo "osd pool create $p 8 8"; echo "osd pool application enable $p rgw"
  done; } | ceph >/dev/null 2>&1
log "pools created"

# --- radosgw
timeout 120 radosgw -n client.rgw.gw -c "$CONF"
answering=0
for _ in $(seq 1 480); do
  if curl -s -o /dev/null "http://127.0.0.1:$PORT/"; then answering=1; break; fi
  sleep 0.25
done
[ "$answering" = 1 ] || die "radosgw did not answer on :$PORT"
log "radosgw answering on :$PORT"

radosgw-admin -c "$CONF" user create --uid=fieldproof-test --display-name=fieldproof-test \
  --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null
log "S3 user created"

trap - ERR INT TERM
cat <<EOF
export AWS_ENDPOINT_URL=http://127.0.0.1:$PORT
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_DEFAULT_REGION=us-east-1
export CEPH_CONF=$CONF
EOF
