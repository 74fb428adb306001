// Package slab hands out values carved from larger allocations, so that a data path
// that needs a few small records per IO makes one allocation per many IOs.
//
// A slab never reuses a value: each lives as long as anything points to it, and keeps
// the rest of its chunk (at most Chunk-1 other values) alive with it. That costs a
// little memory and needs no ownership rules, unlike a free list, whose values must
// not be handed out again while another actor still holds a message that points to
// one.
package slab

// DefaultChunk is the number of values a Slab allocates at once unless told.
const DefaultChunk = 32

// Slab allocates values of T Chunk at a time (DefaultChunk if 0). The zero value is
// ready to use. It is not safe for concurrent use: each owner (one goroutine or one
// actor) has its own.
type Slab[T any] struct {
	Chunk int
	free  []T
}

// New returns a pointer to a zeroed T.
func (s *Slab[T]) New() *T {
	if len(s.free) == 0 {
		n := s.Chunk
		if n <= 0 {
			n = DefaultChunk
		}
		s.free = make([]T, n)
	}
	p := &s.free[0]
	s.free = s.free[1:]
	return p
}
