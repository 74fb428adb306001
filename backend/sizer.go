package backend

// sized adds LogicalBlockSize to a wrapper whose inner backend has it, so
// wrapping (counters, faults) never hides a block device's block size from
// a type assertion on BlockSizer.
type sized struct {
	Backend
	bs BlockSizer
}

// LogicalBlockSize forwards to the wrapped backend.
func (s sized) LogicalBlockSize() int { return s.bs.LogicalBlockSize() }

// keepBlockSizer returns w, made a BlockSizer if inner is one.
func keepBlockSizer(inner, w Backend) Backend {
	if bs, ok := inner.(BlockSizer); ok {
		return sized{Backend: w, bs: bs}
	}
	return w
}
