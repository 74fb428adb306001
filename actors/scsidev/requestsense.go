package scsidev

import "github.com/atgt/atgt/messages/scsi"

// requestSense implements REQUEST SENSE (SPC-4 6.29): it returns and clears
// the oldest unit attention of the nexus, or NO SENSE (SANITIZE IN PROGRESS while
// one runs). Descriptor format
// sense data is not implemented, so DESC=1 is refused.
func (d *Device) requestSense(cdb []byte, nexus string) (Result, error) {
	if cdb[1]&0x01 != 0 {
		return Result{}, scsi.InvalidFieldInCDB(1, 0)
	}
	if d.sanitizing {
		// SBC-3 4.11: while a SANITIZE runs, REQUEST SENSE reports it.
		return good(truncate(scsi.AppendSense(nil, d.sanitizeInProgress()), uint32(cdb[4]))), nil
	}
	ua := d.popUnitAttention(nexus)
	data := scsi.AppendSense(nil, ua)
	return good(truncate(data, uint32(cdb[4]))), nil
}
