package dispatcher

import (
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// Table holds the routes that the sessions and the dispatcher read. Each version is
// an immutable Routes map, replaced whole (copy on write) when an administrator adds or
// removes a logical unit, so that readers take no lock: one atomic load per lookup.
// Version lets a session keep the route it found last and notice when it may be stale.
type Table struct {
	mu      sync.Mutex // serializes writers
	cur     atomic.Pointer[Routes]
	version atomic.Uint64
}

// NewTable returns a table holding routes (which it then owns).
func NewTable(routes Routes) *Table {
	t := &Table{}
	if routes == nil {
		routes = Routes{}
	}
	t.cur.Store(&routes)
	return t
}

// Load returns the current routes; the map must not be changed.
func (t *Table) Load() Routes { return *t.cur.Load() }

// Lookup returns the LUN actor of a logical unit, or nil.
func (t *Table) Lookup(target string, lun uint64) *actor.PID { return t.Load()[Key{target, lun}] }

// Version counts the changes made; a route found at one version holds until the next.
func (t *Table) Version() uint64 { return t.version.Load() }

// Set routes k to pid (nil removes it); readers see the old or the new map whole.
func (t *Table) Set(k Key, pid *actor.PID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.Load()
	next := make(Routes, len(old)+1)
	for key, p := range old {
		next[key] = p
	}
	if pid == nil {
		delete(next, k)
	} else {
		next[k] = pid
	}
	t.cur.Store(&next)
	t.version.Add(1)
}

// first returns the lowest-numbered logical unit routed for target.
func (r Routes) first(target string) (Key, bool) {
	var f Key
	found := false
	for k := range r {
		if k.Target == target && (!found || k.LUN < f.LUN) {
			f, found = k, true
		}
	}
	return f, found
}
