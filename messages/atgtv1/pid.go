package atgtv1

import "github.com/asynkron/protoactor-go/actor"

// NewPid records an actor's PID for a reply-to field.
func NewPid(p *actor.PID) *Pid {
	if p == nil {
		return nil
	}
	return &Pid{Address: p.Address, Id: p.Id}
}

// PID returns the protoactor PID that p names, or nil for an unset field.
func (p *Pid) PID() *actor.PID {
	if p == nil {
		return nil
	}
	return actor.NewPID(p.Address, p.Id)
}
