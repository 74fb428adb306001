package main

import (
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/admin"
	"github.com/atgt/atgt/actors/target"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// sharedStoresEnv, set to 1, makes atgtd lock its LUN files shared (target.Options
// SharedStores): for benchmarks that run several atgtd on one file on purpose.
const sharedStoresEnv = "ATGT_SHARED_STORES"

// adminOff is the -admin-socket value that serves no socket.
const adminOff = "off"

// adminSocketPath is where -admin-socket puts the admin socket: the flag's path,
// none for "off", and by default atgtd.sock in the data directory the service uses.
func adminSocketPath(flagValue string, cfg *pb.Config) string {
	switch flagValue {
	case adminOff:
		return ""
	case "":
		return admin.DefaultSocket(target.ApplyDefaults(cfg).DataDir)
	}
	return flagValue
}

// adminTokenPath is -admin-token-file: the flag's path, by default admin.token in the
// data directory the service uses.
func adminTokenPath(flagValue string, cfg *pb.Config) string {
	if flagValue != "" {
		return flagValue
	}
	return admin.DefaultTokenFile(target.ApplyDefaults(cfg).DataDir)
}

// serveAdmin serves api on the admin socket and the optional loopback TCP address
// (-admin-addr), whose calls must carry the token of tokenFile, or returns nil when
// both are off. The token is new at each start (RotateToken): one a process took
// while atgtd was down, by holding its port, is worthless once atgtd runs.
func serveAdmin(api admin.API, socket, tcpAddr, tokenFile string, log hclog.Logger) (*admin.Server, error) {
	if socket == "" && tcpAddr == "" {
		return nil, nil
	}
	var token string
	if tcpAddr != "" {
		var err error
		if token, err = admin.RotateToken(tokenFile); err != nil {
			return nil, err
		}
	}
	return admin.Serve(api, admin.ServerConfig{Socket: socket, TCPAddr: tcpAddr, Token: token, Log: log.Named("admin")})
}
