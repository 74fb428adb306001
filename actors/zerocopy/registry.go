package zerocopy

import (
	"sync"
	"sync/atomic"
)

// registry names live objects by number, so protobuf messages (which carry no Go
// pointers) can refer to them.
type registry[T any] struct {
	next atomic.Uint64
	m    sync.Map // uint64 -> *T
}

func (r *registry[T]) add(v *T) uint64 {
	id := r.next.Add(1)
	r.m.Store(id, v)
	return id
}

func (r *registry[T]) get(id uint64) *T {
	if id == 0 {
		return nil
	}
	v, ok := r.m.Load(id)
	if !ok {
		return nil
	}
	return v.(*T)
}

func (r *registry[T]) remove(id uint64) { r.m.Delete(id) }

var (
	sources registry[Source]
	ledgers registry[Ledger]
)
