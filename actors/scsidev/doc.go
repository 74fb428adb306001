// Package scsidev is the SCSI block device model (SPC-4/SBC-3) as pure
// logic: it decodes CDBs, keeps the logical unit's SCSI state (mode pages,
// unit attentions) and answers commands, but performs no IO. The LUN actor
// owns one *Device and calls it from a single goroutine; Execute makes the
// checks that precede a command in SAM-5 order, reservations included, and a
// command that needs the disk (or a state file) comes back as an IO plan whose
// kind is the IoKind an IO worker switches on; the worker finishes it with
// CompleteIO. Keeping blocking work out of this package is what lets one slow
// disk never stall the LUN (ARCHITECTURE.md).
package scsidev
