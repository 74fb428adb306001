package scsidev

// Reset returns the logical unit to the state a reset leaves it in (SAM-5 6.3.2
// hard reset, 6.3.3 logical unit reset): MODE SELECT parameters go back to their
// saved values where saved values exist and to their defaults otherwise, so WCE
// becomes the saved (else configured) value and SWP, which is never saved, 0.
// What a reset keeps is kept: persistent reservations, the ALUA states, a SANITIZE
// that runs or failed (SBC-4 4.11: resets do not end one), copy results, and the
// pending unit attentions (the caller adds the reset's own). The caller ends the
// task set and RESERVE(6)/(10) reservations.
func (d *Device) Reset() {
	d.wce = d.saved.WriteCache
	d.swp = false
}
