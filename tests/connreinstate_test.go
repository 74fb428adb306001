package tests

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// TestConnectionReinstatement: a login with the ISID, TSIH and CID of a live
// session's connection (RFC 7143 6.3.4), the old connection still open as after a
// network cut the target has not seen, replaces that connection and continues the
// session, against the real daemon:
//   - a login naming another CID is refused "too many connections" (0206:
//     MaxConnections=1), one naming a TSIH no session holds "session does not
//     exist" (020A), and neither disturbs the session;
//   - the final Login Response carries the session's TSIH and window (ExpCmdSN is
//     the CmdSN the initiator uses next, MaxCmdSN as wide as before), and the new
//     connection's commands go on from that CmdSN;
//   - the target closes the old connection; its WRITE hanging in the backend is never
//     answered, on the old connection or the new one (no stray PDU), and lands before
//     the new connection's WRITE to the same blocks, which stays;
//   - the I_T nexus was not lost (RFC 7143 6.3.5.1 reports a loss for session
//     reinstatement, closure and timeout only): the new connection's first command
//     meets no POWER ON unit attention, and the data written before is read back.
func TestConnectionReinstatement(t *testing.T) {
	const block = 512
	lun := uint64(testLUN)
	cfg := oneLunConfig(t, 64<<20)
	hungAt := int64(1 << 20)
	// The first write to the second MiB hangs 2 s in the backend: the old
	// connection's task that has not answered when the connection is replaced.
	cfg.Targets[0].Luns[0].Faults = []testFault{{Op: "write", Kind: "hang", DelayMs: 2000, Offset: hungAt, Length: 4096, Count: 1}}
	d := startDaemonConfig(t, cfg)
	opts := initiator.Options{InitiatorName: "iqn.2026-12.dev.atgt:reinstater", TargetName: defaultIQN,
		ISID: [6]byte{0x80, 0, 0, 0, 0x52, 0x01}, CID: 5}
	old, err := initiator.Dial(d.addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if r, err := old.Command(lun, make([]byte, 6), nil, 0); err != nil || (r.Status != 0 && !isUA(r.Sense, 0x29)) {
		t.Fatalf("first TEST UNIT READY: %v %+v", err, r)
	}
	before := bytes.Repeat([]byte{0xab}, 4096)
	if err := old.Write(lun, 0, before, block, false); err != nil {
		t.Fatal(err)
	}
	hung := old.Submit(lun, write16(uint64(hungAt/block), 8), bytes.Repeat([]byte{0xcd}, 4096), 0)
	<-hung.Sent()
	time.Sleep(300 * time.Millisecond) // in the backend call by now

	for _, c := range []struct {
		tsih, cid uint16
		want      iscsi.LoginStatus
	}{
		{old.Params.TSIH, opts.CID + 1, iscsi.LoginStatusTooManyConnections},
		{old.Params.TSIH + 100, opts.CID, iscsi.LoginStatusSessionDoesNotExist},
	} {
		o := opts
		o.TSIH, o.CID, o.CmdSN = c.tsih, c.cid, old.CmdSN()
		_, err := initiator.Dial(d.addr, o)
		var le *initiator.LoginError
		if !errors.As(err, &le) || le.Status() != c.want {
			t.Fatalf("login with TSIH %d CID %d: %v, want status %04x", c.tsih, c.cid, err, uint16(c.want))
		}
	}
	select {
	case <-old.Done():
		t.Fatalf("a refused login ended the session's connection: %v", old.Err())
	default:
	}

	oldExp, oldMax := old.Window()
	next := old.CmdSN()
	began := time.Now()
	n, err := old.ReinstateConnection(d.addr)
	if err != nil {
		t.Fatalf("connection reinstatement: %v", err)
	}
	t.Logf("connection reinstatement (connect, login, old connection ended at the LUNs) took %v",
		time.Since(began).Round(time.Microsecond))
	defer n.Close()
	if n.Params.TSIH != old.Params.TSIH {
		t.Fatalf("TSIH %d after reinstatement, want the session's %d", n.Params.TSIH, old.Params.TSIH)
	}
	exp, max := n.Window()
	if exp != next || max-exp != oldMax-oldExp {
		t.Fatalf("Login Response window ExpCmdSN %d MaxCmdSN %d; want ExpCmdSN %d (the session's) and a window of %d as before",
			exp, max, next, oldMax-oldExp)
	}
	select {
	case <-old.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the target did not close the replaced connection")
	}
	if _, err := hung.Wait(); err == nil {
		t.Fatal("the replaced connection's hung WRITE was answered")
	}

	// The replaced connection's implicit logout is a "close the connection" one at
	// ERL < 2, which terminated its hung WRITE: the LUN's next command reports SOME
	// COMMANDS CLEARED BY ISCSI PROTOCOL EVENT (RFC 7143 11.14), then all is GOOD; a
	// lost nexus would report I_T NEXUS LOSS or POWER ON (29/xx) instead.
	r, err := n.Command(lun, make([]byte, 6), nil, 0)
	if err != nil || r.Status != 0x02 || !isUA(r.Sense, 0x47) || len(r.Sense) < 14 || r.Sense[13] != 0x7f {
		t.Fatalf("first command on the new connection: %v, status %#x sense %x; want CHECK CONDITION 6/47/7F",
			err, r.Status, r.Sense)
	}
	r, err = n.Command(lun, make([]byte, 6), nil, 0)
	if err != nil || r.Status != 0 {
		t.Fatalf("second command on the new connection: %v, status %#x sense %x; want GOOD (the I_T nexus was not lost)",
			err, r.Status, r.Sense)
	}
	got, err := n.Read(lun, 0, 8, block)
	if err != nil || !bytes.Equal(got, before) {
		t.Fatalf("READ on the new connection: %v, %x...", err, got[:min(4, len(got))])
	}
	after := bytes.Repeat([]byte{0xef}, 4096)
	start := time.Now()
	if err := n.Write(lun, uint64(hungAt/block), after, block, false); err != nil {
		t.Fatal(err)
	}
	t.Logf("the new connection's WRITE over the hung one took %v", time.Since(start).Round(time.Millisecond))
	if got, err := n.Read(lun, uint64(hungAt/block), 8, block); err != nil || !bytes.Equal(got, after) {
		t.Fatalf("blocks of the hung WRITE: %v, %x...; want the new connection's WRITE", err, got[:min(4, len(got))])
	}
	time.Sleep(2 * time.Second) // the hang is over: a late answer would have come
	if got, err := n.Read(lun, uint64(hungAt/block), 8, block); err != nil || !bytes.Equal(got, after) {
		t.Fatalf("blocks of the hung WRITE later: %v, %x...", err, got[:min(4, len(got))])
	}
	if e, _ := n.Window(); e != next+6 {
		t.Fatalf("ExpCmdSN %d after 6 commands on the new connection, want %d", e, next+6)
	}
	if s := n.Strays.Load(); s != 0 {
		t.Fatalf("%d PDUs on the new connection answered no task of its own", s)
	}
}

// write16 is a WRITE(16) CDB.
func write16(lba uint64, blocks uint32) []byte {
	cdb := make([]byte, 16)
	cdb[0] = scsi.OpWrite16
	binary.BigEndian.PutUint64(cdb[2:], lba)
	binary.BigEndian.PutUint32(cdb[10:], blocks)
	return cdb
}

// isUA reports fixed-format sense data with UNIT ATTENTION and asc.
func isUA(sense []byte, asc byte) bool {
	return len(sense) >= 13 && sense[2]&0x0f == 0x06 && sense[12] == asc
}
