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

// vecOf gives a wrapper's vectored calls, and ErrNoVector for one it lacks (the
// caller then performs the buffers one by one); likewise its store-native calls,
// with ErrNoNative.
type vecOf struct {
	r  VectorReader
	w  VectorWriter
	cw ComparerWriter
	ws WriteSamer
}

// CompareAndWrite passes to the wrapper's, if it has one.
func (v vecOf) CompareAndWrite(cmp, data []byte, off int64, stable bool) error {
	if v.cw == nil {
		return ErrNoNative
	}
	return v.cw.CompareAndWrite(cmp, data, off, stable)
}

// WriteSame passes to the wrapper's, if it has one.
func (v vecOf) WriteSame(block []byte, off, length int64, stable bool) error {
	if v.ws == nil {
		return ErrNoNative
	}
	return v.ws.WriteSame(block, off, length, stable)
}

// ReadVec passes to the wrapper's, if it has one.
func (v vecOf) ReadVec(bufs [][]byte, off int64) error {
	if v.r == nil {
		return ErrNoVector
	}
	return v.r.ReadVec(bufs, off)
}

// WriteVec passes to the wrapper's, if it has one.
func (v vecOf) WriteVec(bufs [][]byte, off int64) error {
	if v.w == nil {
		return ErrNoVector
	}
	return v.w.WriteVec(bufs, off)
}

// The wrappers of a wrapper with vectored calls: as sized, mapped and sizedMapped,
// with them kept (an embedded interface would hide them).
type (
	vecWrapped struct {
		Backend
		vecOf
	}
	vecSized struct {
		Backend
		vecOf
		bs BlockSizer
	}
	vecMapped struct {
		Backend
		vecOf
		m Mapper
	}
	vecSizedMapped struct {
		Backend
		vecOf
		bs BlockSizer
		m  Mapper
	}
)

// LogicalBlockSize forwards to the wrapped backend.
func (s vecSized) LogicalBlockSize() int { return s.bs.LogicalBlockSize() }

// Mapped forwards to the wrapped backend.
func (s vecMapped) Mapped(off, length int64) (bool, int64, error) { return s.m.Mapped(off, length) }

// LogicalBlockSize forwards to the wrapped backend.
func (s vecSizedMapped) LogicalBlockSize() int { return s.bs.LogicalBlockSize() }

// Mapped forwards to the wrapped backend.
func (s vecSizedMapped) Mapped(off, length int64) (bool, int64, error) {
	return s.m.Mapped(off, length)
}

// keepBlockSizer returns w, made a BlockSizer and a Mapper where inner is one, and
// keeping w's own vectored and store-native calls, so wrapping never hides an
// optional interface.
func keepBlockSizer(inner, w Backend) Backend {
	bs, isSized := inner.(BlockSizer)
	m, isMapper := inner.(Mapper)
	vr, _ := w.(VectorReader)
	vw, _ := w.(VectorWriter)
	cw, _ := w.(ComparerWriter)
	ws, _ := w.(WriteSamer)
	if v := (vecOf{r: vr, w: vw, cw: cw, ws: ws}); vr != nil || vw != nil || cw != nil || ws != nil {
		switch {
		case isSized && isMapper:
			return vecSizedMapped{Backend: w, vecOf: v, bs: bs, m: m}
		case isSized:
			return vecSized{Backend: w, vecOf: v, bs: bs}
		case isMapper:
			return vecMapped{Backend: w, vecOf: v, m: m}
		}
		return vecWrapped{Backend: w, vecOf: v}
	}
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
// inner is one, and keeping w's own vectored calls (a missing one answers
// ErrNoVector), for wrappers outside this package: a wrapper that hid them would
// change how the LUN sees its store, or cost merged IO its vectored call.
func KeepOptional(inner, w Backend) Backend { return keepBlockSizer(inner, w) }
