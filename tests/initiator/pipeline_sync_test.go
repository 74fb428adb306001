package initiator

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
)

// seenCmd is one SCSI Command the fake target received.
type seenCmd struct {
	ITT    uint32
	Opcode uint8
	Flags  uint8 // CDB byte 1
}

// fakeTarget answers every SCSI Command on one loopback connection after delay
// with a SCSI Response (status from statusOf, GOOD if nil), and records each
// command it received. It allocates nothing per command, so that a test can count
// the pipeline's allocations.
type fakeTarget struct {
	delay    time.Duration
	statusOf func(n int) uint8 // status of the nth command (from 0)
	residual uint32            // an underflow residual on every response, if not 0
	mu       sync.Mutex
	seen     []seenCmd // preallocated; full means no more records
}

// dialFake starts f on a loopback listener and returns a Raw connection to it with
// immediate data, so that 4 KiB writes need no R2T.
func dialFake(t *testing.T, f *fakeTarget) *Raw {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go f.serve(sc, done)
	t.Cleanup(func() { nc.Close(); sc.Close(); <-done })
	return &Raw{Conn: nc, Reader: iscsi.NewReader(nc, 64<<10), CmdSN: 1, ExpStatSN: 1, MaxCmdSN: 64,
		Params: Params{ImmediateData: true, MaxRecvDataSegmentLength: 64 << 10, MaxXmitDataSegmentLength: 64 << 10,
			FirstBurstLength: 64 << 10, MaxBurstLength: 256 << 10}}
}

func (f *fakeTarget) serve(c net.Conn, done chan struct{}) {
	defer close(done)
	rd := iscsi.NewReader(c, 64<<10)
	scratch := make([]byte, 64<<10)
	rd.SetDataAllocator(func(_ *iscsi.BHS, n int) []byte { return scratch[:n] })
	var in iscsi.PDU
	var out iscsi.BHS
	statSN := uint32(1)
	for n := 0; ; {
		if err := rd.Read(iscsi.Limits{MaxRecvDataSegmentLength: uint32(len(scratch))}, &in); err != nil {
			return
		}
		h := &in.BHS
		if h.Opcode() != iscsi.OpSCSICmd {
			continue
		}
		cdb := h.CDB()
		f.mu.Lock()
		if len(f.seen) < cap(f.seen) {
			f.seen = append(f.seen, seenCmd{ITT: h.ITT(), Opcode: cdb[0], Flags: cdb[1]})
		}
		f.mu.Unlock()
		st := uint8(scsi.StatusGood)
		if f.statusOf != nil {
			st = f.statusOf(n)
		}
		n++
		if f.delay > 0 {
			time.Sleep(f.delay)
		}
		out = iscsi.BHS{}
		out.SetOpcode(iscsi.OpSCSIResp)
		out.SetFinal(true)
		out.SetStatus(st)
		if f.residual > 0 {
			out.SetResidualUnderflow(true)
			out.SetResidualCount(f.residual)
		}
		out.SetITT(h.ITT())
		out.SetStatSN(statSN)
		statSN++
		out.SetExpCmdSN(h.CmdSN() + 1)
		out.SetMaxCmdSN(h.CmdSN() + 64)
		if _, err := c.Write(out[:]); err != nil {
			return
		}
	}
}

// commands returns what f received so far.
func (f *fakeTarget) commands() []seenCmd {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenCmd(nil), f.seen...)
}

// TestPipelineFUAAndSync: FUA sets the WRITE(16)'s FUA bit and nothing else does;
// with SyncCache each WRITE is followed, only after its status, by one SYNCHRONIZE
// CACHE(10) on the same tag, and Run counts the pair as one command; Latency gets one
// figure per command (per pair), spanning both round trips of a pair.
func TestPipelineFUAAndSync(t *testing.T) {
	const delay = 2 * time.Millisecond
	const n = 10
	for _, tc := range []struct {
		name            string
		fua, sync       bool
		depth           int
		minLat          time.Duration
		writes, syncs   int
		strictAlternate bool
	}{
		{"write", false, false, 1, delay, n, 0, false},
		{"FUA", true, false, 1, delay, n, 0, false},
		{"SyncCache QD1", false, true, 1, 2 * delay, n, n, true},
		{"SyncCache QD4 with FUA", true, true, 4, 2 * delay, n, n, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeTarget{delay: delay, seen: make([]seenCmd, 0, 4*n)}
			raw := dialFake(t, f)
			var lat []time.Duration
			pl, err := raw.NewPipeline(PipelineConfig{BlockSize: 512, Blocks: 1 << 15, Size: 4096, Write: true,
				Random: true, FUA: tc.fua, SyncCache: tc.sync, Depth: tc.depth, Timeout: 5 * time.Second,
				Latency: func(d time.Duration) { lat = append(lat, d) }})
			if err != nil {
				t.Fatal(err)
			}
			if err := pl.Run(n, true); err != nil {
				t.Fatal(err)
			}
			if len(lat) != n {
				t.Fatalf("%d latencies, want %d", len(lat), n)
			}
			for i, d := range lat {
				if d < tc.minLat || d > 5*time.Second {
					t.Errorf("latency %d is %v, want at least %v", i, d, tc.minLat)
				}
			}
			cmds := f.commands()
			writes, syncs := 0, 0
			pending := map[uint32]bool{} // ITTs whose write awaits its SYNCHRONIZE CACHE
			for i, c := range cmds {
				switch c.Opcode {
				case scsi.OpWrite16:
					writes++
					if fua := c.Flags&cdbFUA != 0; fua != tc.fua {
						t.Errorf("command %d: FUA %v, want %v", i, fua, tc.fua)
					}
					if pending[c.ITT] {
						t.Errorf("command %d: ITT %d reused before its SYNCHRONIZE CACHE", i, c.ITT)
					}
					pending[c.ITT] = tc.sync
				case scsi.OpSynchronizeCache10:
					syncs++
					if !pending[c.ITT] {
						t.Errorf("command %d: SYNCHRONIZE CACHE on ITT %d follows no write", i, c.ITT)
					}
					pending[c.ITT] = false
				default:
					t.Errorf("command %d: opcode %#x", i, c.Opcode)
				}
				if tc.strictAlternate && (c.Opcode == scsi.OpSynchronizeCache10) != (i%2 == 1) {
					t.Errorf("command %d: opcode %#x out of turn", i, c.Opcode)
				}
			}
			if writes != tc.writes || syncs != tc.syncs {
				t.Errorf("%d writes and %d syncs, want %d and %d", writes, syncs, tc.writes, tc.syncs)
			}
		})
	}
}

// TestPipelineSyncAfterFailedWrite: a write that fails is not followed by a
// SYNCHRONIZE CACHE; unchecked (a warm-up) it counts as done, checked it is an error.
func TestPipelineSyncAfterFailedWrite(t *testing.T) {
	f := &fakeTarget{statusOf: func(n int) uint8 {
		if n == 0 || n == 1 {
			return scsi.StatusCheckCondition
		}
		return scsi.StatusGood
	}, seen: make([]seenCmd, 0, 8)}
	raw := dialFake(t, f)
	pl, err := raw.NewPipeline(PipelineConfig{BlockSize: 512, Blocks: 1 << 15, Size: 4096, Write: true, SyncCache: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := pl.Run(1, false); err != nil {
		t.Fatal(err)
	}
	if err := pl.Run(1, true); err == nil {
		t.Fatal("a write with CHECK CONDITION passed a checked run")
	}
	cmds := f.commands()
	if len(cmds) != 2 || cmds[0].Opcode != scsi.OpWrite16 || cmds[1].Opcode != scsi.OpWrite16 {
		t.Fatalf("commands %+v, want two writes and no SYNCHRONIZE CACHE", cmds)
	}
	if _, err := raw.NewPipeline(PipelineConfig{BlockSize: 512, Blocks: 8, Size: 512, SyncCache: true}); err == nil {
		t.Error("SyncCache on reads accepted")
	}
}

// TestPipelineNoAllocs: Run allocates nothing per command, with or without a
// Latency callback (the fake target allocates nothing either; the count is global).
func TestPipelineNoAllocs(t *testing.T) {
	f := &fakeTarget{}
	raw := dialFake(t, f)
	lat := make([]time.Duration, 0, 64<<10)
	for _, cfg := range []PipelineConfig{
		{BlockSize: 512, Blocks: 1 << 15, Size: 4096, Write: true, Random: true, Depth: 4},
		{BlockSize: 512, Blocks: 1 << 15, Size: 4096, Write: true, Random: true, SyncCache: true, FUA: true,
			Latency: func(d time.Duration) { lat = append(lat, d) }},
		{BlockSize: 512, Blocks: 1 << 15, Size: 4096, Random: true,
			Latency: func(d time.Duration) { lat = append(lat, d) }},
	} {
		pl, err := raw.NewPipeline(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var runErr error
		allocs := testing.AllocsPerRun(10, func() {
			if err := pl.Run(100, true); err != nil {
				runErr = err
			}
		})
		if runErr != nil {
			t.Fatal(runErr)
		}
		// Under 1 per Run of 100 commands: per command, none.
		if allocs >= 1 {
			t.Errorf("write=%v sync=%v: %.1f allocations per Run of 100 commands", cfg.Write, cfg.SyncCache, allocs)
		}
	}
}

// TestPipelineBytes: Bytes counts what the target moved, not commands times size: a
// WRITE answered GOOD with an underflow residual moved its length less the residual,
// a READ answered GOOD without Data-In moved nothing.
func TestPipelineBytes(t *testing.T) {
	const n = 10
	for _, tc := range []struct {
		name  string
		write bool
		want  int64
	}{
		{"write with residual", true, n * (4096 - 1024)},
		{"read without data", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := dialFake(t, &fakeTarget{residual: 1024, seen: make([]seenCmd, 0, n)})
			pl, err := raw.NewPipeline(PipelineConfig{BlockSize: 512, Blocks: 1 << 15, Size: 4096, Write: tc.write,
				Depth: 4, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if err := pl.Run(n, true); err != nil {
				t.Fatal(err)
			}
			if got := pl.Bytes(); got != tc.want {
				t.Fatalf("Bytes %d, want %d", got, tc.want)
			}
		})
	}
}
