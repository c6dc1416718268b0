package timewait

import (
	"encoding/binary"
	"hash/maphash"
	"time"

	"github.com/sluicenet/sluice/tcp"
)

// entry is one TIME-WAIT connection: 48 octets, no pointers. The remote
// address is kept in its 16-octet form (IPv4 as v4-mapped), so one layout
// serves both families.
// The local address is one of the few a server listens on: the entry
// holds its index in Table.laddrs, which saves 16 octets an entry (the
// 64-octet layout cost 75.5 B an entry at 1M with the index, issue 13).
type entry struct {
	expiry   tcp.Instant // 2*MSL after the last (re)start
	raddr    [16]byte
	sndNxt   tcp.Seq
	rcvNxt   tcp.Seq
	tsRecent uint32
	tsOffset uint32
	lport    uint16
	rport    uint16
	window   uint16 // window field to advertise, already scaled
	local    uint16 // index into Table.laddrs (laMask) | fLive | fTS
}

const (
	laBits = 14
	laMask = 1<<laBits - 1
	// maxLocalAddrs bounds the distinct local addresses of a table.
	maxLocalAddrs = 1 << laBits

	fLive = 1 << laBits       // the slot holds a current entry (else a dead ring slot)
	fTS   = 1 << (laBits + 1) // timestamps in use (RFC 7323)
)

// Index words: the top 8 bits are a hash tag that is never 0 (tagOf), the
// low slotBits the ring slot, so 0 is an empty word. A ring slot fills the
// whole field (ringBits = slotBits): a "slot plus one" field with 0 for
// empty would need 25 bits at 2^24 slots and leave the tag 7, doubling the
// probes that find a matching tag but another 4-tuple (a cache miss on the
// entry each, in a large table); a nonzero tag costs one of its 256 values.
const (
	slotBits = 24
	slotMask = 1<<slotBits - 1
)

// tagOf is the index tag of hash h: its top 8 bits, 0 taken as 1.
func tagOf(h uint64) uint32 { return max(uint32(h>>56), 1) }

// The ring is numbered mod 2^ringBits and stored in chunks of chunkLen
// entries, allocated as the tail reaches them and released as the head
// leaves them, so the ring grows without moving an entry (a ring copied
// to twice its size stopped the loop for about 2 s at 4M entries).
// MaxLimit + MaxLimit/8 + 8 slots stay below 2^ringBits - chunkLen, so
// the tail never reaches the head's chunk (at 2^23, 9,437,192 slots of
// 16,777,216), and a ring slot fills an index word's slot field
// (TestLimits). The chunk table is 2^(ringBits-chunkBits) pointers, 32 KiB.
const (
	ringBits  = 24
	ringMask  = 1<<ringBits - 1
	chunkBits = 12 // 4096 entries, 192 KiB
	chunkLen  = 1 << chunkBits
	chunkMask = chunkLen - 1
)

type chunk [chunkLen]entry

// The index is sized once, by New, for Max live entries at load at most
// 1/2 (indexWords) and never grows: it holds live entries only (kill and
// Expire delete theirs, compact reindexes the live ones), so its load
// never passes 1/2. The bound is known when the table is made, as Linux
// sizes its established hash (which holds TIME-WAIT sockets) once at
// boot. An index that doubled incrementally as the table grew raised the
// loop's CPU per connection from 5.4-6.0 us to 11.65 us for a second and
// 6.7-7.4 us for five more when it doubled to 2^24 words at 4.19M entries
// (bench/runs/2026-12-07-churn-paced/run2).
// The cost is 4 octets x 2 x Max rounded up to a power of two (1 MiB at
// 131,072, 64 MiB at MaxLimit), allocated up front but touched only as
// entries arrive; it holds no pointer, so the GC never scans it.
const minIndexWords = 128

// indexWords is the index size for max live entries: the least power of
// two at least 2*max, and at least minIndexWords.
func indexWords(max int) int {
	n := minIndexWords
	for n < 2*max {
		n *= 2
	}
	return n
}

// Table is a TIME-WAIT table; see the package doc. The zero value is not
// usable: call New.
type Table struct {
	chunks  []*chunk // ring of (re)start-ordered entries: slot s is in chunks[s>>chunkBits]
	spare   *chunk   // a released chunk, for the next one the tail needs
	head    int      // slot of the oldest used ring slot; live whenever used > 0
	used    int      // ring slots in use from head, live and dead
	live    int      // live entries
	size    int      // ring slots usable before makeRoom: doubles up to ringMax
	idx     []uint32 // indexWords(max) words, never resized
	idxMask uint32
	seed    maphash.Seed
	life    tcp.Instant // 2*MSL
	max     int         // live entries allowed
	ringMax int         // ring slots allowed: max + max/8 + 8
	seg     tcp.Segment // scratch for Emit, so emitting allocates nothing
	stats   Stats
	// laddrs are the local addresses of the entries (16-octet form), by
	// index; laIdx finds an address's index, lastLA caches the last one.
	laddrs []([16]byte)
	laIdx  map[[16]byte]uint16
	lastLA [16]byte
	lastI  int    // index of lastLA, or -1
	touch  uint32 // sink for Prefetch's loads
}

// New returns an empty table with its index sized for c.Max entries
// (indexWords: 4 octets x 2 x Max, rounded up to a power of two).
func New(c Config) (*Table, error) {
	msl, max, err := c.normalize()
	if err != nil {
		return nil, err
	}
	t := &Table{
		seed:    maphash.MakeSeed(),
		life:    tcp.Instant(2 * msl),
		max:     max,
		ringMax: max + max/8 + 8,
		chunks:  make([]*chunk, 1<<(ringBits-chunkBits)),
		idx:     make([]uint32, indexWords(max)),
		idxMask: uint32(indexWords(max) - 1),
		laIdx:   map[[16]byte]uint16{},
		lastI:   -1,
	}
	t.size = min(64, t.ringMax)
	return t, nil
}

// Len is the number of live entries.
func (t *Table) Len() int { return t.live }

// Max is the configured bound on live entries.
func (t *Table) Max() int { return t.max }

// Lifetime is 2*MSL, the life of an entry after each (re)start.
func (t *Table) Lifetime() time.Duration { return time.Duration(t.life) }

// Stats returns the counters.
func (t *Table) Stats() Stats { return t.stats }

// NextDeadline is when the oldest entry expires (tcp.Never when empty): the
// loop's timer wheel calls Expire then.
func (t *Table) NextDeadline() tcp.Instant {
	if t.used == 0 {
		return tcp.Never
	}
	return t.at(t.head).expiry
}

// at is ring slot s.
func (t *Table) at(s int) *entry { return &t.chunks[s>>chunkBits][s&chunkMask] }

// Insert adds the connection id in TIME-WAIT with state st; it expires
// 2*MSL after now. An existing entry for id is replaced. It returns false,
// counting RefusedFull, when Max entries are live: the caller then closes
// the connection without TIME-WAIT (Linux's policy, see the package doc).
// A full table refuses before it hashes or probes, so at the bound, where
// a churning server inserts most often, a refusal costs two compares (in
// a loop's table an entry for id is never live as id's TCB reaches
// TIME-WAIT: id's SYN would have removed it, RFC 6191 reopen; were one
// live, it is kept and goes on protecting the 4-tuple).
func (t *Table) Insert(id *tcp.ID, st *State, now tcp.Instant) bool {
	if t.Refuses(now) {
		return false
	}
	la, ok := t.localIndex(id.LocalAddr.As16(), true)
	if !ok {
		t.stats.RefusedFull++
		return false
	}
	e := entry{
		expiry:   now + t.life,
		raddr:    id.RemoteAddr.As16(),
		lport:    id.LocalPort,
		rport:    id.RemotePort,
		sndNxt:   st.SndNxt,
		rcvNxt:   st.RcvNxt,
		window:   st.Window,
		tsRecent: st.TSRecent,
		tsOffset: st.TSOffset,
		local:    uint16(la) | fLive,
	}
	if st.TS {
		e.local |= fTS
	}
	h := t.hash(&e)
	if ipos, s := t.find(&e, h); s >= 0 {
		t.kill(ipos, s)
		t.stats.Removed++ // every entry leaves counted: Expired, Removed or Reopened
	}
	t.add(&e, h)
	t.stats.Inserted++
	return true
}

// Refuses reports whether an Insert at now would be refused for the
// bound (Max entries live once due entries are expired), counting the
// refusal (RefusedFull) as Insert does. A caller at the bound asks first
// and skips gathering the State and 4-tuple Insert takes.
func (t *Table) Refuses(now tcp.Instant) bool {
	if t.live >= t.max {
		t.Expire(now) // due entries the sweep has not reached yet make room
	}
	if t.live >= t.max {
		t.stats.RefusedFull++
		return true
	}
	return false
}

// Lookup returns the state and expiry of id's entry, if one is live at now.
func (t *Table) Lookup(id *tcp.ID, now tcp.Instant) (st State, expiry tcp.Instant, ok bool) {
	_, s := t.lookup(id, now)
	if s < 0 {
		return State{}, 0, false
	}
	e := t.at(s)
	return State{
		SndNxt: e.sndNxt, RcvNxt: e.rcvNxt, Window: e.window, TS: e.local&fTS != 0,
		TSRecent: e.tsRecent, TSOffset: e.tsOffset,
	}, e.expiry, true
}

// Remove deletes id's entry, reporting whether there was one.
func (t *Table) Remove(id *tcp.ID) bool {
	k, ok := t.keyOf(id)
	if !ok {
		return false
	}
	ipos, s := t.find(&k, t.hash(&k))
	if s < 0 {
		return false
	}
	t.kill(ipos, s)
	t.stats.Removed++
	return true
}

// Expire removes every entry due at now (expiry <= now) and returns how
// many it removed. Its cost is proportional to the entries removed.
func (t *Table) Expire(now tcp.Instant) int {
	n := 0
	for t.used > 0 {
		e := t.at(t.head)
		if e.local&fLive != 0 {
			if e.expiry > now {
				break
			}
			ipos, _ := t.find(e, t.hash(e))
			t.idxDelete(ipos)
			e.local &^= fLive
			t.live--
			t.stats.Expired++
			n++
		}
		t.popHead()
	}
	return n
}

// keyOf returns an entry holding just id's 4-tuple, for find; false when
// no entry can have it (its local address has none).
func (t *Table) keyOf(id *tcp.ID) (entry, bool) {
	la, ok := t.localIndex(id.LocalAddr.As16(), false)
	return entry{raddr: id.RemoteAddr.As16(), lport: id.LocalPort, rport: id.RemotePort, local: uint16(la)}, ok
}

// localIndex returns the index of local address a in laddrs, adding it
// when add is set (false when absent, or when maxLocalAddrs are in use).
// Addresses are never removed: a server has few, and they are 16 octets.
func (t *Table) localIndex(a [16]byte, add bool) (int, bool) {
	if t.lastI >= 0 && a == t.lastLA {
		return t.lastI, true
	}
	i, ok := t.laIdx[a]
	if !ok {
		if !add || len(t.laddrs) >= maxLocalAddrs {
			return 0, false
		}
		i = uint16(len(t.laddrs))
		t.laddrs = append(t.laddrs, a)
		t.laIdx[a] = i
	}
	t.lastLA, t.lastI = a, int(i)
	return int(i), true
}

// lookup finds id's live entry, expiring it first if it is due: an entry
// is gone exactly 2*MSL after its (re)start even if Expire runs late.
func (t *Table) lookup(id *tcp.ID, now tcp.Instant) (ipos uint32, s int) {
	k, ok := t.keyOf(id)
	if !ok {
		return 0, -1
	}
	h := t.hash(&k)
	ipos, s = t.find(&k, h)
	if s >= 0 && t.at(s).expiry <= now {
		t.kill(ipos, s)
		t.stats.Expired++
		return 0, -1
	}
	return ipos, s
}

// Prefetch loads the index word where the entry for a 4-tuple would be
// found, given as its 36 octets in sched.ConnKey's layout (local address,
// remote address, both 16-octet, local port, remote port), so that a
// look-up of it soon after finds the word in cache. The loop calls it for
// each segment of a receive batch that no connection took: in a large
// table nearly every such look-up (each new connection's SYN) misses the
// cache, and these independent loads overlap the misses.
func (t *Table) Prefetch(tuple *[36]byte) {
	h := maphash.Bytes(t.seed, tuple[:])
	t.touch += t.idx[uint32(h)&t.idxMask]
}

// hash is the index hash of e's 4-tuple (its 36 octets, as sched.ConnKey
// lays them out).
func (t *Table) hash(e *entry) uint64 {
	var b [36]byte
	copy(b[0:16], t.laddrs[e.local&laMask][:])
	copy(b[16:32], e.raddr[:])
	binary.BigEndian.PutUint16(b[32:], e.lport)
	binary.BigEndian.PutUint16(b[34:], e.rport)
	return maphash.Bytes(t.seed, b[:])
}

// find returns the index position and ring slot of the entry with k's
// 4-tuple, or the first empty position and -1 for the slot.
func (t *Table) find(k *entry, h uint64) (uint32, int) {
	tag := tagOf(h)
	for i := uint32(h) & t.idxMask; ; i = (i + 1) & t.idxMask {
		w := t.idx[i]
		if w == 0 {
			return i, -1
		}
		if w>>slotBits != tag {
			continue
		}
		s := int(w & slotMask)
		e := t.at(s)
		if e.lport == k.lport && e.rport == k.rport && e.raddr == k.raddr && (e.local^k.local)&laMask == 0 {
			return i, s
		}
	}
}

// add appends a live entry to the ring and indexes it.
func (t *Table) add(e *entry, h uint64) {
	if t.used == t.size {
		t.makeRoom()
	}
	s := (t.head + t.used) & ringMask
	c := &t.chunks[s>>chunkBits]
	if *c == nil {
		*c, t.spare = t.spare, nil
		if *c == nil {
			*c = new(chunk)
		}
	}
	(*c)[s&chunkMask] = *e
	t.used++
	t.live++
	t.idxPut(h, s) // live <= max: the index is at most half full
}

// idxPut indexes ring slot s under hash h (the tuple is not present).
func (t *Table) idxPut(h uint64, s int) {
	i := uint32(h) & t.idxMask
	for t.idx[i] != 0 {
		i = (i + 1) & t.idxMask
	}
	t.idx[i] = tagOf(h)<<slotBits | uint32(s)
}

// kill removes the live entry at ring slot s, indexed at ipos. Its ring
// slot stays, dead, until the head passes it.
func (t *Table) kill(ipos uint32, s int) {
	t.idxDelete(ipos)
	t.at(s).local &^= fLive
	t.live--
	for t.used > 0 && t.at(t.head).local&fLive == 0 {
		t.popHead()
	}
}

// popHead drops the head slot, releasing its chunk when the head leaves
// it (the tail, less than a chunk short of a full turn, is not in it).
func (t *Table) popHead() {
	t.head = (t.head + 1) & ringMask
	t.used--
	if t.head&chunkMask == 0 {
		c := &t.chunks[((t.head-1)&ringMask)>>chunkBits]
		t.spare, *c = *c, nil
	}
}

// idxDelete empties index position i by backward-shift deletion (linear
// probing without tombstones): later words of the cluster whose home is
// not in (i, j] move back into the hole.
func (t *Table) idxDelete(i uint32) {
	idx, mask := t.idx, t.idxMask
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		w := idx[j]
		if w == 0 {
			break
		}
		home := uint32(t.hash(t.at(int(w&slotMask)))) & mask
		// Distance from home to j versus from i to j, cyclically: the
		// word may fill the hole when its home is not after the hole.
		if (j-home)&mask >= (j-i)&mask {
			idx[i] = w
			i = j
		}
	}
	idx[i] = 0
}

// makeRoom is called when the usable ring slots are all used: compact in
// place when a quarter is dead or the ring is at its limit, else double
// the usable slots (chunks come as the tail needs them; nothing moves).
// At the limit, live < max leaves at least max/8 dead slots, so the O(n)
// compaction is paid for by that many restarts or removals.
func (t *Table) makeRoom() {
	dead := t.used - t.live
	if dead >= t.size/4 || t.size >= t.ringMax {
		t.compact()
		return
	}
	t.size = min(2*t.size, t.ringMax)
}

// compact moves live entries to the front of the ring, in order. Chunks
// past the new tail stay for the tail to reuse.
func (t *Table) compact() {
	w, r := t.head, t.head
	for range t.used {
		if e := t.at(r); e.local&fLive != 0 {
			if w != r {
				*t.at(w) = *e
			}
			w = (w + 1) & ringMask
		}
		r = (r + 1) & ringMask
	}
	t.used = t.live
	t.stats.Compactions++
	t.reindex()
}

// reindex rebuilds the index from the live ring slots.
func (t *Table) reindex() {
	clear(t.idx)
	s := t.head
	for range t.used {
		if e := t.at(s); e.local&fLive != 0 {
			t.idxPut(t.hash(e), s)
		}
		s = (s + 1) & ringMask
	}
}
