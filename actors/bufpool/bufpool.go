// Package bufpool recycles the data buffers of the IO path: READ data from the IO
// workers to the connection's writer, and WRITE data from the connection to the IO
// workers. Without it every IO allocates its payload and the garbage collector pays
// for it again; the benchmark showed ~40% of the CPU of 128 KiB reads going there.
//
// Ownership is explicit: whoever holds a buffer last (the writer once the Data-In is on
// the wire, the connection once a write task is answered) calls Put. A buffer that is
// never Put is simply collected.
package bufpool

import (
	"math/bits"
	"sync"
)

const (
	minShift = 12 // 4 KiB
	maxShift = 24 // 16 MiB
)

var classes [maxShift - minShift + 1]sync.Pool

// boxes recycles the *[]byte headers the pools hold, so that Put, which must hand
// sync.Pool a pointer, does not allocate one per call.
var boxes sync.Pool

// class returns the size class index for n bytes, or -1 when n is above the largest.
func class(n int) int {
	if n <= 1<<minShift {
		return 0
	}
	s := bits.Len(uint(n - 1))
	if s > maxShift {
		return -1
	}
	return s - minShift
}

// Get returns a buffer of length n (its contents are not zeroed).
func Get(n int) []byte {
	c := class(n)
	if c < 0 {
		return make([]byte, n)
	}
	if p, ok := classes[c].Get().(*[]byte); ok {
		b := (*p)[:n]
		*p = nil
		boxes.Put(p)
		return b
	}
	return make([]byte, n, 1<<(c+minShift))
}

// Put returns a buffer obtained from Get. Buffers of other capacities are ignored.
func Put(b []byte) {
	c := class(cap(b))
	if c < 0 || cap(b) != 1<<(c+minShift) {
		return
	}
	p, ok := boxes.Get().(*[]byte)
	if !ok {
		p = new([]byte)
	}
	*p = b[:cap(b)]
	classes[c].Put(p)
}
