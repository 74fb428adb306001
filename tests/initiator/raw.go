package initiator

import (
	"net"

	"github.com/atgt/atgt/messages/iscsi"
)

// Raw is a logged-in connection handed over to the caller, who then speaks the
// full feature phase alone: no reader goroutine, no task bookkeeping. Benchmarks use
// it to drive the target with a client that allocates nothing per command.
type Raw struct {
	Conn   net.Conn
	Reader *iscsi.Reader
	Params Params
	// CmdSN is the next command's CmdSN; ExpStatSN the next StatSN expected;
	// MaxCmdSN the window's end from the last Login Response.
	CmdSN, ExpStatSN, MaxCmdSN uint32
}

// DialRaw connects and logs in as Dial does, then hands over the connection.
func DialRaw(addr string, o Options) (*Raw, error) {
	s, err := dialLogin(addr, o)
	if err != nil {
		return nil, err
	}
	return &Raw{Conn: s.nc, Reader: s.rd, Params: s.Params, CmdSN: s.cmdSN, ExpStatSN: s.expStatSN, MaxCmdSN: s.maxCmdSN}, nil
}
