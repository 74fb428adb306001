package login

import "github.com/atgt/atgt/messages/iscsi"

// Status is a Login Response Status-Class (high byte) and Status-Detail (low byte),
// RFC 7143 section 11.13.5. The wire package owns the values; these names keep the
// machine's code short.
type Status = iscsi.LoginStatus

// Login status values from RFC 7143 section 11.13.5, as the iscsi package defines them.
const (
	StatusSuccess           = iscsi.LoginStatusSuccess
	TargetMovedTemp         = iscsi.LoginStatusTargetMovedTemp
	TargetMovedPerm         = iscsi.LoginStatusTargetMovedPerm
	InitiatorError          = iscsi.LoginStatusInitiatorError
	AuthFailure             = iscsi.LoginStatusAuthFailure
	AuthorizationFailure    = iscsi.LoginStatusAuthorizationFailure
	NotFound                = iscsi.LoginStatusNotFound
	TargetRemoved           = iscsi.LoginStatusTargetRemoved
	UnsupportedVersion      = iscsi.LoginStatusUnsupportedVersion
	TooManyConnections      = iscsi.LoginStatusTooManyConnections
	MissingParameter        = iscsi.LoginStatusMissingParameter
	CantIncludeInSession    = iscsi.LoginStatusCantIncludeInSession
	SessionTypeNotSupported = iscsi.LoginStatusSessionTypeNotSupported
	SessionDoesNotExist     = iscsi.LoginStatusSessionDoesNotExist
	InvalidDuringLogin      = iscsi.LoginStatusInvalidDuringLogin
	TargetError             = iscsi.LoginStatusTargetError
	ServiceUnavailable      = iscsi.LoginStatusServiceUnavailable
	OutOfResources          = iscsi.LoginStatusOutOfResources
)
