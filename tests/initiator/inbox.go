package initiator

import (
	"sync"
	"time"

	"github.com/atgt/atgt/messages/iscsi"
)

// inbox queues the PDUs the reader routes to one task. It never blocks the reader:
// a task that is slow to consume (or busy sending Data-Out) must not stop the
// session's other tasks from receiving.
type inbox struct {
	mu  sync.Mutex
	q   []*iscsi.PDU
	sig chan struct{} // one token when q became non-empty
}

func newInbox() *inbox { return &inbox{sig: make(chan struct{}, 1)} }

// put queues p and wakes the waiter.
func (b *inbox) put(p *iscsi.PDU) {
	b.mu.Lock()
	b.q = append(b.q, p)
	b.mu.Unlock()
	select {
	case b.sig <- struct{}{}:
	default:
	}
}

// take pops the oldest PDU, or returns nil.
func (b *inbox) take() *iscsi.PDU {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.q) == 0 {
		return nil
	}
	p := b.q[0]
	b.q[0] = nil
	b.q = b.q[1:]
	return p
}

// count returns how many queued PDUs have opcode op.
func (b *inbox) count(op iscsi.Opcode) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, p := range b.q {
		if p.BHS.Opcode() == op {
			n++
		}
	}
	return n
}

// next waits for a PDU until the deadline or the end of the connection; PDUs that
// arrived before the connection ended are still returned first.
func (s *Session) next(b *inbox, deadline time.Time) (*iscsi.PDU, error) {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for {
		if p := b.take(); p != nil {
			return p, nil
		}
		select {
		case <-b.sig:
		case <-s.done:
			if p := b.take(); p != nil {
				return p, nil
			}
			return nil, s.connErr()
		case <-t.C:
			return nil, ErrTimeout
		}
	}
}
