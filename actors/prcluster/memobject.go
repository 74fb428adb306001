package prcluster

import (
	"errors"
	"sync"
	"time"
)

// MemObject is an Object held in memory, shared by several Stores in one
// process as if each were a node: the same compare-and-swap and
// notify/acknowledge contract as RADOS, so the store's logic is tested
// without a cluster. Its Handle method gives each "node" its own view.
type MemObject struct {
	mu       sync.Mutex
	data     []byte
	version  uint64
	watchers map[int]chan Event
	next     int
	// Writes counts successful writes; Races counts refused ones.
	Writes, Races int
	// unreadable makes every Read fail (SetUnreadable).
	unreadable bool
}

// SetUnreadable makes every Read fail, as for a node cut off from the
// object's OSD, or work again; for tests of the staleness bound.
func (m *MemObject) SetUnreadable(v bool) {
	m.mu.Lock()
	m.unreadable = v
	m.mu.Unlock()
}

// DropWatches ends every watch as lost connections would: an Event with Err,
// then the channel closes. The stores watch again.
func (m *MemObject) DropWatches() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, ch := range m.watchers {
		ch <- Event{Err: errors.New("watch lost")}
		close(ch)
		delete(m.watchers, id)
	}
}

// NewMemObject returns an object that does not exist yet.
func NewMemObject() *MemObject {
	return &MemObject{watchers: map[int]chan Event{}}
}

// Handle returns one node's Object on m.
func (m *MemObject) Handle() Object {
	return &memHandle{m: m, watch: -1}
}

// Data returns the object's current data.
func (m *MemObject) Data() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]byte(nil), m.data...)
}

type memHandle struct {
	m     *MemObject
	watch int
}

func (h *memHandle) Read() ([]byte, uint64, error) {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if h.m.unreadable {
		return nil, 0, errors.New("prcluster: read timed out (MemObject.SetUnreadable)")
	}
	return append([]byte(nil), h.m.data...), h.m.version, nil
}

func (h *memHandle) Write(data []byte, version uint64) error {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if h.m.version != version {
		h.m.Races++
		return ErrRaced
	}
	h.m.data = append([]byte(nil), data...)
	h.m.version++
	h.m.Writes++
	return nil
}

func (h *memHandle) Notify(payload []byte, timeout time.Duration) (int, int, error) {
	h.m.mu.Lock()
	var acks []chan struct{}
	for _, ch := range h.m.watchers {
		ack := make(chan struct{})
		var once sync.Once
		acks = append(acks, ack)
		ev := Event{Data: append([]byte(nil), payload...), Ack: func() { once.Do(func() { close(ack) }) }}
		select {
		case ch <- ev:
		default:
			// A watcher that does not drain its events misses this one,
			// as a RADOS watcher that is too slow times out.
		}
	}
	h.m.mu.Unlock()
	deadline := time.After(timeout)
	acked, late := 0, false
	for _, a := range acks {
		if late {
			select {
			case <-a:
				acked++
			default:
			}
			continue
		}
		select {
		case <-a:
			acked++
		case <-deadline:
			late = true
		}
	}
	return acked, len(acks) - acked, nil
}

func (h *memHandle) Watch() (<-chan Event, error) {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if _, ok := h.m.watchers[h.watch]; ok {
		return nil, errors.New("prcluster: already watching")
	}
	ch := make(chan Event, 64)
	h.watch = h.m.next
	h.m.next++
	h.m.watchers[h.watch] = ch
	return ch, nil
}

// Drop ends h's watch as a lost connection would: an Event with Err, then
// the channel closes. The store watches again.
func (h *memHandle) drop() {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if ch, ok := h.m.watchers[h.watch]; ok {
		ch <- Event{Err: errors.New("watch lost")}
		close(ch)
		delete(h.m.watchers, h.watch)
		h.watch = -1
	}
}

func (h *memHandle) Close() error {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if ch, ok := h.m.watchers[h.watch]; ok {
		close(ch)
		delete(h.m.watchers, h.watch)
		h.watch = -1
	}
	return nil
}
