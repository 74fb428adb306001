// Package scsidev is the SCSI block device model (SPC-4/SBC-3) as pure
// logic: it decodes CDBs, keeps the logical unit's SCSI state (mode pages,
// unit attentions) and answers commands, but performs no IO. The LUN actor
// owns one *Device and calls it from a single goroutine; a command that
// needs the disk comes back as an IO plan, which an IO worker carries out
// before the LUN calls Complete. Keeping blocking work out of this package
// is what lets one slow disk never stall the LUN (ARCHITECTURE.md).
package scsidev
