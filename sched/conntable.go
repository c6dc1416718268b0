package sched

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"

	"github.com/sluicenet/sluice/tcp"
)

// ConnKey is a connection's 4-tuple seen from this end, packed into 36 bytes:
// local address, remote address (16 bytes each, IPv4 as v4-mapped IPv6, so
// one key type serves both families), local port, remote port (big-endian).
// It holds no pointers (unlike netip.Addr), so a table of keys is invisible to
// the GC, and it hashes as one contiguous byte string.
type ConnKey struct {
	b [36]byte
}

// Where ConnKey's fields are in its 36 bytes.
const (
	keyLocalAddr  = 0
	keyRemoteAddr = 16
	keyLocalPort  = 32
	keyRemotePort = 34
)

// NewConnKey builds a key from raw 16-byte addresses (v4-mapped for IPv4),
// as the frame parser has them.
func NewConnKey(localIP, remoteIP [16]byte, localPort, remotePort uint16) ConnKey {
	var k ConnKey
	copy(k.b[keyLocalAddr:], localIP[:])
	copy(k.b[keyRemoteAddr:], remoteIP[:])
	binary.BigEndian.PutUint16(k.b[keyLocalPort:], localPort)
	binary.BigEndian.PutUint16(k.b[keyRemotePort:], remotePort)
	return k
}

// MakeConnKey builds a key from address-port pairs. Zones are dropped: a
// loop serves one interface.
func MakeConnKey(local, remote netip.AddrPort) ConnKey {
	return NewConnKey(local.Addr().As16(), remote.Addr().As16(), local.Port(), remote.Port())
}

// addr and port read a field of k in place; v4-mapped addresses come
// back as IPv4.
func (k *ConnKey) addr(at int) netip.Addr {
	return netip.AddrFrom16([16]byte(k.b[at : at+16])).Unmap()
}

func (k *ConnKey) port(at int) uint16 { return binary.BigEndian.Uint16(k.b[at:]) }

// Equal reports whether k and o are the same 4-tuple: four 8-octet and
// one 4-octet compare, inlined, where == on the 36-octet array calls
// runtime.memequal (the table compares a key on every hit, demux once
// more).
func (k *ConnKey) Equal(o *ConnKey) bool {
	le := binary.LittleEndian
	return le.Uint64(k.b[0:]) == le.Uint64(o.b[0:]) && le.Uint64(k.b[8:]) == le.Uint64(o.b[8:]) &&
		le.Uint64(k.b[16:]) == le.Uint64(o.b[16:]) && le.Uint64(k.b[24:]) == le.Uint64(o.b[24:]) &&
		le.Uint32(k.b[32:]) == le.Uint32(o.b[32:])
}

// ID is k as a tcp.ID (IPv4 unmapped, as the frames carry it), read from
// the key in place: the loop names every segment a connection sends by
// it (FlowSink), where copies of the 36-octet key, as Local and Remote
// take, cost three times as much.
func (k *ConnKey) ID() tcp.ID {
	return tcp.ID{
		LocalAddr:  k.addr(keyLocalAddr),
		RemoteAddr: k.addr(keyRemoteAddr),
		LocalPort:  k.port(keyLocalPort),
		RemotePort: k.port(keyRemotePort),
	}
}

// Local returns the local address and port.
func (k ConnKey) Local() netip.AddrPort {
	return netip.AddrPortFrom(k.addr(keyLocalAddr), k.port(keyLocalPort))
}

// Remote returns the remote address and port.
func (k ConnKey) Remote() netip.AddrPort {
	return netip.AddrPortFrom(k.addr(keyRemoteAddr), k.port(keyRemotePort))
}

func (k ConnKey) String() string { return k.Local().String() + "<->" + k.Remote().String() }

// connSlot is one table slot, 8 bytes. hash 0 marks an empty slot (real
// hashes are forced non-zero). Keeping the hash avoids rehashing keys when
// resizing, gives Robin Hood probing each resident's home cheaply, and
// means a key is compared only when its 32-bit hash matches: nearly always
// a hit.
type connSlot struct {
	hash uint32
	val  uint32
}

// KeyOf returns the key stored under value v, or nil when v holds none. A
// table built with one (NewConnTableKeyOf) keeps no keys itself: the
// caller's slab element already holds its 4-tuple, and a 36-byte key per
// slot would be most of the table's memory.
type KeyOf func(v uint32) *ConnKey

// connArray is one open-addressing array of 2^k slots; the home slot is the
// hash's top k bits. keys runs beside slots in a keyed table; a keyless
// one asks keyOf.
type connArray struct {
	slots []connSlot
	keys  []ConnKey
	keyOf KeyOf
	mask  uint32
	shift uint32 // 32 - k
}

func newConnArray(size int, keyOf KeyOf) connArray {
	k := uint32(0)
	for 1<<k < size {
		k++
	}
	a := connArray{slots: make([]connSlot, 1<<k), keyOf: keyOf, mask: 1<<k - 1, shift: 32 - k}
	if keyOf == nil {
		a.keys = make([]ConnKey, 1<<k)
	}
	return a
}

// keyAt returns the key of the resident of pos (nil: none known).
func (a *connArray) keyAt(pos uint32) *ConnKey {
	if a.keys != nil {
		return &a.keys[pos]
	}
	return a.keyOf(a.slots[pos].val)
}

// holds reports whether the resident of pos has hash h and key k.
func (a *connArray) holds(pos, h uint32, k *ConnKey) bool {
	if a.slots[pos].hash != h {
		return false
	}
	rk := a.keyAt(pos)
	return rk != nil && rk.Equal(k)
}

// move copies the resident of from into to (keys too in a keyed table).
func (a *connArray) move(to, from uint32) {
	a.slots[to] = a.slots[from]
	if a.keys != nil {
		a.keys[to] = a.keys[from]
	}
}

func (a *connArray) home(h uint32) uint32 { return h >> a.shift }

// dist is how far the resident of pos sits from its home slot.
func (a *connArray) dist(pos uint32) uint32 {
	return (pos - a.home(a.slots[pos].hash)) & a.mask
}

const (
	connMinSize = 16
	// migrateBatch old slots are rehashed per Insert or Delete while a
	// resize is under way. A grow starts at 3/4 load and doubles, so the
	// new array reaches 3/4 only after N·3/4 more inserts; migrating 8
	// slots per operation finishes after N/8. A shrink (at 1/8 load, to
	// half) likewise finishes long before the new array could fill up.
	migrateBatch = 8
)

// ConnTable maps connection 4-tuples to uint32 indices (into a caller-owned
// slab of TCBs). A keyed table (NewConnTable) stores each key beside its
// slot; a keyless one (NewConnTableKeyOf) stores hash and index only, 8
// bytes a slot, and reads a resident's key from the caller when the hash
// matches: one more cache miss per hit (on the slab element the caller
// reads next anyway) for a fifth of the memory. It is open addressing with linear probing, Robin Hood
// insertion (residents far from home are not displaced by newcomers, which
// keeps probe lengths short and lets a miss stop early) and backward-shift
// deletion (no tombstones, so lookups never slow down with churn).
//
// Keys are hashed with hash/maphash under a seed drawn per table, so a peer
// that chooses its ports and addresses cannot aim them at one probe chain
// (hash flooding): it does not know this table's seed.
//
// Resizing is incremental, so no single operation pauses for a rehash of the
// whole table: a resize allocates the new array and keeps the old one, and
// every Insert and Delete moves at most migrateBatch of the old slots across.
// Lookups consult both arrays until the old one is empty.
//
// A ConnTable belongs to one loop and is not safe for concurrent use.
type ConnTable struct {
	seed  maphash.Seed
	keyOf KeyOf // nil: keyed
	cur   connArray
	old   connArray // non-nil slots only while a resize is under way
	start uint32    // old slot where migration began: an empty slot
	moved uint32    // old slots migrated so far, counted from start
	count int

	lastMoved int    // entries migrated by the last operation (tests)
	touch     uint32 // sink for LookupBatch's prefetching loads
}

// NewConnTable returns an empty keyed table sized for sizeHint entries
// without resizing, with a fresh random hash seed.
func NewConnTable(sizeHint int) *ConnTable { return NewConnTableKeyOf(sizeHint, nil) }

// NewConnTableKeyOf is NewConnTable for a keyless table: keyOf(v) must
// return the key inserted with v for as long as v is in the table (so the
// caller deletes an entry before its element changes or is freed), and must
// not allocate. A nil keyOf makes a keyed table.
func NewConnTableKeyOf(sizeHint int, keyOf KeyOf) *ConnTable {
	size := max(connMinSize, sizeHint+sizeHint/3+1) // stay under 3/4 load
	return &ConnTable{seed: maphash.MakeSeed(), keyOf: keyOf, cur: newConnArray(size, keyOf)}
}

// Len reports the number of entries.
func (t *ConnTable) Len() int { return t.count }

// Cap reports the slot count of the current array (the new one while a
// resize is under way).
func (t *ConnTable) Cap() int { return len(t.cur.slots) }

// Resizing reports whether an incremental resize is under way.
func (t *ConnTable) Resizing() bool { return t.old.slots != nil }

func (t *ConnTable) hash(k *ConnKey) uint32 {
	h := uint32(maphash.Bytes(t.seed, k.b[:]) >> 32)
	if h == 0 {
		h = 1 // 0 marks an empty slot
	}
	return h
}

// Lookup returns the value stored for k.
func (t *ConnTable) Lookup(k ConnKey) (uint32, bool) {
	return t.lookupHashed(t.hash(&k), &k)
}

// lookupBatchMax bounds the keys whose home slots are touched ahead of the
// lookups proper: enough to cover DRAM latency, few enough to stay on the
// stack.
const lookupBatchMax = 16

// LookupBatch looks up every key of keys, storing the value in vals[i] and
// whether it was found in found[i] (both at least len(keys) long); it returns
// the number found. The loop receives frames in batches, and at a million
// connections nearly every lookup is a cache miss: touching the home slots of
// a whole batch first lets the CPU overlap those misses instead of paying
// them one after another (about twice as fast per key at 1M entries).
func (t *ConnTable) LookupBatch(keys []ConnKey, vals []uint32, found []bool) int {
	_ = vals[:len(keys)]
	_ = found[:len(keys)]
	var hs [lookupBatchMax]uint32
	hits := 0
	for len(keys) > 0 {
		n := min(len(keys), lookupBatchMax)
		var touch uint32
		for i := range n {
			hs[i] = t.hash(&keys[i])
			// Independent loads: they miss in parallel.
			touch += t.cur.slots[t.cur.home(hs[i])].hash
		}
		// Then the keys of the home residents that match: again
		// independent of one another.
		for i := range n {
			if pos := t.cur.home(hs[i]); t.cur.slots[pos].hash == hs[i] {
				if k := t.cur.keyAt(pos); k != nil {
					touch += uint32(k.b[0])
				}
			}
		}
		t.touch = touch // keep the loads
		for i := range n {
			v, ok := t.lookupHashed(hs[i], &keys[i])
			vals[i], found[i] = v, ok
			if ok {
				hits++
			}
		}
		keys, vals, found = keys[n:], vals[n:], found[n:]
	}
	return hits
}

func (t *ConnTable) lookupHashed(h uint32, k *ConnKey) (uint32, bool) {
	if t.old.slots != nil {
		if pos, ok := t.findOld(h, k); ok {
			return t.old.slots[pos].val, true
		}
	}
	if pos, ok := find(&t.cur, t.cur.home(h), h, k); ok {
		return t.cur.slots[pos].val, true
	}
	return 0, false
}

// Insert adds k -> v. It reports false, changing nothing, when k is already
// present (two TCBs for one 4-tuple is the caller's bug to handle).
func (t *ConnTable) Insert(k ConnKey, v uint32) bool {
	t.step()
	h := t.hash(&k)
	if t.old.slots == nil && (t.count+1)*4 > len(t.cur.slots)*3 {
		t.startResize(len(t.cur.slots) * 2)
	}
	if _, ok := t.findOld(h, &k); ok {
		return false
	}
	if !insert(&t.cur, h, &k, v, true) {
		return false
	}
	t.count++
	return true
}

// Delete removes k and returns the value it had.
func (t *ConnTable) Delete(k ConnKey) (uint32, bool) {
	t.step()
	h := t.hash(&k)
	var v uint32
	if pos, ok := t.findOld(h, &k); ok {
		v = t.old.slots[pos].val
		removeAt(&t.old, pos)
	} else if pos, ok := find(&t.cur, t.cur.home(h), h, &k); ok {
		v = t.cur.slots[pos].val
		removeAt(&t.cur, pos)
	} else {
		return 0, false
	}
	t.count--
	if t.old.slots == nil && len(t.cur.slots) > connMinSize && t.count*8 < len(t.cur.slots) {
		t.startResize(len(t.cur.slots) / 2)
	}
	return v, true
}

// Range calls fn for every entry until fn returns false. The table must not
// be modified during Range.
func (t *ConnTable) Range(fn func(k ConnKey, v uint32) bool) {
	for _, a := range [2]*connArray{&t.old, &t.cur} {
		for i := range a.slots {
			if s := &a.slots[i]; s.hash != 0 {
				var k ConnKey
				if p := a.keyAt(uint32(i)); p != nil {
					k = *p
				}
				if !fn(k, s.val) {
					return
				}
			}
		}
	}
}

// startResize makes a new current array of size slots and starts draining
// the old one from an empty slot. Starting at an empty slot matters: no
// probe chain crosses it (nothing is inserted into the old array any more),
// so every resident's chain lies after the migration cursor, or begins
// before it and continues past it, and findOld can skip the drained prefix.
func (t *ConnTable) startResize(size int) {
	t.old = t.cur
	t.cur = newConnArray(size, t.keyOf)
	t.moved = 0
	t.start = 0
	for t.old.slots[t.start].hash != 0 {
		t.start++ // load <= 3/4: an empty slot is near
	}
}

// step migrates up to migrateBatch old slots into the current array.
func (t *ConnTable) step() {
	t.lastMoved = 0
	if t.old.slots == nil {
		return
	}
	n := uint32(len(t.old.slots))
	for range migrateBatch {
		pos := (t.start + t.moved) & t.old.mask
		if s := &t.old.slots[pos]; s.hash != 0 {
			var k *ConnKey
			if t.old.keys != nil {
				k = &t.old.keys[pos]
			}
			insert(&t.cur, s.hash, k, s.val, false)
			*s = connSlot{}
			if k != nil {
				*k = ConnKey{}
			}
			t.lastMoved++
		}
		t.moved++
		if t.moved == n {
			t.old = connArray{}
			return
		}
	}
}

// findOld looks k up in the old array during a resize. Slots before the
// cursor are drained; a key whose home is among them can only sit at or
// after the cursor, so probing starts there (the Robin Hood early exit still
// holds: residents past the cursor have not moved).
func (t *ConnTable) findOld(h uint32, k *ConnKey) (uint32, bool) {
	if t.old.slots == nil {
		return 0, false
	}
	a := &t.old
	home := a.home(h)
	if (home-t.start)&a.mask < t.moved {
		cursor := (t.start + t.moved) & a.mask
		return findFrom(a, home, cursor, h, k)
	}
	return findFrom(a, home, home, h, k)
}

func find(a *connArray, home, h uint32, k *ConnKey) (uint32, bool) {
	return findFrom(a, home, home, h, k)
}

// findFrom probes from pos for k (whose home slot is home). It stops at an
// empty slot or, by the Robin Hood invariant, at a resident closer to its
// home than k would be there: k would have displaced it.
func findFrom(a *connArray, home, pos, h uint32, k *ConnKey) (uint32, bool) {
	d := (pos - home) & a.mask
	for {
		s := &a.slots[pos]
		if s.hash == 0 {
			return 0, false
		}
		if a.holds(pos, h, k) {
			return pos, true
		}
		if a.dist(pos) < d {
			return 0, false
		}
		pos = (pos + 1) & a.mask
		d++
	}
}

// insert places (h, k, v) by Robin Hood: walking from home, the newcomer
// takes the slot of the first resident closer to its own home, and that
// resident carries on probing. With check set it reports false on meeting
// k (only the current array is checked; the caller checked the old one).
// A keyed array stores *k; a keyless one reads k only to check.
func insert(a *connArray, h uint32, k *ConnKey, v uint32, check bool) bool {
	pos := a.home(h)
	var d uint32
	cand := connSlot{hash: h, val: v}
	var candKey ConnKey
	if a.keys != nil {
		candKey = *k
	}
	for {
		s := &a.slots[pos]
		if s.hash == 0 {
			*s = cand
			if a.keys != nil {
				a.keys[pos] = candKey
			}
			return true
		}
		if check && a.holds(pos, h, k) {
			return false
		}
		if sd := a.dist(pos); sd < d {
			// Past this point k cannot be present: stop checking.
			check = false
			cand, *s = *s, cand
			if a.keys != nil {
				candKey, a.keys[pos] = a.keys[pos], candKey
			}
			d = sd
		}
		pos = (pos + 1) & a.mask
		d++
	}
}

// removeAt empties pos and shifts the following residents of its cluster
// back by one until one is at home or a slot is empty (backward-shift
// deletion): no tombstones, and every chain stays unbroken.
func removeAt(a *connArray, pos uint32) {
	for {
		next := (pos + 1) & a.mask
		if a.slots[next].hash == 0 || a.dist(next) == 0 {
			a.slots[pos] = connSlot{}
			if a.keys != nil {
				a.keys[pos] = ConnKey{}
			}
			return
		}
		a.move(pos, next)
		pos = next
	}
}
