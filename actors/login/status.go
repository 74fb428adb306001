package login

// Status is a Login Response Status-Class (high byte) and Status-Detail (low byte),
// RFC 7143 section 11.13.5, kept as one value so a failure is a single constant.
type Status uint16

// Login status values from RFC 7143 section 11.13.5.
const (
	StatusSuccess           Status = 0x0000
	TargetMovedTemp         Status = 0x0101
	TargetMovedPerm         Status = 0x0102
	InitiatorError          Status = 0x0200
	AuthFailure             Status = 0x0201
	AuthorizationFailure    Status = 0x0202
	NotFound                Status = 0x0203
	TargetRemoved           Status = 0x0204
	UnsupportedVersion      Status = 0x0205
	TooManyConnections      Status = 0x0206
	MissingParameter        Status = 0x0207
	CantIncludeInSession    Status = 0x0208
	SessionTypeNotSupported Status = 0x0209
	SessionDoesNotExist     Status = 0x020a
	InvalidDuringLogin      Status = 0x020b
	TargetError             Status = 0x0300
	ServiceUnavailable      Status = 0x0301
	OutOfResources          Status = 0x0302
)

// Class is the Status-Class byte: 0 success, 1 redirection, 2 initiator error, 3 target error.
func (s Status) Class() uint8 { return uint8(s >> 8) }

// Detail is the Status-Detail byte within the class.
func (s Status) Detail() uint8 { return uint8(s) }
