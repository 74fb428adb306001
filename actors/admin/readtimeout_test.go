package admin

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestReadTimeoutKeepsHandlerContext: the admin server's ReadTimeout bounds reading
// a request only. net/http lifts the connection's read deadline once the body is
// read, so a handler that runs longer (a change that drains, or waits out a logout
// grace) keeps its context on HTTP/1; were the deadline kept, the server's watch for
// the client going away would fail at it and cancel the context.
func TestReadTimeoutKeepsHandlerContext(t *testing.T) {
	const read = 200 * time.Millisecond
	ctxErr := make(chan error, 1)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(3 * read): // longer than ReadTimeout
		}
		ctxErr <- r.Context().Err()
	}))
	ts.Config.ReadTimeout = read
	ts.Start()
	defer ts.Close()
	resp, err := http.Post(ts.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := <-ctxErr; err != nil {
		t.Fatalf("the handler's context ended once ReadTimeout passed: %v", err)
	}
}
