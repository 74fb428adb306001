package target

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// rbdConfig is a defaulted config whose LUN is the example RBD LUN.
func rbdConfig(t *testing.T, lun string) *pb.Config {
	t.Helper()
	cfg := &pb.Config{}
	js := `{"targets": [{"name": "iqn.2026-11.dev.atgt:rbd", "luns": [` + lun + `]}]}`
	if err := protojson.Unmarshal([]byte(js), cfg); err != nil {
		t.Fatal(err)
	}
	return ApplyDefaults(cfg)
}

// TestRBDConfig: an rbd LUN gets its defaults, and a binary without the ceph tag
// refuses it naming the field and the tag; with the tag, the image is required and
// the size is the image's.
func TestRBDConfig(t *testing.T) {
	cfg := rbdConfig(t, `{"backend": "rbd", "rbd": {"image": "vm1"}}`)
	l := cfg.Targets[0].Luns[0]
	if r := l.Rbd; r.Pool != "rbd" || r.User != "admin" || r.CephConf != "/etc/ceph/ceph.conf" || r.Namespace != "" ||
		l.Workers != DefaultRBDWorkers {
		t.Fatalf("defaults: %v", l)
	}
	err := Validate(cfg)
	if openRBD == nil {
		if err == nil || !strings.Contains(err.Error(), "targets[0].luns[0].backend:") || !strings.Contains(err.Error(), "ceph build tag") {
			t.Fatalf("without the ceph tag: err = %v", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("issue's example refused: %v", err)
	}
	full := `{"backend": "rbd", "rbd": {"pool": "rbd", "image": "vm1", "namespace": "", "user": "admin", "cephConf": "/etc/ceph/ceph.conf"}}`
	if err := Validate(rbdConfig(t, full)); err != nil {
		t.Fatalf("issue's full example refused: %v", err)
	}
	for _, tc := range []struct{ lun, field string }{
		{`{"backend": "rbd"}`, "targets[0].luns[0].rbd.image:"},
		{`{"backend": "rbd", "rbd": {"image": "vm1"}, "sizeBytes": "1048576"}`, "targets[0].luns[0].sizeBytes:"},
		{`{"backend": "rbd", "rbd": {"image": "vm1"}, "path": "/tmp/x"}`, "targets[0].luns[0].path:"},
		{`{"backend": "rbd", "rbd": {"image": "vm1"}}, {"id": 1, "backend": "rbd", "rbd": {"image": "vm1"}}`, "targets[0].luns[1].rbd.image:"},
		{`{"backend": "memory", "sizeBytes": "1048576", "rbd": {"image": "vm1"}}`, "targets[0].luns[0].rbd:"},
	} {
		if err := Validate(rbdConfig(t, tc.lun)); err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: err = %v, want one naming %s", tc.lun, err, tc.field)
		}
	}
}
