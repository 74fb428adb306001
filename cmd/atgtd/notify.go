package main

import (
	"net"
	"os"

	"github.com/hashicorp/go-hclog"
)

// sdNotify sends state (e.g. "READY=1") to the service manager over the datagram
// socket systemd names in NOTIFY_SOCKET (sd_notify(3)), for a Type=notify unit; a
// name starting with "@" is in the abstract namespace. Without NOTIFY_SOCKET (not run
// by systemd, or not Type=notify) it does nothing. The protocol is one datagram, so
// this is written here rather than taken from a library.
func sdNotify(state string) error {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return nil
	}
	if name[0] == '@' {
		name = "\x00" + name[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}

// notify tells the service manager of a state change (sdNotify), logging a failure:
// a manager that cannot be told is no reason to stop serving.
func notify(log hclog.Logger, state string) {
	if err := sdNotify(state); err != nil {
		log.Warn("could not notify the service manager", "state", state, "error", err)
	}
}
