package inprocess

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/atgt/atgt/backend"
	"github.com/atgt/atgt/tests/initiator"
)

// midFail fails a read that covers bad after reading the bytes before it, as a
// pread over a bad sector does (a short count, then EIO).
type midFail struct {
	backend.Backend
	bad int64
}

func (m midFail) ReadAt(p []byte, off int64) (int, error) {
	if off <= m.bad && m.bad < off+int64(len(p)) {
		n, _ := m.Backend.ReadAt(p[:m.bad-off], off)
		return n, errors.New("EIO")
	}
	return m.Backend.ReadAt(p, off)
}

// TestFailedReadCompletesNothingUnsent: a READ of 16 blocks whose 9th block cannot
// be read is answered MEDIUM ERROR with INFORMATION naming that block. An initiator
// completes the blocks before it as read, up to the transfer the residual reports
// (Linux's sd_completed_bytes: the buffer length less the residual, all of it when
// U is clear), so the answer must not claim blocks it did not send: with no Data-In
// the residual is the whole expected length (RFC 7143 11.4.5.1). Before, U was
// clear and Linux took 8 blocks of whatever its buffer held as the disk's data.
// A READ that fails from its first block carries the same residual.
func TestFailedReadCompletesNothingUnsent(t *testing.T) {
	const first, bad = 4096, 4096 + 8
	svc := start(t, baseConfig(t), func(_ string, _ uint64, b backend.Backend) backend.Backend {
		return midFail{Backend: b, bad: bad * blockSize}
	})
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(992)})
	ready(t, s, 0)
	if err := s.Write(0, first, randomData(7, 16*blockSize), blockSize, false); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		lba  uint64
	}{{"fails at its 9th block", first}, {"fails at its first block", bad}} {
		const edtl = 16 * blockSize
		res, err := s.Command(0, read16(c.lba, 16), nil, edtl)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != 2 || len(res.Sense) < 7 || res.Sense[2]&0x0f != 3 || res.Sense[0]&0x80 == 0 {
			t.Fatalf("READ that %s: status %#x sense %x, want CHECK CONDITION, MEDIUM ERROR with INFORMATION",
				c.name, res.Status, res.Sense)
		}
		if info := binary.BigEndian.Uint32(res.Sense[3:7]); info != bad {
			t.Errorf("READ that %s: INFORMATION %d, want the failed block %d", c.name, info, bad)
		}
		transferred := edtl
		if res.ResidualUnderflow {
			transferred -= int(res.Residual)
		}
		if transferred != len(res.Data) {
			t.Errorf("READ that %s: %d bytes of Data-In, but the residual (U %v, %d) reports %d transferred: "+
				"an initiator would complete blocks it never received", c.name, len(res.Data), res.ResidualUnderflow,
				res.Residual, transferred)
		}
	}
}
