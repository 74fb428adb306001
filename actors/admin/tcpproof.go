package admin

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/atgt/atgt/backend"
)

// A bearer token proves the client to the server but not the server to the client:
// a process that holds the admin port while atgtd is down (any local user may bind a
// free loopback port) would collect it from the first call. So atgtctl never sends
// the token. It first asks the address for a challenge, sending a random nonce of its
// own; atgtd answers a nonce of its own and a proof, an HMAC-SHA256 keyed with the
// token over both nonces, which only a process that knows the token can make.
// atgtctl checks the proof, and only then calls, each call carrying
// "Authorization: ATGT-HMAC nonce=N, mac=M", M an HMAC keyed with the token over the
// server's nonce, the method and the path. The server's nonces carry their time and
// an HMAC of their own, so the server keeps no state: a nonce is good for
// nonceLife. Plain "Authorization: Bearer TOKEN" stays accepted for tools like curl,
// which do not authenticate the server.

// ChallengePath is the path of the TCP address's challenge (POST, the client's
// nonce in hex as the body; no token needed).
const ChallengePath = "/atgt.auth/Challenge"

// nonceLife is how long a server nonce is accepted.
const nonceLife = 5 * time.Minute

// clientNonceLife is how long a client uses one server nonce before it asks again
// (well within nonceLife).
const clientNonceLife = time.Minute

// hmacScheme is the Authorization scheme of a call made after a challenge.
const hmacScheme = "ATGT-HMAC "

// challengeAnswer is the challenge's JSON answer.
type challengeAnswer struct {
	Nonce string `json:"nonce"`
	Proof string `json:"proof"`
}

// mac is HMAC-SHA256 keyed with token over parts, each ended by a zero byte.
func mac(token string, parts ...string) []byte {
	h := hmac.New(sha256.New, []byte(token))
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum(nil)
}

// newNonce makes a server nonce: its time, 16 random bytes and a tag over both.
func newNonce(token string, now time.Time) (string, error) {
	var b [24]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.Unix()))
	if _, err := rand.Read(b[8:]); err != nil {
		return "", err
	}
	body := hex.EncodeToString(b[:])
	return body + hex.EncodeToString(mac(token, "atgtd nonce", body)[:16]), nil
}

// nonceGood reports a nonce this server (its token) made within nonceLife.
func nonceGood(token, nonce string, now time.Time) bool {
	if len(nonce) != 80 {
		return false
	}
	body, tag := nonce[:48], nonce[48:]
	want := hex.EncodeToString(mac(token, "atgtd nonce", body)[:16])
	if !hmac.Equal([]byte(tag), []byte(want)) {
		return false
	}
	raw, err := hex.DecodeString(body)
	if err != nil {
		return false
	}
	at := time.Unix(int64(binary.BigEndian.Uint64(raw[:8])), 0)
	return now.Sub(at) <= nonceLife && at.Sub(now) <= time.Minute
}

// answerChallenge answers a challenge: a fresh nonce and the proof over the
// client's nonce and it.
func answerChallenge(w http.ResponseWriter, r *http.Request, token string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 256))
	client := strings.TrimSpace(string(body))
	if err != nil || r.Method != http.MethodPost || len(client) < 32 || len(client) > 128 {
		refuse(w, http.StatusBadRequest, "invalid_argument", "a challenge is a POST of a client nonce (32 to 128 hex digits)")
		return
	}
	if _, err := hex.DecodeString(client); err != nil {
		refuse(w, http.StatusBadRequest, "invalid_argument", "a challenge is a POST of a client nonce (32 to 128 hex digits)")
		return
	}
	nonce, err := newNonce(token, time.Now())
	if err != nil {
		refuse(w, http.StatusInternalServerError, "internal", "nonce: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(challengeAnswer{Nonce: nonce, Proof: hex.EncodeToString(mac(token, "atgtd proof", client, nonce))})
}

// hmacAuthorized reports whether r carries a good ATGT-HMAC authorization.
func hmacAuthorized(r *http.Request, token string) bool {
	v, ok := strings.CutPrefix(r.Header.Get("Authorization"), hmacScheme)
	if !ok {
		return false
	}
	var nonce, got string
	for _, kv := range strings.Split(v, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch k {
		case "nonce":
			nonce = val
		case "mac":
			got = val
		}
	}
	if !nonceGood(token, nonce, time.Now()) {
		return false
	}
	want := hex.EncodeToString(mac(token, "atgtctl call", nonce, r.Method, r.URL.Path))
	return hmac.Equal([]byte(got), []byte(want))
}

// ProvingTransport is an http.RoundTripper for atgtd's TCP admin address that never
// sends the token: it has the server prove that it knows the token first (a
// challenge), then signs each request with the server's nonce.
type ProvingTransport struct {
	// Addr is the admin address (host:port), Token the token, Next the transport
	// that carries the requests (http.DefaultTransport when nil).
	Addr, Token string
	Next        http.RoundTripper

	mu    sync.Mutex
	nonce string
	got   time.Time
}

// ErrNotProven is the error of a call whose server did not prove that it knows the
// token: nothing derived from the token was sent.
var ErrNotProven = errors.New("the server did not prove that it knows the admin token (is it atgtd? another process may hold the port); the token was not sent")

// RoundTrip sends a copy of r signed with a server nonce, after a challenge when it
// has none that is fresh.
func (t *ProvingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	nonce, err := t.serverNonce(r)
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", fmt.Sprintf("%snonce=%s, mac=%s", hmacScheme, nonce,
		hex.EncodeToString(mac(t.Token, "atgtctl call", nonce, r.Method, r.URL.Path))))
	return t.next().RoundTrip(r)
}

// next is the transport that carries the requests.
func (t *ProvingTransport) next() http.RoundTripper {
	if t.Next != nil {
		return t.Next
	}
	return http.DefaultTransport
}

// serverNonce returns a fresh nonce of a server that proved it knows the token.
func (t *ProvingTransport) serverNonce(r *http.Request) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.nonce != "" && time.Since(t.got) < clientNonceLife {
		return t.nonce, nil
	}
	var cn [32]byte
	if _, err := rand.Read(cn[:]); err != nil {
		return "", err
	}
	client := hex.EncodeToString(cn[:])
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, "http://"+t.Addr+ChallengePath, bytes.NewReader([]byte(client)))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "text/plain")
	resp, err := t.next().RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var ans challengeAnswer
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("admin %s: challenge answered HTTP %d: %w", t.Addr, resp.StatusCode, ErrNotProven)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&ans); err != nil {
		return "", fmt.Errorf("admin %s: challenge answer: %v: %w", t.Addr, err, ErrNotProven)
	}
	want := hex.EncodeToString(mac(t.Token, "atgtd proof", client, ans.Nonce))
	if !hmac.Equal([]byte(ans.Proof), []byte(want)) {
		return "", fmt.Errorf("admin %s: %w", t.Addr, ErrNotProven)
	}
	t.nonce, t.got = ans.Nonce, time.Now()
	return t.nonce, nil
}

// RotateToken writes a new random token (256 bits, hex) to path, mode 0600,
// replacing the one there (atomically, backend.WriteFileAtomic), and
// returns it. atgtd calls it at each start, so that a token taken while it was down
// (by a process holding its port) is worthless once it runs. A path that exists but
// is not a regular file is refused. Errors name the file, never the token.
func RotateToken(path string) (string, error) {
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		return "", fmt.Errorf("admin: token file %s is not a regular file", path)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("admin: token: %w", err)
	}
	tok := hex.EncodeToString(b[:])
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("admin: token file %s: %w", path, err)
	}
	// WriteFileAtomic's temporary file is mode 0600 and renamed over path, the
	// directory fsynced.
	if err := backend.WriteFileAtomic(path, []byte(tok+"\n")); err != nil {
		return "", fmt.Errorf("admin: token file %s: %w", path, err)
	}
	return tok, nil
}
