package server

import (
	"net/netip"
	"sync"
)

// sources counts open connections per client address, for
// Options.MaxConnsPerSource. One map behind a lock: the loops share it,
// and it is touched only at a connection's open and close.
type sources struct {
	max int32
	mu  sync.Mutex
	n   map[netip.Addr]int32
}

func newSources(max int) *sources {
	return &sources{max: int32(max), n: make(map[netip.Addr]int32)}
}

// add counts a connection from a, or reports false when a is at its bound.
func (s *sources) add(a netip.Addr) bool {
	a = a.Unmap()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n[a] >= s.max {
		return false
	}
	s.n[a]++
	return true
}

// remove uncounts a connection from a.
func (s *sources) remove(a netip.Addr) {
	a = a.Unmap()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n[a] <= 1 {
		delete(s.n, a)
		return
	}
	s.n[a]--
}
