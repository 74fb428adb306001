package atgtv1

import (
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// NewPid records an actor's PID for a reply-to field.
func NewPid(p *actor.PID) *Pid {
	if p == nil {
		return nil
	}
	return &Pid{Address: p.Address, Id: p.Id}
}

// resolved maps long-lived reply-to Pids (a connection's, named in every task it
// sends) to their protoactor PIDs, so that answering a task neither allocates a PID
// nor looks the actor up in the process registry again (protoactor caches the
// process in the PID).
var resolved sync.Map // *Pid -> *actor.PID

// NewResolvedPid is NewPid for an actor that puts its Pid in many messages: PID()
// returns one shared protoactor PID for it until Forget.
func NewResolvedPid(p *actor.PID) *Pid {
	pid := NewPid(p)
	if pid != nil {
		resolved.Store(pid, p)
	}
	return pid
}

// Forget ends what NewResolvedPid started; call it when the actor stops.
func (p *Pid) Forget() { resolved.Delete(p) }

// PID returns the protoactor PID that p names, or nil for an unset field.
func (p *Pid) PID() *actor.PID {
	if p == nil {
		return nil
	}
	if v, ok := resolved.Load(p); ok {
		return v.(*actor.PID)
	}
	return actor.NewPID(p.Address, p.Id)
}
