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

// TestKernelTargetRestart restarts atgtd twice under the kernel initiator's IO: the
// guest writes files on ext4, each fsync'ed, for 25 s (at least 80 files). After the
// 5th file atgtd gets SIGTERM (it asks the session to log out with an Asynchronous
// Message, RFC 7143 11.9.1, flushes and exits) and is started again on the same files
// and port; after
// the 60th it is killed (SIGKILL: the connection just breaks) and started again. The
// initiator logs in again each time (after the kill through the kernel's connection
// error recovery, within replacement_timeout 120 s), the writes go on, and afterwards
// every file whose fsync returned reads back intact after the guest drops its caches,
// and e2fsck finds the file system clean (SBC-4 4.15: a completed SYNCHRONIZE CACHE
// or FUA write is durable).
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
# 25 s, and past the second restart however slow the machine is.
while [ $i -lt 300 ] && { [ $(date +%s) -lt $_end ] || [ $i -lt 80 ]; }; do
	dd if=/dev/urandom of=/tmp/f bs=64k count=1 2>/dev/null
	if ! dd if=/tmp/f of=/mnt/fs/f$i bs=64k conv=fsync 2>/dev/null; then
		result "write_failed=$i"
		break
	fi
	echo "f$i $(md5sum </tmp/f | cut -d' ' -f1)" >>/tmp/sums
	i=$((i + 1))
	result "fsynced=$i"
	[ $i -eq 5 ] && event restart-term
	[ $i -eq 60 ] && event restart-kill
done
echo 3 >/proc/sys/vm/drop_caches
_bad=0
while read -r _f _s; do
	[ "$(md5sum </mnt/fs/$_f | cut -d' ' -f1)" = "$_s" ] || _bad=$((_bad + 1))
done </tmp/sums
result "verified=$(wc -l </tmp/sums) bad=$_bad"
result "state=$(cat /sys/class/iscsi_session/session*/state)"
result "conn_errors=$(dmesg | grep -c 'detected conn error')"
dmesg | grep -i -E 'iscsi|connection|session' | tail -20
run umount umount /mnt/fs
run fsck /usr/sbin/e2fsck -fn /dev/$D
run logout /sbin/iscsiadm -m node -T "$IQN" -p "$PORTAL" --logout
`
	var mu sync.Mutex
	fsynced := 0 // the latest count the guest reported
	restart := make(chan string, 2)
	var r *guest.Result
	done := make(chan struct{})
	go func() {
		defer close(done)
		r = bootGuest(t, d1, guest.Options{
			Script:  guestScript(map[string]string{"INAME": guestInit1, "IQN": kernelIQN, "REPLACEMENT_TIMEOUT": "120"}, body),
			Timeout: 4 * time.Minute,
			OnEvent: func(ev string) {
				if strings.HasPrefix(ev, "restart-") {
					restart <- ev
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

	d := d1
	var counts []int // fsync'ed files at each restart
	for len(counts) < 2 {
		var ev string
		select {
		case ev = <-restart:
		case <-done:
		}
		if ev == "" {
			break
		}
		start := time.Now()
		sig := syscall.SIGTERM
		if ev == "restart-kill" {
			sig = syscall.SIGKILL
		}
		_ = d.cmd.Process.Signal(sig)
		select {
		case <-d.done:
		case <-time.After(stopTimeout):
			t.Fatalf("atgtd still running %v after %v", stopTimeout, sig)
		}
		d.stopped = true
		if sig == syscall.SIGTERM && d.err != nil {
			t.Errorf("atgtd did not exit cleanly on SIGTERM: %v", d.err)
		}
		t.Logf("atgtd's log before the %v:\n%s", sig, grepLines(d.stderr.String(), "login", "logout", "stopping"))
		d = startDaemonConfig(t, cfg, "-log-level", "info")
		mu.Lock()
		counts = append(counts, fsynced)
		mu.Unlock()
		t.Logf("atgtd restarted after %v in %v, after %d fsync'ed files", sig, time.Since(start).Round(time.Millisecond), counts[len(counts)-1])
	}
	<-done
	if len(counts) != 2 {
		t.Fatalf("the guest asked for %d of the 2 restarts", len(counts))
	}
	expectValues(t, r, map[string]string{"login": "0", "mkfs": "0", "mount": "0", "bad": "0",
		"state": "LOGGED_IN", "umount": "0", "fsck": "0", "logout": "0"})
	if v, ok := r.Values["write_failed"]; ok {
		t.Errorf("a write failed in the guest (file %s)", v)
	}
	total, _ := strconv.Atoi(r.Values["verified"])
	if total <= counts[1] || r.Values["fsynced"] != r.Values["verified"] {
		t.Errorf("%s files fsync'ed, %v of them at the restarts, %s verified: want IO to resume after each",
			r.Values["fsynced"], counts, r.Values["verified"])
	}
	// The kill broke the connection: the kernel saw it and recovered.
	if n, _ := strconv.Atoi(r.Values["conn_errors"]); n < 1 {
		t.Errorf("the guest's kernel logged no connection error after atgtd was killed")
	}
	log := d.stderr.String()
	t.Logf("the last atgtd's log:\n%s", grepLines(log, "login", "logout", "stopping"))
	if !strings.Contains(log, "initiator="+guestInit1) {
		t.Errorf("the restarted atgtd's log shows no login of %s", guestInit1)
	}
}

// grepLines returns the lines of s that contain any of words.
func grepLines(s string, words ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
