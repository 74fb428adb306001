#!/usr/bin/env bash
# Paired benchmark of tracing's cost (README "Tracing"): 4 KiB random read IOPS with
# iscsi-perf, alternating three atgtd builds each round: /tmp/atgtd-base (the tree
# before the trace hooks, e.g. `git archive 624bec1 | tar -x -C /tmp/base` and
# `go build -o /tmp/atgtd-base ./cmd/atgtd` there), /tmp/atgtd-trace (this tree) with
# -trace off, and with -trace light. Prints "build IOPS target-CPU-us-per-IO" lines.
# SECS (default 10) per run, ROUNDS (default 3). Needs libiscsi-bin; uses /dev/shm.
set -u
mkdir -p /tmp/tracebench
dir=/dev/shm/tracebench
mkdir -p $dir
[ -f $dir/lun0.img ] || dd if=/dev/urandom of=$dir/lun0.img bs=1M count=1024 status=none
cat > $dir/cfg.json <<J
{"portals":["127.0.0.1:3290"],"dataDir":"$dir","targets":[{"name":"iqn.2026-11.dev.atgt:bench","luns":[{"id":0,"path":"$dir/lun0.img","sizeBytes":"1073741824"}]}]}
J
secs=${SECS:-10}
run() { # name binary args...
  local name=$1 bin=$2; shift 2
  $bin -config $dir/cfg.json -admin-socket off "$@" >/tmp/tracebench/$name.out 2>/tmp/tracebench/$name.err &
  local pid=$!
  for i in $(seq 150); do grep -q ready /tmp/tracebench/$name.out 2>/dev/null && break; sleep 0.1; done
  timeout -s INT $((secs+5)) iscsi-perf -m 32 -b 8 -r -t $secs iscsi://127.0.0.1:3290/iqn.2026-11.dev.atgt:bench/0 >/tmp/tracebench/perf.out 2>&1
  local iops=$(tr '\r' '\n' </tmp/tracebench/perf.out | grep -o 'iops average[^0-9]*[0-9.]*' | tail -1 | grep -o '[0-9.]*$')
  local ticks=$(awk '{print $14+$15}' /proc/$pid/stat)
  if [ -z "$iops" ]; then kill -TERM $pid; wait $pid 2>/dev/null; echo "# $name failed: $(tail -2 /tmp/tracebench/$name.err)"; return; fi
  kill -TERM $pid; wait $pid 2>/dev/null
  # target CPU microseconds per IO (clock ticks of 10 ms over the IOs of the run)
  local cpu=$(python3 -c "print(round($ticks*10000/($iops*$secs),2))")
  echo "$name $iops $cpu"
}
for r in $(seq ${ROUNDS:-3}); do
  run base /tmp/atgtd-base
  run off /tmp/atgtd-trace -trace off
  run light /tmp/atgtd-trace -trace light
done
