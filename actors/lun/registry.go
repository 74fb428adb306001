package lun

import (
	"sync"
	"sync/atomic"

	"github.com/atgt/atgt/backend"
)

// Registry maps the NAA designator of each logical unit of one target to its
// backend, so that an IO worker performing an EXTENDED COPY can read from one LU and
// write to another. Workers of every LUN of the target read it concurrently; an
// administrator adding or removing a LUN replaces the map whole (copy on write), so
// readers take no lock. Backends are safe for concurrent use.
type Registry struct {
	mu  sync.Mutex // serializes writers
	cur atomic.Pointer[map[uint64]backend.Backend]
}

// NewRegistry returns a registry holding peers (which it then owns).
func NewRegistry(peers map[uint64]backend.Backend) *Registry {
	r := &Registry{}
	if peers == nil {
		peers = map[uint64]backend.Backend{}
	}
	r.cur.Store(&peers)
	return r
}

// Lookup returns the backend of the logical unit with designator naa, or nil.
func (r *Registry) Lookup(naa uint64) backend.Backend {
	if r == nil {
		return nil
	}
	if m := r.cur.Load(); m != nil {
		return (*m)[naa]
	}
	return nil
}

// Set makes naa name b (nil removes it).
func (r *Registry) Set(naa uint64, b backend.Backend) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := map[uint64]backend.Backend{}
	if m := r.cur.Load(); m != nil {
		for k, v := range *m {
			next[k] = v
		}
	}
	if b == nil {
		delete(next, naa)
	} else {
		next[naa] = b
	}
	r.cur.Store(&next)
}
