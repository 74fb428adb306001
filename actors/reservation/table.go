package reservation

import (
	"time"

	"github.com/atgt/atgt/messages/scsi"
)

// MaxRegistrations bounds the registrations of one logical unit. Keys and
// nexus names come from initiators, so the table must not grow without
// limit; a further REGISTER gets INSUFFICIENT REGISTRATION RESOURCES.
const MaxRegistrations = 256

// Persistent reservation types (SPC-4 table 170), the TYPE field of
// PERSISTENT RESERVE OUT.
const (
	TypeWriteExclusive                 = 0x1
	TypeExclusiveAccess                = 0x3
	TypeWriteExclusiveRegistrantsOnly  = 0x5
	TypeExclusiveAccessRegistrantsOnly = 0x6
	TypeWriteExclusiveAllRegistrants   = 0x7
	TypeExclusiveAccessAllRegistrants  = 0x8
)

// validType reports whether t is a reservation type this target implements
// (all of them).
func validType(t uint8) bool {
	switch t {
	case TypeWriteExclusive, TypeExclusiveAccess,
		TypeWriteExclusiveRegistrantsOnly, TypeExclusiveAccessRegistrantsOnly,
		TypeWriteExclusiveAllRegistrants, TypeExclusiveAccessAllRegistrants:
		return true
	}
	return false
}

// allRegistrants types make every registered I_T nexus a holder.
func allRegistrants(t uint8) bool {
	return t == TypeWriteExclusiveAllRegistrants || t == TypeExclusiveAccessAllRegistrants
}

// registrantsOnly types admit every registered I_T nexus, but only the one
// that reserved is the holder.
func registrantsOnly(t uint8) bool {
	return t == TypeWriteExclusiveRegistrantsOnly || t == TypeExclusiveAccessRegistrantsOnly
}

// writeExclusive types still let non-members read.
func writeExclusive(t uint8) bool {
	return t == TypeWriteExclusive || t == TypeWriteExclusiveRegistrantsOnly ||
		t == TypeWriteExclusiveAllRegistrants
}

// Nexus identifies the I_T nexus a command arrived on.
type Nexus struct {
	// ID is the initiator port name, "iqn.…,i,0x<ISID>", exactly as the
	// LUN uses it for unit attentions; it is also what READ FULL STATUS
	// reports as the iSCSI TransportID.
	ID string
	// RelativeTargetPort is the relative target port identifier of the
	// target port the nexus uses; 0 means 1, the only port atgt has.
	RelativeTargetPort uint16
}

func (n Nexus) port() uint16 {
	if n.RelativeTargetPort == 0 {
		return 1
	}
	return n.RelativeTargetPort
}

// UA is a unit attention the LUN must establish for another I_T nexus
// (scsidev.Device.AddUnitAttention).
type UA struct {
	Nexus string
	Sense *scsi.SenseError
	// Port is the relative target port of the I_T nexus, so that with a
	// cluster store only the node serving that port raises it; 0 means
	// every port (a local table, or an ALL_TG_PT registration).
	Port uint16
}

// Outcome is the result of a reservation command.
type Outcome struct {
	// Status is the SCSI status; Sense is set for CHECK CONDITION.
	Status uint8
	Sense  []byte
	// Data is the data-in, already cut to the allocation length.
	Data []byte
	// UAs are unit attentions to establish on other I_T nexuses.
	UAs []UA
	// Abort lists the I_T nexuses whose tasks PREEMPT AND ABORT aborts
	// (not the PERSISTENT RESERVE OUT command itself, which completes).
	// The LUN does not act on it: it runs PREEMPT AND ABORT as an ORDERED
	// task instead (lun/ordering.go), so the victims' earlier tasks complete
	// before it is answered rather than being aborted; none reaches the
	// medium after it, which is what fencing needs.
	Abort []string
	// Cluster is set by a cluster cache table (cluster.go) for the commands
	// that change reservations (PERSISTENT RESERVE OUT, RESERVE, RELEASE):
	// the cluster store must run them against the shared state, not here.
	Cluster bool
	// Persist, when non-nil, is a state snapshot an IO worker must write
	// with WriteStateFile before the command is answered: the command
	// changed state that APTPL makes survive a restart. The change and UAs
	// stand only once it is written: the caller reports the save's end with
	// Table.Saved and raises UAs only if it succeeded.
	Persist []byte
}

// registration is one registered I_T nexus.
type registration struct {
	nexus string
	key   uint64
	// allTG records the ALL_TG_PT bit of the REGISTER that created it.
	allTG bool
	rtp   uint16
}

// reservation is the persistent reservation, if any.
type reservation struct {
	// holder is the I_T nexus that holds it; for all-registrants types
	// every registrant is a holder and holder only records who reserved.
	holder string
	typ    uint8
}

// Table is the reservation state of one logical unit. It is not safe for
// concurrent use: the LUN actor that owns it calls it one command at a time.
type Table struct {
	// legacy is the I_T nexus holding a RESERVE(6)/(10) reservation, or "".
	legacy string
	// regs are the persistent reservation registrations, oldest first so
	// that READ KEYS lists them in a stable order.
	regs []*registration
	res  *reservation
	// generation is the PRgeneration counter (SPC-4 6.16.2).
	generation uint32
	// aptpl is the most recently received valid APTPL bit.
	aptpl bool
	// seq numbers the snapshots so a stale one never overwrites a newer
	// one on disk.
	seq uint64
	// cl is set for a table whose state lives in a cluster store
	// (cluster.go); nil for the local table.
	cl *clusterMode
	// guard is the state from before the command running inside Execute,
	// for Recovered; nil between commands (guard.go).
	guard *Table
	// unsaved is the state from before the last change whose snapshot
	// (Outcome.Persist) is being written, for Saved; nil when none is
	// (unsaved.go).
	unsaved *Table
}

// New returns an empty table: no reservations, no registrations.
func New() *Table {
	// Snapshot numbers start from the clock so a table created after a
	// restart still writes newer snapshots than any an earlier run left.
	return &Table{seq: uint64(time.Now().UnixNano())}
}

// find returns the registration of nexus, or nil.
func (t *Table) find(nexus string) *registration {
	for _, r := range t.regs {
		if r.nexus == nexus {
			return r
		}
	}
	return nil
}

// member reports whether nexus may access the logical unit as the
// reservation allows its holders: the holder of a Write Exclusive or
// Exclusive Access reservation, any registrant for the registrants-only and
// all-registrants types.
func (t *Table) member(nexus string) bool {
	if t.res == nil {
		return false
	}
	if registrantsOnly(t.res.typ) || allRegistrants(t.res.typ) {
		return t.find(nexus) != nil
	}
	return t.res.holder == nexus
}

// holder reports whether nexus is a persistent reservation holder (SPC-4
// 5.13.10): for all-registrants types every registrant.
func (t *Table) holder(nexus string) bool {
	if t.res == nil {
		return false
	}
	if allRegistrants(t.res.typ) {
		return t.find(nexus) != nil
	}
	return t.res.holder == nexus
}

// holderKey is the key READ RESERVATION reports: the holder's key, or 0 for
// all-registrants types (SPC-4 6.16.3.3).
func (t *Table) holderKey() uint64 {
	if t.res == nil || allRegistrants(t.res.typ) {
		return 0
	}
	if r := t.find(t.res.holder); r != nil {
		return r.key
	}
	return 0
}

// hasPR reports whether any persistent reservation state exists, which
// changes how RESERVE and RELEASE behave (SPC-4 5.13.3).
func (t *Table) hasPR() bool {
	return len(t.regs) > 0 || t.res != nil
}

// remove drops the registration of nexus and releases the reservation
// it held as unregistering requires (SPC-4 5.13.11.2.3), returning the unit
// attentions that raises.
func (t *Table) remove(nexus string) []UA {
	for i, r := range t.regs {
		if r.nexus == nexus {
			t.regs = append(t.regs[:i], t.regs[i+1:]...)
			break
		}
	}
	if t.res == nil {
		return nil
	}
	if allRegistrants(t.res.typ) {
		// The reservation lasts while any registrant is left.
		if len(t.regs) == 0 {
			t.res = nil
		}
		return nil
	}
	if t.res.holder != nexus {
		return nil
	}
	typ := t.res.typ
	t.res = nil
	if registrantsOnly(typ) {
		return t.uaToRegistrants(nexus, reservationsReleased)
	}
	return nil
}

// uaToRegistrants builds unit attention e for every registered I_T nexus
// except except.
func (t *Table) uaToRegistrants(except string, e func() *scsi.SenseError) []UA {
	var uas []UA
	for _, r := range t.regs {
		if r.nexus != except {
			uas = append(uas, UA{Nexus: r.nexus, Sense: e()})
		}
	}
	return uas
}

// NexusLost handles I_T nexus loss: a RESERVE(6)/(10) reservation held by
// n is released; persistent reservations are unaffected (SPC-4 5.13.1).
func (t *Table) NexusLost(n Nexus) {
	if t.legacy == t.canon(n).ID {
		t.legacy = ""
	}
}

// Reset handles a logical unit reset (LOGICAL UNIT RESET, TARGET WARM or
// COLD RESET): it releases the RESERVE(6)/(10) reservation; persistent
// reservations survive resets.
func (t *Table) Reset() {
	t.legacy = ""
}
