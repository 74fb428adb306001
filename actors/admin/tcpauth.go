package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// The TCP admin address (-admin-addr) is reachable by every local user and, through
// DNS rebinding, by any web page a local browser opens. So every call on it must
// carry the daemon's token as "Authorization: Bearer TOKEN", name a loopback host
// (Host: 127.0.0.1:PORT, [::1]:PORT, localhost:PORT), and, if it comes from a
// browser (Origin), come from a loopback origin. The unix socket needs none of this:
// its mode (0600) already admits only the daemon's user.

// TokenFileName is the admin token's file name in the data directory.
const TokenFileName = "admin.token"

// minToken is the shortest token accepted (bytes), 128 bits of hex.
const minToken = 32

// maxTokenFile bounds how much of a token file is read.
const maxTokenFile = 4096

// DefaultTokenFile is where atgtd keeps the token and atgtctl looks for it.
func DefaultTokenFile(dataDir string) string { return filepath.Join(dataDir, TokenFileName) }

// LoadOrCreateToken returns the token in path (its first line), or, when there is no
// such file, makes a random one (256 bits, hex) and writes it there mode 0600. A
// token file others may use (any group or other permission) or a short token is
// refused. Errors name the file, never the token.
func LoadOrCreateToken(path string) (string, error) {
	tok, err := ReadToken(path)
	if !errors.Is(err, os.ErrNotExist) {
		return tok, err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("admin: token: %w", err)
	}
	tok = hex.EncodeToString(b[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return "", fmt.Errorf("admin: token file %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("admin: token file %s: %w", path, err)
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return "", fmt.Errorf("admin: token file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("admin: token file %s: %w", path, err)
	}
	return tok, nil
}

// ReadToken returns the first line of the token file at path. A missing file is an
// error that wraps os.ErrNotExist.
func ReadToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("admin: token file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("admin: token file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("admin: token file %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("admin: token file %s may be used by other users (mode %04o): chmod 600 %s",
			path, fi.Mode().Perm(), path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile))
	if err != nil {
		return "", fmt.Errorf("admin: token file %s: read failed", path)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	tok := strings.TrimSpace(line)
	if len(tok) < minToken {
		return "", fmt.Errorf("admin: token file %s: the token is shorter than %d bytes", path, minToken)
	}
	return tok, nil
}

// viaTCP marks the context of a request that came in on the TCP listener.
type viaTCP struct{}

// markTCP is the server's ConnContext: requests on a TCP connection get viaTCP.
func markTCP(ctx context.Context, c net.Conn) context.Context {
	if _, ok := c.LocalAddr().(*net.TCPAddr); ok {
		return context.WithValue(ctx, viaTCP{}, true)
	}
	return ctx
}

// tcpGuard passes a request on the unix socket as it is, and one on the TCP
// listener only with a loopback Host, no foreign Origin and the token (Bearer) or a
// signature made with it (ATGT-HMAC, after a challenge: tcpproof.go).
func tcpGuard(next http.Handler, token string) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Context().Value(viaTCP{}) == nil {
			next.ServeHTTP(w, r)
			return
		}
		if !loopbackHost(r.Host) {
			refuse(w, http.StatusForbidden, "permission_denied",
				"the admin address answers only Host 127.0.0.1, ::1 or localhost (DNS rebinding)")
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !loopbackOrigin(o) {
			refuse(w, http.StatusForbidden, "permission_denied", "a request from a web page of another origin is refused")
			return
		}
		if r.URL.Path == ChallengePath {
			answerChallenge(w, r, token)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if (!ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1) && !hmacAuthorized(r, token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="atgtd"`)
			refuse(w, http.StatusUnauthorized, "unauthenticated",
				"the admin address needs the daemon's token (Authorization: Bearer, from the data directory's "+TokenFileName+")")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refuse answers with a Connect error body, so that Connect clients show message,
// and closes an HTTP/1 connection after the answer: a client without the token
// gets nothing by keeping it open (an HTTP/2 one is closed once idle, IdleTimeout).
func refuse(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Connection", "close")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"code":%q,"message":%q}`, code, "admin: "+message)
}

// loopbackHost reports a Host header (host or host:port) that names localhost or a
// loopback address.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Zone() == "" && a.Unmap().IsLoopback()
}

// loopbackOrigin reports an Origin header of a page served from a loopback host.
func loopbackOrigin(origin string) bool {
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && loopbackHost(u.Host)
}
