// Package syncookie makes and checks SYN cookies (RFC 4987 §3.6) in the
// style of Linux's net/ipv4/syncookies.c: when a listener's SYN queue is
// full it answers a SYN with a SYN-ACK whose ISN encodes everything it needs
// to build the connection later, and keeps no state; the peer's ACK (its
// SEG.ACK - 1 is our cookie) proves the SYN was real.
//
// Cookie layout (Linux secure_tcp_syn_cookie):
//
//	cookie = H0(4-tuple) + peerISN + (t << 24) + ((H1(4-tuple, peerISN, t) + mssIndex*Spread) mod 2^24)
//
// where t is a counter of 64-second periods, H0 and H1 are SipHash-2-4
// under two independent keys. Checking subtracts H0 + peerISN, reads t' from
// the top 8 bits, accepts it only for the current or the previous period
// (a cookie lives 64 to 128 s; Linux: 60 to 120 s, MAX_SYNCOOKIE_AGE 2),
// then recovers mssIndex from the low 24 bits and requires it to be one of
// the four valid codes: a random forgery passes with probability about
// 2/256 * 4/2^24.
//
// Two departures from Linux, both to make near-misses fail rather than
// decode as a neighbouring MSS: Linux hashes the peer's ISN into neither
// hash and adds the raw index, so an ACK whose SEG.SEQ is one off, or a
// cookie with bit 0 flipped, passes with index±1. Here H1 covers the peer
// ISN and the index is multiplied by Spread, an odd constant chosen so that
// no difference of two codes is ± a power of two (a test checks it).
//
// The MSS is one of four values (Linux's msstab and msstab6, see MSS4 and
// MSS6); window scale and SACK-permitted cannot fit in the 32-bit ISN and
// travel in the low 6 bits of our TSval instead (EncodeTS/DecodeTS, Linux's
// cookie_init_timestamp / cookie_decode_options). A peer that did not send
// timestamps loses window scaling and SACK on a cookie connection — the
// price RFC 4987 §3.6 describes for stateless SYN handling.
//
// The package does not import package tcp (tcp imports it); it reads no
// clock: nowNanos is the caller's monotonic time.
package syncookie

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/sluicenet/sluice/tcp/isn"
)

// PeriodNanos is the length of one cookie time period (t above): 64 s.
const PeriodNanos = 64e9

// MaxAge is how many periods a cookie is accepted in: the current and the
// previous one, as Linux's MAX_SYNCOOKIE_AGE.
const MaxAge = 2

const (
	countBits = 8
	dataBits  = 32 - countBits // 24: the hashed, MSS-carrying part
	dataMask  = 1<<dataBits - 1
)

// MSS4 are the MSS values an IPv4 cookie can encode (Linux msstab: the
// 536 minimum, 1300 for tunnels, 1440 for PPPoE-ish paths, 1460 for
// Ethernet), ascending. Make picks the largest one not above the peer's MSS.
var MSS4 = [4]uint16{536, 1300, 1440, 1460}

// MSS6 are the IPv6 values (Linux msstab6: MTU 1280, 1480, 1500 and a
// 9000 jumbo frame, each minus 60 octets of IPv6 and TCP headers).
var MSS6 = [4]uint16{1220, 1420, 1440, 8940}

// Jar holds the two cookie keys. It is read-only after construction and
// safe for concurrent use; methods do not allocate.
type Jar struct {
	k0, k1 isn.Key
}

// New returns a Jar with H0 keyed by key[0:16] and H1 by key[16:32].
func New(key [32]byte) *Jar {
	return &Jar{isn.NewKey([16]byte(key[0:16])), isn.NewKey([16]byte(key[16:32]))}
}

// NewRandom returns a Jar keyed from crypto/rand.
func NewRandom() (*Jar, error) {
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, fmt.Errorf("syncookie: reading a random key: %w", err)
	}
	return New(key), nil
}

// table returns the MSS table for the flow's address family.
func table(raddr netip.Addr) *[4]uint16 {
	if raddr.Is6() && !raddr.Is4In6() {
		return &MSS6
	}
	return &MSS4
}

// count is the period counter t at nowNanos.
func count(nowNanos int64) uint32 { return uint32(uint64(nowNanos) / PeriodNanos) }

// h0 is the period-independent hash H0; h1 mixes in the period counter.
func (j *Jar) h0(laddr, raddr netip.Addr, lport, rport uint16) uint32 {
	return uint32(j.k0.Tuple(laddr, raddr, lport, rport))
}

func (j *Jar) h1(laddr, raddr netip.Addr, lport, rport uint16, peerISN, t uint32) uint32 {
	var b [isn.TupleLen + 8]byte
	isn.PutTuple((*[isn.TupleLen]byte)(b[:isn.TupleLen]), laddr, raddr, lport, rport)
	binary.BigEndian.PutUint32(b[36:40], peerISN)
	binary.BigEndian.PutUint32(b[40:44], t)
	return uint32(j.k1.Sum64(b[:]))
}

// Spread multiplies the MSS index in the cookie's low 24 bits, so that
// codes 0, Spread, 2*Spread, 3*Spread are far apart in Hamming and additive
// distance (no two differ by ± a power of two modulo 2^24).
const Spread = 0x3a5c7b

// Make returns the cookie to use as our ISN in the SYN-ACK answering a SYN
// from (raddr, rport) to (laddr, lport) with sequence number peerISN and MSS
// option mss, and the MSS the cookie encodes: the largest table value not
// above mss (the table's smallest if mss is below it, as Linux does; pass
// 536 or 1220, RFC 9293 §3.7.1, when the SYN had no MSS option). The
// connection must use encodedMSS, since that is all Check recovers.
func (j *Jar) Make(laddr, raddr netip.Addr, lport, rport uint16, peerISN uint32, mss uint16, nowNanos int64) (cookie uint32, encodedMSS uint16) {
	tab := table(raddr)
	idx := uint32(len(tab) - 1)
	for idx > 0 && mss < tab[idx] {
		idx--
	}
	t := count(nowNanos)
	cookie = j.h0(laddr, raddr, lport, rport) + peerISN + t<<dataBits +
		(j.h1(laddr, raddr, lport, rport, peerISN, t)+idx*Spread)&dataMask
	return cookie, tab[idx]
}

// Check validates the ACK completing a cookie handshake: peerISN is the
// ACK's SEG.SEQ - 1 and cookie its SEG.ACK - 1 (RFC 4987 §3.6). It returns
// the encoded MSS and true when the cookie was made by this Jar for this
// 4-tuple and peer ISN within the last MaxAge periods; otherwise 0, false.
func (j *Jar) Check(laddr, raddr netip.Addr, lport, rport uint16, peerISN, cookie uint32, nowNanos int64) (mss uint16, ok bool) {
	c := cookie - j.h0(laddr, raddr, lport, rport) - peerISN
	now := count(nowNanos)
	// Age in periods, modulo 2^8 as the counter field wraps.
	diff := (now - c>>dataBits) & (1<<countBits - 1)
	if diff >= MaxAge {
		return 0, false
	}
	v := (c - j.h1(laddr, raddr, lport, rport, peerISN, now-diff)) & dataMask
	tab := table(raddr)
	for idx := range uint32(len(tab)) {
		if v == idx*Spread&dataMask {
			return tab[idx], true
		}
	}
	return 0, false
}
