package main

import (
	"io"
	"os"
	"time"

	"github.com/atgt/atgt/actors/logging"
)

// stdout and stderr are where atgtd prints and logs. run points them at a
// logging.Async, so that an output nobody reads (a stuck journald, a stalled
// `atgtd | consumer`) never stops the actors that log, nor the stop's own lines;
// the two share its queue, which keeps their lines in order on a shared pipe.
var stdout, stderr io.Writer = os.Stdout, os.Stderr

// logFlushTimeout bounds the wait for the buffered lines at exit: a normal stop
// loses none, a blocked output does not hold the exit.
const logFlushTimeout = 2 * time.Second

// startOutput sends stdout and stderr through a new logging.Async, which the
// caller closes (with logFlushTimeout) before the process exits.
func startOutput() *logging.Async {
	out := logging.NewAsync(logging.DefaultAsyncBytes, "atgtd")
	stdout, stderr = out.Writer(os.Stdout), out.Writer(os.Stderr)
	return out
}
