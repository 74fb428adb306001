// Package logging bridges protoactor's slog output into the daemon's hclog logger, so
// that one -log-level governs every line the process prints, and buffers that output
// (Async) so that a blocked log consumer never stops the actors that log.
package logging

import (
	"context"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// SlogHandler is a slog.Handler that writes through an hclog.Logger.
type SlogHandler struct {
	log   hclog.Logger
	attrs []any
}

// NewSlog returns a *slog.Logger writing to log.
func NewSlog(log hclog.Logger) *slog.Logger {
	return slog.New(&SlogHandler{log: log})
}

// Enabled reports whether hclog would print at level l.
func (h *SlogHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.log.GetLevel() <= toHclog(l)
}

// Handle forwards one record with its attributes.
func (h *SlogHandler) Handle(_ context.Context, r slog.Record) error {
	args := append([]any(nil), h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		args = append(args, a.Key, a.Value.Any())
		return true
	})
	h.log.Log(toHclog(r.Level), r.Message, args...)
	return nil
}

// WithAttrs returns a handler that adds attrs to every record.
func (h *SlogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := &SlogHandler{log: h.log, attrs: append([]any(nil), h.attrs...)}
	for _, a := range attrs {
		n.attrs = append(n.attrs, a.Key, a.Value.Any())
	}
	return n
}

// WithGroup names a sub-logger after the group.
func (h *SlogHandler) WithGroup(name string) slog.Handler {
	return &SlogHandler{log: h.log.Named(name), attrs: h.attrs}
}

// toHclog maps slog levels to hclog's. protoactor reports its own lifecycle chatter
// (actor system started, dead letters) at Info; it goes to Debug so that the daemon
// stays quiet by default.
func toHclog(l slog.Level) hclog.Level {
	switch {
	case l < slog.LevelWarn:
		return hclog.Debug
	case l < slog.LevelError:
		return hclog.Warn
	default:
		return hclog.Error
	}
}
