package target

import (
	"testing"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// TestLunPath: what atgtctl luns shows as a LUN's path.
func TestLunPath(t *testing.T) {
	for _, tc := range []struct {
		lun  *pb.Lun
		want string
	}{
		{&pb.Lun{Path: "/var/lib/atgt/vm1.img"}, "/var/lib/atgt/vm1.img"},
		{&pb.Lun{Backend: "rbd", Rbd: &pb.Rbd{Pool: "rbd", Image: "vm1"}}, "rbd/vm1"},
		{&pb.Lun{Backend: "rbd", Rbd: &pb.Rbd{Pool: "rbd", Namespace: "tenant", Image: "vm1"}}, "rbd/tenant/vm1"},
	} {
		if got := lunPath(tc.lun); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.lun, got, tc.want)
		}
	}
}
