package tests

import (
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atgt/atgt/tests/guest"
)

const (
	kernelIQN    = "iqn.2026-11.dev.atgt:kernel"
	guestInit1   = "iqn.2026-11.dev.atgt:guest1"
	guestOther   = "iqn.2026-11.dev.atgt:other-host"
	kernelLunMiB = 64
)

// TestKernelInitiator logs the guest's kernel initiator in as most users do, in one
// boot: SendTargets discovery through iscsid, then `iscsiadm -m node --login` with
// header and data digests set to CRC32C only (so both must be negotiated, RFC 7143
// 13.1); the target has shared LUNs and a per-initiator LUN map, and the guest must
// see exactly its own three LUNs; on each (thin, thick, 4096-byte blocks) ext4 is
// made, files are written and read back after the guest drops its caches, the FS is
// trimmed and `e2fsck -fn` finds it clean; then the session logs out.
func TestKernelInitiator(t *testing.T) {
	cfg := oneLunConfig(t, 16<<20)
	dir := cfg.DataDir
	lun := func(id int, name, prov string, bs int) testLun {
		return testLun{ID: id, Path: filepath.Join(dir, name), SizeBytes: mib(kernelLunMiB), Workers: 4,
			WriteCache: true, Provisioning: prov, BlockSize: bs}
	}
	cfg.Targets[0].Name = kernelIQN
	cfg.Targets[0].InitiatorLuns = []testInitiatorLuns{
		{Initiator: guestInit1, Luns: []testLun{lun(0, "thin.img", "thin", 512), lun(1, "thick.img", "thick", 512),
			lun(2, "thin4k.img", "thin", 4096)}},
		{Initiator: guestOther, Luns: []testLun{lun(0, "other0.img", "thin", 512), lun(5, "other5.img", "thin", 512)}},
	}
	d := startDaemonConfig(t, cfg, "-log-level", "info")

	var keysMu sync.Mutex
	var keys []map[string]string
	body := `
_o=$(/sbin/iscsiadm -m discovery -t sendtargets -p "$PORTAL" 2>&1)
result "discovery=$?"
echo "$_o"
result "discovered=$(echo "$_o" | grep "$IQN" | tr ' ' '@')"
node_add "$IQN"
run login /sbin/iscsiadm -m node -T "$IQN" -p "$PORTAL" --login || exit 1
_s=$(/sbin/iscsiadm -m session -P 2 2>&1)
echo "$_s"
result "hdigest=$(echo "$_s" | sed -n 's/.*HeaderDigest: *//p')" "ddigest=$(echo "$_s" | sed -n 's/.*DataDigest: *//p')"
event logged-in
result "luns=$(disk_of 0 >/dev/null; disk_of 1 >/dev/null; disk_of 2 >/dev/null; sleep 2; luns_seen)"
fs_check thin "$(disk_of 0)"
fs_check thick "$(disk_of 1)"
fs_check four "$(disk_of 2)"
run logout /sbin/iscsiadm -m node -T "$IQN" -p "$PORTAL" --logout
result "sessions_after=$(/sbin/iscsiadm -m session 2>/dev/null | grep -c "$IQN")"
`
	start := time.Now()
	r := bootGuest(t, d, guest.Options{
		Script:  guestScript(map[string]string{"INAME": guestInit1, "IQN": kernelIQN, "DIGEST": "CRC32C"}, body),
		Timeout: 4 * time.Minute,
		OnEvent: func(ev string) {
			if ev == "logged-in" {
				k := sessionKeys(t, d, dir)
				keysMu.Lock()
				keys = k
				keysMu.Unlock()
			}
		},
	})
	t.Logf("kernel initiator scenario: %v (boot %v)", time.Since(start).Round(time.Millisecond), r.Duration.Round(time.Millisecond))

	// Discovery lists the target with the address atgtd was reached on.
	expectValues(t, r, map[string]string{"discovery": "0", "discovered": d.addr + ",1@" + kernelIQN,
		"login": "0", "hdigest": "CRC32C", "ddigest": "CRC32C", "luns": "0,1,2", "logout": "0", "sessions_after": "0"})
	keysMu.Lock()
	if len(keys) != 1 || keys[0]["HeaderDigest"] != "CRC32C" || keys[0]["DataDigest"] != "CRC32C" {
		t.Errorf("target-side session keys while logged in: %v, want one session with HeaderDigest and DataDigest CRC32C", keys)
	}
	keysMu.Unlock()
	lunBytes := strconv.Itoa(kernelLunMiB << 20)
	for _, fs := range []struct{ name, lbs, prov string }{
		{"thin", "512", "unmap"}, {"thick", "512", "full"}, {"four", "4096", "unmap"},
	} {
		expectValues(t, r, map[string]string{fs.name + "_lbs": fs.lbs, fs.name + "_prov": fs.prov,
			fs.name + "_bytes": lunBytes, fs.name + "_mkfs": "0", fs.name + "_mount": "0",
			fs.name + "_readback": "ok", fs.name + "_umount": "0", fs.name + "_fsck": "0"})
		trimmed, _ := strconv.ParseInt(r.Values[fs.name+"_trimmed"], 10, 64)
		if fs.prov == "full" {
			// A fully provisioned LUN reports LBPME=0 (SBC-4 5.16.2): the kernel must not discard.
			if r.Values[fs.name+"_fstrim"] == "0" {
				t.Errorf("fstrim on the thick LUN succeeded (trimmed %d bytes); it reports full provisioning", trimmed)
			}
			continue
		}
		if r.Values[fs.name+"_fstrim"] != "0" || trimmed < 8<<20 {
			t.Errorf("fstrim on %s: exit %s, %d bytes trimmed; want success and at least the deleted 8 MiB",
				fs.name, r.Values[fs.name+"_fstrim"], trimmed)
		}
	}
	// The trims reached the files: the thin LUNs hold about the data written, the
	// thick one is fully allocated.
	for _, f := range []struct {
		name     string
		min, max int64
	}{{"thin.img", 8 << 20, 40 << 20}, {"thin4k.img", 8 << 20, 40 << 20}, {"thick.img", kernelLunMiB << 20, kernelLunMiB << 20}} {
		if got := allocatedBytes(t, filepath.Join(dir, f.name)); got < f.min || got > f.max+(1<<20) {
			t.Errorf("%s: %d bytes allocated, want %d to %d", f.name, got, f.min, f.max)
		}
	}
	if log := d.stderr.String(); !strings.Contains(log, "logout") || !strings.Contains(log, guestInit1) {
		t.Errorf("atgtd's log shows no logout of %s", guestInit1)
	}
}
