package lun

import (
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/bufpool"
	"github.com/atgt/atgt/actors/scsidev"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// An EXTENDED COPY that reads or writes a logical unit other than the one that
// received it is carried out by a copy manager: a copier actor, child of the
// receiving LUN, that moves each segment a chunk at a time as a READ(16) to the
// source LU's actor and a WRITE(16) to the destination's, and waits for each answer
// as a message (it never blocks). Each LU thus checks and orders the copy's IO exactly
// as it would the same command from the copy's I_T nexus: its reservations, write
// protection, ALUA state, offline or retired state, fences, range locks, task
// ordering and ioTimeout all apply, and no backend is touched from outside its own
// LUN. The commands carry the copy's nexus (ScsiTask.nexus) and the copy_manager
// flag, which only keeps them from reporting or clearing that nexus's unit
// attentions. A command to the receiving LU itself is HEAD OF QUEUE: it is part of
// a task the LU already admitted, and must not wait behind the copy itself or an
// ORDERED task that waits for the copy. A copy within one LU needs none of this and
// stays in an IO worker (copy.go).

// copyDone tells the LUN that a copier ended: err is nil when every segment was
// copied (and the device model planned no abort after them).
type copyDone struct {
	io  *pb.IoRequest
	err error
}

// stopCopy tells a copier that its copy was aborted: it issues nothing more, asks
// the LU holding its command in flight to abort that command, and ends once the
// command is answered.
type stopCopy struct{}

var stopCopyMsg = &stopCopy{}

// fenceCopy tells a copier that the LUN detached its copy (the grace of a task
// management function ran out, or the copy's I_T nexus or connection was lost):
// besides stopping, it has the LU holding its command in flight detach that
// command now (fenceCommand), and reports the copy's end (copyDone) once that LU
// has answered or fenced it. The LUN answers the copy only then, so that nothing
// the initiator sends after the function or the nexus loss can be overtaken by
// the copy's write at the other LU.
type fenceCopy struct{}

var fenceCopyMsg = &fenceCopy{}

// fenceCommand asks a LUN to detach at once the copy command itt of the copier
// replyTo, as a nexus loss detaches a connection's tasks: a write in a backend
// call is abandoned and its range fenced until the call returns, a waiting one
// never runs. The LUN then answers commandFenced.
type fenceCommand struct {
	itt     uint32
	replyTo *pb.Pid
}

// commandFenced tells a copier that its command itt can no longer write: it was
// answered, or its call fenced, or it never ran.
type commandFenced struct{ itt uint32 }

// errCopyAborted ends a copy its task management function aborted (the connection
// suppresses the answer).
var errCopyAborted = scsi.AbortedCommand(0, 0)

// copyStep is one command of a copy: a READ or WRITE of a chunk at the LU naa.
type copyStep struct {
	naa    uint64
	write  bool
	lba    uint64
	blocks uint32
	length int64
}

// copyRun is the progress of a copy through its segments, a pure state machine:
// next says which command comes next, answer takes its outcome. A chunk is read,
// then written from the read's buffer.
type copyRun struct {
	segs []*pb.CopySegment
	seg  int
	done int64 // bytes of segs[seg] copied
	// data is the chunk read and not yet written; pooled: it is a bufpool buffer.
	data   []byte
	pooled bool
	cur    copyStep
}

// chunkOf is how many bytes of s the next chunk moves: at most copyChunk, a
// whole number of both LUs' blocks.
func chunkOf(s *pb.CopySegment, done int64) int64 {
	unit := lcm(int64(max(s.SrcBlockSize, 1)), int64(max(s.DstBlockSize, 1)))
	limit := max(copyChunk/unit*unit, unit)
	return min(limit, s.Length-done)
}

func lcm(a, b int64) int64 {
	x, y := a, b
	for y != 0 {
		x, y = y, x%y
	}
	return a / x * b
}

// next returns the next command, or false when every segment is copied.
func (r *copyRun) next() (copyStep, bool) {
	for r.seg < len(r.segs) && r.done >= r.segs[r.seg].Length {
		r.seg, r.done = r.seg+1, 0
	}
	if r.seg == len(r.segs) {
		return copyStep{}, false
	}
	s := r.segs[r.seg]
	n := chunkOf(s, r.done)
	if r.data == nil {
		bs := int64(max(s.SrcBlockSize, 1))
		r.cur = copyStep{naa: s.SrcNaa, lba: uint64((s.SrcOffset + r.done) / bs), blocks: uint32(n / bs), length: n}
	} else {
		bs := int64(max(s.DstBlockSize, 1))
		r.cur = copyStep{naa: s.DstNaa, write: true, lba: uint64((s.DstOffset + r.done) / bs), blocks: uint32(n / bs), length: n}
	}
	return r.cur, true
}

// answer applies the outcome of the current command; an error aborts the copy.
func (r *copyRun) answer(c *pb.ScsiCompletion) error {
	if !r.cur.write {
		if c.Status != uint32(scsi.StatusGood) {
			return r.failed(copyFailure(c, false))
		}
		if int64(len(c.DataIn)) < r.cur.length {
			if c.Pooled {
				bufpool.Put(c.DataIn)
			}
			return r.failed(scsi.CopyAborted(0x0D, 0x04)) // COPY TARGET DEVICE DATA UNDERRUN
		}
		r.data, r.pooled = c.DataIn[:r.cur.length], c.Pooled
		return nil
	}
	r.release(c.Detached)
	if c.Status != uint32(scsi.StatusGood) {
		return r.failed(copyFailure(c, true))
	}
	r.done += r.cur.length
	return nil
}

// failed is err, which ended the current command, as reported for its segment
// (segmentFailed).
func (r *copyRun) failed(err error) error {
	return segmentFailed(err, r.seg, r.segs[r.seg], !r.cur.write, r.done)
}

// release gives the chunk's buffer back, unless a detached write may still read it.
func (r *copyRun) release(detached bool) {
	if r.pooled && !detached {
		bufpool.Put(r.data)
	}
	r.data, r.pooled = nil, false
}

// copyFailure is the EXTENDED COPY's sense when a copy target answered a command
// with anything but GOOD. SPC-4 6.4.3 (errors detected during processing of
// segment descriptors) ends the EXTENDED COPY with CHECK CONDITION and the sense key
// COPY ABORTED; the copy target's own status, e.g. RESERVATION CONFLICT, is not the
// EXTENDED COPY's (that would say the receiving LU is reserved). A cause from the
// store's error table keeps its additional sense (out of space 27/07, write protected
// 27/00, not ready 04/03, time-out 08/01) and a medium error becomes a read or write
// error, as the worker's copy does (copy.go, scsidev.CopyAbortedSense); anything else, a reservation conflict included, is 0D/02 COPY TARGET DEVICE NOT
// REACHABLE, which is what LIO's copy manager reports for any failed command to a
// copy target (target_core_xcopy.c) and what libiscsi's ExtendedCopy tests accept
// for a target the copy cannot use.
func copyFailure(c *pb.ScsiCompletion, write bool) *scsi.SenseError {
	if c.Status == uint32(scsi.StatusCheckCondition) {
		if key, asc, ascq, ok := scsi.ParseFixedSense(c.Sense); ok {
			if se := scsidev.CopyAbortedSense(key, asc, ascq, !write); se != nil {
				return se
			}
		}
	}
	return scsi.CopyTargetNotReachable()
}

// copier is the actor that drives a copyRun (see above).
type copier struct {
	io    *pb.IoRequest
	peers *Registry
	log   hclog.Logger
	run   copyRun
	self  *pb.Pid
	// to is the LU with a command of this copy in flight (nil: none), itt its tag.
	to  *actor.PID
	itt uint32
	// stopping: aborted; fencing: detached (fenceCopy); ended: the LUN was told,
	// the copier stops once to is nil.
	stopping, fencing, ended bool
	// watched are the LUN actors this copier watches, by PID id, so that a LUN
	// removed with a command of the copy in it ends the copy (Terminated).
	watched map[string]*actor.PID
}

func copierProps(io *pb.IoRequest, peers *Registry, log hclog.Logger) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &copier{io: io, peers: peers, log: log, run: copyRun{segs: io.Segments}, watched: map[string]*actor.PID{}}
	})
}

// Receive issues the copy's commands one by one and ends the copy at the first
// failure, an abort, or the last segment.
func (c *copier) Receive(ctx actor.Context) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("copy manager failed", "panic", fmt.Sprint(r))
			c.to = nil
			c.end(ctx, scsi.InternalTargetFailure())
		}
	}()
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c.self = pb.NewPid(ctx.Self())
		c.step(ctx)
	case *pb.ScsiCompletion:
		if c.to == nil || m.Itt != c.itt {
			return // not the command in flight
		}
		c.to = nil
		if c.ended {
			if m.Pooled && !m.Detached {
				bufpool.Put(m.DataIn)
			}
			c.run.release(m.Detached)
			c.stop(ctx)
			return
		}
		if err := c.run.answer(m); err != nil {
			c.end(ctx, err)
			return
		}
		if c.stopping {
			c.end(ctx, errCopyAborted)
			return
		}
		c.step(ctx)
	case *stopCopy:
		if c.stopping || c.ended {
			return
		}
		c.stopping = true
		if c.to == nil {
			c.end(ctx, errCopyAborted)
			return
		}
		// The command in flight is aborted at its LU like any task of a nexus:
		// that LU detaches it if it does not end in time.
		ctx.Send(c.to, &pb.TaskManagement{Function: pb.TmfFunction_TMF_FUNCTION_ABORT_TASK, ReferencedItt: c.itt,
			Nexus: c.io.Task.Nexus, ReplyTo: c.self})
	case *fenceCopy:
		c.stopping = true
		if c.fencing || c.ended {
			return
		}
		c.fencing = true
		if c.to == nil {
			c.end(ctx, errCopyAborted)
			return
		}
		ctx.Send(c.to, &fenceCommand{itt: c.itt, replyTo: c.self})
	case *commandFenced:
		if c.to != nil && m.itt == c.itt && !c.ended {
			// A read left to finish in its call may still answer: the copier
			// stays for it (its buffer), but the copy is over.
			c.end(ctx, errCopyAborted)
		}
	case *actor.Terminated:
		if c.to != nil && m.Who.Equal(c.to) {
			// The LU was removed with the copy's command in it: no answer comes.
			c.to = nil
			c.end(ctx, c.run.failed(scsi.CopyTargetNotReachable()))
		}
	}
}

// step sends the next command, or ends the copy after the last.
func (c *copier) step(ctx actor.Context) {
	st, ok := c.run.next()
	if !ok {
		c.end(ctx, copyAbort(c.io.CopyAbort))
		return
	}
	pid := c.peers.Lookup(st.naa)
	if pid == nil {
		c.end(ctx, c.run.failed(scsi.CopyTargetNotReachable()))
		return
	}
	if c.watched[pid.Id] == nil {
		c.watched[pid.Id] = pid
		ctx.Watch(pid)
	}
	t := c.io.Task
	c.itt++
	sub := &pb.ScsiTask{Itt: c.itt, Nexus: t.Nexus, Target: t.Target, ReplyTo: c.self, CopyManager: true,
		ExpectedLength: uint32(st.length), Attribute: pb.TaskAttribute_TASK_ATTRIBUTE_SIMPLE}
	if pid.Equal(ctx.Parent()) {
		sub.Attribute = pb.TaskAttribute_TASK_ATTRIBUTE_HEAD_OF_QUEUE
	}
	if st.write {
		sub.Cdb, sub.DataOut, sub.Write = scsi.ReadWrite16(scsi.OpWrite16, st.lba, st.blocks), c.run.data, true
	} else {
		sub.Cdb, sub.Read = scsi.ReadWrite16(scsi.OpRead16, st.lba, st.blocks), true
	}
	c.to = pid
	ctx.Send(pid, sub)
}

// end reports the copy's outcome to the LUN once; the copier stops when no
// command of it is in flight.
func (c *copier) end(ctx actor.Context, err error) {
	if !c.ended {
		c.ended = true
		if c.to == nil {
			c.run.release(false)
		}
		ctx.Send(ctx.Parent(), &copyDone{io: c.io, err: err})
	}
	if c.to == nil {
		c.stop(ctx)
	}
}

// stop ends the copier. It stops watching the LUNs first: a LUN keeps its watchers
// until it stops, and would otherwise collect one per copy that ever used it.
func (c *copier) stop(ctx actor.Context) {
	for id, pid := range c.watched {
		ctx.Unwatch(pid)
		delete(c.watched, id)
	}
	ctx.Stop(ctx.Self())
}
