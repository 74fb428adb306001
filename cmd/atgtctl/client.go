package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"

	"connectrpc.com/connect"

	"github.com/atgt/atgt/actors/admin"
	"github.com/atgt/atgt/messages/atgtv1/atgtv1connect"
)

// adminClient is the generated Connect clients of the admin API's three services
// (admin, trace, faults), one value so the commands read short.
type adminClient struct {
	atgtv1connect.AdminServiceClient
	atgtv1connect.TraceServiceClient
	atgtv1connect.FaultServiceClient
}

// newClient returns a client of the admin service on the unix socket at path. The
// URL's host is a placeholder: every request goes to the socket.
func newClient(path string) adminClient {
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
	return adminClient{
		AdminServiceClient: atgtv1connect.NewAdminServiceClient(hc, "http://atgt"),
		TraceServiceClient: atgtv1connect.NewTraceServiceClient(hc, "http://atgt"),
		FaultServiceClient: atgtv1connect.NewFaultServiceClient(hc, "http://atgt"),
	}
}

// newTCPClient returns a client of the admin service on atgtd's loopback TCP address
// (atgtd -admin-addr). It never sends token: the server first proves that it knows
// it (a challenge), then each call is signed with it (admin.ProvingTransport), so a
// process that holds the port while atgtd is down learns nothing.
func newTCPClient(addr, token string) adminClient {
	hc := &http.Client{Transport: &admin.ProvingTransport{Addr: addr, Token: token}}
	base := "http://" + addr
	return adminClient{
		AdminServiceClient: atgtv1connect.NewAdminServiceClient(hc, base),
		TraceServiceClient: atgtv1connect.NewTraceServiceClient(hc, base),
		FaultServiceClient: atgtv1connect.NewFaultServiceClient(hc, base),
	}
}

// failed turns a call's error into what atgtctl prints: the object the command
// was about, then the server's own message (or what kept the call from reaching
// atgtd, with the socket it tried).
func failed(e *env, object string, err error) error {
	var ce *connect.Error
	switch {
	case errors.Is(err, admin.ErrNotProven):
		return fmt.Errorf("%s: %s", object, unwrapDial(err))
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%s: is atgtd running? %s: %w", object, e.where(), unwrapDial(err))
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("%s: socket %s: permission denied: run atgtctl as the user atgtd runs as (the socket is mode 0600)", object, e.socket)
	case connect.CodeOf(err) == connect.CodeDeadlineExceeded:
		return fmt.Errorf("%s: no answer from atgtd within -timeout %v (%s); a change atgtd had begun goes on and "+
			"finishes (or is undone) on its own: see atgtctl luns and atgtctl config show", object, e.timeout, e.where())
	case errors.As(err, &ce):
		// The server's message names its object itself ("lun 3 of iqn...: no such
		// LUN", "config: targets[0]...: ..."), when it knows one better.
		if strings.HasPrefix(ce.Message(), object) || strings.HasPrefix(ce.Message(), "config: ") {
			return errors.New(ce.Message())
		}
		return fmt.Errorf("%s: %s", object, ce.Message())
	}
	return fmt.Errorf("%s: %w", object, err)
}

// unwrapDial returns the dial error inside a Connect error, without the code prefix.
func unwrapDial(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe
	}
	return err
}
