package main

import (
	"net/http"
	"time"

	"github.com/atgt/atgt/actors/metrics"
	"github.com/atgt/atgt/actors/target"
)

// serveMetrics listens on addr and serves svc's metrics, with the process and Go
// collectors, at /metrics in the Prometheus exposition format (-metrics). It returns
// the bound address (addr with port 0 resolved) once the listener is open, so that a
// scraper may connect as soon as "ready" is printed.
func serveMetrics(addr string, expose bool, svc *target.Service) (string, error) {
	h, err := metrics.Handler(svc.Metrics())
	if err != nil {
		return "", err
	}
	ln, err := listenLocal("-metrics", addr, expose)
	if err != nil {
		return "", err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends with the process
	return ln.Addr().String(), nil
}
