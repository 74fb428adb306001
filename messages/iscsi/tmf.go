package iscsi

// Task Management Function Request function codes (RFC 7143 section 11.5.1, the
// query functions from RFC 7144), the low 7 bits of byte 1.
const (
	// TMFAbortTask aborts the task named by the Referenced Task Tag.
	TMFAbortTask = 1
	// TMFAbortTaskSet aborts every task of the session on the LUN.
	TMFAbortTaskSet = 2
	// TMFClearACA clears an auto contingent allegiance condition on the LUN.
	TMFClearACA = 3
	// TMFClearTaskSet aborts every task on the LUN, of all sessions.
	TMFClearTaskSet = 4
	// TMFLUNReset resets the logical unit (LOGICAL UNIT RESET).
	TMFLUNReset = 5
	// TMFTargetWarmReset resets the target's logical units.
	TMFTargetWarmReset = 6
	// TMFTargetColdReset resets the target and drops every connection.
	TMFTargetColdReset = 7
	// TMFTaskReassign moves a task's allegiance to this connection (ERL 2).
	TMFTaskReassign = 8
	// TMFQueryTask asks whether the referenced task exists.
	TMFQueryTask = 9
	// TMFQueryTaskSet asks whether the session has any task on the LUN.
	TMFQueryTaskSet = 10
	// TMFQueryAsyncEvent asks for a pending unit attention or deferred error.
	TMFQueryAsyncEvent = 11
)

// Task Management Function Response codes (RFC 7143 section 11.6.1, RFC 7144), byte 2 of the response.
const (
	// TMFRespComplete: the function was performed.
	TMFRespComplete = 0
	// TMFRespTaskNotExist: the referenced task is not known (it may have completed).
	TMFRespTaskNotExist = 1
	// TMFRespLUNNotExist: no such logical unit.
	TMFRespLUNNotExist = 2
	// TMFRespTaskStillAllegiant: the task is still allegiant to another connection.
	TMFRespTaskStillAllegiant = 3
	// TMFRespReassignNotSupported: task allegiance reassignment is not supported.
	TMFRespReassignNotSupported = 4
	// TMFRespNotSupported: the function is not supported.
	TMFRespNotSupported = 5
	// TMFRespAuthorizationFailed: the initiator may not perform the function.
	TMFRespAuthorizationFailed = 6
	// TMFRespSucceeded: a query function found what it asked about (RFC 7144).
	TMFRespSucceeded = 7
	// TMFRespRejected: the function was rejected.
	TMFRespRejected = 255
)

// TMFFunction returns the function code of a Task Management Function Request.
func (h *BHS) TMFFunction() uint8 { return h[1] & TMFFunctionMask }

// SetTMFFunction sets byte 1 of a Task Management Function Request to fn with F,
// which the RFC requires to be 1.
func (h *BHS) SetTMFFunction(fn uint8) { h[1] = FlagFinal | fn&TMFFunctionMask }
