package atgtv1

// The IO kind is the one name of an IO from the device model's plan to the IO
// worker's switch; these methods are the rules the LUN orders IO by.

// Medium reports whether the IO reads or changes the medium, rather than
// writing one of the LUN's state files: only those are refused while a failed
// SANITIZE leaves the medium unusable.
func (k IoKind) Medium() bool {
	switch k {
	case IoKind_IO_KIND_UNSPECIFIED, IoKind_IO_KIND_PERSIST_RESERVATIONS, IoKind_IO_KIND_SAVE_MODE_PAGES:
		return false
	}
	return true
}

// Writes reports whether the IO changes the medium, so the LUN must order it
// against COMPARE AND WRITE and ORWRITE on overlapping blocks.
func (k IoKind) Writes() bool {
	switch k {
	case IoKind_IO_KIND_WRITE, IoKind_IO_KIND_UNMAP, IoKind_IO_KIND_WRITE_SAME,
		IoKind_IO_KIND_COMPARE_AND_WRITE, IoKind_IO_KIND_OR_WRITE, IoKind_IO_KIND_COPY,
		IoKind_IO_KIND_SANITIZE_OVERWRITE, IoKind_IO_KIND_SANITIZE_ERASE:
		return true
	}
	return false
}

// Exclusive reports whether the IO reads and then writes the same blocks and
// so must not overlap any other write in flight (SBC-3 5.2: COMPARE AND
// WRITE is atomic; ORWRITE likewise).
//
// A SANITIZE is exclusive too: it starts only once every write in flight has
// finished, so none lands on the medium after it was erased.
func (k IoKind) Exclusive() bool {
	switch k {
	case IoKind_IO_KIND_COMPARE_AND_WRITE, IoKind_IO_KIND_OR_WRITE,
		IoKind_IO_KIND_SANITIZE_OVERWRITE, IoKind_IO_KIND_SANITIZE_ERASE:
		return true
	}
	return false
}
