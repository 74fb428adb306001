// Package durability proves the durability promise of the README ("Durability")
// end to end: it runs the real target in the test process on a crash-simulating
// backend (backend.CrashSim), drives it through real iSCSI sessions (tests/initiator)
// with seeded random mixes of plain writes, FUA writes, UNMAP and WRITE SAME with
// UNMAP, SYNCHRONIZE CACHE and WCE flips (alone or beside other commands), cuts the power at random points, restarts the target on what survived, and
// checks every block against what the initiator was told was stable. A negative
// control shows the checker catches a backend that ignores stability.
package durability
