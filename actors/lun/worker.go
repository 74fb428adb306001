package lun

import (
	"errors"
	"fmt"
	"runtime"
	"slices"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/bufpool"
	"github.com/atgt/atgt/actors/metrics"
	"github.com/atgt/atgt/actors/reservation"
	"github.com/atgt/atgt/actors/sched"
	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/actors/slab"
	"github.com/atgt/atgt/actors/trace"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// worker is one IO worker: it performs blocking pread/pwrite/fdatasync on the backend
// (through the page cache) and answers the task's connection directly. It holds no
// state between tasks, so its supervisor can always restart it. It takes IO from the
// LUN's queue only while it is free (pool.go).
type worker struct {
	b     backend.Backend
	order *taskOrder
	// untracked counts the LUN's writes that hold no range lock.
	untracked *drainCounter
	sh        *shared
	slot      *slot
	log       hclog.Logger
	// statePath and modesPath are the LUN's reservation state and saved mode
	// pages files ("" = none: nothing is written).
	statePath, modesPath string
	// completions holds the answers of plain reads and writes: one allocation per
	// many IOs. bufs and answers are performParts' scratch, reused by each run.
	completions slab.Slab[pb.ScsiCompletion]
	bufs        [][]byte
	answers     []*pb.ScsiCompletion
	// vec is writeParts' scratch.
	vec [][]byte
	// stats is the worker slot's shard of the LUN's metrics (nil: none).
	stats *metrics.Shard
	// flight is the LUN's flight recorder; faulted: the last call's error was an
	// injected fault, callErr: the last call's error, for its backend.end hop
	// (trace.go; both written on the error path only).
	flight  *trace.Flight
	faulted bool
	callErr error
	// thin: the LU is thin provisioned, for the sense of an out-of-space error.
	thin bool
	// gate, if not nil, may refuse IO before each backend call (lease.go).
	gate *leaseGate
	// behind starts the writeback of a cached write's range (writebehind.go); nil
	// when the backend has no cache to empty early.
	behind backend.WriteBehinder
}

// completion returns a new answer to a read or write task.
func (w *worker) completion(itt uint32, res *scsidev.Result, transfer uint32, pooled bool) *pb.ScsiCompletion {
	c := w.completions.New()
	c.Itt, c.Status, c.Sense, c.DataIn = itt, uint32(res.Status), res.Sense, res.Data
	c.TransferLength, c.Pooled = transfer, pooled
	return c
}

func workerProps(cfg Config, order *taskOrder, untracked *drainCounter, sh *shared, s *slot, gate *leaseGate) *actor.Props {
	behind, _ := cfg.Backend.(backend.WriteBehinder)
	return actor.PropsFromProducer(func() actor.Actor {
		return &worker{b: cfg.Backend, order: order, untracked: untracked, sh: sh, slot: s,
			log: cfg.Log, statePath: cfg.StatePath, modesPath: cfg.ModesPath, stats: cfg.Metrics.Shard(s.index + 1),
			flight: cfg.Flight, thin: cfg.Device.Thin(), gate: gate, behind: behind}
	}, actor.WithDispatcher(sched.Default))
}

// Receive performs a large IO the LUN handed to this idle worker, then drains the
// queue; a nudge or a (re)start only drains the queue.
func (w *worker) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *pb.IoRequest:
		parent := ctx.Parent()
		if !w.do(ctx, m, func(msg any) { ctx.Send(parent, msg) }) {
			return
		}
		w.run(ctx)
	case *actor.Started, *nudge:
		w.run(ctx)
	}
}

// yieldAfterRead is how much a draining worker reads before it lets the
// connection's goroutines run (runtime.Gosched): with atgtd's one P (maxProcs) a
// worker that drained a deep queue of large reads in one go read 3.5 MiB before the
// first of it was written to the socket, so both copies (pread's into the buffer,
// writev's out of it) ran from memory instead of the 1 MiB L2 cache, and the
// connection and its initiator idled in between: qemu-img's 128 KiB reads at depth
// 32 took 2.9 s per 40,000 with no yield, 2.3 s yielding every 768 KiB (as the
// round-robin dispatch did by the way it split the queue), 2.4-2.7 s every 512, 896
// or 1024 KiB (2026-12-03, this VM). Small reads pay one yield per 192 4 KiB reads.
const yieldAfterRead = 768 << 10

// run performs queued IO until none is left, then parks the worker in the idle set.
// It returns early if the LUN abandoned the call: this worker has been replaced.
func (w *worker) run(ctx actor.Context) {
	parent := ctx.Parent()
	send := func(msg any) { ctx.Send(parent, msg) }
	q := &w.sh.q
	// Counted as draining until parked; also when run ends by a panic or an
	// abandoned call.
	draining := true
	w.sh.draining.Add(1)
	defer func() {
		if draining {
			w.sh.draining.Add(-1)
		}
	}()
	var read int64 // bytes read since this worker last yielded
	for {
		io := q.takeFor(w.slot)
		if io == nil {
			draining = false
			w.sh.draining.Add(-1)
			w.sh.idle.add(w.slot.index)
			// IO queued after the take saw none finds the bit set, or is seen here.
			if q.empty() || !w.sh.idle.remove(w.slot.index) {
				return // parked, or claimed by the LUN, whose nudge follows
			}
			draining = true
			w.sh.draining.Add(1)
			continue
		}
		if q.full.Load() && q.full.CompareAndSwap(true, false) {
			send(roomMsg)
		}
		if !w.do(ctx, io, send) {
			return
		}
		if io.Kind == pb.IoKind_IO_KIND_READ {
			if read += io.Length; read >= yieldAfterRead {
				read = 0
				runtime.Gosched()
			}
		}
	}
}

// refresh stamps a further backend call of a long operation, so that the watchdog
// times each call, not the whole command.
func (w *worker) refresh() {
	if w.slot != nil { // nil for a worker used alone, in tests
		w.slot.since.Store(w.sh.clock.Load())
	}
}

// refused is the answer to IO that must not reach the backend now (lease.go),
// or nil. Without a gate (a LUN with no cluster store and no port groups) it is
// one nil check.
func (w *worker) refused() error {
	if w.gate == nil || !w.gate.refuses() {
		return nil
	}
	return w.gate.answer
}

// errAbandonedIO ends a multi-call IO whose call the LUN abandoned (further):
// its tasks were answered, so nothing more of it may reach the medium, and its
// result is dropped (do).
var errAbandonedIO = errors.New("IO abandoned: no further backend call")

// further is checked before each further backend call of an IO that makes
// several (a copy's chunks, WRITE SAME's and SANITIZE's chunks, UNMAP's extents,
// the write after COMPARE AND WRITE's or ORWRITE's read, the parts of a merged run
// written one by one): errAbandonedIO once the LUN abandoned the IO (ABORT TASK,
// PREEMPT AND ABORT or a nexus loss detached it, or a call passed ioTimeout), else
// the lease gate's answer. An abandoned slot's cur stays abandonedIO for good, so
// one atomic load tells; a READ or WRITE of one call never pays for it.
func (w *worker) further() error {
	if w.abandoned() {
		return errAbandonedIO
	}
	return w.refused()
}

// abandoned reports whether the LUN abandoned the IO this worker performs.
func (w *worker) abandoned() bool { return w.slot != nil && w.slot.cur.Load() == abandonedIO }

// do performs one IoRequest and answers its tasks, unless the LUN abandoned it
// meanwhile: then the result is dropped, the LUN told, and do reports false. The
// task counts are released only after a normal end; after a panic the LUN's
// supervisor retries the IO with them still held (supervisor.go).
func (w *worker) do(ctx actor.Context, req *pb.IoRequest, send func(any)) bool {
	s := w.slot
	id := ctx.Self().Id
	w.started(req, id)
	s.begin(req, w.sh.clock.Load())
	if len(req.Parts) > 0 {
		answers := w.performParts(req)
		end := trace.Now()
		if !s.cur.CompareAndSwap(req, nil) {
			w.late(ctx, answers...)
			return false
		}
		w.ended(req, end, id)
		// The call's end is the answers' time too (metrics and the flight recorder):
		// one clock read fewer per IO.
		for i, p := range req.Parts {
			complete(w.stats, p, answers[i], end)
			w.done(p.Task, answers[i], end, id)
			sendAnswer(ctx, p.Task, answers[i])
		}
		if req.WriteBehind && w.behind != nil {
			w.behind.StartWriteback(req.Offset, req.Length)
		}
		clear(answers)
		w.answers = answers[:0]
		// Every part was counted as a task, and every write part as untracked.
		for _, p := range req.Parts {
			if p.Untracked {
				w.untracked.done(send, &writesDrained{})
			}
			w.order.done(send)
		}
		return true
	}
	answer := w.perform(req)
	end := trace.Now()
	if !s.cur.CompareAndSwap(req, nil) {
		w.late(ctx, answer)
		return false
	}
	w.ended(req, end, id)
	// The device state an IO with a token changes (a MODE SELECT's saved values,
	// a copy's status, the end of a SANITIZE) is in the LUN's mailbox before the
	// answer goes out: the initiator's next command comes after it.
	first := req.Token != 0 && !req.Immediate
	if first {
		req.Answer = answer
		send(req)
	}
	if !req.Immediate {
		complete(w.stats, req, answer, end)
		w.done(req.Task, answer, end, id)
		sendAnswer(ctx, req.Task, answer)
	}
	if req.WriteBehind && w.behind != nil {
		w.behind.StartWriteback(req.Offset, req.Length) // after the answer: it costs the WRITE nothing
	}
	if !first && (req.LockId != 0 || req.Token != 0 || backgroundSave(req)) {
		// After the answer, so the lock costs the initiator no latency; the
		// LUN learns the outcome from it.
		req.Answer = answer
		send(req)
	}
	if req.Untracked {
		w.untracked.done(send, &writesDrained{})
	}
	w.order.doneIO(req.Immediate, send)
	return true
}

// late drops the answers of an abandoned call (the LUN answered its tasks) and
// tells the LUN the call is back, so that it lifts the call's fence.
func (w *worker) late(ctx actor.Context, answers ...*pb.ScsiCompletion) {
	for _, a := range answers {
		if a != nil && a.Pooled {
			bufpool.Put(a.DataIn)
		}
	}
	clear(w.answers)
	w.answers = w.answers[:0]
	ctx.Send(ctx.Parent(), &lateReturn{s: w.slot})
}

// performParts performs a run of adjacent reads or cached writes (merge.go) with one
// vectored call and makes each part's answer as if it had run alone. If the backend
// cannot do vectored IO, or the call fails, each part runs alone, so that every task
// gets its own outcome. The answers are w.answers, sent by the caller.
func (w *worker) performParts(req *pb.IoRequest) []*pb.ScsiCompletion {
	read := req.Kind == pb.IoKind_IO_KIND_READ
	bufs := slices.Grow(w.bufs[:0], len(req.Parts))[:len(req.Parts)]
	defer func() { clear(bufs); w.bufs = bufs[:0] }()
	vectored := false
	var err error
	if w.gate != nil && w.gate.refuses() {
		// Each part alone: perform answers it as the gate says.
	} else if vr, ok := w.b.(backend.VectorReader); ok && read {
		for i, p := range req.Parts {
			bufs[i] = bufpool.Get(int(p.Length))
		}
		vectored, err = true, vr.ReadVec(bufs, req.Offset)
		if err != nil {
			for _, b := range bufs {
				bufpool.Put(b)
			}
		}
	} else if vw, ok := w.b.(backend.VectorWriter); ok && !read {
		for i, p := range req.Parts {
			bufs[i] = p.Task.DataOut
		}
		vectored, err = true, vw.WriteVec(bufs, req.Offset)
	}
	// All answers are made before any is sent: if this panics, none was sent and
	// the supervisor can retry the whole run.
	answers := slices.Grow(w.answers[:0], len(req.Parts))[:len(req.Parts)]
	w.answers = answers
	for i, p := range req.Parts {
		if !vectored || err != nil {
			if i > 0 && w.abandoned() {
				answers[i] = pb.CheckCondition(p.Task.Itt, errAborted) // dropped by do
				continue
			}
			w.refresh()
			answers[i] = w.perform(p)
			continue
		}
		io := scsidev.IO{Kind: p.Kind, Offset: p.Offset, Length: p.Length, Data: p.Task.DataOut}
		var data []byte
		if read {
			data = bufs[i]
		}
		res := scsidev.CompleteIO(io, data, nil)
		answers[i] = w.completion(p.Task.Itt, &res, p.TransferLength, read && res.Data != nil)
	}
	return answers
}

// perform runs the backend operation the device model planned and turns its
// outcome into a completion; the mapping of IO errors to sense data is scsidev's.
func (w *worker) perform(req *pb.IoRequest) *pb.ScsiCompletion {
	t := req.Task
	io := scsidev.IO{Kind: req.Kind, Offset: req.Offset, Length: req.Length, Stable: req.Stable, Data: t.DataOut,
		Thin: w.thin}
	var read []byte
	var err error
	if w.gate != nil && w.gate.refuses() {
		res := scsidev.CompleteIO(io, nil, w.gate.answer)
		return w.completion(t.Itt, &res, req.TransferLength, false)
	}
	switch req.Kind {
	case pb.IoKind_IO_KIND_READ:
		read = bufpool.Get(int(req.Length))
		var n int
		n, err = w.b.ReadAt(read, req.Offset)
		err = failedAt(err, req, n)
	case pb.IoKind_IO_KIND_WRITE:
		if len(t.DataOutParts) > 0 {
			err = w.writeParts(t.DataOutParts, req.Offset, req.Length, req.Stable)
			break
		}
		err = w.b.WriteAt(t.DataOut, req.Offset, req.Stable)
		if err != nil && req.Length == int64(req.BlockSize) {
			err = failedAt(err, req, 0) // one block: the one that failed
		}
	case pb.IoKind_IO_KIND_SYNC:
		err = w.b.Sync()
	case pb.IoKind_IO_KIND_VERIFY:
		read = make([]byte, len(t.DataOut))
		var n int
		n, err = w.b.ReadAt(read, req.Offset)
		err = failedAt(err, req, n)
	case pb.IoKind_IO_KIND_UNMAP:
		err = w.unmap(req.Extents, req.Stable)
	case pb.IoKind_IO_KIND_WRITE_SAME:
		err = w.writeSame(t.DataOut, req.Offset, req.Length, req.Stable)
	case pb.IoKind_IO_KIND_LBA_STATUS:
		var runs []scsidev.Run
		runs, err = w.lbaStatus(req.Offset, req.Length, int(req.MaxDescriptors))
		if err == nil {
			data := scsidev.LBAStatusData(t.Cdb, req.BlockSize, runs)
			return &pb.ScsiCompletion{Itt: t.Itt, Status: uint32(scsi.StatusGood), DataIn: data}
		}
	case pb.IoKind_IO_KIND_COMPARE_AND_WRITE:
		if done, answer := w.nativeCompareAndWrite(t.Itt, io, req.TransferLength); done {
			return answer
		}
		read = make([]byte, req.Length)
		if _, err = w.b.ReadAt(read, req.Offset); err != nil {
			err = &scsidev.ReadError{Err: err}
			break
		}
		data, miscompare := scsidev.CompareAndWriteData(io, read)
		if miscompare != nil {
			return pb.CheckCondition(t.Itt, miscompare)
		}
		w.refresh()
		if err = w.further(); err != nil {
			read = nil
			break
		}
		err = w.b.WriteAt(data, req.Offset, req.Stable)
	case pb.IoKind_IO_KIND_OR_WRITE:
		read = make([]byte, req.Length)
		if _, err = w.b.ReadAt(read, req.Offset); err != nil {
			err = &scsidev.ReadError{Err: err}
			break
		}
		w.refresh()
		if err = w.further(); err != nil {
			read = nil
			break
		}
		err = w.b.WriteAt(scsidev.ORData(io, read), req.Offset, req.Stable)
	case pb.IoKind_IO_KIND_COPY:
		if err = w.copySegments(req.Segments, req.Stable); err == nil {
			err = copyAbort(req.CopyAbort)
		}
	case pb.IoKind_IO_KIND_SANITIZE_OVERWRITE:
		err = w.sanitizeOverwrite(req)
	case pb.IoKind_IO_KIND_SANITIZE_ERASE:
		err = w.sanitizeErase(req.Offset, req.Length)
	case pb.IoKind_IO_KIND_PERSIST_RESERVATIONS:
		err = writeState(writeStateFile, w.statePath, t.DataOut)
	case pb.IoKind_IO_KIND_SAVE_MODE_PAGES:
		err = w.saveModes(t.DataOut, req.Stable)
	}
	if err = fencedAnswer(err); err != nil && err != errNotReady && err != errUnavailable && err != errAbandonedIO {
		w.noteFault(err)
		w.log.Error("IO failed", "op", req.Kind, "offset", req.Offset, "length", req.Length, "error", err)
	}
	res := scsidev.CompleteIO(io, read, err)
	return w.completion(t.Itt, &res, req.TransferLength, req.Kind == pb.IoKind_IO_KIND_READ && res.Data != nil)
}

// writeParts writes the first length bytes of parts, one after another, from off:
// with one pwritev when the backend can and the write needs no durability of its
// own, otherwise through one buffer with WriteAt (so that a stable write is still
// one RWF_DSYNC write, and a wrapped backend still sees one write per command).
func (w *worker) writeParts(parts [][]byte, off, length int64, stable bool) error {
	bufs := w.vec[:0]
	for _, p := range parts {
		if length <= 0 {
			break
		}
		p = p[:min(int64(len(p)), length)]
		bufs = append(bufs, p)
		length -= int64(len(p))
	}
	defer func() { clear(bufs); w.vec = bufs[:0] }()
	if vw, ok := w.b.(backend.VectorWriter); ok && !stable {
		if err := vw.WriteVec(bufs, off); !errors.Is(err, backend.ErrNoVector) {
			return err
		}
	}
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	buf := bufpool.Get(n)
	defer bufpool.Put(buf)
	n = 0
	for _, b := range bufs {
		n += copy(buf[n:], b)
	}
	return w.b.WriteAt(buf, off, stable)
}

// unmap deallocates each (offset, length) pair, stopping at the first error. A
// stable unmap (WCE=0) then syncs the whole backend: a punched hole is metadata,
// which no range sync (sync_file_range) makes durable, and the zeros written where
// a store cannot deallocate are cached writes.
func (w *worker) unmap(extents []int64, stable bool) error {
	for i := 0; i+1 < len(extents); i += 2 {
		w.refresh()
		if err := w.further(); err != nil {
			return err
		}
		if err := w.b.Unmap(extents[i], extents[i+1]); err != nil {
			return err
		}
	}
	if !stable {
		return nil
	}
	w.refresh()
	if err := w.further(); err != nil {
		return err
	}
	return w.b.Sync()
}

// writeSameChunk bounds the buffer a WRITE SAME is replicated into.
const writeSameChunk = 1 << 20

// writeSame writes block over [off, off+length) from a buffer of copies of it,
// so a long range costs one pwrite per MiB rather than one per block.
func (w *worker) writeSame(block []byte, off, length int64, stable bool) error {
	if len(block) == 0 {
		return nil
	}
	if ws, ok := w.b.(backend.WriteSamer); ok && length%int64(len(block)) == 0 {
		if err := ws.WriteSame(block, off, length, stable); !errors.Is(err, backend.ErrNoNative) {
			return err
		}
	}
	n := min(length, int64(writeSameChunk)/int64(len(block))*int64(len(block)))
	n = max(n, int64(len(block)))
	buf := make([]byte, n)
	for i := 0; i < len(buf); i += len(block) {
		copy(buf[i:], block)
	}
	for length > 0 {
		c := min(length, int64(len(buf)))
		w.refresh()
		if err := w.further(); err != nil {
			return err
		}
		if err := w.b.WriteAt(buf[:c], off, stable); err != nil {
			return err
		}
		off, length = off+c, length-c
	}
	return nil
}

// lbaStatus returns up to max runs of mapped and unmapped bytes from off,
// merging neighbours in the same state. A backend that cannot tell is all
// mapped.
func (w *worker) lbaStatus(off, length int64, max int) ([]scsidev.Run, error) {
	m, ok := w.b.(backend.Mapper)
	if !ok {
		return []scsidev.Run{{Mapped: true, Length: length}}, nil
	}
	var runs []scsidev.Run
	for length > 0 {
		w.refresh()
		if w.abandoned() {
			return nil, errAbandonedIO
		}
		mapped, n, err := m.Mapped(off, length)
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			n = length
		}
		if k := len(runs); k > 0 && runs[k-1].Mapped == mapped {
			runs[k-1].Length += n
		} else {
			if len(runs) == max {
				break
			}
			runs = append(runs, scsidev.Run{Mapped: mapped, Length: n})
		}
		off, length = off+n, length-n
	}
	return runs, nil
}

// saveModes makes the saved mode pages durable. flush (MODE SELECT turned the
// write cache off) syncs the medium first; the file is written even if that
// fails, so that it matches the pages the device model now has, and the sync's
// error is the answer: a WRITE ERROR, as SYNCHRONIZE CACHE's would be.
func (w *worker) saveModes(data []byte, flush bool) error {
	var syncErr error
	if flush {
		if syncErr = w.b.Sync(); syncErr != nil {
			syncErr = fmt.Errorf("%w: cache flush on WCE=0: %w", scsi.WriteError(), syncErr)
		}
		w.refresh()
	}
	if err := writeState(writeModesFile, w.modesPath, data); err != nil {
		return err
	}
	return syncErr
}

// writeStateFile writes a reservation snapshot (reservation.WriteStateFile); a
// variable so that a test can hold a save's call and release it later, as a hung
// disk does, after the LUN abandoned it (prsave.go).
var writeStateFile = reservation.WriteStateFile

// writeState makes a LUN state file durable (temp file, fsync, rename, fsync of
// the directory) before the command that changed it is answered; with no file
// configured there is nothing to write.
func writeState(write func(path string, data []byte) error, path string, data []byte) error {
	if path == "" {
		return nil
	}
	return write(path, data)
}

// failedAt marks a failed read or one-block write of req with the first logical
// block it did not complete, n bytes in: by ReadAt's contract the bytes before n
// are good, so this block is at or before the one that failed, never after (an
// initiator that completes the blocks before it completes only good ones).
func failedAt(err error, req *pb.IoRequest, n int) error {
	if err == nil || req.BlockSize == 0 {
		return err
	}
	return scsidev.FailedAt(err, uint64((req.Offset+int64(n))/int64(req.BlockSize)))
}
