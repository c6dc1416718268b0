package rss

import (
	"errors"
	"net/netip"
)

// Table is a device's RSS configuration: where it puts each flow.
type Table struct {
	Key   []byte   // the Toeplitz key
	Indir []uint32 // the indirection table: hash % len(Indir) -> RX queue
	// Fields4 and Fields6 are what the device hashes of TCP over IPv4
	// and over IPv6.
	Fields4, Fields6 Fields
}

// ErrNoPortHash: the device does not hash the destination port of TCP
// frames of that family, so no choice of port steers a flow.
var ErrNoPortHash = errors.New("rss: the device does not hash TCP ports")

func (t *Table) fields(a netip.Addr) Fields {
	if a.Unmap().Is4() {
		return t.Fields4
	}
	return t.Fields6
}

// Queue is the RX queue the device puts a TCP frame from src to dst on.
func (t *Table) Queue(src, dst netip.AddrPort) int {
	var buf [36]byte
	in, _ := Input(buf[:0], t.fields(src.Addr()), src, dst)
	return t.queueOf(Hash(t.Key, in))
}

func (t *Table) queueOf(h uint32) int {
	return int(t.Indir[h%uint32(len(t.Indir))])
}

// Queues is how many distinct queues the indirection table names.
func (t *Table) Queues() int {
	seen := map[uint32]bool{}
	for _, q := range t.Indir {
		seen[q] = true
	}
	return len(seen)
}

// Search answers, for frames from src to one destination address, which
// queue each destination port puts them on: the fixed fields are hashed
// once, a port in 16 steps (Toeplitz is linear over XOR).
type Search struct {
	t    *Table
	base uint32     // the hash with destination port 0
	bit  [16]uint32 // the key window of each port bit, most significant first
}

// NewSearch prepares a Search over the destination port of frames from
// src to dst (dst's port is ignored). It fails with ErrNoPortHash when
// the device does not hash the destination port.
func (t *Table) NewSearch(src netip.AddrPort, dst netip.Addr) (Search, error) {
	var buf [36]byte
	in, at := Input(buf[:0], t.fields(src.Addr()), src, netip.AddrPortFrom(dst, 0))
	if at < 0 || len(t.Indir) == 0 {
		return Search{}, ErrNoPortHash
	}
	s := Search{t: t, base: Hash(t.Key, in)}
	for i := range s.bit {
		s.bit[i] = uint32(window(t.Key, 8*at+i) >> 32)
	}
	return s, nil
}

// Queue is the queue a frame to port lands on.
func (s *Search) Queue(port uint16) int {
	h := s.base
	for i := range s.bit {
		if port&(0x8000>>i) != 0 {
			h ^= s.bit[i]
		}
	}
	return s.t.queueOf(h)
}
