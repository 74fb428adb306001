package tests

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/atgt/atgt/tests/guest"
)

// The kernel-initiator tests boot Debian's kernel under QEMU (tests/guest) and drive
// atgtd with iscsi_tcp and open-iscsi's iscsid/iscsiadm, as most users connect. Each
// boot runs one scenario group, so that the whole set stays within a few minutes of
// TCG emulation.

// guestPrelude starts the guest's initiator: its name, iscsid.conf and iscsid, and
// defines the shell functions the scenarios share. The guest reaches atgtd as
// $PORTAL (guest.TargetPortal), forwarded by QEMU to 127.0.0.1.
const guestPrelude = `
PORTAL=` + guest.TargetPortal + `
mkdir -p /etc/iscsi/nodes /etc/iscsi/send_targets /etc/iscsi/ifaces /var/lib/iscsi
echo "InitiatorName=$INAME" >/etc/iscsi/initiatorname.iscsi
cat >/etc/iscsi/iscsid.conf <<EOF
node.startup = manual
node.session.timeo.replacement_timeout = ${REPLACEMENT_TIMEOUT:-20}
node.conn[0].timeo.noop_out_interval = 5
node.conn[0].timeo.noop_out_timeout = 5
node.session.initial_login_retry_max = 2
node.conn[0].iscsi.HeaderDigest = ${DIGEST:-None}
node.conn[0].iscsi.DataDigest = ${DIGEST:-None}
EOF
/sbin/iscsid
sleep 1

# node_add IQN: the node record for the target at $PORTAL. SendTargets names the
# address atgtd was reached on, 127.0.0.1:PORT behind QEMU's NAT, which the guest
# cannot reach, so the record is made for the forwarded portal.
node_add() {
	/sbin/iscsiadm -m node -o new -T "$1" -p "$PORTAL,1"
}
# node_set IQN NAME VALUE: one node setting.
node_set() {
	/sbin/iscsiadm -m node -T "$1" -p "$PORTAL" -o update -n "$2" -v "$3"
}
# disk_of LUN: the sd device of LUN in the (one) logged-in session, waiting for the scan.
disk_of() {
	_w=0
	while [ $_w -lt 200 ]; do
		for _d in /sys/block/sd*; do
			[ -e "$_d/device" ] || continue
			case "$(basename "$(readlink -f "$_d/device")")" in
			*:"$1") basename "$_d"; return 0 ;;
			esac
		done
		sleep 0.1
		_w=$((_w + 1))
	done
	return 1
}
# luns_seen: the LUN numbers of every SCSI disk, sorted, comma-separated.
luns_seen() {
	for _d in /sys/block/sd*; do
		[ -e "$_d/device" ] && basename "$(readlink -f "$_d/device")" | awk -F: '{print $4}'
	done | sort -n | tr '\n' ',' | sed 's/,$//'
}
# fs_check NAME DEV: ext4 made on DEV; files written, synced, read back after the
# caches are dropped; one deleted and the FS trimmed; unmounted and checked.
fs_check() {
	local _n=$1 _dev=/dev/$2 _want _got _got2 _src _t _rc
	result "${_n}_lbs=$(cat /sys/block/$2/queue/logical_block_size)"
	result "${_n}_prov=$(cat /sys/block/$2/device/scsi_disk/*/provisioning_mode)"
	result "${_n}_bytes=$(($(cat /sys/block/$2/size) * 512))"
	run "${_n}_mkfs" /usr/sbin/mke2fs -q -t ext4 -F "$_dev" || return 1
	mkdir -p "/mnt/$_n"
	run "${_n}_mount" mount -t ext4 "$_dev" "/mnt/$_n" || return 1
	dd if=/dev/urandom of=/tmp/src bs=1M count=8 2>/dev/null
	cp /tmp/src "/mnt/$_n/a"
	cp /tmp/src "/mnt/$_n/b"
	dd if=/dev/urandom of="/mnt/$_n/c" bs=4k count=100 2>/dev/null
	sync
	_want=$(cat /tmp/src "/mnt/$_n/c" | md5sum | cut -d' ' -f1)
	echo 3 >/proc/sys/vm/drop_caches
	_got=$(cat "/mnt/$_n/a" "/mnt/$_n/c" | md5sum | cut -d' ' -f1)
	_got2=$(md5sum <"/mnt/$_n/b" | cut -d' ' -f1)
	_src=$(md5sum </tmp/src | cut -d' ' -f1)
	if [ "$_want" = "$_got" ] && [ "$_src" = "$_got2" ]; then result "${_n}_readback=ok"; else result "${_n}_readback=bad"; fi
	rm "/mnt/$_n/b"
	sync
	_t=$(/usr/sbin/fstrim -v "/mnt/$_n" 2>&1)
	_rc=$?
	echo "$_t"
	result "${_n}_fstrim=$_rc"
	result "${_n}_trimmed=$(echo "$_t" | sed -n 's/.*(\([0-9]*\) bytes) trimmed.*/\1/p')"
	run "${_n}_umount" umount "/mnt/$_n"
	run "${_n}_fsck" /usr/sbin/e2fsck -fn "$_dev"
}
`

// guestScript is the prelude with the given shell variables set before it, then body.
func guestScript(vars map[string]string, body string) string {
	var b strings.Builder
	for k, v := range vars {
		fmt.Fprintf(&b, "%s=%q\n", k, v)
	}
	b.WriteString(guestPrelude)
	b.WriteString(body)
	return b.String()
}

// bootGuest builds (or reuses) the guest and boots it against d.
func bootGuest(t *testing.T, d *daemon, o guest.Options) *guest.Result {
	t.Helper()
	g := guest.Build(t)
	t.Logf("guest packages:\n%s", g.Versions)
	o.Target = d.addr
	return g.Boot(t, o)
}

// expectValues fails the test for each name whose reported value is not the one given.
func expectValues(t *testing.T, r *guest.Result, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got, ok := r.Values[k]; !ok {
			t.Errorf("guest reported no %s (want %q)", k, v)
		} else if got != v {
			t.Errorf("guest %s = %q, want %q", k, got, v)
		}
	}
}

// allocatedBytes is the space a file takes on disk.
func allocatedBytes(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// sessionKeys returns the negotiated keys of the target's sessions (atgtctl -o json sessions).
func sessionKeys(t *testing.T, d *daemon, dataDir string) []map[string]string {
	t.Helper()
	out, errOut, code := d.ctl(t, filepath.Join(dataDir, "atgtd.sock"), "-o", "json", "sessions")
	if code != 0 {
		t.Errorf("atgtctl sessions: exit %d: %s", code, errOut)
		return nil
	}
	var ss []struct {
		Initiator string            `json:"initiator"`
		Keys      map[string]string `json:"keys"`
	}
	if err := json.Unmarshal([]byte(out), &ss); err != nil {
		t.Errorf("atgtctl sessions: %v", err)
		return nil
	}
	var keys []map[string]string
	for _, s := range ss {
		keys = append(keys, s.Keys)
	}
	return keys
}

// mib is n MiB as a protobuf JSON uint64.
func mib(n int64) string { return strconv.FormatInt(n<<20, 10) }
