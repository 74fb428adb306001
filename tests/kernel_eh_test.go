package tests

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atgt/atgt/tests/guest"
)

// TestKernelErrorHandler meets the kernel's SCSI error handler: the LUN's backend
// hangs the first read of one 4 KiB range (a "hang" fault, count 1) and the guest's
// SCSI command timeout is 5 s. The kernel times the READ out and sends ABORT TASK
// (RFC 7143 11.5.1; escalating to LOGICAL UNIT RESET only if that fails); atgtd
// answers it while the backend call still hangs (the call is detached and
// abandoned), the kernel retries the READ, which now returns the range's data, and
// the ext4 file system beside it stays usable throughout: written, read back and
// clean under e2fsck. The resets the handler escalates to are then asked for with
// sg_reset: LOGICAL UNIT RESET and TARGET WARM RESET (RFC 7143 11.5.1) are answered
// and IO goes on. atgtd's log shows the task management and the abandoned call.
func TestKernelErrorHandler(t *testing.T) {
	const hangAt = 56 << 20 // past the 48 MiB file system, inside the 64 MiB LUN
	cfg := oneLunConfig(t, 64<<20)
	cfg.Targets[0].Name = kernelIQN
	l := &cfg.Targets[0].Luns[0]
	l.Path = filepath.Join(cfg.DataDir, "eh.img")
	l.Faults = []testFault{{Op: "read", Kind: "hang", Offset: hangAt, Length: 4096, Count: 1}}
	d := startDaemonConfig(t, cfg, "-log-level", "info")

	body := `
node_add "$IQN" >/dev/null
run login /sbin/iscsiadm -m node -T "$IQN" -p "$PORTAL" --login || exit 1
D=$(disk_of 0)
echo 5 >/sys/block/$D/device/timeout
result "timeout=$(cat /sys/block/$D/device/timeout)"
run mkfs /usr/sbin/mke2fs -q -t ext4 -F /dev/$D 48M || exit 1
mkdir -p /mnt/fs
run mount mount -t ext4 /dev/$D /mnt/fs || exit 1
dd if=/dev/urandom of=/mnt/fs/before bs=1M count=4 2>/dev/null
sync
# The read of the hanging range, in the background while the FS works on.
echo 7 >/proc/sys/dev/scsi/logging_level # the error handler's steps in dmesg
( _t0=$(date +%s)
  dd if=/dev/$D of=/tmp/hang bs=4096 skip=$((HANG / 4096)) count=1
  result "hang_read_rc=$? hang_read_sum=$(md5sum </tmp/hang | cut -d' ' -f1) hang_read_secs=$(($(date +%s) - _t0))" ) &
_bg=$!
sleep 1
dd if=/dev/urandom of=/mnt/fs/during bs=1M count=4 2>/dev/null
run during_sync sync
wait $_bg
echo 0 >/proc/sys/dev/scsi/logging_level
dmesg | grep -i -E 'abort|timed out|eh_|retr' | tail -20
result "eh_aborts=$(dmesg | grep -c -i 'abort')"
echo 3 >/proc/sys/vm/drop_caches
_sum1=$(md5sum </mnt/fs/during | cut -d' ' -f1)
cp /mnt/fs/during /mnt/fs/after
sync
echo 3 >/proc/sys/vm/drop_caches
if [ "$(md5sum </mnt/fs/after | cut -d' ' -f1)" = "$_sum1" ]; then result readback=ok; else result readback=bad; fi
result "zero_sum=$(dd if=/dev/zero bs=4096 count=1 2>/dev/null | md5sum | cut -d' ' -f1)"
# The resets the error handler escalates to, asked for directly (SG_SCSI_RESET): the
# kernel sends LOGICAL UNIT RESET, then TARGET WARM RESET; the FS goes on.
run lun_reset /usr/bin/sg_reset -d /dev/$D
run target_reset /usr/bin/sg_reset -t /dev/$D
dd if=/dev/urandom of=/mnt/fs/after_reset bs=1M count=2 2>/dev/null
run after_reset_sync sync
run umount umount /mnt/fs
run fsck /usr/sbin/e2fsck -fn /dev/$D
run logout /sbin/iscsiadm -m node -T "$IQN" -p "$PORTAL" --logout
`
	start := time.Now()
	r := bootGuest(t, d, guest.Options{
		Script:  guestScript(map[string]string{"INAME": guestInit1, "IQN": kernelIQN, "HANG": strconv.Itoa(hangAt)}, body),
		Timeout: 4 * time.Minute,
	})
	t.Logf("error handler scenario: %v", time.Since(start).Round(time.Millisecond))
	expectValues(t, r, map[string]string{"login": "0", "timeout": "5", "mkfs": "0", "mount": "0",
		"during_sync": "0", "hang_read_rc": "0", "lun_reset": "0", "target_reset": "0", "after_reset_sync": "0", "readback": "ok", "umount": "0", "fsck": "0", "logout": "0"})
	// The retried READ returned the range's data: the LUN is thin and never written there.
	if r.Values["hang_read_sum"] != r.Values["zero_sum"] {
		t.Errorf("the retried read returned %s, want the zeros' %s", r.Values["hang_read_sum"], r.Values["zero_sum"])
	}
	// It took at least the 5 s command timeout.
	if s, err := strconv.Atoi(r.Values["hang_read_secs"]); err != nil || s < 5 {
		t.Errorf("the hanging read took %q s, want at least the 5 s command timeout", r.Values["hang_read_secs"])
	}
	if n, _ := strconv.Atoi(r.Values["eh_aborts"]); n < 1 {
		t.Errorf("the guest's kernel logged no abort")
	}
	log := d.stderr.String()
	t.Logf("atgtd's log:\n%s", grepLines(log, "task management", "abandon"))
	if !regexp.MustCompile(`task management: .*function=TMF_FUNCTION_ABORT_TASK`).MatchString(log) {
		t.Errorf("atgtd's log shows no ABORT TASK")
	}
	for _, fn := range []string{"LOGICAL_UNIT_RESET", "TARGET_WARM_RESET"} {
		if !strings.Contains(log, "function=TMF_FUNCTION_"+fn+" ") {
			t.Errorf("atgtd's log shows no %s", fn)
		}
	}
	if !strings.Contains(log, "backend call abandoned") {
		t.Errorf("atgtd's log shows no abandoned backend call")
	}
	for _, fn := range []string{"ABORT_TASK", "LOGICAL_UNIT_RESET", "TARGET_WARM_RESET"} {
		t.Logf("task management %s: %d times", fn, strings.Count(log, "function=TMF_FUNCTION_"+fn+" "))
	}
}
