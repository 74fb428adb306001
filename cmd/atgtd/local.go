package main

import (
	"fmt"
	"net"
)

// listenLocal listens on addr for -pprof or -metrics (named by flag), which have no
// authentication: pprof serves goroutine dumps and CPU profiles, metrics publish the
// target and initiator names SendTargets filtering hides. addr must be a loopback
// address (127.0.0.0/8, ::1, localhost; ":0" and 0.0.0.0 are every interface) unless
// expose (-expose) says otherwise; the bound address is checked too, in case
// "localhost" resolves elsewhere.
func listenLocal(flag, addr string, expose bool) (net.Listener, error) {
	if !expose {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("%s is not a loopback address, and %s has no authentication: use 127.0.0.1:PORT, or add -expose to serve it on the network", addr, flag)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if ta, ok := ln.Addr().(*net.TCPAddr); !expose && (!ok || !ta.IP.IsLoopback()) {
		ln.Close()
		return nil, fmt.Errorf("%s bound %s, not a loopback address (add -expose to allow it)", addr, ln.Addr())
	}
	return ln, nil
}
