package lun

import (
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// Registry maps the NAA designator of each logical unit of one target to its LUN
// actor, so that an EXTENDED COPY received by one LU reads and writes the others
// through their own actors (copier.go), which check and order that IO as they do
// every command. Each LUN actor registers itself when it starts and leaves when it
// stops; copy managers read the map concurrently, so it is replaced whole (copy on
// write) and readers take no lock.
type Registry struct {
	mu  sync.Mutex // serializes writers
	cur atomic.Pointer[map[uint64]*actor.PID]
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	r := &Registry{}
	m := map[uint64]*actor.PID{}
	r.cur.Store(&m)
	return r
}

// Lookup returns the LUN actor of the logical unit with designator naa, or nil.
func (r *Registry) Lookup(naa uint64) *actor.PID {
	if r == nil {
		return nil
	}
	if m := r.cur.Load(); m != nil {
		return (*m)[naa]
	}
	return nil
}

// Register makes naa name pid.
func (r *Registry) Register(naa uint64, pid *actor.PID) {
	r.update(func(m map[uint64]*actor.PID) { m[naa] = pid })
}

// Deregister removes naa if it still names pid (a LUN added again under the same
// designator keeps its new entry).
func (r *Registry) Deregister(naa uint64, pid *actor.PID) {
	r.update(func(m map[uint64]*actor.PID) {
		if cur := m[naa]; cur != nil && cur.Equal(pid) {
			delete(m, naa)
		}
	})
}

func (r *Registry) update(f func(map[uint64]*actor.PID)) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	next := map[uint64]*actor.PID{}
	if m := r.cur.Load(); m != nil {
		for k, v := range *m {
			next[k] = v
		}
	}
	f(next)
	r.cur.Store(&next)
}
