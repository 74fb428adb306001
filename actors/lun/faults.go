package lun

import (
	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/backend/faults"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// lunFaults lets a configured lunPanic fault panic the LUN actor while it handles a
// command, after the device model planned the command's IO and before any worker
// has it, so that the LUN's supervision can be tested against a real crash. The
// command matches by the backend calls its IO makes and the bytes it covers.
func (l *lunActor) lunFaults(io *scsidev.IO) {
	if l.cfg.Faults == nil {
		return
	}
	ops := commandOps(io.Kind)
	span := io.Span()
	if ops&(faults.Read|faults.Write|faults.Unmap) == 0 {
		span = scsidev.Extent{} // a sync has no range, nor has a command without IO
	}
	l.cfg.Faults.Command(ops, span.Offset, span.Length)
}

// commandOps is the set of backend calls an IO of kind k makes.
func commandOps(k pb.IoKind) faults.Op {
	switch k {
	case pb.IoKind_IO_KIND_READ, pb.IoKind_IO_KIND_VERIFY, pb.IoKind_IO_KIND_LBA_STATUS:
		return faults.Read
	case pb.IoKind_IO_KIND_WRITE, pb.IoKind_IO_KIND_WRITE_SAME:
		return faults.Write
	case pb.IoKind_IO_KIND_COMPARE_AND_WRITE, pb.IoKind_IO_KIND_OR_WRITE, pb.IoKind_IO_KIND_COPY:
		return faults.Read | faults.Write
	case pb.IoKind_IO_KIND_SYNC:
		return faults.Sync
	case pb.IoKind_IO_KIND_UNMAP:
		return faults.Unmap
	case pb.IoKind_IO_KIND_SANITIZE_OVERWRITE:
		return faults.Write | faults.Sync
	case pb.IoKind_IO_KIND_SANITIZE_ERASE:
		return faults.Unmap | faults.Sync
	}
	return faults.Other
}
