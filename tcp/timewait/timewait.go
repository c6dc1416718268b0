// Package timewait is the compact TIME-WAIT table of a per-core loop. When
// a TCB reaches TIME-WAIT (RFC 9293 §3.10.7.4) the loop copies the little
// that TIME-WAIT needs into this table and frees the TCB: one 48-octet,
// pointer-free entry per 4-tuple instead of a full TCB with buffers (the
// local address, one of the few the server listens on, is an index into
// the table's list of them). With the index, a table of 1M entries costs
// 56.6 octets of heap an entry (BenchmarkBytesPerEntry).
//
// Storage (table.go). Entries live in a ring ordered by the time they were
// (re)started. Every entry lives exactly 2*MSL, so ring order is expiry
// order: Expire pops the head while it is due, NextDeadline is the head's
// expiry, both O(1) per entry. Restarting an entry (a retransmitted FIN)
// or removing one (a reopening SYN) leaves a dead slot that the head pops
// later for free; when the usable slots are all used the ring doubles
// them (up to Max + Max/8) or, with a quarter dead or at that limit,
// compacts in place, which is amortized O(1) because at the limit at least
// Max/8 slots are dead. The ring is stored in chunks of 4096 entries that
// come as the tail reaches them and go as the head leaves them, so growth
// moves no entry. A separate open-addressing index ([]uint32, linear
// probing, backward-shift deletion, load at most 1/2) maps the 4-tuple to
// a ring slot; each index word (32 bits) also carries 8 bits of the hash
// so most probes never touch the entry. New sizes the index once for Max
// live entries at load at most 1/2 (the least power of two of at least
// 2*Max words) and it never grows: it holds live entries only, so no
// Insert rehashes or moves it. The bound is known when the table is made,
// as Linux sizes its established hash once at boot; an index that doubled
// as the table grew (incrementally, a few positions an Insert) doubled a
// loop's CPU per connection for a second when it reached 2^24 words at
// 4.19M entries. The cost is 4 octets x 2 x Max rounded up, allocated by
// New: 1 MiB at Max 131,072, 64 MiB at MaxLimit; its pages are touched
// only as entries arrive, and it holds no pointer for the GC to scan. The
// index hashes the 4-tuple with
// hash/maphash under a seed drawn per table, as the loops' connection
// table does: the remote address and port are the peer's choice, and a
// peer that could aim hash collisions would turn every lookup into a long
// probe. (SipHash-2-4, the earlier hash, cost 3-4 times as much, and a
// table turning over at its bound hashes three or four times an entry.)
// Neither the chunks nor the index hold a Go pointer, so any number of
// entries cost the GC only the 4096 chunk pointers to scan.
//
// Segment handling (input.go) follows RFC 9293 §3.10.7.4 for TIME-WAIT,
// RFC 1337 (RST ignored), RFC 7323 §5 (PAWS) and RFC 6191 / Linux
// tcp_timewait_state_process (a new SYN reopens the 4-tuple).
//
// Full table: Insert refuses and counts RefusedFull; the caller then frees
// the connection without TIME-WAIT protection. This is Linux's policy
// (tcp_max_tw_buckets, "time wait bucket table overflow"): it keeps the
// protection of the entries already there, and the cost of a refusal is
// bounded by what TIME-WAIT protects against (old duplicates reaching a
// new incarnation of the same 4-tuple).
//
// The table is owned by one loop: no locks, no goroutines, no clock (now is
// an argument).
package timewait

import (
	"errors"
	"time"

	"github.com/sluicenet/sluice/tcp"
)

// Limits on Config.Max. MaxLimit holds 100k entries/s for 2*MSL at the
// default MSL (6M entries) with room to spare; its ring (MaxLimit +
// MaxLimit/8 slots) needs 24-bit ring numbers, which fill an index word's
// slot field (table.go).
const (
	DefaultMax = 1 << 18 // Linux's tcp_max_tw_buckets on a large machine
	MaxLimit   = 1 << 23
)

// Config configures a Table.
type Config struct {
	// MSL is the maximum segment lifetime; an entry lives 2*MSL after it
	// was inserted or last restarted (RFC 9293 §3.4.2). 0 means 30 s.
	MSL time.Duration
	// Max bounds the number of live entries (0 means DefaultMax).
	Max int
}

// State is what the TCB hands to the table when it reaches TIME-WAIT.
type State struct {
	SndNxt, RcvNxt tcp.Seq
	// Window is the window field to advertise, as sent (already shifted
	// right by our window scale, RFC 7323 §2.3).
	Window uint16
	// TS reports that timestamps are in use (RFC 7323); TSRecent is
	// TS.Recent and TSOffset our per-connection offset (RFC 7323 §5.4).
	TS                 bool
	TSRecent, TSOffset uint32
}

// FromVars builds the State of a TCB in TIME-WAIT from its Vars.
func FromVars(v *tcp.Vars) State {
	return State{
		SndNxt:   v.SndNxt,
		RcvNxt:   v.RcvNxt,
		Window:   uint16(min(v.RcvWnd>>v.RcvWScale, 0xffff)),
		TS:       v.TS,
		TSRecent: v.TSRecent,
		TSOffset: v.TSOffset,
	}
}

// Stats are the table's counters since New.
type Stats struct {
	Inserted    uint64 // entries created by Insert
	RefusedFull uint64 // Insert refused: Max live entries (Linux TCPTimeWaitOverflow)
	Expired     uint64 // entries removed after 2*MSL
	Removed     uint64 // entries removed by Remove, or replaced by an Insert of their 4-tuple
	ReACKs      uint64 // retransmitted FINs ACKed, 2*MSL restarted
	ACKs        uint64 // other segments answered with an ACK
	RSTIgnored  uint64 // RSTs ignored (RFC 1337)
	PAWSRejects uint64 // segments rejected by PAWS (RFC 7323 §5), ACKed unless RST
	Reopened    uint64 // SYNs that reopened the 4-tuple (RFC 6191)
	SYNRejected uint64 // SYNs not new enough to reopen, ACKed
	Compactions uint64 // in-place ring compactions
}

// Action says what Input did with a segment.
type Action uint8

const (
	// NotFound: no TIME-WAIT entry for the 4-tuple; the caller handles the
	// segment (connection table, listener, or RST for a closed port).
	NotFound Action = iota
	// Consumed: the segment was absorbed without a reply (an RST, or an
	// in-window bare ACK).
	Consumed
	// ACKed: an ACK was emitted to the Sink.
	ACKed
	// Reopen: the SYN may open a new incarnation. The entry is gone; the
	// caller hands the SYN to the listener and should use Verdict.ISN as
	// the new connection's ISS.
	Reopen
)

func (a Action) String() string {
	switch a {
	case NotFound:
		return "NotFound"
	case Consumed:
		return "Consumed"
	case ACKed:
		return "ACKed"
	case Reopen:
		return "Reopen"
	}
	return "Action(?)"
}

// Verdict is the result of Input.
type Verdict struct {
	Action Action
	// ISN is the suggested ISS for a reopened connection (Reopen only):
	// old SND.NXT + 65535 + 2, as Linux does, so it is above anything the
	// old incarnation sent (RFC 1122 §4.2.2.13 condition (1)).
	ISN tcp.Seq
}

func (c *Config) normalize() (msl time.Duration, max int, err error) {
	msl, max = c.MSL, c.Max
	if msl == 0 {
		msl = 30 * time.Second
	}
	if max == 0 {
		max = DefaultMax
	}
	if msl < 0 {
		return 0, 0, errors.New("timewait: Config.MSL is negative")
	}
	if max < 0 || max > MaxLimit {
		return 0, 0, errors.New("timewait: Config.Max out of range (0 < Max <= 1<<23)")
	}
	return msl, max, nil
}
