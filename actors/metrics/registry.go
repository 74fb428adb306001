package metrics

import "sync"

// Registry is one target service's metrics: the LUNs it serves, its sessions per
// target and its connection events. It is a prometheus.Collector (collect.go).
// Its mutex is taken when a LUN is added or removed, a session starts or ends,
// and at a scrape: never per IO.
type Registry struct {
	mu   sync.Mutex
	luns map[lunKey]*LUN
	// sessions counts each target's logged-in normal sessions; a target is
	// reported while it has sessions or LUNs.
	sessions map[string]int64
	ev       events
	// dataIn is the connections' Data-In budget (datain.go), nil until set.
	dataIn DataInSource
	// logDrops counts the log lines dropped (logdrops.go), nil until set.
	logDrops LogDropSource
}

// lunKey is a LUN's route, as the dispatcher's: the route's target name (for an
// initiator's own LUN, dispatcher.RouteName) and the LUN number.
type lunKey struct {
	route string
	id    uint64
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{luns: map[lunKey]*LUN{}, sessions: map[string]int64{}}
}

// Add reports l under route and id, replacing a LUN added there before. Safe while
// the registry is scraped, and for LUNs added while the target runs.
func (r *Registry) Add(route string, id uint64, l *LUN) {
	if r == nil || l == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.luns[lunKey{route, id}] = l
}

// Remove stops reporting the LUN added under route and id; its counters go with it.
func (r *Registry) Remove(route string, id uint64) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.luns, lunKey{route, id})
}

// LUN returns the LUN added under route and id, or nil.
func (r *Registry) LUN(route string, id uint64) *LUN {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.luns[lunKey{route, id}]
}

// SessionUp counts a normal session of target that finished its login.
func (r *Registry) SessionUp(target string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sessions[target]++
}

// SessionDown uncounts a session SessionUp counted, once it ended.
func (r *Registry) SessionDown(target string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := r.sessions[target] - 1; n > 0 {
		r.sessions[target] = n
	} else {
		delete(r.sessions, target)
	}
}
