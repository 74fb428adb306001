// Package cephtest gives tests a one-node Ceph cluster (scripts/ceph-up.sh) and RBD
// images on it, through the scripts and the rbd command (no cgo, so untagged tests
// may use it too). With $ATGT_CEPH_DIR set (make test does), the cluster there is
// shared: it is started if needed and left running for the caller that set it. Without
// it, a package's tests start a cluster of their own in a temporary directory and
// StopShared, called from their TestMain, stops and removes it. Missing Ceph packages
// are installed by the script (scripts/install-ceph.sh), never skipped.
package cephtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Cluster is a running one-node test cluster.
type Cluster struct {
	// Dir holds it; Conf is its ceph.conf (naming the admin keyring).
	Dir, Conf string
	// own: this process started it in a directory of its own, to stop at the end.
	own bool
}

var (
	sharedOnce sync.Once
	shared     *Cluster
	sharedErr  error
)

// Shared returns the package's cluster, starting it on first use; a failure fails t.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = start() })
	if sharedErr != nil {
		t.Fatalf("ceph test cluster: %v", sharedErr)
	}
	return shared
}

// StopShared stops the package's cluster if this process started it (TestMain calls
// it after m.Run).
func StopShared() {
	if shared != nil && shared.own {
		if err := run(2*time.Minute, filepath.Join(Root(), "scripts", "ceph-down.sh"), shared.Dir); err != nil {
			fmt.Fprintln(os.Stderr, "cephtest:", err)
		}
	}
}

// Main runs a package's tests, then stops the cluster they started, if any:
// `func TestMain(m *testing.M) { cephtest.Main(m) }`.
func Main(m *testing.M) {
	code := m.Run()
	StopShared()
	os.Exit(code)
}

// Root is the module root (the directory with go.mod), found from the working
// directory upward.
func Root() string {
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

func start() (*Cluster, error) {
	dir, own := os.Getenv("ATGT_CEPH_DIR"), false
	if dir == "" {
		tmp, err := os.MkdirTemp("", "atgt-ceph-")
		if err != nil {
			return nil, err
		}
		dir, own = filepath.Join(tmp, "cluster"), true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(Root(), "scripts", "ceph-up.sh"), dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("scripts/ceph-up.sh %s: %w", dir, err)
	}
	lines := strings.Fields(strings.TrimSpace(string(out)))
	if len(lines) == 0 {
		return nil, errors.New("scripts/ceph-up.sh printed no ceph.conf path")
	}
	return &Cluster{Dir: dir, Conf: lines[len(lines)-1], own: own}, nil
}

// run runs a command with a time limit, its output in the error.
func run(timeout time.Duration, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// RBD runs `rbd -c Conf args...` with a time limit.
func (c *Cluster) RBD(args ...string) error {
	return run(time.Minute, "rbd", append([]string{"-c", c.Conf}, args...)...)
}

// Image creates an image of size bytes in pool rbd with a random name, removed when
// t ends, and returns its name.
func (c *Cluster) Image(t testing.TB, size int64) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "t-" + hex.EncodeToString(b[:])
	if err := c.RBD("create", "--size", fmt.Sprintf("%dB", size), "rbd/"+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.RBD("rm", "--no-progress", "rbd/"+name); err != nil {
			t.Logf("removing image %s: %v", name, err)
		}
	})
	return name
}

// Resize sets an image's size from outside the target (`rbd resize`).
func (c *Cluster) Resize(t testing.TB, image string, size int64) {
	t.Helper()
	if err := c.RBD("resize", "--no-progress", "--allow-shrink", "--size", fmt.Sprintf("%dB", size), "rbd/"+image); err != nil {
		t.Fatal(err)
	}
}

// Ceph runs `ceph -c Conf args...` with a time limit and returns its output.
func (c *Cluster) Ceph(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ceph", append([]string{"-c", c.Conf}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ceph %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Blocklist blocklists a RADOS client address (`ceph osd blocklist add ADDR`), as
// librbd does to a lock owner it breaks the lock of, and returns once every OSD has
// the map that holds the entry; the entry is removed when t ends. The monitor
// answers the command before the OSDs have that map, and until one has it, it still
// serves the client: a write sent just after the command may land (a lock breaker's
// own requests carry the new map, so nothing it does can be overtaken that way).
func (c *Cluster) Blocklist(t testing.TB, addr string) {
	t.Helper()
	if _, err := c.Ceph("osd", "blocklist", "add", addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Ceph("osd", "blocklist", "rm", addr) })
	if err := c.waitOSDMaps(15 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// jsonPart is out from its first '{' on: ceph's warnings share the output.
func jsonPart(out string) string {
	if i := strings.IndexByte(out, '{'); i > 0 {
		return out[i:]
	}
	return out
}

// waitOSDMaps waits until every OSD has the cluster's current OSD map.
func (c *Cluster) waitOSDMaps(limit time.Duration) error {
	var dump struct {
		Epoch int `json:"epoch"`
		OSDs  []struct {
			OSD int `json:"osd"`
		} `json:"osds"`
	}
	out, err := c.Ceph("osd", "dump", "-f", "json")
	if err == nil {
		err = json.Unmarshal([]byte(jsonPart(out)), &dump)
	}
	if err != nil {
		return fmt.Errorf("osd dump: %w", err)
	}
	deadline := time.Now().Add(limit)
	for _, o := range dump.OSDs {
		for {
			var st struct {
				NewestMap int `json:"newest_map"`
			}
			out, err := c.Ceph("tell", fmt.Sprintf("osd.%d", o.OSD), "status")
			if err == nil && json.Unmarshal([]byte(jsonPart(out)), &st) == nil && st.NewestMap >= dump.Epoch {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("osd.%d does not have OSD map %d after %v (its newest: %d; %v)", o.OSD, dump.Epoch, limit, st.NewestMap, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}
