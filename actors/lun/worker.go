package lun

import (
	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// worker is one IO worker: it performs blocking pread/pwrite/fdatasync on the backend
// (through the page cache) and answers the task's connection directly. It holds no
// state between tasks, so its supervisor can always restart it.
type worker struct {
	b   backend.Backend
	log hclog.Logger
}

func workerProps(b backend.Backend, log hclog.Logger) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return &worker{b: b, log: log} })
}

// Receive performs one IoRequest.
func (w *worker) Receive(ctx actor.Context) {
	req, ok := ctx.Message().(*pb.IoRequest)
	if !ok {
		return
	}
	ctx.Send(req.Task.ReplyTo.PID(), w.perform(req))
}

// perform runs the backend operation and turns its outcome into a completion; the
// mapping of IO errors to sense data is scsidev's.
func (w *worker) perform(req *pb.IoRequest) *pb.ScsiCompletion {
	t := req.Task
	io := scsidev.IO{Offset: req.Offset, Length: req.Length, Stable: req.Stable, Data: t.DataOut}
	var read []byte
	var err error
	switch req.Kind {
	case pb.IoKind_IO_KIND_READ:
		io.Kind = scsidev.IORead
		read = make([]byte, req.Length)
		_, err = w.b.ReadAt(read, req.Offset)
	case pb.IoKind_IO_KIND_WRITE:
		io.Kind = scsidev.IOWrite
		err = w.b.WriteAt(t.DataOut, req.Offset, req.Stable)
	case pb.IoKind_IO_KIND_SYNC:
		io.Kind = scsidev.IOSync
		err = w.b.Sync()
	case pb.IoKind_IO_KIND_VERIFY:
		io.Kind = scsidev.IOVerify
		read = make([]byte, len(t.DataOut))
		_, err = w.b.ReadAt(read, req.Offset)
	}
	if err != nil {
		w.log.Error("IO failed", "op", io.Kind, "offset", req.Offset, "length", req.Length, "error", err)
	}
	res := scsidev.CompleteIO(io, read, err)
	return &pb.ScsiCompletion{Itt: t.Itt, Status: uint32(res.Status), Sense: res.Sense, DataIn: res.Data,
		TransferLength: req.TransferLength}
}
