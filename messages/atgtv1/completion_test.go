package atgtv1

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/atgt/atgt/messages/scsi"
)

func TestCheckCondition(t *testing.T) {
	miscompare := scsi.Miscompare(7)
	tests := []struct {
		name string
		err  error
		want *scsi.SenseError
	}{
		{"sense error", scsi.LogicalUnitNotSupported(), scsi.LogicalUnitNotSupported()},
		{"wrapped sense error", fmt.Errorf("copy: %w", scsi.CopyTargetNotReachable()), scsi.CopyTargetNotReachable()},
		{"information kept", miscompare, miscompare},
		{"plain error", errors.New("eio"), scsi.InternalTargetFailure()},
		{"nil", nil, scsi.InternalTargetFailure()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := CheckCondition(42, tt.err)
			if c.Itt != 42 || c.Status != uint32(scsi.StatusCheckCondition) {
				t.Fatalf("itt %d status %#x", c.Itt, c.Status)
			}
			if want := scsi.AppendSense(nil, tt.want); !bytes.Equal(c.Sense, want) {
				t.Fatalf("sense % x, want % x", c.Sense, want)
			}
			if c.DataIn != nil || c.TransferLength != 0 || c.Pooled {
				t.Fatalf("a CHECK CONDITION carries no data: %+v", c)
			}
		})
	}
}

// TestIoKindRules classifies every kind, so that a new kind cannot slip past
// the LUN's ordering rules unnoticed.
func TestIoKindRules(t *testing.T) {
	type rules struct{ medium, writes, exclusive bool }
	want := map[IoKind]rules{
		IoKind_IO_KIND_UNSPECIFIED:          {},
		IoKind_IO_KIND_READ:                 {medium: true},
		IoKind_IO_KIND_WRITE:                {medium: true, writes: true},
		IoKind_IO_KIND_SYNC:                 {medium: true},
		IoKind_IO_KIND_VERIFY:               {medium: true},
		IoKind_IO_KIND_UNMAP:                {medium: true, writes: true},
		IoKind_IO_KIND_WRITE_SAME:           {medium: true, writes: true},
		IoKind_IO_KIND_LBA_STATUS:           {medium: true},
		IoKind_IO_KIND_COMPARE_AND_WRITE:    {true, true, true},
		IoKind_IO_KIND_OR_WRITE:             {true, true, true},
		IoKind_IO_KIND_PERSIST_RESERVATIONS: {},
		IoKind_IO_KIND_COPY:                 {medium: true, writes: true},
		IoKind_IO_KIND_SANITIZE_OVERWRITE:   {true, true, true},
		IoKind_IO_KIND_SANITIZE_ERASE:       {true, true, true},
		IoKind_IO_KIND_SAVE_MODE_PAGES:      {},
	}
	for v, name := range IoKind_name {
		k := IoKind(v)
		w, ok := want[k]
		if !ok {
			t.Errorf("%s: not classified here", name)
			continue
		}
		if got := (rules{k.Medium(), k.Writes(), k.Exclusive()}); got != w {
			t.Errorf("%s: medium/writes/exclusive %+v, want %+v", name, got, w)
		}
	}
}
