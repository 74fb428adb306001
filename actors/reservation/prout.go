package reservation

import (
	"encoding/binary"

	"github.com/atgt/atgt/messages/scsi"
)

// PERSISTENT RESERVE OUT service actions (SPC-4 6.17.2).
const (
	SARegister               = 0x00
	SAReserve                = 0x01
	SARelease                = 0x02
	SAClear                  = 0x03
	SAPreempt                = 0x04
	SAPreemptAndAbort        = 0x05
	SARegisterAndIgnore      = 0x06
	SARegisterAndMove        = 0x07
	basicParamLen            = 24 // the basic parameter list (6.17.3)
	scopeLU                  = 0x0
	paramServiceActionKeyOff = 8
)

// proutParams is the basic PERSISTENT RESERVE OUT parameter list.
type proutParams struct {
	key, saKey          uint64
	specIPT, allTG, apt bool
}

// proutCDB is the decoded PERSISTENT RESERVE OUT CDB.
type proutCDB struct {
	sa, scope, typ uint8
}

// persistentReserveOut runs PERSISTENT RESERVE OUT; the CDB is 10 bytes
// and the legacy-reservation conflict is already checked.
func (t *Table) persistentReserveOut(n Nexus, cdb []byte, param []byte) Outcome {
	c := proutCDB{sa: cdb[1] & 0x1F, scope: cdb[2] >> 4, typ: cdb[2] & 0x0F}
	if c.sa > SARegisterAndMove {
		return checkCondition(scsi.InvalidFieldInCDB(1, 4))
	}
	plen := binary.BigEndian.Uint32(cdb[5:9])
	// The list must be as long as the CDB says, and the data-out must
	// hold it all.
	if plen < basicParamLen || uint64(len(param)) < uint64(plen) {
		return checkCondition(scsi.ParameterListLengthError())
	}
	param = param[:plen]
	if c.sa == SARegisterAndMove {
		return t.registerAndMove(n, param)
	}
	p := proutParams{
		key:     binary.BigEndian.Uint64(param[0:8]),
		saKey:   binary.BigEndian.Uint64(param[8:16]),
		specIPT: param[20]&0x08 != 0,
		allTG:   param[20]&0x04 != 0,
		apt:     param[20]&0x01 != 0,
	}
	if p.specIPT {
		// SPC-4 6.17.3: SPEC_I_PT=1 with any service action but REGISTER is
		// ILLEGAL REQUEST, INVALID FIELD IN PARAMETER LIST; and SIP_C is 0 in
		// REPORT CAPABILITIES, so REGISTER refuses it too. (REGISTER AND MOVE
		// has its own list, without the bit.)
		return checkCondition(scsi.InvalidFieldInParamList(20, 3))
	}
	if plen != basicParamLen {
		return checkCondition(scsi.ParameterListLengthError())
	}
	wasAPTPL := t.aptpl
	var out Outcome
	var changed bool
	switch c.sa {
	case SARegister, SARegisterAndIgnore:
		out, changed = t.register(n, c, p)
	case SAReserve:
		out, changed = t.reserve(n, c, p)
	case SARelease:
		out, changed = t.release(n, c, p)
	case SAClear:
		out, changed = t.clear(n, p)
	default:
		out, changed = t.preempt(n, c, p)
	}
	if changed && (wasAPTPL || t.aptpl) {
		out.Persist = t.snapshot()
	}
	return out
}

// checkTypeScope validates SCOPE and TYPE where a reservation is made.
func checkTypeScope(c proutCDB) *scsi.SenseError {
	if c.scope != scopeLU {
		return scsi.InvalidFieldInCDB(2, 7)
	}
	if !validType(c.typ) {
		return scsi.InvalidFieldInCDB(2, 3)
	}
	return nil
}

// register runs REGISTER and REGISTER AND IGNORE EXISTING KEY (SPC-4
// 5.13.7). changed reports whether the state changed.
func (t *Table) register(n Nexus, c proutCDB, p proutParams) (Outcome, bool) {
	r := t.find(n.ID)
	if r == nil {
		if c.sa == SARegister && p.key != 0 {
			return conflict(), false
		}
		if p.saKey == 0 {
			// Unregistering what is not registered: GOOD, no change.
			return good(nil), false
		}
		if len(t.regs) >= MaxRegistrations {
			return checkCondition(insufficientRegistrationResources()), false
		}
		id := n.ID
		if p.allTG {
			id = t.allPortsIdent(n)
		}
		t.regs = append(t.regs, &registration{nexus: id, key: p.saKey, allTG: p.allTG, rtp: n.port()})
		t.aptpl = p.apt
		t.generation++
		return good(nil), true
	}
	if c.sa == SARegister && p.key != r.key {
		return conflict(), false
	}
	out := good(nil)
	if p.saKey == 0 {
		out.UAs = t.remove(n.ID)
	} else {
		r.key = p.saKey
		t.aptpl = p.apt
	}
	t.generation++
	return out, true
}

// registered returns the registration of n if its key is key; a nil
// result means RESERVATION CONFLICT (SPC-4 5.13.4 and table 171).
func (t *Table) registered(n Nexus, key uint64) *registration {
	r := t.find(n.ID)
	if r == nil || r.key != key {
		return nil
	}
	return r
}

// reserve runs RESERVE (SPC-4 5.13.9).
func (t *Table) reserve(n Nexus, c proutCDB, p proutParams) (Outcome, bool) {
	if e := checkTypeScope(c); e != nil {
		return checkCondition(e), false
	}
	if t.registered(n, p.key) == nil {
		return conflict(), false
	}
	if t.res != nil {
		// Reserving again what one holds is a no-op; anything else
		// conflicts, a different type from a holder too.
		if t.holder(n.ID) && t.res.typ == c.typ {
			return good(nil), false
		}
		return conflict(), false
	}
	t.res = &reservation{holder: n.ID, typ: c.typ}
	return good(nil), true
}

// release runs RELEASE (SPC-4 5.13.11.2).
func (t *Table) release(n Nexus, c proutCDB, p proutParams) (Outcome, bool) {
	if t.registered(n, p.key) == nil {
		return conflict(), false
	}
	if t.res == nil || !t.holder(n.ID) {
		return good(nil), false
	}
	if c.scope != scopeLU || c.typ != t.res.typ {
		return checkCondition(invalidRelease()), false
	}
	typ := t.res.typ
	t.res = nil
	out := good(nil)
	if registrantsOnly(typ) || allRegistrants(typ) {
		out.UAs = t.uaToRegistrants(n.ID, reservationsReleased)
	}
	return out, true
}

// clear runs CLEAR (SPC-4 5.13.11.3): every registration and the
// reservation go; the other registrants learn it from a unit attention.
func (t *Table) clear(n Nexus, p proutParams) (Outcome, bool) {
	if t.registered(n, p.key) == nil {
		return conflict(), false
	}
	out := good(nil)
	out.UAs = t.uaToRegistrants(n.ID, reservationsPreempted)
	t.regs = nil
	t.res = nil
	t.generation++
	return out, true
}
