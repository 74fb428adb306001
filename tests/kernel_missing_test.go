package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atgt/atgt/tests/guest"
)

// TestKernelMissingStore: Linux's initiator logs in to a target whose LUN 1 store
// (served before) is missing: it sees both LUNs, LUN 0 serves, LUN 1 is a disk of 0
// bytes (READ CAPACITY answered 04/03, failed at once, no spin-up attempts that hang
// the scan); once the store is back (put back while the guest runs), a rescan of the
// disk gives its size and the data the file holds.
func TestKernelMissingStore(t *testing.T) {
	const iqn = "iqn.2026-11.dev.atgt:kmissing"
	const marker = "atgt-missing-store"
	dataDir := t.TempDir()
	cfgPath := filepath.Join(t.TempDir(), "atgt.json")
	writeFile0600(t, cfgPath, `{"portals": ["127.0.0.1:0"], "dataDir": "`+dataDir+`",
  "targets": [{"name": "`+iqn+`", "luns": [{"id": 0, "path": "a.img", "sizeBytes": "16777216"},
    {"id": 1, "path": "b.img", "sizeBytes": "16777216"}]}]}`)
	d := startDaemonArgs(t, "-config", cfgPath)
	d.stop(t)
	d.stopped = true
	moved := filepath.Join(dataDir, "b.img.moved")
	if err := os.Rename(filepath.Join(dataDir, "b.img"), moved); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(moved, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(marker), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	d = startDaemonArgs(t, "-config", cfgPath, "-log-level", "info")

	body := `
node_add "$IQN" >/dev/null
run login /sbin/iscsiadm -m node -T "$IQN" -p "$PORTAL" --login
d0=$(disk_of 0)
d1=$(disk_of 1)
result "luns=$(luns_seen)"
run lun0_read dd if=/dev/$d0 of=/dev/null bs=64k count=16
result "missing_bytes=$(($(cat /sys/block/$d1/size) * 512))"
event store-wanted
_w=0
while [ $_w -lt 60 ]; do
	echo 1 >/sys/block/$d1/device/rescan
	[ "$(cat /sys/block/$d1/size)" != 0 ] && break
	sleep 1
	_w=$((_w + 1))
done
result "online_bytes=$(($(cat /sys/block/$d1/size) * 512))"
result "online_head=$(dd if=/dev/$d1 bs=512 count=1 iflag=direct 2>/dev/null | head -c ` + "18" + `)"
run logout /sbin/iscsiadm -m node -T "$IQN" -p "$PORTAL" --logout
`
	back := make(chan error, 1)
	r := bootGuest(t, d, guest.Options{
		Script:  guestScript(map[string]string{"INAME": guestInit1, "IQN": iqn}, body),
		Timeout: 4 * time.Minute,
		OnEvent: func(ev string) {
			if ev == "store-wanted" { // the store is mounted, say
				back <- os.Rename(moved, filepath.Join(dataDir, "b.img"))
			}
		},
	})
	select {
	case err := <-back:
		if err != nil {
			t.Fatal(err)
		}
	default:
		t.Error("the guest never asked for the store")
	}
	expectValues(t, r, map[string]string{"login": "0", "luns": "0,1", "lun0_read": "0", "missing_bytes": "0",
		"online_bytes": "16777216", "online_head": marker, "logout": "0"})
	if !strings.Contains(d.stderr.String(), "serving it") {
		t.Errorf("atgtd's log does not say the LUN came online")
	}
	if strings.Contains(r.Console, "Spinning up disk") {
		t.Errorf("the kernel tried to spin up the missing LUN:\n%s", r.Console)
	}
}
