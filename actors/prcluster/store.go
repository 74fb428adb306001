// Package prcluster keeps a logical unit's persistent reservations in one
// object shared by every atgt node that exports it (a RADOS object beside an
// RBD image), so that SCSI-3 reservations hold across gateways.
//
// Atomicity. PERSISTENT RESERVE OUT is a compare-and-swap on the object:
// the store reads the object and its version, runs the command on the state
// it read (reservation.DecodeCluster, the same logic as a local table), and
// writes the new state back with the condition that the object's version is
// still the one it read (RADOS: rados_write_op_assert_version, or an
// exclusive create for an object that did not exist). A writer that loses
// the race rereads and runs the command again on the newer state, so
// concurrent PROUTs from several nodes are serialised in the order their
// writes landed, and the PRgeneration counter in the object counts every
// change from every node. Within a node, one goroutine per store runs the
// PROUTs one at a time.
//
// Visibility. After a successful write the writer notifies the object's
// watchers (every node, itself included) with the new state and the unit
// attentions the change raises, and answers the PROUT only once they have
// all acknowledged. A node that receives the
// notification hands it to its LUN actor, which installs the new state as
// its cache (the reservation conflict check of every command and PERSISTENT
// RESERVE IN use that cache), raises the unit attentions of its own I_T
// nexuses, lets every command it had already handed to its IO workers
// finish while holding new ones back, and only then acknowledges. So when
// a PREEMPT (AND ABORT) is answered, no node still admits a command from the
// preempted nexus and none of its earlier commands is still in flight.
//
// Failures. A notify that fails is sent again; a write that reports an error
// is checked by reading the object back (it may have landed), and a PROUT
// that finds its change already made still tells every node if this node
// had not. When the writer cannot confirm every node's acknowledgement (a
// node dead, cut off, or slow; every registered member counts, members.go),
// it blocklists the clients of the nodes that did not acknowledge and
// answers only after the staleness bound (lease.go): by then every node has
// reread the object or refuses commands.
//
// APTPL. The state is kept in the cluster whatever APTPL says. APTPL=0 asks
// that reservations not survive a power loss of the logical unit; a logical
// unit served by several gateways has no such event (one gateway
// restarting is a path going away, like one controller of a dual-controller
// array rebooting), and clearing the state when the last gateway restarts
// would unfence a node that a cluster manager fenced. The APTPL bit is
// stored and reported (PTPL_A) all the same; an administrator who wants the
// state gone removes the object (`rados -p POOL rm atgt.pr.IMAGE`) while no
// gateway serves the image, or sends PROUT CLEAR.
package prcluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/reservation"
	"github.com/atgt/atgt/messages/scsi"
)

const (
	// NotifyTimeout bounds how long a PROUT waits for every node to
	// acknowledge the change.
	NotifyTimeout = 10 * time.Second
	// maxRaces bounds how often one PROUT retries after losing the race;
	// then it is answered BUSY and the initiator retries.
	maxRaces = 64
	// maxQueued bounds the PROUTs waiting for a store.
	maxQueued = 256
	// rewatchEvery is the pause between attempts to restore a lost watch.
	rewatchEvery = time.Second
)

// Store is one node's handle on a logical unit's shared reservation state.
type Store struct {
	obj     Object
	port    uint16
	log     hclog.Logger
	timeout time.Duration
	reqs    chan request
	done    chan struct{}

	mu     sync.Mutex
	closed bool
	send   func(msg any)
	latest []byte // the newest state seen, for Cache
	epoch  uint64
	// unannounced is set while a write of this node may have landed
	// without every node being told (run).
	unannounced bool
	// overflow holds the events (Do) that found reqs full, in order.
	overflow []request
	// joined is false while this node's last registration failed
	// (members.go).
	joined bool
	lease  lease
}

// request is one change to run on the shared state: a command, or an event
// (Do).
type request struct {
	op   func(t *reservation.Table) reservation.Outcome
	done func(reservation.Outcome)
	// event: from Do, never answered BUSY (queue).
	event bool
}

// Update is a change of the shared state, for the LUN actor: the new cached
// table, the unit attentions of this node's nexuses, whether this node's view
// is in doubt, and the acknowledgement the writer waits for.
type Update struct {
	// Table is this node's new cache, or nil if only UAs or Doubt changed.
	Table *reservation.Table
	UAs   []reservation.UA
	// Doubt is set while this node may have missed a change (lease.go): its
	// LUN then answers commands NOT READY. The Update with the highest Seq
	// tells the current value.
	Doubt bool
	seq   uint64
	once  sync.Once
	ack   func()
}

// Seq numbers the Updates of one store, so that the LUN takes Doubt from the
// newest one whatever order they arrive in.
func (u *Update) Seq() uint64 { return u.seq }

// Ack acknowledges the change to the writer, once. It does not block: the
// acknowledgement travels on the network from a goroutine of its own.
func (u *Update) Ack() {
	if u.ack == nil {
		return
	}
	u.once.Do(func() { go u.ack() })
}

// Open starts watching obj and reads the state in it, for the node whose
// relative target port is port. A state that cannot be read is an error: the
// logical unit is not served with reservations it cannot see.
func Open(obj Object, port uint16, log hclog.Logger) (*Store, error) {
	if port == 0 {
		port = 1
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	s := &Store{obj: obj, port: port, log: log, timeout: NotifyTimeout,
		reqs: make(chan request, maxQueued), done: make(chan struct{}), joined: true,
		lease: lease{every: RereadEvery, stale: StaleAfter, watching: true, kick: make(chan struct{}, 1)}}
	// Join, then watch, then read: a node is counted by every writer from
	// before it can have a cache (members.go), and no change falls between
	// the watch and the read.
	if err := obj.Join(port); err != nil {
		return nil, err
	}
	events, err := obj.Watch()
	if err != nil {
		return nil, err
	}
	read := time.Now()
	data, _, err := obj.Read()
	if err != nil {
		obj.Close()
		return nil, err
	}
	t, err := reservation.DecodeCluster(data)
	if err != nil {
		obj.Close()
		return nil, err
	}
	s.latest, s.epoch = data, t.Epoch()
	// From now on any call that meets the blocklist puts the node in doubt
	// (fenced.go).
	s.obj = fencedObject{Object: obj, fenced: func() { go s.suspect("this node's client was blocklisted", nil) }}
	s.startLease(read)
	go s.watchLoop(events)
	go s.proutLoop()
	if t.LegacyHeldThrough(port) {
		// Held by a nexus of this gateway's previous life, which is gone.
		s.Do(func(t *reservation.Table) {
			if t.LegacyHeldThrough(port) {
				t.Reset()
			}
		}, nil)
	}
	return s, nil
}

// Cache returns a cached table of the newest state this node has seen,
// for a LUN that starts or is rebuilt.
func (s *Store) Cache() *reservation.Table {
	s.mu.Lock()
	data := s.latest
	s.mu.Unlock()
	t, err := reservation.DecodeCluster(data)
	if err != nil {
		// latest was decoded before it was kept.
		panic(err)
	}
	return t.AsCache(s.port)
}

// NotifyWait is how long a change waits for every node's acknowledgement
// (NotifyTimeout unless SetNotifyWait changed it); a node's LUN holds new
// commands back for at most as long.
func (s *Store) NotifyWait() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.timeout
}

// SetNotifyWait sets NotifyWait, for tests (and clusters whose gateways need
// longer to finish what they admitted).
func (s *Store) SetNotifyWait(d time.Duration) {
	s.mu.Lock()
	s.timeout = d
	s.mu.Unlock()
}

// Port is the relative target port of this node.
func (s *Store) Port() uint16 { return s.port }

// Attach makes send the way Updates reach the LUN actor (its mailbox), and
// sends the newest state at once, so that a LUN that starts after changes
// catches up.
func (s *Store) Attach(send func(msg any)) {
	t := s.Cache()
	s.mu.Lock()
	s.send = send
	u := s.updateLocked(t, nil)
	s.mu.Unlock()
	send(u)
}

// Submit queues a PERSISTENT RESERVE OUT from nexus n; done is called from
// the store's goroutine with the outcome once the change is stored and
// every node has acknowledged it. It never blocks.
func (s *Store) Submit(n reservation.Nexus, cdb, param []byte, done func(reservation.Outcome)) {
	if n.RelativeTargetPort == 0 {
		n.RelativeTargetPort = s.port
	}
	s.queue(request{op: func(t *reservation.Table) reservation.Outcome {
		out, _ := t.Execute(n, cdb, param)
		return out
	}, done: done})
}

// Do runs op on the shared state as Submit runs a command: for the changes
// events make (an I_T nexus lost, a reset releasing a RESERVE(6)/(10)
// reservation). done, if not nil, is called once every node has taken it.
// It never blocks.
func (s *Store) Do(op func(t *reservation.Table), done func(reservation.Outcome)) {
	if done == nil {
		done = func(reservation.Outcome) {}
	}
	s.queue(request{op: func(t *reservation.Table) reservation.Outcome {
		op(t)
		return reservation.Outcome{Status: scsi.StatusGood}
	}, done: done, event: true})
}

func (s *Store) queue(r request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		r.done(failed())
		return
	}
	if len(s.overflow) > 0 {
		// Behind the events that wait: in order, and full to commands.
		if r.event {
			s.overflow = append(s.overflow, r)
		} else {
			r.done(reservation.Outcome{Status: scsi.StatusBusy})
		}
		return
	}
	select {
	case s.reqs <- r:
	default:
		if r.event {
			// An event's change has no initiator to retry it (a lost
			// nexus's release would be dropped for good): it waits
			// beside the full queue, and runs after what is queued.
			s.overflow = append(s.overflow, r)
			return
		}
		r.done(reservation.Outcome{Status: scsi.StatusBusy})
	}
}

// nextOverflow takes the oldest event that found the queue full, if the
// queue has room for nothing else queued before it.
func (s *Store) nextOverflow() (request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.overflow) == 0 || len(s.reqs) > 0 {
		return request{}, false
	}
	r := s.overflow[0]
	s.overflow = s.overflow[1:]
	return r, true
}

// Close stops watching and answers what is still queued. It does not block:
// the watch is released on the network from a goroutine, so a LUN actor may
// call it as it stops.
func (s *Store) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.reqs)
	close(s.done)
	if s.lease.timer != nil {
		s.lease.timer.Stop()
	}
	s.mu.Unlock()
	go func() {
		// A node that stops serving is no member any more.
		if err := s.obj.Forget(s.port, nil); err != nil {
			s.log.Warn("persistent reservations: removing this node's registration failed", "error", err)
		}
		s.obj.Close()
	}()
}

// failed is the answer to a PROUT the store could not carry out.
func failed() reservation.Outcome {
	return reservation.Outcome{Status: scsi.StatusCheckCondition,
		Sense: scsi.AppendSense(nil, scsi.InternalTargetFailure())}
}

func (s *Store) proutLoop() {
	for r := range s.reqs {
		r.done(s.run(r))
		for {
			o, ok := s.nextOverflow()
			if !ok {
				break
			}
			o.done(s.run(o))
		}
	}
	// Closed: the events still waiting are answered as failed.
	s.mu.Lock()
	rest := s.overflow
	s.overflow = nil
	s.mu.Unlock()
	for _, r := range rest {
		r.done(failed())
	}
}

// run carries out one change: read, run, compare-and-swap, notify.
func (s *Store) run(r request) reservation.Outcome {
	for range maxRaces {
		data, version, err := s.obj.Read()
		if err != nil {
			s.log.Error("persistent reservations: reading the shared state failed", "error", err)
			return failed()
		}
		t, err := reservation.DecodeCluster(data)
		if err != nil {
			s.log.Error("persistent reservations: the shared state is corrupt", "error", err)
			return failed()
		}
		before := t.EncodeCluster(t.Epoch())
		out := r.op(t)
		if bytes.Equal(before, t.EncodeCluster(t.Epoch())) {
			// Nothing to write. But the state may be one that no node was
			// told of: this node's own write that reported an error and
			// landed all the same, or any this node has not seen. A retry
			// finding its change made must leave every node knowing it.
			if s.unseen(t.Epoch()) {
				s.announce(t.Epoch(), data, nil, time.Now())
			}
			return out
		}
		epoch := nextEpoch(t.Epoch())
		state := t.EncodeCluster(epoch)
		if err := s.obj.Write(state, version); errors.Is(err, ErrRaced) {
			continue
		} else if err != nil && !s.landed(state) {
			// It may still land later (an OSD applying an op the client
			// gave up on): the next PROUT announces it, and every node
			// rereads within RereadEvery anyway.
			s.log.Error("persistent reservations: writing the shared state failed", "error", err)
			s.mu.Lock()
			s.unannounced = true
			s.mu.Unlock()
			s.kickReread()
			return failed()
		} else if err != nil {
			s.log.Warn("persistent reservations: a write reported an error but landed", "epoch", epoch, "error", err)
		}
		written := time.Now()
		s.keep(state, epoch)
		s.announce(epoch, state, out.UAs, written)
		out.UAs = nil // raised by each node from the notification
		return out
	}
	s.log.Warn("persistent reservations: a PROUT lost the race too often; answered BUSY")
	return reservation.Outcome{Status: scsi.StatusBusy}
}

// nextEpoch numbers the write after one numbered prev: above it, and above
// the clock in nanoseconds, so that an object removed and written anew
// still carries states newer than the ones the nodes cached from before.
func nextEpoch(prev uint64) uint64 {
	return max(prev+1, uint64(time.Now().UnixNano()))
}

// keep remembers state if it is newer than the newest seen.
func (s *Store) keep(state []byte, epoch uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if epoch > s.epoch {
		s.latest, s.epoch = state, epoch
	}
}

// notice is the payload of a notification: the new state and the unit
// attentions it raises.
type notice struct {
	Epoch uint64          `json:"epoch"`
	State json.RawMessage `json:"state"`
	UAs   []noticeUA      `json:"uas,omitempty"`
}

type noticeUA struct {
	Nexus string `json:"nexus"`
	Port  uint16 `json:"port"`
	ASC   uint8  `json:"asc"`
	ASCQ  uint8  `json:"ascq"`
}

func encodeNotice(epoch uint64, state []byte, uas []reservation.UA) []byte {
	n := notice{Epoch: epoch, State: bytes.TrimSpace(state)}
	for _, ua := range uas {
		n.UAs = append(n.UAs, noticeUA{Nexus: ua.Nexus, Port: ua.Port, ASC: ua.Sense.ASC, ASCQ: ua.Sense.ASCQ})
	}
	b, err := json.Marshal(&n)
	if err != nil {
		panic(err) // plain types: cannot fail
	}
	return b
}

// watchLoop hands every notification to the LUN and restores a lost watch.
func (s *Store) watchLoop(events <-chan Event) {
	for {
		var lost error = errors.New("the watch ended")
		for ev := range events {
			if ev.Err != nil {
				lost = ev.Err
				break
			}
			s.deliver(ev)
		}
		// Lost, or ended with its client (one replaced after a blocklist):
		// notifications are missed until it is back and the object reread.
		select {
		case <-s.done:
			return
		default:
		}
		s.log.Warn("persistent reservations: watch lost; watching again", "error", lost)
		s.mu.Lock()
		s.lease.watching = false
		s.mu.Unlock()
		s.suspect("the watch was lost", nil)
		events = s.rewatch()
		if events == nil {
			return
		}
	}
}

// rewatch watches again until it works or the store closes, then rereads
// the object, since notifications may have been missed meanwhile (their
// unit attentions are lost; the state is not). It returns nil once closed.
func (s *Store) rewatch() <-chan Event {
	for {
		select {
		case <-s.done:
			return nil
		default:
		}
		events, err := s.obj.Watch()
		if err == nil {
			// On the client the watch is on, whose address may be new;
			// before the reread that ends the doubt.
			s.join()
			s.mu.Lock()
			s.lease.watching = true
			s.mu.Unlock()
			if !s.reread() {
				s.kickReread() // the periodic reread goes on trying
			}
			return events
		}
		s.log.Warn("persistent reservations: watching the shared state failed", "error", err)
		select {
		case <-s.done:
			return nil
		case <-time.After(rewatchEvery):
		}
	}
}

// deliver turns a notification into an Update for the LUN. One it cannot
// read puts the node in doubt and is acknowledged only once a reread has
// brought the state: acknowledging it with the old cache would have the
// writer count this node as up to date.
func (s *Store) deliver(ev Event) {
	var n notice
	if err := json.Unmarshal(ev.Data, &n); err != nil {
		s.suspect("an unreadable notification", ev.Ack)
		return
	}
	t, err := reservation.DecodeCluster(n.State)
	if err != nil {
		s.suspect("an unreadable state in a notification: "+err.Error(), ev.Ack)
		return
	}
	var uas []reservation.UA
	// Unit attentions of an older change are still news; only the state
	// must not go back.
	for _, ua := range n.UAs {
		if ua.Port == 0 || ua.Port == s.port {
			uas = append(uas, reservation.UA{Nexus: ua.Nexus, Port: ua.Port,
				Sense: &scsi.SenseError{Key: scsi.SenseUnitAttention, ASC: ua.ASC, ASCQ: ua.ASCQ}})
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n.Epoch > s.epoch {
		s.latest, s.epoch = n.State, n.Epoch
	}
	// The LUN installs it only if it is newer than its cache.
	u := s.updateLocked(t.AsCache(s.port), []func(){ev.Ack})
	u.UAs = uas
	// Sent under mu, as reread sends: once the epoch above is recorded, a reread
	// finds nothing newer and only renews the lease, so the LUN's lease gate must
	// have seen this Update go out before that renewal can (lun/lease.go), or a
	// process paused between the two would run commands on the old cache under a
	// fresh lease. send never blocks.
	if s.send != nil {
		s.send(u)
	} else {
		u.Ack()
	}
}

// toLUN sends u to the attached LUN, or acknowledges it if none is.
func (s *Store) toLUN(u *Update) {
	s.mu.Lock()
	send := s.send
	s.mu.Unlock()
	if send == nil {
		u.Ack()
		return
	}
	send(u)
}
