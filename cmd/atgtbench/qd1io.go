package main

// The Go initiator's side of `atgtbench qd1`: one command at a time through an
// initiator.Pipeline of depth 1, each round trip timed on its own.

import (
	"fmt"
	"time"

	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// qd1Op is what one timed IO of a QD1 case does.
type qd1Op int

const (
	opRead      qd1Op = iota // READ(16) of 4 KiB
	opWrite                  // WRITE(16) of 4 KiB
	opWriteFUA               // WRITE(16) of 4 KiB with FUA
	opWriteSync              // WRITE(16) of 4 KiB, then SYNCHRONIZE CACHE(10): timed together
)

// qd1IOSize is the IO size of every QD1 case.
const qd1IOSize = 4096

// qd1Case is one row of the Go-initiator table.
type qd1Case struct {
	Name string
	Op   qd1Op
	// Opcodes are the SCSI operation codes its IOs send, for the trace filter.
	Opcodes []uint8
}

// qd1Cases are the Go-initiator cases, in table order. Offsets are random and
// 4 KiB-aligned from a fixed seed, for writes as for reads.
var qd1Cases = []qd1Case{
	{Name: "4K rand read", Op: opRead, Opcodes: []uint8{scsi.OpRead16}},
	{Name: "4K rand write", Op: opWrite, Opcodes: []uint8{scsi.OpWrite16}},
	{Name: "4K rand write FUA", Op: opWriteFUA, Opcodes: []uint8{scsi.OpWrite16}},
	{Name: "4K rand write + SYNC CACHE", Op: opWriteSync, Opcodes: []uint8{scsi.OpWrite16, scsi.OpSynchronizeCache10}},
}

// Write reports whether the case dirties the backing file.
func (c qd1Case) Write() bool { return c.Op != opRead }

// runQD1Case logs in to url as name and times ios IOs of op, one at a time, each
// from its send to its status (a write + SYNC CACHE pair as one IO). Offsets are
// random from seed.
func runQD1Case(url, name string, op qd1Op, ios int, seed uint64) ([]time.Duration, error) {
	l, err := dialLUN(url, initiator.Options{InitiatorName: name,
		// tgt refuses an all-zero ISID: a random-type ISID, as real initiators use.
		ISID: [6]byte{0x80, 0xa7, 0x6b, 0x00, 0x00, 0x02}})
	if err != nil {
		return nil, err
	}
	defer l.Raw.Conn.Close()
	cfg := initiator.PipelineConfig{LUN: l.LUN, BlockSize: l.BlockSize, Blocks: l.Blocks, Size: qd1IOSize,
		Depth: 1, Timeout: 60 * time.Second}
	// One READ of LBA 0 first, its status ignored: a fresh nexus may report a unit
	// attention. A read, so that the traced write cases count only timed IOs.
	warm, err := l.Raw.NewPipeline(cfg)
	if err != nil {
		return nil, err
	}
	if err := warm.Run(1, false); err != nil {
		return nil, err
	}
	lat := make([]time.Duration, 0, ios)
	cfg.Write, cfg.FUA, cfg.SyncCache = op != opRead, op == opWriteFUA, op == opWriteSync
	cfg.Random, cfg.Seed = true, seed
	cfg.Latency = func(d time.Duration) { lat = append(lat, d) }
	pl, err := l.Raw.NewPipeline(cfg)
	if err != nil {
		return nil, err
	}
	if err := pl.Run(ios, true); err != nil {
		return nil, fmt.Errorf("%d of %d IOs done: %w", len(lat), ios, err)
	}
	return lat, nil
}
