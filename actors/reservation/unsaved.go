package reservation

// A change that APTPL makes survive a restart (Outcome.Persist) is made in the
// table at once, so that the snapshot describes it, but it stands only once the
// snapshot is durable. SPC-4 6.17.3 has the logical unit retain the registrations
// and the reservation through a power loss while APTPL is in effect, so GOOD
// must not be answered for a change a power loss would undo; and a command
// answered CHECK CONDITION must not leave its change in force, or the initiator
// would go on from the state it knows while the target enforces another. So the
// table keeps the state from before the command until its owner reports how the
// save ended (Saved), and goes back to it if the save failed. Meanwhile the owner
// runs no other command against the table (the LUN holds its task set behind
// the save, lun/prsave.go), so going back loses no other change.

// Unsaved reports whether a change's snapshot is being written: Saved has not
// been called for the last Outcome that carried Persist.
func (t *Table) Unsaved() bool { return t != nil && t.unsaved != nil }

// Saved ends the change whose snapshot the last Outcome.Persist carried: with ok
// (the snapshot is durable) the change stands; otherwise the registrations, the
// reservation, PRgeneration and APTPL go back to what they were before that
// command. The snapshot number does not, so that the next snapshot is still
// newer than any written.
func (t *Table) Saved(ok bool) {
	if !t.Unsaved() {
		return
	}
	u := t.unsaved
	t.unsaved = nil
	if !ok {
		t.regs, t.res, t.generation, t.aptpl = u.regs, u.res, u.generation, u.aptpl
	}
}
