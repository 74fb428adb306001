#!/bin/sh
# /init of the kernel-initiator test guest (scripts/build-test-guest.sh puts it in the
# initramfs). It mounts the pseudo file systems, loads the modules, configures eth0 for
# QEMU's user network (the target is 10.0.2.100:3260 through QEMU's guestfwd), starts
# nothing else, then runs /test.sh, the script the Go test passes in a second cpio
# archive. Results go to the second serial port as "ATGT-RESULT name=value" lines,
# everything else to the console (the first one). The guest always powers off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /run /tmp
mount -t tmpfs tmpfs /run
mkdir -p /run/lock/iscsi

# result NAME=VALUE...: one result line for the Go test.
result() { echo "ATGT-RESULT $*" >/dev/ttyS1; }
# event NAME: tells the Go test that the script reached a point (it may act on it).
event() { echo "ATGT-EVENT $*" >/dev/ttyS1; }
# run NAME CMD...: runs CMD with its output on the console and reports NAME=exit code.
run() {
	local name=$1 rc
	shift
	echo "+ $*"
	"$@"
	rc=$?
	result "$name=$rc"
	return $rc
}
# wait_for PATH SECONDS: waits until PATH exists.
wait_for() {
	local i=0
	while [ ! -e "$1" ] && [ $i -lt $(($2 * 10)) ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -e "$1" ]
}

stty -F /dev/ttyS1 raw -echo 2>/dev/null
for m in $(cat /etc/modules.order); do
	insmod "$m" || echo "insmod $m failed"
done
ip link set lo up
ip addr add 10.0.2.15/24 dev eth0
ip link set eth0 up
ip route add default via 10.0.2.2
result "kernel=$(uname -r)"
result "boot=ok"

if [ -f /test.sh ]; then
	# In a subshell: a failing command or a shell error ends the script, not /init.
	(. /test.sh)
	result "script_exit=$?"
else
	result "script_exit=noscript"
fi
sync
echo "ATGT-DONE" >/dev/ttyS1
poweroff -f
