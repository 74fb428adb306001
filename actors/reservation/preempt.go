package reservation

import "github.com/atgt/atgt/messages/scsi"

// preempt runs PREEMPT and PREEMPT AND ABORT (SPC-4 5.13.11.4). The
// registrations identified by the service action reservation key lose
// their registration (and the reservation, if they held it) and get
// REGISTRATIONS PREEMPTED; PREEMPT AND ABORT also returns them in Abort.
func (t *Table) preempt(n Nexus, c proutCDB, p proutParams) (Outcome, bool) {
	if t.registered(n, p.key) == nil {
		return conflict(), false
	}
	abort := c.sa == SAPreemptAndAbort
	switch {
	case t.res != nil && allRegistrants(t.res.typ) && p.saKey == 0:
		// Preempting an all-registrants reservation: everybody but
		// the preempting nexus goes, and it reserves anew.
		if e := checkTypeScope(c); e != nil {
			return checkCondition(e), false
		}
		var victims []string
		for _, r := range t.regs {
			if r.nexus != n.ID {
				victims = append(victims, r.nexus)
			}
		}
		out := t.dropRegistrations(n.ID, victims, abort)
		t.res = &reservation{holder: n.ID, typ: c.typ}
		t.generation++
		return out, true
	case t.res != nil && !allRegistrants(t.res.typ) && p.saKey == t.holderKey():
		// Preempting the holder: its reservation moves to the
		// preempting nexus, with the new type and scope.
		if e := checkTypeScope(c); e != nil {
			return checkCondition(e), false
		}
		victims := t.withKey(p.saKey, n.ID)
		oldType := t.res.typ
		out := t.dropRegistrations(n.ID, victims, abort)
		if abort && t.find(n.ID).key == p.saKey {
			// The preempting nexus shares the key: its other tasks
			// are aborted too (only the PROUT itself completes).
			out.Abort = append(out.Abort, n.ID)
		}
		t.res = &reservation{holder: n.ID, typ: c.typ}
		if oldType != c.typ {
			// Everybody still registered learns the reservation
			// they lived under is gone.
			out.UAs = append(out.UAs, t.uaToRegistrants(n.ID, reservationsReleased)...)
		}
		t.generation++
		return out, true
	}
	// No reservation, or the key is not the holder's: only
	// registrations are removed, and there must be some.
	if p.saKey == 0 {
		return checkCondition(scsi.InvalidFieldInParamList(paramServiceActionKeyOff, -1)), false
	}
	victims := t.withKey(p.saKey, "")
	if len(victims) == 0 {
		return conflict(), false
	}
	out := t.dropRegistrations(n.ID, victims, abort)
	t.generation++
	return out, true
}

// withKey lists the nexuses registered with key, except except.
func (t *Table) withKey(key uint64, except string) []string {
	var ids []string
	for _, r := range t.regs {
		if r.key == key && r.nexus != except {
			ids = append(ids, r.nexus)
		}
	}
	return ids
}

// dropRegistrations removes the registrations of victims on behalf of the
// preempting nexus by, collecting the unit attentions (REGISTRATIONS
// PREEMPTED for each victim but by) and, for PREEMPT AND ABORT, the
// nexuses whose tasks must be aborted.
func (t *Table) dropRegistrations(by string, victims []string, abort bool) Outcome {
	out := good(nil)
	for _, v := range victims {
		// The reservation is replaced by the caller, so the unit
		// attentions remove raises for a released reservation would
		// be wrong here: the victims are told of the preemption.
		if t.res != nil && t.res.holder == v && !allRegistrants(t.res.typ) {
			t.res = nil
		}
		t.remove(v)
		if v != by {
			out.UAs = append(out.UAs, UA{Nexus: v, Sense: registrationsPreempted()})
		}
		if abort {
			out.Abort = append(out.Abort, v)
		}
	}
	return out
}
