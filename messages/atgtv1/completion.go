package atgtv1

import "github.com/atgt/atgt/messages/scsi"

// CheckCondition is the answer to task itt that failed with err: CHECK CONDITION
// with the sense of the *scsi.SenseError in err's chain (errors.As), or HARDWARE
// ERROR, INTERNAL TARGET FAILURE for any other error. Every failure the LUN and its
// workers answer goes through here, so the same error always reads the same on the
// wire and no error is ever answered GOOD.
func CheckCondition(itt uint32, err error) *ScsiCompletion {
	return &ScsiCompletion{
		Itt:    itt,
		Status: uint32(scsi.StatusCheckCondition),
		Sense:  scsi.AppendSense(nil, scsi.SenseFromError(err)),
	}
}
