package admin

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBodyDeadline: on the TCP listener a request body must arrive within
// bodyReadTimeout, and once it has, a handler that runs longer keeps its context
// (which http.Server.ReadTimeout would cancel on HTTP/1).
func TestBodyDeadline(t *testing.T) {
	old := bodyReadTimeout
	bodyReadTimeout = 200 * time.Millisecond
	defer func() { bodyReadTimeout = old }()
	ctxErr := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		time.Sleep(3 * bodyReadTimeout) // a change that drains: longer than the body's deadline
		ctxErr <- r.Context().Err()
	})
	ts := httptest.NewUnstartedServer(tcpGuard(h, proofToken))
	ts.Config.ConnContext = markTCP
	ts.Start()
	defer ts.Close()
	addr := strings.TrimPrefix(ts.URL, "http://")
	call := func(body string, length int) int {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second)) // a bound on the test
		req := "POST /atgt.v1.AdminService/Status HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + proofToken +
			"\r\nContent-Length: " + strconv.Itoa(length) + "\r\n\r\n" + body
		if _, err := c.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return -1
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := call("{}", 2); code != http.StatusOK {
		t.Fatalf("whole body: HTTP %d", code)
	}
	if err := <-ctxErr; err != nil {
		t.Fatalf("the handler's context ended after the body was read: %v", err)
	}
	start := time.Now()
	if code := call("{", 10); code != http.StatusBadRequest || time.Since(start) > 5*time.Second {
		t.Fatalf("a body that never arrives: HTTP %d after %v, want 400 once its deadline passed", code, time.Since(start))
	}
}
