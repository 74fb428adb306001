#!/usr/bin/env bash
# Starts a one-node Ceph cluster on 127.0.0.1 for the RBD backend's tests and
# benchmarks: one monitor, one BlueStore OSD on a sparse file, pool size 1, no
# systemd, no containers, no manager daemon. Usage: scripts/ceph-up.sh [DIR]
#
# DIR (default $ATGT_CEPH_DIR, else /tmp/atgt-ceph) holds everything: ceph.conf, the
# admin keyring, the mon and OSD data, logs, pid files and admin sockets. Clients
# use `-c DIR/ceph.conf` (it names the admin keyring, DIR/keyring); the script prints
# the ceph.conf path as its last line of stdout and writes DIR/env (CEPH_CONF=...),
# and a pool `rbd` is ready (rbd pool init). scripts/ceph-down.sh DIR stops it.
#
# Idempotent: when the cluster in DIR is up and answers (mon, one OSD up, the rbd
# pool lists), it is reused as is; when DIR holds a cluster whose daemons died, they
# are started again; anything else is wiped and made anew. Runs holding a lock on
# DIR.lock, so concurrent callers with the same DIR wait for each other.
#
# Settings worth knowing:
#   osd client watch timeout = 10: a client that dies without closing its image (a
#     killed gateway) loses its RBD watch, and with it its exclusive lock, after 10 s
#     instead of 30 s; this bounds how fast a dead gateway is noticed by the others.
#   osd crush chooseleaf type = 0 and mon allow pool size one: one OSD is enough.
#   A monitor port picked free at creation (msgr v1 only), so clusters in different
#     DIRs can run side by side; the OSD binds free ports of the 6800-7300 range.
#   Few OSD threads, small caches and no debug logging, to keep CPU and memory
#     modest on a small machine.
set -euo pipefail

DIR=${1:-${ATGT_CEPH_DIR:-/tmp/atgt-ceph}}
mkdir -p "$(dirname "$DIR")"
DIR=$(cd "$(dirname "$DIR")" && pwd)/$(basename "$DIR")
CONF=$DIR/ceph.conf
here=$(cd "$(dirname "$0")" && pwd)

log() { echo "ceph-up: $*" >&2; }

"$here/install-ceph.sh" >&2

exec 9>"$DIR.lock"
flock 9

ceph_() { timeout "${T:-15}" ceph -c "$CONF" "$@"; }

alive() { # pidfile
	[ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

healthy() {
	[ -f "$CONF" ] || return 1
	alive "$DIR/run/mon.a.pid" && alive "$DIR/run/osd.0.pid" || return 1
	T=10 ceph_ osd stat -f json 2>/dev/null | grep -q '"num_up_osds":1' || return 1
	timeout 20 rbd -c "$CONF" ls -p rbd >/dev/null 2>&1
}

wait_for() { # seconds description command...
	local n=$1 what=$2
	shift 2
	for ((i = 0; i < n; i++)); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 1
	done
	log "timed out waiting for $what (logs in $DIR/log)"
	return 1
}

start_daemons() {
	alive "$DIR/run/mon.a.pid" || ceph-mon -c "$CONF" -i a 9>&-
	wait_for 30 "the monitor" ceph_ mon stat
	alive "$DIR/run/osd.0.pid" || ceph-osd -c "$CONF" -i 0 9>&-
	wait_for 60 "the OSD to come up" sh -c "timeout 10 ceph -c '$CONF' osd stat -f json | grep -q '\"num_up_osds\":1'"
}

free_port() {
	local p
	for p in $(shuf -i 20000-29999 -n 200); do
		if ! ss -Htln "sport = :$p" | grep -q .; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

done_() {
	echo "CEPH_CONF=$CONF" >"$DIR/env"
	log "cluster up in $DIR (mon $(grep '^mon host' "$CONF" | sed 's/.*= //'))"
	echo "$CONF"
	exit 0
}

if healthy; then
	log "reusing the cluster in $DIR"
	done_
fi

if [ -f "$DIR/ready" ]; then
	log "restarting the daemons of $DIR"
	if start_daemons && wait_for 60 "the rbd pool" timeout 20 rbd -c "$CONF" ls -p rbd && healthy; then
		done_
	fi
	log "restart failed; making the cluster anew"
fi

# Anything left in DIR is a broken or half-made cluster: stop it and start over. A
# DIR that is not empty and was not made here is left alone.
if [ -d "$DIR" ] && [ ! -e "$DIR/.atgt-ceph" ] && [ -n "$(ls -A "$DIR")" ]; then
	log "$DIR exists and was not made by ceph-up.sh; not touching it"
	exit 1
fi
"$here/ceph-down.sh" "$DIR" >&2
mkdir -p "$DIR"/{run,log,mon,osd/ceph-0}
touch "$DIR/.atgt-ceph"
port=$(free_port)
fsid=$(uuidgen)

cat >"$CONF" <<EOF
# One-node test cluster made by scripts/ceph-up.sh; see the comments there.
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$port
mon initial members = a
public network = 127.0.0.0/8
ms bind msgr2 = false
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
keyring = $DIR/keyring
run dir = $DIR/run
pid file = $DIR/run/\$name.pid
admin socket = $DIR/run/\$name.asok
log file = $DIR/log/\$name.log
log to stderr = false
err to stderr = true
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
mon allow pool delete = true
osd crush chooseleaf type = 0
osd client watch timeout = 10
debug ms = 0/0
debug monc = 0/0
debug auth = 0/0
debug rbd = 0/0
debug rados = 0/0
debug objecter = 0/0

[mon]
mon data = $DIR/mon/\$cluster-\$id
mon data avail warn = 2
mon data avail crit = 1
debug mon = 0/0
debug paxos = 0/0

[osd]
keyring = $DIR/osd/\$cluster-\$id/keyring
osd data = $DIR/osd/\$cluster-\$id
osd objectstore = bluestore
bluestore block create = true
bluestore block size = 21474836480
bluestore fsck on mkfs = false
bluestore fsck on mount = false
osd memory target = 1073741824
osd op num shards = 2
osd op num threads per shard = 2
osd crush update on start = true
debug osd = 0/0
debug bluestore = 0/0
debug bluefs = 0/0
debug bdev = 0/0
debug rocksdb = 0/0
EOF

ceph-authtool --create-keyring "$DIR/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n client.admin \
	--cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
ceph-authtool "$DIR/mon.keyring" --import-keyring "$DIR/keyring" >/dev/null
monmaptool --create --addv a "[v1:127.0.0.1:$port]" --fsid "$fsid" "$DIR/monmap" >/dev/null
ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/mon.keyring"
ceph-mon -c "$CONF" -i a 9>&-
wait_for 30 "the monitor" ceph_ mon stat

uuid=$(uuidgen)
ceph-authtool --create-keyring "$DIR/osd/ceph-0/keyring" --gen-key -n osd.0 >/dev/null
key=$(ceph-authtool -p -n osd.0 "$DIR/osd/ceph-0/keyring")
echo "{\"cephx_secret\": \"$key\"}" >"$DIR/osd-secret.json"
id=$(ceph_ osd new "$uuid" -i "$DIR/osd-secret.json")
rm -f "$DIR/osd-secret.json"
[ "$id" = 0 ] || { log "expected osd id 0, got $id"; exit 1; }
ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$uuid" >/dev/null 2>&1 ||
	{ log "ceph-osd --mkfs failed (see $DIR/log/osd.0.log)"; exit 1; }
ceph-osd -c "$CONF" -i 0 9>&-
wait_for 60 "the OSD to come up" sh -c "timeout 10 ceph -c '$CONF' osd stat -f json | grep -q '\"num_up_osds\":1'"

ceph_ osd pool create rbd 8 8 >&2
wait_for 60 "rbd pool init" timeout 30 rbd -c "$CONF" pool init rbd
wait_for 60 "the rbd pool" timeout 20 rbd -c "$CONF" ls -p rbd
touch "$DIR/ready"
done_
