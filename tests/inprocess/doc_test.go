// Package inprocess runs the real target in the test process (actors/target) and
// drives it with the Go test initiator (tests/initiator), so that tests can wrap LUN
// backends with fault injection and counters and assert what the disk saw.
package inprocess
