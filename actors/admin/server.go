package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
)

// SocketName is the admin socket's file name in the data directory.
const SocketName = "atgtd.sock"

// DefaultSocket is where atgtd listens and atgtctl connects unless told otherwise.
func DefaultSocket(dataDir string) string { return filepath.Join(dataDir, SocketName) }

// ServerConfig says where Serve listens. At least one of Socket and TCPAddr is set.
type ServerConfig struct {
	// Socket is the unix socket's path, created mode 0600 so that only the daemon's
	// user (and root) can administer it. "" serves no socket.
	Socket string
	// TCPAddr is an optional loopback address (127.0.0.1:PORT, [::1]:PORT,
	// localhost:PORT), for tools that cannot speak to a unix socket. Every local user
	// can reach it, so each call on it must carry Token (tcpGuard). "" serves none.
	TCPAddr string
	// Token is the bearer token calls on TCPAddr must carry (LoadOrCreateToken);
	// required with TCPAddr, at least 32 bytes.
	Token string
	// Log gets the server's errors; nil discards them.
	Log hclog.Logger
	// IdleTimeout is how long a connection may wait for its next request before it
	// is closed; 0 means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// ReadTimeout is how long a request (headers and body) may take to arrive;
	// 0 means DefaultReadTimeout.
	ReadTimeout time.Duration
}

// DefaultIdleTimeout is how long an idle admin connection stays open: every local
// user can open connections to the TCP address, and each holds a descriptor that
// atgtd's iSCSI portals share.
const DefaultIdleTimeout = 60 * time.Second

// DefaultReadTimeout is how long a request may take to arrive. It bounds reading the
// request only: net/http lifts the deadline once the body is read (its watch for the
// client going away runs without one), so a change that takes longer (a drain, a
// logout grace) keeps its context (TestReadTimeoutKeepsHandlerContext).
const DefaultReadTimeout = 30 * time.Second

// Server is the running HTTP form of the admin service.
type Server struct {
	srv       *http.Server
	socket    string      // the socket's final path, "" if none
	socketID  os.FileInfo // the socket file as created, to remove only our own
	unix, tcp net.Listener
	done      sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Serve serves api over HTTP (Connect, gRPC; HTTP/1.1 and h2c) on the unix socket
// and/or loopback TCP address of cfg, until Close.
func Serve(api API, cfg ServerConfig) (*Server, error) {
	if cfg.Socket == "" && cfg.TCPAddr == "" {
		return nil, errors.New("admin: neither a socket nor a TCP address to serve on")
	}
	log := cfg.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if cfg.TCPAddr != "" && len(cfg.Token) < minToken {
		return nil, fmt.Errorf("admin: TCP address %q needs a token of at least %d bytes (LoadOrCreateToken)", cfg.TCPAddr, minToken)
	}
	idle, read := cfg.IdleTimeout, cfg.ReadTimeout
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	if read <= 0 {
		read = DefaultReadTimeout
	}
	s := &Server{}
	if cfg.TCPAddr != "" {
		ln, err := listenLoopback(cfg.TCPAddr)
		if err != nil {
			return nil, err
		}
		s.tcp = ln
	}
	if cfg.Socket != "" {
		ln, fi, err := listenUnix(cfg.Socket)
		if err != nil {
			if s.tcp != nil {
				s.tcp.Close()
			}
			return nil, err
		}
		s.unix, s.socket, s.socketID = ln, cfg.Socket, fi
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true) // gRPC clients and h2c need it; TLS is pointless on a local socket
	s.srv = &http.Server{
		Handler:           tcpGuard(NewHTTPHandler(api), cfg.Token),
		ConnContext:       markTCP,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       idle,
		ReadTimeout:       read,
		ErrorLog:          log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	for _, ln := range []net.Listener{s.unix, s.tcp} {
		if ln == nil {
			continue
		}
		s.done.Go(func() {
			if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("admin server stopped", "addr", ln.Addr().String(), "error", err)
			}
		})
	}
	return s, nil
}

// SocketPath is the unix socket's path ("" when none is served).
func (s *Server) SocketPath() string { return s.socket }

// TCPAddr is the bound TCP address (nil when none is served); with port 0 the
// kernel's choice.
func (s *Server) TCPAddr() net.Addr {
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr()
}

// Close stops serving, gives calls in progress a second to answer, and removes the
// socket file (if it is still the one Serve made: a newer daemon's stays).
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			s.srv.Close()
		}
		s.done.Wait()
		if s.socket != "" {
			if fi, err := os.Lstat(s.socket); err == nil && os.SameFile(fi, s.socketID) {
				if err := os.Remove(s.socket); err != nil {
					s.closeErr = fmt.Errorf("admin: remove socket: %w", err)
				}
			}
		}
	})
	return s.closeErr
}

// listenLoopback listens on addr, which must name a loopback address: the admin
// service's token is sent in clear text, so it must never be reachable from the
// network.
func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("admin: TCP address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("admin: TCP address %q is not a loopback address (127.0.0.0/8, ::1, localhost): the admin service must not be reachable from the network", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	if ta, ok := ln.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() { // localhost resolved elsewhere
		ln.Close()
		return nil, fmt.Errorf("admin: TCP address %q bound %s, not a loopback address", addr, ln.Addr())
	}
	return ln, nil
}

// listenUnix listens on a unix socket at path that no other user can connect to at
// any moment: the socket is made in a fresh mode-0700 directory beside path, set to
// mode 0600 there, and renamed into place. A socket file left by a dead daemon is
// replaced; one a live daemon answers on, or a file that is not a socket, is an
// error. It returns the created file's identity for Close.
func listenUnix(path string) (*net.UnixListener, os.FileInfo, error) {
	if err := checkStale(path); err != nil {
		return nil, nil, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("admin: socket directory: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, ".a") // short: a socket path has at most 107 bytes
	if err != nil {
		return nil, nil, fmt.Errorf("admin: socket: %w", err)
	}
	defer os.RemoveAll(tmp)
	tmpSock := filepath.Join(tmp, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmpSock, Net: "unix"})
	if err != nil {
		return nil, nil, fmt.Errorf("admin: listen on socket %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(false) // it is renamed; Close removes it by its final name
	fail := func(err error) (*net.UnixListener, os.FileInfo, error) {
		ln.Close()
		return nil, nil, fmt.Errorf("admin: socket %s: %w", path, err)
	}
	if err := os.Chmod(tmpSock, 0o600); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmpSock, path); err != nil {
		return fail(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fail(err)
	}
	return ln, fi, nil
}

// checkStale makes way for a new socket at path: nothing there is fine; a socket
// nobody answers on (its daemon died without removing it) is removed; a socket a
// process answers on, or any other file, is refused.
func checkStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("admin: socket %s: %w", path, err)
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("admin: socket %s: a file that is not a socket is in the way", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("admin: socket %s: another atgtd is serving on it (stop it, or give this one another -admin-socket)", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("admin: socket %s: cannot tell whether a daemon serves on it: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("admin: remove stale socket %s: %w", path, err)
	}
	return nil
}
