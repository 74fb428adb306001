// Package scsi holds the SCSI constants and wire formats (SPC-4, SBC-3) that
// the LUN emulation and the iSCSI layer share: status codes, sense data,
// opcodes, the per-opcode dispatch table and CDB decoding.
//
// Everything here is pure: CDBs and parameter lists come from the network, so
// every decoder checks lengths and returns a *SenseError instead of panicking.
package scsi
