package lun

import (
	"time"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// sanitizeChunk is how much a SANITIZE OVERWRITE writes at a time.
const sanitizeChunk = 1 << 20

// sanitizeOverwrite writes the one-block pattern in the task's data over the
// whole range once per pass, inverting it between passes when asked, no
// faster than the configured rate, and makes the result durable: a SANITIZE
// is only done when the old data cannot come back after a power loss.
func (w *worker) sanitizeOverwrite(req *pb.IoRequest) error {
	block := req.Task.DataOut
	if len(block) == 0 {
		return nil
	}
	buf := make([]byte, max(int64(len(block)), min(req.Length, sanitizeChunk/int64(len(block))*int64(len(block)))))
	for i := 0; i < len(buf); i += len(block) {
		copy(buf[i:], block)
	}
	start := time.Now()
	var written int64
	total := req.Length * int64(max(req.Passes, 1))
	w.progress(0, total)
	defer w.progress(0, total) // 0 again for the next one
	for pass := uint32(0); pass < max(req.Passes, 1); pass++ {
		if pass > 0 && req.Invert {
			for i := range buf {
				buf[i] = ^buf[i]
			}
		}
		for off := req.Offset; off < req.Offset+req.Length; {
			n := min(int64(len(buf)), req.Offset+req.Length-off)
			if err := w.further(); err != nil {
				return err
			}
			if err := w.b.WriteAt(buf[:n], off, false); err != nil {
				return err
			}
			off += n
			written += n
			w.progress(written, total)
			pace(start, written, req.RateBytesPerSecond)
			w.refresh() // the pause is not the backend's
		}
	}
	if err := w.further(); err != nil {
		return err
	}
	return w.b.Sync()
}

// progress publishes how much of a SANITIZE is done, for REQUEST SENSE.
func (w *worker) progress(done, total int64) {
	if w.sh != nil && total > 0 {
		w.sh.progress.Store(uint32(min(done*65536/total, 65535)))
	}
}

// attachProgress lets the device model report the running SANITIZE's progress
// (SBC-4: REQUEST SENSE during a sanitize carries a PROGRESS INDICATION).
func (l *lunActor) attachProgress() {
	sh := l.pool.sh
	l.cfg.Device.SetSanitizeProgress(func() uint16 { return uint16(sh.progress.Load()) })
}

// pace sleeps until writing written bytes since start keeps to rate bytes per
// second (0: no limit). It runs in an IO worker, which may block.
func pace(start time.Time, written int64, rate uint64) {
	if rate == 0 {
		return
	}
	due := start.Add(time.Duration(float64(written) / float64(rate) * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		time.Sleep(d)
	}
}

// sanitizeErase deallocates the whole range (punched holes in a file) and makes
// that durable. The device model offers BLOCK ERASE only where deallocated blocks
// read as zeros, so never on a block device, whose discard may leave the old data
// readable.
func (w *worker) sanitizeErase(off, length int64) error {
	w.progress(0, length) // one call: 0 until it returns
	if err := w.b.Unmap(off, length); err != nil {
		return err
	}
	w.refresh()
	return w.b.Sync()
}
