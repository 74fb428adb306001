// Package gateway carries a logical unit's events between the gateway nodes that
// export it (ALUA port groups, README "Several gateways"): what one node does to the
// logical unit that every initiator on every node must learn of, such as a LOGICAL
// UNIT RESET and its unit attention. The events travel on a Bus, a shared object with
// watch/notify (a RADOS object next to an RBD image, or MemBus in tests); a node
// announcing an event waits until every other node has applied it, so that an
// initiator told the reset is done finds its unit attention on every path.
package gateway

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"sync"
	"time"
)

// Bus is a shared object every node of a logical unit watches.
type Bus interface {
	// Notify sends payload to every watcher, this node's own included, and waits up
	// to timeout for their acknowledgements; it returns how many did not answer.
	Notify(payload []byte, timeout time.Duration) (missed int, err error)
	// Watch registers this node's watch: each notification arrives on the channel
	// with its Ack. When the watch is lost an event with Err arrives and the caller
	// watches again. Close ends the watch and closes the channel.
	Watch() (<-chan Event, error)
	// Publish sets key to value in the object's directory (an omap on RADOS), where
	// each node keeps what the others must know of it (owners.go).
	Publish(key string, value []byte) error
	// Directory reads every entry of the object's directory.
	Directory() (map[string][]byte, error)
	// Close ends the watch and releases the object.
	Close() error
}

// Event is one notification received by a watch, or the watch's loss (Err).
type Event struct {
	Data []byte
	// Ack acknowledges the notification; it may block on the network.
	Ack func()
	Err error
}

// Kind is what happened to the logical unit.
type Kind byte

// The events a node announces.
const (
	// LogicalUnitReset: a LOGICAL UNIT RESET (unit attention 29/03 on every nexus).
	LogicalUnitReset Kind = 1
	// TargetReset: a TARGET WARM or COLD RESET (unit attention 29/00).
	TargetReset Kind = 2
)

// Notice is an event as another node announced it.
type Notice struct {
	Kind Kind
	// Group is the announcing node's target port group.
	Group uint16
}

// payload layout: kind, group, and the sender's instance id, so that a node
// recognises (and acknowledges without applying) its own notifications.
const payloadLen = 1 + 2 + 8

// Channel is one node's end of a logical unit's events.
type Channel struct {
	bus      Bus
	group    uint16
	instance uint64
	timeout  time.Duration

	mu      sync.Mutex
	deliver func(Notice, func())
	stop    chan struct{}
	done    chan struct{}
}

// DefaultTimeout bounds how long Announce waits for the other nodes: a task
// management function must be answered in bounded time, so a node that does not
// answer (dead, its watch not yet timed out) is given up on.
const DefaultTimeout = 3 * time.Second

// Open starts watching bus for the node serving target port group group.
func Open(bus Bus, group uint16) (*Channel, error) {
	c := &Channel{bus: bus, group: group, instance: rand.Uint64() | 1, timeout: DefaultTimeout,
		stop: make(chan struct{}), done: make(chan struct{})}
	events, err := bus.Watch()
	if err != nil {
		return nil, err
	}
	go c.watchLoop(events)
	return c, nil
}

// Attach sets where other nodes' notices go: fn applies one and calls ack once it is
// applied (ack may block; fn must not call it inside an actor's Receive). Notices
// before Attach are acknowledged unapplied: no initiator can have a nexus yet.
func (c *Channel) Attach(fn func(n Notice, ack func())) {
	c.mu.Lock()
	c.deliver = fn
	c.mu.Unlock()
}

// Announce tells every other node of kind and returns once they applied it or the
// timeout passed (then an error says how many did not answer). It blocks on the
// network: call it from a goroutine.
func (c *Channel) Announce(kind Kind) error {
	p := make([]byte, payloadLen)
	p[0] = byte(kind)
	binary.BigEndian.PutUint16(p[1:3], c.group)
	binary.BigEndian.PutUint64(p[3:], c.instance)
	missed, err := c.bus.Notify(p, c.timeout)
	if err == nil && missed > 0 {
		err = errors.New("gateway: some nodes did not acknowledge the event in time")
	}
	return err
}

// Close ends the watch.
func (c *Channel) Close() error {
	close(c.stop)
	err := c.bus.Close()
	<-c.done
	return err
}

func (c *Channel) watchLoop(events <-chan Event) {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case ev, ok := <-events:
			if ok && ev.Err == nil {
				c.handle(ev)
				continue
			}
			// Lost (an event with Err), or ended without one: a channel
			// closed by anything but Close (its client replaced after a
			// blocklist retires the watch) is a lost watch too.
			select {
			case <-c.stop:
				return
			default:
			}
			if events = c.rewatch(); events == nil {
				return
			}
		}
	}
}

// rewatch watches again after the watch was lost, until it works or Close.
func (c *Channel) rewatch() <-chan Event {
	for {
		select {
		case <-c.stop:
			return nil
		default:
		}
		events, err := c.bus.Watch()
		if err == nil {
			return events
		}
		select {
		case <-c.stop:
			return nil
		case <-time.After(time.Second):
		}
	}
}

func (c *Channel) handle(ev Event) {
	ack := ev.Ack
	if ack == nil {
		ack = func() {}
	}
	if len(ev.Data) != payloadLen || binary.BigEndian.Uint64(ev.Data[3:]) == c.instance {
		ack() // not ours to apply: malformed, or this node's own
		return
	}
	n := Notice{Kind: Kind(ev.Data[0]), Group: binary.BigEndian.Uint16(ev.Data[1:3])}
	c.mu.Lock()
	fn := c.deliver
	c.mu.Unlock()
	if fn == nil {
		ack()
		return
	}
	fn(n, ack)
}
