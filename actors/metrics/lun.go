package metrics

import (
	"strconv"
	"sync/atomic"

	"github.com/atgt/atgt/backend/faults"
)

// LUN holds one logical unit's counters: the LUN actor and each IO worker write
// their own Shard, and a scrape sums them. It is made when the LUN is opened and
// given to the LUN actor's config; nil turns counting off.
type LUN struct {
	// The labels the LUN is reported under.
	target, initiator, id string
	shards                []Shard
	faults                *faults.Injector
	// peak is the most tasks the LUN actor held at once since the last TakePeak.
	peak atomic.Int64
	// down is set while the LUN serves no IO: its store is missing, or its actor
	// failed too often (atgt_lun_online 0).
	down atomic.Bool
}

// SetOnline records whether the LUN serves its store (atgt_lun_online), so that an
// alert fires on a LUN that answers NOT READY to everything.
func (l *LUN) SetOnline(on bool) {
	if l != nil {
		l.down.Store(!on)
	}
}

// Online reports what SetOnline last recorded (true until then).
func (l *LUN) Online() bool { return l == nil || !l.down.Load() }

// NotePeak records that the LUN holds n tasks now (the LUN actor, after each
// arrival), for TakePeak. One writer: a load and, rarely, a store.
func (l *LUN) NotePeak(n int64) {
	if l != nil && n > l.peak.Load() {
		l.peak.Store(n)
	}
}

// TakePeak returns the most tasks the LUN held at once since the last TakePeak, and
// starts over: what the admin API reports as in flight, since the count at the
// instant of a call is nearly always 0 on a LUN whose initiator is slower than the
// target (the call runs when the pipeline is idle), however busy it is.
func (l *LUN) TakePeak() int64 {
	if l == nil {
		return 0
	}
	return l.peak.Swap(0)
}

// NewLUN returns the counters of LUN id of target (initiator: "" for a LUN every
// initiator of the target sees, else the initiator whose own LUN it is), with one
// shard for the LUN actor and one per IO worker, so that none is shared by two
// busy writers. inj, if not nil, is the LUN's fault injector, whose firings are
// reported as atgt_lun_faults_injected_total.
func NewLUN(target, initiator string, id uint64, workers int, inj *faults.Injector) *LUN {
	return &LUN{target: target, initiator: initiator, id: strconv.FormatUint(id, 10),
		shards: make([]Shard, max(workers, 1)+1), faults: inj}
}

// Shard returns the LUN actor's shard for i = 0 and IO worker slot i-1's for
// i > 0 (wrapping, should the pool be larger than the LUN was told). A worker that
// replaces an abandoned one shares its slot's shard, which stays correct (every
// counter is atomic) and happens rarely. On a nil LUN it returns nil.
func (l *LUN) Shard(i int) *Shard {
	if l == nil {
		return nil
	}
	return &l.shards[i%len(l.shards)]
}

// Shard is one writer's counters of a LUN. Only atomic adds, no locks: the
// scrape reads it while its writer goes on.
type Shard struct {
	// arrived counts tasks that reached the LUN actor; tasks in flight are those
	// arrived and not yet completed, summed over the shards.
	arrived atomic.Uint64
	// restarts counts IO workers restarted after a panic, abandoned the backend
	// calls the watchdog gave up on.
	restarts, abandoned atomic.Uint64
	// aborted counts tasks ended by task management (ABORT TASK and the like, or
	// the loss of their I_T nexus): their answer is suppressed, so they are
	// neither commands with a latency nor errors, but they complete an arrival.
	aborted atomic.Uint64
	kinds   [numKinds]kindCounters
	errors  [numErrClasses]atomic.Uint64
	// pad keeps the next shard's counters off this one's cache line.
	_ [64]byte
}

// kindCounters are the counters of one command kind: the latency histogram,
// whose total count is the number of commands, the latency sum and the bytes.
type kindCounters struct {
	buckets  [numBuckets]atomic.Uint64
	sumNanos atomic.Uint64
	bytes    atomic.Uint64
}

// Arrive counts a task that reached the LUN actor and returns its arrival stamp
// (Now), which its completion passes to Complete; 0 on a nil shard.
func (s *Shard) Arrive() int64 {
	if s == nil {
		return 0
	}
	s.arrived.Add(1)
	return Now()
}

// Complete counts a command that ended at now (Now) after arriving at arrived:
// its kind, latency and bytes, and, unless status is GOOD or CONDITION MET, its
// error class (the sense key of CHECK CONDITION, else the status). bytes is what
// the command moved (see the README's Metrics section).
func (s *Shard) Complete(kind Kind, arrived, now int64, status uint8, sense []byte, bytes uint64) {
	if s == nil {
		return
	}
	if kind >= numKinds {
		kind = KindOther
	}
	k := &s.kinds[kind]
	d := max(now-arrived, 0)
	k.buckets[bucketOf(d)].Add(1)
	k.sumNanos.Add(uint64(d))
	if bytes != 0 {
		k.bytes.Add(bytes)
	}
	if status != 0 {
		if c := errClass(status, sense); c >= 0 {
			s.errors[c].Add(1)
		}
	}
}

// Aborted counts a task ended by task management instead of Complete.
func (s *Shard) Aborted() {
	if s != nil {
		s.aborted.Add(1)
	}
}

// WorkerRestarted counts an IO worker restarted after it failed.
func (s *Shard) WorkerRestarted() {
	if s != nil {
		s.restarts.Add(1)
	}
}

// Abandoned counts a backend call the LUN gave up on (the watchdog's timeout, or a
// task management function whose grace ran out).
func (s *Shard) Abandoned() {
	if s != nil {
		s.abandoned.Add(1)
	}
}

// lunTotals is a LUN's shards summed, as a scrape sees them.
type lunTotals struct {
	arrived, completed, restarts, abandoned uint64
	aborted                                 uint64
	buckets                                 [numKinds][numBuckets]uint64
	sumNanos, bytes, commands               [numKinds]uint64
	errors                                  [numErrClasses]uint64
}

// totals sums the shards. Completions are read before arrivals, so that tasks in
// flight are never negative: every completion read was an arrival before it.
func (l *LUN) totals() *lunTotals {
	t := &lunTotals{}
	for i := range l.shards {
		s := &l.shards[i]
		for k := range s.kinds {
			kc := &s.kinds[k]
			for b := range kc.buckets {
				n := kc.buckets[b].Load()
				t.buckets[k][b] += n
				t.commands[k] += n
			}
			t.sumNanos[k] += kc.sumNanos.Load()
			t.bytes[k] += kc.bytes.Load()
		}
		for c := range s.errors {
			t.errors[c] += s.errors[c].Load()
		}
		t.restarts += s.restarts.Load()
		t.abandoned += s.abandoned.Load()
		t.aborted += s.aborted.Load()
	}
	t.completed = t.aborted
	for _, n := range t.commands {
		t.completed += n
	}
	for i := range l.shards {
		t.arrived += l.shards[i].arrived.Load()
	}
	return t
}

// Snapshot is a LUN's counters summed, for the admin API's stats.
type Snapshot struct {
	Reads, Writes, Other      uint64
	BytesRead, BytesWritten   uint64
	Errors, InFlight          uint64
	WorkerRestarts, Abandoned uint64
}

// Snapshot sums the LUN's shards now.
func (l *LUN) Snapshot() Snapshot {
	t := l.totals()
	s := Snapshot{Reads: t.commands[KindRead], Writes: t.commands[KindWrite], BytesRead: t.bytes[KindRead],
		BytesWritten: t.bytes[KindWrite], WorkerRestarts: t.restarts, Abandoned: t.abandoned}
	for k := range numKinds {
		if k != KindRead && k != KindWrite {
			s.Other += t.commands[k]
		}
	}
	for _, n := range t.errors {
		s.Errors += n
	}
	if t.arrived > t.completed {
		s.InFlight = t.arrived - t.completed
	}
	return s
}
