package gateway

import (
	"errors"
	"sync"
	"time"
)

// MemHub is an in-process stand-in for the shared object, for tests: every MemBus
// of one hub sees every notification.
type MemHub struct {
	mu       sync.Mutex
	watchers map[*MemBus]chan Event
	dir      map[string][]byte
}

// NewMemHub returns an empty hub.
func NewMemHub() *MemHub {
	return &MemHub{watchers: map[*MemBus]chan Event{}, dir: map[string][]byte{}}
}

// Bus returns a node's Bus on the hub.
func (h *MemHub) Bus() *MemBus { return &MemBus{hub: h} }

// MemBus is one node's view of a MemHub.
type MemBus struct{ hub *MemHub }

// Notify delivers payload to every watcher and waits for their acks.
func (b *MemBus) Notify(payload []byte, timeout time.Duration) (int, error) {
	b.hub.mu.Lock()
	var chans []chan Event
	for _, ch := range b.hub.watchers {
		chans = append(chans, ch)
	}
	b.hub.mu.Unlock()
	acks := make(chan struct{}, len(chans))
	for _, ch := range chans {
		var once sync.Once
		ev := Event{Data: append([]byte(nil), payload...), Ack: func() { once.Do(func() { acks <- struct{}{} }) }}
		select {
		case ch <- ev:
		case <-time.After(timeout):
		}
	}
	deadline := time.After(timeout)
	missed := len(chans)
	for missed > 0 {
		select {
		case <-acks:
			missed--
		case <-deadline:
			return missed, nil
		}
	}
	return 0, nil
}

// Watch registers the bus's watch.
func (b *MemBus) Watch() (<-chan Event, error) {
	b.hub.mu.Lock()
	defer b.hub.mu.Unlock()
	if _, ok := b.hub.watchers[b]; ok {
		return nil, errors.New("gateway: already watching")
	}
	ch := make(chan Event, 16)
	b.hub.watchers[b] = ch
	return ch, nil
}

// Close ends the watch.
func (b *MemBus) Close() error {
	b.hub.mu.Lock()
	defer b.hub.mu.Unlock()
	if ch, ok := b.hub.watchers[b]; ok {
		delete(b.hub.watchers, b)
		close(ch)
	}
	return nil
}

// Publish sets key in the hub's directory.
func (b *MemBus) Publish(key string, value []byte) error {
	b.hub.mu.Lock()
	defer b.hub.mu.Unlock()
	b.hub.dir[key] = append([]byte(nil), value...)
	return nil
}

// Directory copies the hub's directory.
func (b *MemBus) Directory() (map[string][]byte, error) {
	b.hub.mu.Lock()
	defer b.hub.mu.Unlock()
	out := make(map[string][]byte, len(b.hub.dir))
	for k, v := range b.hub.dir {
		out[k] = append([]byte(nil), v...)
	}
	return out, nil
}
