//go:build ceph

package backend

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atgt/atgt/tests/cephtest"
)

// TestRBDCompareAndWriteMismatchSecondObject: a miscompare outside the first RADOS
// object names the byte offset within the compare data (SBC-4 5.3), here 100; Ceph
// 16 reports it as object number x object size + offset.
func TestRBDCompareAndWriteMismatchSecondObject(t *testing.T) {
	b, _, _ := openRBDImage(t, 16<<20)
	cw := b.(ComparerWriter)
	for _, off := range []int64{4<<20 + 8192, 4 << 20, 8<<20 + 512} {
		old := bytes.Repeat([]byte{1}, 512)
		if err := b.WriteAt(old, off, false); err != nil {
			t.Fatal(err)
		}
		cmp := bytes.Clone(old)
		cmp[100] = 9
		err := cw.CompareAndWrite(cmp, bytes.Repeat([]byte{2}, 512), off, false)
		var mis *MiscompareError
		if !errors.As(err, &mis) {
			t.Fatalf("miscompare at image offset %d: err = %v", off, err)
		}
		if mis.Offset != 100 {
			t.Fatalf("miscompare at image offset %d: offset %d, want 100", off, mis.Offset)
		}
	}
}

// TestRBDMiscompareOffset: librbd's answer read as either release reports it.
func TestRBDMiscompareOffset(t *testing.T) {
	const obj = 4 << 20
	for _, c := range []struct {
		mismatch, off, n int64
		objectBased      bool
		want             int64
	}{
		{100, 8192, 512, true, 100},                    // Ceph 16, object 0
		{4<<20 + 100, 4<<20 + 8192, 512, true, 100},    // Ceph 16, object 1
		{4<<20 + 8292, 4<<20 + 8192, 4096, false, 100}, // fixed releases: image offset
		{4<<20 + 8292, 4<<20 + 8192, 512, true, 100},   // only one reading is inside the range
		{4<<20 + 300, 4<<20 + 256, 1024, true, 300},    // both readings fit: the release decides
		{4<<20 + 300, 4<<20 + 256, 1024, false, 44},
	} {
		if got := miscompareOffset(c.mismatch, c.off, c.n, obj, c.objectBased); got != c.want {
			t.Errorf("miscompareOffset(%d, %d, %d, objectBased=%v) = %d, want %d", c.mismatch, c.off, c.n, c.objectBased, got, c.want)
		}
	}
}

// TestRBDNoExclusiveLockFeature: an image without the exclusive-lock feature is
// refused for gateways (no lock, so no fencing of a hung node), with the command that
// enables it; a single node serves it with a warning. The feature disabled under an
// open gateways' image refuses writes (NOT READY: a kind of ErrFenced) until it is
// enabled again.
func TestRBDNoExclusiveLockFeature(t *testing.T) {
	c := cephtest.Shared(t)
	name := "gw-nolock"
	_ = c.RBD("rm", "--no-progress", "rbd/"+name)
	if err := c.RBD("create", "--size", "16M", "--image-feature", "layering", "rbd/"+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.RBD("rm", "--no-progress", "rbd/"+name) })
	_, err := OpenRBD(RBDOptions{Pool: "rbd", Image: name, User: "admin", CephConf: c.Conf, Gateways: true})
	if err == nil {
		t.Fatal("gateways' image without exclusive-lock opened")
	}
	if !strings.Contains(err.Error(), "rbd feature enable rbd/"+name+" exclusive-lock") {
		t.Fatalf("error does not say how to enable the feature: %v", err)
	}
	var mu sync.Mutex
	var warned []string
	warn := func(m string) { mu.Lock(); warned = append(warned, m); mu.Unlock() }
	b, err := OpenRBD(RBDOptions{Pool: "rbd", Image: name, User: "admin", CephConf: c.Conf, Warn: warn})
	if err != nil {
		t.Fatalf("single node: %v", err)
	}
	b.Close()
	if len(warned) != 1 || !strings.Contains(warned[0], "exclusive-lock") {
		t.Fatalf("single node: warnings %q", warned)
	}

	// Disabled while served.
	img := c.Image(t, 16<<20)
	b, err = OpenRBD(RBDOptions{Pool: "rbd", Image: img, User: "admin", CephConf: c.Conf, Gateways: true, Warn: warn})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.WriteAt(make([]byte, 4096), 0, false); err != nil {
		t.Fatal(err)
	}
	if err := c.RBD("feature", "disable", "rbd/"+img, "fast-diff", "object-map", "exclusive-lock"); err != nil {
		t.Fatal(err)
	}
	if err := waitWrite(b, 5*time.Second, func(err error) bool { return errors.Is(err, ErrNoExclusiveLock) }); err != nil {
		t.Fatalf("write after exclusive-lock was disabled: %v", err)
	}
	if !errors.Is(ErrNoExclusiveLock, ErrFenced) {
		t.Fatal("ErrNoExclusiveLock is not answered NOT READY")
	}
	if err := c.RBD("feature", "enable", "rbd/"+img, "exclusive-lock"); err != nil {
		t.Fatal(err)
	}
	if err := waitWrite(b, 5*time.Second, func(err error) bool { return err == nil }); err != nil {
		t.Fatalf("write after exclusive-lock was enabled again: %v", err)
	}
}

// waitWrite writes until ok accepts the answer, for up to d.
func waitWrite(b Backend, d time.Duration, ok func(error) bool) error {
	end := time.Now().Add(d)
	for {
		err := b.WriteAt(make([]byte, 4096), 0, false)
		if ok(err) || time.Now().After(end) {
			if ok(err) {
				return nil
			}
			if err == nil {
				return errors.New("succeeded")
			}
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRBDImageConfigOverrides: the pool's or image's config (`rbd config pool|image
// set`, which librbd applies over the client's settings) cannot turn on the cache or
// skip partial discards under the backend: such an image is refused, naming the
// setting and the fix, and an image setting that restores the guarantee over a
// pool's is accepted.
func TestRBDImageConfigOverrides(t *testing.T) {
	c := cephtest.Shared(t)
	open := func(name string) error {
		b, err := OpenRBD(RBDOptions{Pool: "rbd", Image: name, User: "admin", CephConf: c.Conf})
		if err == nil {
			b.Close()
		}
		return err
	}
	name := c.Image(t, 16<<20)
	if err := c.RBD("config", "image", "set", "rbd/"+name, "rbd_cache", "true"); err != nil {
		t.Fatal(err)
	}
	err := open(name)
	if !errors.Is(err, ErrUnsafeImageConfig) || !strings.Contains(err.Error(), "rbd config image remove rbd/"+name+" rbd_cache") {
		t.Fatalf("image with rbd_cache=true in its config: %v", err)
	}
	if err := c.RBD("config", "image", "remove", "rbd/"+name, "rbd_cache"); err != nil {
		t.Fatal(err)
	}
	if err := open(name); err != nil {
		t.Fatalf("after removing the setting: %v", err)
	}

	if err := c.RBD("config", "pool", "set", "rbd", "rbd_skip_partial_discard", "true"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.RBD("config", "pool", "remove", "rbd", "rbd_skip_partial_discard") })
	err = open(name)
	if !errors.Is(err, ErrUnsafeImageConfig) || !strings.Contains(err.Error(), "rbd config image set rbd/"+name+" rbd_skip_partial_discard false") {
		t.Fatalf("pool with rbd_skip_partial_discard=true: %v", err)
	}
	if err := c.RBD("config", "image", "set", "rbd/"+name, "rbd_skip_partial_discard", "false"); err != nil {
		t.Fatal(err)
	}
	if err := open(name); err != nil {
		t.Fatalf("image overriding the pool's setting: %v", err)
	}
	if err := c.RBD("config", "pool", "remove", "rbd", "rbd_skip_partial_discard"); err != nil {
		t.Fatal(err)
	}

	// Set while served: UNMAP is refused once the poller sees it.
	b, err := OpenRBD(RBDOptions{Pool: "rbd", Image: name, User: "admin", CephConf: c.Conf})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := c.RBD("config", "image", "set", "rbd/"+name, "rbd_skip_partial_discard", "true"); err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(rbdConfigPoll*rbdSizePoll + 5*time.Second)
	for {
		err := b.Unmap(0, 4096)
		if errors.Is(err, ErrUnsafeImageConfig) {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("unmap with rbd_skip_partial_discard=true set while served: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestRBDShortWrite: a write that librbd clips at the end of an image shrunk from
// outside (before the poller sees the new size) is an error, not a success.
func TestRBDShortWrite(t *testing.T) {
	b, c, name := openRBDImage(t, 16<<20)
	r := b.(*rbdBackend)
	c.Resize(t, name, 8<<20)
	// librbd learns the new size through the header's watch; the backend's size
	// stays the old one until its next poll, which the test keeps from counting.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.size.Store(16 << 20)
		err := b.WriteAt(bytes.Repeat([]byte{5}, 8192), 8<<20-4096, false)
		if err != nil {
			if !errors.Is(err, ErrOutOfRange) {
				t.Fatalf("clipped write: %v, want ErrOutOfRange", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a write across the new end was answered as complete")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
