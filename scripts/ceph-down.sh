#!/usr/bin/env bash
# Stops the one-node Ceph cluster scripts/ceph-up.sh started in DIR and removes DIR.
# Usage: scripts/ceph-down.sh [DIR] (default $ATGT_CEPH_DIR, else /tmp/atgt-ceph).
# Only the daemons whose pid files are in DIR/run and whose command line names
# DIR/ceph.conf are signalled (SIGTERM, then SIGKILL after 10 s), and DIR is removed
# only when ceph-up.sh made it (DIR/.atgt-ceph), so a wrong argument harms nothing.
set -euo pipefail

DIR=${1:-${ATGT_CEPH_DIR:-/tmp/atgt-ceph}}
[ -d "$DIR" ] || exit 0
DIR=$(cd "$DIR" && pwd)
if [ ! -e "$DIR/.atgt-ceph" ]; then
	echo "ceph-down: $DIR was not made by ceph-up.sh; not touching it" >&2
	exit 1
fi

pids=()
for f in "$DIR"/run/*.pid; do
	[ -s "$f" ] || continue
	pid=$(cat "$f")
	if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$DIR/ceph.conf"; then
		pids+=("$pid")
	fi
done
if [ ${#pids[@]} -gt 0 ]; then
	kill -TERM "${pids[@]}" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		left=()
		for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && left+=("$p"); done
		[ ${#left[@]} -eq 0 ] && break
		sleep 0.1
	done
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
fi
rm -rf "$DIR"
echo "ceph-down: stopped and removed $DIR" >&2
