package lun

import "github.com/atgt/atgt/backend"

// Registry maps the NAA designator of each logical unit of one target to its
// backend, so that an IO worker performing an EXTENDED COPY can read from one
// LU and write to another. The target service builds it at start, before any
// LUN actor runs, and nothing changes it afterwards: workers of every LUN of
// the target read it concurrently without a lock. Backends are safe for
// concurrent use (positioned reads and writes).
type Registry map[uint64]backend.Backend
