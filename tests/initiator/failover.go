package initiator

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/atgt/atgt/messages/scsi"
)

// Failover is one logical unit reached through several portals (gateway nodes of one
// target, each its own ALUA port group), used one at a time as a multipath initiator
// in failover mode does: when the connection in use ends or a command gets no answer
// in time, it logs in through the next portal and issues again every command that
// had not been answered. A command is answered at most once to its caller, so a
// write the caller saw acknowledged was acknowledged by some node.
//
// Commands are re-issued as they are; that is safe for the idempotent reads and
// writes the failover tests send (a write issued twice writes the same data).
type Failover struct {
	// Portals are tried in order, starting with the first.
	Portals []string
	// Opts are the session options for every portal (a new ISID per portal: each
	// path is its own I_T nexus, as with dm-multipath).
	Opts Options
	// Within bounds how long a command may take in all, failovers included: longer
	// than the target's failover time.
	Within time.Duration

	mu       sync.Mutex
	cur      *Session
	idx      int
	switches []Switch
}

// Switch records one failover: when the path in use failed, when a session through
// the next portal was up, and that portal.
type Switch struct {
	Failed, Up time.Time
	Portal     string
}

// DialFailover logs in through the first portal that accepts.
func DialFailover(portals []string, o Options, within time.Duration) (*Failover, error) {
	f := &Failover{Portals: portals, Opts: o, Within: within, idx: -1}
	if _, err := f.session(nil, time.Now().Add(within)); err != nil {
		return nil, err
	}
	return f, nil
}

// Switches returns the failovers so far.
func (f *Failover) Switches() []Switch {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Switch(nil), f.switches...)
}

// Portal is the portal in use.
func (f *Failover) Portal() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.idx < 0 {
		return ""
	}
	return f.Portals[f.idx]
}

// Close ends the session in use.
func (f *Failover) Close() {
	f.mu.Lock()
	s := f.cur
	f.cur = nil
	f.mu.Unlock()
	if s != nil {
		s.Close()
	}
}

// SwitchTo drops the session in use and logs in through portal i (a fail back, or a
// test moving IO between nodes); commands in flight are issued again there.
func (f *Failover) SwitchTo(i int) error {
	f.mu.Lock()
	old := f.cur
	f.cur, f.idx = nil, i-1
	f.mu.Unlock()
	if old != nil {
		old.Close()
	}
	_, err := f.session(nil, time.Now().Add(f.Within))
	return err
}

// session returns the session in use. failed is a session the
// caller saw fail: if it is still the one in use, it is dropped and the next portals
// are tried, round and round, until one logs in or the deadline passes.
func (f *Failover) session(failed *Session, deadline time.Time) (*Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur != nil && f.cur != failed {
		return f.cur, nil
	}
	failedAt := time.Now()
	if f.cur != nil {
		f.cur.Close()
		f.cur = nil
	}
	var last error
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		i := (f.idx + 1 + attempt) % len(f.Portals)
		o := f.Opts
		o.ISID[5] ^= byte(i + 1)
		s, err := Dial(f.Portals[i], o)
		if err != nil {
			last = err
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if f.idx >= 0 {
			f.switches = append(f.switches, Switch{Failed: failedAt, Up: time.Now(), Portal: f.Portals[i]})
		}
		f.cur, f.idx = s, i
		return s, nil
	}
	return nil, fmt.Errorf("initiator: no portal of %v logged in: %w", f.Portals, last)
}

// Command runs one command through the portal in use, failing over and issuing it
// again until it is answered with a status other than the transient ones (UNIT
// ATTENTION, NOT READY while a state transition is under way, BUSY, TASK SET FULL)
// or Within has passed. NOT READY, TARGET PORT IN UNAVAILABLE STATE fails the path
// over, as a lost connection does. Its result is the final answer; a non-GOOD one comes back
// as *SCSIError, as from Session's helpers.
func (f *Failover) Command(lun uint64, cdb, dataOut []byte, readLen uint32) (*Result, error) {
	deadline := time.Now().Add(f.Within)
	var s *Session
	for {
		ns, err := f.session(s, deadline)
		if err != nil {
			return nil, err
		}
		s = ns
		r, err := s.Command(lun, cdb, dataOut, readLen)
		if time.Now().After(deadline) {
			if err == nil {
				return check(r, nil)
			}
			return nil, fmt.Errorf("initiator: failover: no answer within %v: %w", f.Within, err)
		}
		if err != nil {
			if errors.Is(err, ErrClosed) || errors.Is(err, ErrTimeout) || s.Err() != nil {
				continue // the path failed: next portal, same command
			}
			return nil, err
		}
		if transient(r) {
			time.Sleep(20 * time.Millisecond)
			s = nil
			continue
		}
		if pathUnavailable(r) {
			time.Sleep(20 * time.Millisecond)
			continue // as a dead path: next portal, same command
		}
		return check(r, nil)
	}
}

// pathUnavailable reports NOT READY, TARGET PORT IN UNAVAILABLE STATE (04/0C): the
// port cannot serve the logical unit, another may; a multipath initiator fails the
// path and sends the command through another (Linux: a path error).
func pathUnavailable(r *Result) bool {
	if r.Status != scsi.StatusCheckCondition {
		return false
	}
	key, asc, ascq := parseSense(r.Sense)
	return key == scsi.SenseNotReady && asc == 0x04 && ascq == 0x0C
}

// transient reports an answer that a multipath initiator retries: a unit attention
// (a new path's power on, an ALUA state change), NOT READY because a transition or a
// takeover is under way, BUSY and TASK SET FULL.
func transient(r *Result) bool {
	switch r.Status {
	case scsi.StatusBusy, scsi.StatusTaskSetFull:
		return true
	case scsi.StatusCheckCondition:
		key, asc, ascq := parseSense(r.Sense)
		return key == scsi.SenseUnitAttention || (key == scsi.SenseNotReady && asc == 0x04 && (ascq == 0x0A || ascq == 0x01))
	}
	return false
}
