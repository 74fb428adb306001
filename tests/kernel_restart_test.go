package tests

import (
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/atgt/atgt/tests/guest"
)

// TestKernelTargetRestart restarts atgtd under the kernel initiator's IO: the guest
// writes files on ext4, each fsync'ed, for 25 s; after the first few, atgtd gets
// SIGTERM (it asks the session to log out, flushes and exits) and is started again on
// the same files and port. The kernel's session recovery (replacement_timeout 120 s)
// logs in again, the writes go on, and afterwards every file whose fsync returned
// reads back intact after the guest drops its caches, and e2fsck finds the file
// system clean (SBC-4 4.15: a completed SYNCHRONIZE CACHE or FUA write is durable).
func TestKernelTargetRestart(t *testing.T) {
	cfg := oneLunConfig(t, 64<<20)
	cfg.Targets[0].Name = kernelIQN
	cfg.ShutdownGraceSeconds = 3
	d1 := startDaemonConfig(t, cfg, "-log-level", "info")
	cfg.Portals = []string{d1.addr} // the second atgtd listens on the same port

	body := `
node_add "$IQN" >/dev/null
run login /sbin/iscsiadm -m node -T "$IQN" -p "$PORTAL" --login || exit 1
D=$(disk_of 0)
run mkfs /usr/sbin/mke2fs -q -t ext4 -F /dev/$D || exit 1
mkdir -p /mnt/fs
run mount mount -t ext4 /dev/$D /mnt/fs || exit 1
: >/tmp/sums
i=0
_end=$(($(date +%s) + 25))
while [ $(date +%s) -lt $_end ] && [ $i -lt 300 ]; do
	dd if=/dev/urandom of=/tmp/f bs=64k count=1 2>/dev/null
	if ! dd if=/tmp/f of=/mnt/fs/f$i bs=64k conv=fsync 2>/dev/null; then
		result "write_failed=$i"
		break
	fi
	echo "f$i $(md5sum </tmp/f | cut -d' ' -f1)" >>/tmp/sums
	i=$((i + 1))
	result "fsynced=$i"
	[ $i -eq 5 ] && event io-started
done
echo 3 >/proc/sys/vm/drop_caches
_bad=0
while read -r _f _s; do
	[ "$(md5sum </mnt/fs/$_f | cut -d' ' -f1)" = "$_s" ] || _bad=$((_bad + 1))
done </tmp/sums
result "verified=$(wc -l </tmp/sums) bad=$_bad"
result "state=$(cat /sys/class/iscsi_session/session*/state)"
dmesg | grep -i -E 'iscsi|connection|session' | tail -20
run umount umount /mnt/fs
run fsck /usr/sbin/e2fsck -fn /dev/$D
run logout /sbin/iscsiadm -m node -T "$IQN" -p "$PORTAL" --logout
`
	var mu sync.Mutex
	fsynced := 0 // the latest count the guest reported
	atRestart := -1
	restart := make(chan struct{}, 1)
	var r *guest.Result
	done := make(chan struct{})
	go func() {
		defer close(done)
		r = bootGuest(t, d1, guest.Options{
			Script: guestScript(map[string]string{"INAME": guestInit1, "IQN": kernelIQN, "REPLACEMENT_TIMEOUT": "120"}, body),
			Timeout: 4 * time.Minute,
			OnEvent: func(ev string) {
				if ev == "io-started" {
					restart <- struct{}{}
				}
			},
			OnResult: func(k, v string) {
				if k == "fsynced" {
					n, _ := strconv.Atoi(v)
					mu.Lock()
					fsynced = n
					mu.Unlock()
				}
			},
		})
	}()

	var d2 *daemon
	select {
	case <-restart:
		start := time.Now()
		_ = d1.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d1.done:
		case <-time.After(stopTimeout):
			t.Fatalf("atgtd still running %v after SIGTERM", stopTimeout)
		}
		d1.stopped = true
		if d1.err != nil {
			t.Errorf("atgtd did not exit cleanly on SIGTERM: %v", d1.err)
		}
		d2 = startDaemonConfig(t, cfg, "-log-level", "info")
		mu.Lock()
		atRestart = fsynced
		mu.Unlock()
		t.Logf("atgtd restarted in %v, after %d fsync'ed files", time.Since(start).Round(time.Millisecond), atRestart)
	case <-done:
	}
	<-done
	if d2 == nil {
		t.Fatalf("the guest never reported io-started")
	}
	expectValues(t, r, map[string]string{"login": "0", "mkfs": "0", "mount": "0", "bad": "0",
		"state": "LOGGED_IN", "umount": "0", "fsck": "0", "logout": "0"})
	if v, ok := r.Values["write_failed"]; ok {
		t.Errorf("a write failed in the guest (file %s)", v)
	}
	total, _ := strconv.Atoi(r.Values["verified"])
	if total <= atRestart || r.Values["fsynced"] != r.Values["verified"] {
		t.Errorf("%s files fsync'ed, %d of them before the restart, %s verified: want IO to resume after it",
			r.Values["fsynced"], atRestart, r.Values["verified"])
	}
	if log := d2.stderr.String(); !strings.Contains(log, "initiator="+guestInit1) {
		t.Errorf("the restarted atgtd's log shows no login of %s", guestInit1)
	}
}
