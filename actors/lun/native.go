package lun

import (
	"errors"

	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// nativeCompareAndWrite performs a COMPARE AND WRITE with the store's own atomic
// compare-and-write when it has one (a shared store such as RBD, where other
// gateways write too, so the LUN's range locks alone would not make it atomic). It
// reports false when the store cannot (backend.ErrNoNative): the caller then reads,
// compares and writes itself.
func (w *worker) nativeCompareAndWrite(itt uint32, io scsidev.IO, transfer uint32) (bool, *pb.ScsiCompletion) {
	cw, ok := w.b.(backend.ComparerWriter)
	if !ok || int64(len(io.Data)) < 2*io.Length {
		return false, nil
	}
	err := cw.CompareAndWrite(io.Data[:io.Length], io.Data[io.Length:2*io.Length], io.Offset, io.Stable)
	if errors.Is(err, backend.ErrNoNative) {
		return false, nil
	}
	if mis, ok := errors.AsType[*backend.MiscompareError](err); ok {
		return true, pb.CheckCondition(itt, scsi.Miscompare(uint64(mis.Offset)))
	}
	if err = fencedAnswer(err); err != nil && err != errNotReady {
		w.noteFault(err)
		w.log.Error("IO failed", "op", io.Kind, "offset", io.Offset, "length", io.Length, "error", err)
	}
	res := scsidev.CompleteIO(io, nil, err)
	return true, w.completion(itt, &res, transfer, false)
}
