package prcluster

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// MemObject is an Object held in memory, shared by several Stores in one
// process as if each were a node: the same compare-and-swap,
// notify/acknowledge and membership contract as RADOS, so the store's logic
// is tested without a cluster. Its Handle method gives each "node" its own
// view, with a client address of its own ("mem:N/G", G counting the clients
// it dialled after a blocklist).
type MemObject struct {
	mu       sync.Mutex
	data     []byte
	version  uint64
	watchers map[int]*memWatch
	next     int
	// Writes counts successful writes; Races counts refused ones.
	Writes, Races int
	// unreadable makes every Read fail (SetUnreadable).
	unreadable bool
	members    map[uint16]string   // registrations: port -> store client
	published  map[uint16]string   // gateway.<port>: the image's client
	blocklist  map[string]bool     // blocklisted addresses
	blocked    []string            // addresses blocklisted, in order
	blockErr   error               // Blocklist's answer (SetBlocklistError)
	handles    map[*memHandle]bool // for Blocklist to find the clients
}

type memWatch struct {
	ch     chan Event
	handle *memHandle
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
	for id, w := range m.watchers {
		w.ch <- Event{Err: errors.New("watch lost")}
		close(w.ch)
		delete(m.watchers, id)
		w.handle.watch, w.handle.cur = -1, nil
	}
}

// Publish sets the address of the image client of the gateway of port, as
// the gateway publishes it beside the image (gateway.<port>).
func (m *MemObject) Publish(port uint16, addr string) {
	m.mu.Lock()
	m.published[port] = addr
	m.mu.Unlock()
}

// Blocklisted returns the addresses blocklisted so far, in order.
func (m *MemObject) Blocklisted() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.blocked)
}

// SetBlocklistError makes Blocklist fail with err (nil: work again).
func (m *MemObject) SetBlocklistError(err error) {
	m.mu.Lock()
	m.blockErr = err
	m.mu.Unlock()
}

// NewMemObject returns an object that does not exist yet.
func NewMemObject() *MemObject {
	return &MemObject{watchers: map[int]*memWatch{}, members: map[uint16]string{}, published: map[uint16]string{},
		blocklist: map[string]bool{}, handles: map[*memHandle]bool{}}
}

// Handle returns one node's Object on m.
func (m *MemObject) Handle() Object {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := &memHandle{m: m, watch: -1, id: len(m.handles) + 1}
	m.handles[h] = true
	return h
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
	id    int
	// gen counts the clients dialled after a blocklist; port is the one
	// joined as.
	gen  int
	port uint16
	cur  *memWatch // the watch as the handle knows it, nil when none
}

// addr is the handle's current client address; m.mu is held.
func (h *memHandle) addr() string { return fmt.Sprintf("mem:%d/%d", h.id, h.gen) }

// fencedLocked fails a call on a blocklisted client, and dials a new one for
// the calls after it, as backend.RadosObject does; m.mu is held.
func (h *memHandle) fencedLocked() error {
	if !h.m.blocklist[h.addr()] {
		return nil
	}
	h.gen++
	return fmt.Errorf("%w (MemObject)", ErrBlocklisted)
}

func (h *memHandle) Read() ([]byte, uint64, error) {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if err := h.fencedLocked(); err != nil {
		return nil, 0, err
	}
	if h.m.unreadable {
		return nil, 0, errors.New("prcluster: read timed out (MemObject.SetUnreadable)")
	}
	return append([]byte(nil), h.m.data...), h.m.version, nil
}

func (h *memHandle) Write(data []byte, version uint64) error {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if err := h.fencedLocked(); err != nil {
		return err
	}
	if h.m.version != version {
		h.m.Races++
		return ErrRaced
	}
	h.m.data = append([]byte(nil), data...)
	h.m.version++
	h.m.Writes++
	return nil
}

func (h *memHandle) Notify(payload []byte, timeout time.Duration) ([]uint16, int, error) {
	h.m.mu.Lock()
	if err := h.fencedLocked(); err != nil {
		h.m.mu.Unlock()
		return nil, 0, err
	}
	type pending struct {
		ack  chan struct{}
		port uint16
	}
	var acks []pending
	for _, w := range h.m.watchers {
		p := pending{ack: make(chan struct{}), port: w.handle.port}
		var once sync.Once
		acks = append(acks, p)
		ev := Event{Data: append([]byte(nil), payload...), Ack: func() { once.Do(func() { close(p.ack) }) }}
		select {
		case w.ch <- ev:
		default:
			// A watcher that does not drain its events misses this one,
			// as a RADOS watcher that is too slow times out.
		}
	}
	h.m.mu.Unlock()
	deadline := time.After(timeout)
	var acked []uint16
	late := false
	for _, p := range acks {
		if late {
			select {
			case <-p.ack:
				acked = append(acked, p.port)
			default:
			}
			continue
		}
		select {
		case <-p.ack:
			acked = append(acked, p.port)
		case <-deadline:
			late = true
		}
	}
	return acked, len(acks) - len(acked), nil
}

func (h *memHandle) Join(port uint16) error {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if err := h.fencedLocked(); err != nil {
		return err
	}
	h.port = port
	h.m.members[port] = h.addr()
	return nil
}

func (h *memHandle) Members() (map[uint16][]string, error) {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if err := h.fencedLocked(); err != nil {
		return nil, err
	}
	out := map[uint16][]string{}
	for port, addr := range h.m.members {
		out[port] = []string{addr}
		if a, ok := h.m.published[port]; ok {
			out[port] = append(out[port], a)
		}
	}
	return out, nil
}

func (h *memHandle) Forget(port uint16, addrs []string) error {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if err := h.fencedLocked(); err != nil {
		return err
	}
	if a, ok := h.m.members[port]; ok && (addrs == nil || slices.Contains(addrs, a)) {
		delete(h.m.members, port)
	}
	return nil
}

// Blocklist fences addr: the handle on that client fails its next call and
// dials a new one, and its watch is lost (an Event with Err).
func (h *memHandle) Blocklist(addr string) error {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if h.m.blockErr != nil {
		return h.m.blockErr
	}
	h.m.blocklist[addr] = true
	h.m.blocked = append(h.m.blocked, addr)
	for o := range h.m.handles {
		// Its watch ends with an error, also one the OSD had dropped
		// already (the client's error callback; or RadosObject retiring it).
		if o.addr() == addr && o.cur != nil {
			o.cur.ch <- Event{Err: errors.New("watch lost: client blocklisted")}
			close(o.cur.ch)
			delete(h.m.watchers, o.watch)
			o.cur, o.watch = nil, -1
		}
	}
	return nil
}

func (h *memHandle) Watch() (<-chan Event, error) {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	// On a client found blocklisted, once more on the new one, as
	// backend.RadosWatch does.
	_ = h.fencedLocked()
	if _, ok := h.m.watchers[h.watch]; ok {
		return nil, errors.New("prcluster: already watching")
	}
	ch := make(chan Event, 64)
	h.watch = h.m.next
	h.m.next++
	h.cur = &memWatch{ch: ch, handle: h}
	h.m.watchers[h.watch] = h.cur
	return ch, nil
}

// drop ends h's watch as a lost connection would: an Event with Err, then
// the channel closes. The store watches again.
func (h *memHandle) drop() {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if w, ok := h.m.watchers[h.watch]; ok {
		w.ch <- Event{Err: errors.New("watch lost")}
		close(w.ch)
		delete(h.m.watchers, h.watch)
		h.watch, h.cur = -1, nil
	}
}

// dropSilently removes h's watch as an OSD does after its watch timeout,
// without h's client hearing of it.
func (h *memHandle) dropSilently() {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	delete(h.m.watchers, h.watch)
}

func (h *memHandle) Close() error {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if h.cur != nil {
		close(h.cur.ch)
		delete(h.m.watchers, h.watch)
		h.watch, h.cur = -1, nil
	}
	return nil
}
