package login

import "github.com/atgt/atgt/messages/iscsi"

// Request is one Login Request PDU's fields (RFC 7143 11.12), decoded by the connection
// so this package never touches wire bytes.
type Request struct {
	Transit, Continue      bool
	CSG, NSG               uint8
	VersionMax, VersionMin uint8
	ISID                   [6]byte
	TSIH                   uint16
	ITT                    uint32
	CID                    uint16
	CmdSN, ExpStatSN       uint32
	Data                   []byte // the data segment (text keys)
}

// Response is the Login Response to send (RFC 7143 11.13). The caller fills
// StatSN/ExpCmdSN/MaxCmdSN and, on the final response, TSIH.
type Response struct {
	Transit, Continue         bool
	CSG, NSG                  uint8
	VersionMax, VersionActive uint8
	ISID                      [6]byte
	TSIH                      uint16
	ITT                       uint32
	StatusClass, StatusDetail uint8
	Data                      []byte
}

// Status joins StatusClass and StatusDetail so callers can compare with the constants.
func (r *Response) Status() Status {
	return Status(r.StatusClass)<<8 | Status(r.StatusDetail)
}

// Login stages (CSG/NSG values) from RFC 7143 section 11.12.3, as the iscsi package
// defines them.
const (
	StageSecurity    = iscsi.LoginStageSecurity
	StageOperational = iscsi.LoginStageOperational
	StageFullFeature = iscsi.LoginStageFullFeature
)
