package lun

// Write-behind for initiators that flush often. A database committing, a journal or
// `qemu-img bench --flush-interval=1` writes a few blocks and then sends SYNCHRONIZE
// CACHE, waiting for each. Its cached WRITE is answered as soon as the data is in the
// page cache, and the fdatasync of the SYNCHRONIZE CACHE that follows then starts the
// writeback itself, one round trip later. With write-behind the worker that answered
// the WRITE asks the kernel to start writing that range back right after the answer
// (backend.WriteBehinder), so the writeback overlaps the round trip and the sync finds
// less to do (issue 19: write + SYNCHRONIZE CACHE at queue depth 1).
//
// Only while the initiator flushes often: an initiator that writes a great deal
// between flushes, or never flushes, gains nothing from writing each range back
// early and would lose the kernel's merging of neighbouring dirty pages. So the LUN
// turns it on when a SYNCHRONIZE CACHE follows at most writeBehindWindow cached
// writes, and off as soon as more cached writes than that pass without one. FUA
// writes and WCE=0 writes are durable already and are not counted.

// writeBehindWindow is how many cached writes may pass between flushes while
// write-behind stays on.
const writeBehindWindow = 32

// flushHabit follows how often the LUN's initiators flush. The LUN actor's own.
type flushHabit struct {
	// since counts the cached writes since the last SYNCHRONIZE CACHE, up to
	// writeBehindWindow+1.
	since int
	on    bool
}

// write records a cached write and reports whether it is to be written behind.
func (h *flushHabit) write() bool {
	if h.since <= writeBehindWindow {
		h.since++
	}
	if h.since > writeBehindWindow {
		h.on = false
	}
	return h.on
}

// flush records a SYNCHRONIZE CACHE (or any sync of the whole cache).
func (h *flushHabit) flush() {
	h.on = h.since <= writeBehindWindow
	h.since = 0
}
