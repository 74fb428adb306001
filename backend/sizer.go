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

// mapped adds Mapped to a wrapper whose inner backend has it.
type mapped struct {
	Backend
	m Mapper
}

// Mapped forwards to the wrapped backend.
func (s mapped) Mapped(off, length int64) (bool, int64, error) { return s.m.Mapped(off, length) }

// sizedMapped is a wrapper over a backend with both optional interfaces.
type sizedMapped struct {
	Backend
	bs BlockSizer
	m  Mapper
}

// LogicalBlockSize forwards to the wrapped backend.
func (s sizedMapped) LogicalBlockSize() int { return s.bs.LogicalBlockSize() }

// Mapped forwards to the wrapped backend.
func (s sizedMapped) Mapped(off, length int64) (bool, int64, error) { return s.m.Mapped(off, length) }

// keepBlockSizer returns w, made a BlockSizer and a Mapper where inner is
// one, so wrapping never hides an optional interface.
func keepBlockSizer(inner, w Backend) Backend {
	bs, isSized := inner.(BlockSizer)
	m, isMapper := inner.(Mapper)
	switch {
	case isSized && isMapper:
		return sizedMapped{Backend: w, bs: bs, m: m}
	case isSized:
		return sized{Backend: w, bs: bs}
	case isMapper:
		return mapped{Backend: w, m: m}
	}
	return w
}

// KeepOptional returns w, a wrapper of inner, made a BlockSizer and a Mapper where
// inner is one, for wrappers outside this package (fault injection): a wrapper that
// hid them would change how the LUN sees its store.
func KeepOptional(inner, w Backend) Backend { return keepBlockSizer(inner, w) }
