package conform

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"net/netip"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicenet/sluice/testbed"
	"github.com/sluicenet/sluice/wire"
)

// Reply windows: a step's replies are those that arrive within firstWait
// of it, then until quiet passes with none. firstWait is well above
// Linux's 40 ms delayed-ACK minimum and leaves room for a loaded machine
// running -race. A step that awaits text is acknowledged settle after it
// came, well inside both stacks' 200 ms minimum RTO, so a retransmission
// does not land in the next step; the stream view ignores retransmitted
// text anyway.
// A step that knows what it awaits (text, a FIN, a SYN-ACK) waits for it
// up to awaitLimit: the same wait for both sides, so it cannot hide a
// difference, only spare the comparison a slow scheduler's.
const (
	firstWait  = 500 * time.Millisecond
	quiet      = 100 * time.Millisecond
	settle     = 30 * time.Millisecond // after what a step awaited
	awaitLimit = 3 * time.Second
)

// Our side's constants: the SYN's options and the window we advertise.
const (
	ourMSS    = 1460
	ourWScale = 7
	ourWindow = 512 // << ourWScale: 64 KiB; 65535 unscaled
)

var nextPort atomic.Uint32

func init() { nextPort.Store(40000) }

// seg is a segment the server sent.
type seg struct {
	flags    uint8
	seq, ack uint32
	urgent   uint16
	opts     wire.TCPOptions
	data     []byte
	ttl      uint8 // IPv4 TTL, IPv6 hop limit
	df       bool  // IPv4 don't-fragment
	ecn      uint8 // the IP ECN field
	// retx: text or a FIN seen before on this connection, a timer's
	// retransmission (whose timing each stack chooses: RTO, TLP).
	retx bool
}

// conn is one scripted connection from the raw peer to one side. Every
// step appends a line to log: what we sent, and what came back
// normalised (sequence numbers relative to the server's ISN, ACKs to
// ours), so the two sides' logs compare line by line.
type conn struct {
	t      testing.TB
	raw    *testbed.RawPeer
	local  netip.AddrPort
	remote netip.AddrPort
	rx     <-chan []byte
	start  time.Time

	iss, sndNxt uint32 // ours
	irs, rcvNxt uint32 // theirs: ISN, next expected
	synced      bool   // irs is known
	theirFIN    bool   // rcvNxt counts their FIN
	ts          bool   // timestamps on (offered, then negotiated)
	sack        bool
	wsOffered   bool // our SYN carried a window scale
	scaled      bool // both SYNs did: our windows are shifted
	tsRecent    uint32
	log         []string
	sent        map[string]bool // norm of each text or FIN segment seen
}

func newConn(t testing.TB, raw *testbed.RawPeer, remote netip.AddrPort) *conn {
	port := uint16(nextPort.Add(1))
	local := netip.AddrPortFrom(testbed.RawIPv4, port)
	if remote.Addr().Is6() {
		local = netip.AddrPortFrom(testbed.RawIPv6, port)
	}
	c := &conn{t: t, raw: raw, local: local, remote: remote, rx: raw.Flow(port),
		start: time.Now(), iss: 1_000_000, ts: true, sack: true, sent: map[string]bool{}}
	c.sndNxt = c.iss
	t.Cleanup(func() { raw.Unflow(port) })
	return c
}

// tx is one segment to send; zero fields take the connection's values.
type tx struct {
	flags    uint8
	seq, ack uint32
	data     []byte
	window   uint16 // 0: ourWindow, unless zeroWindow
	zeroWnd  bool
	synOpts  bool  // MSS, WS, SACK-permitted (if c.sack), TS (if c.ts)
	noTS     bool  // leave out the timestamp on a timestamped connection
	tsDelta  int32 // added to our TSval (negative: an old segment)
	badSum   bool  // corrupt the TCP checksum
	urgent   uint16
	// rawOpts, when set, are the option octets as they are (a multiple
	// of 4), instead of any option above.
	rawOpts  []byte
	ipOpts   bool  // IPv4 header with 4 octets of options (NOP, NOP, NOP, EOL)
	hopByHop bool  // IPv6 with an empty hop-by-hop options header (PadN)
	ecn      uint8 // the IP ECN field (1: ECT(1), 2: ECT(0))
}

func (c *conn) tsval(delta int32) uint32 {
	return 1_000_000 + uint32(time.Since(c.start)/time.Millisecond) + uint32(delta)
}

// send transmits s and logs label.
func (c *conn) send(label string, s tx) {
	c.t.Helper()
	c.drain()
	c.put(label, s)
}

// sendPair sends a and b back to back, so the second goes before any
// answer to the first is read.
func (c *conn) sendPair(labelA string, a tx, labelB string, b tx) {
	c.t.Helper()
	c.drain()
	c.put(labelA, a)
	c.put(labelB, b)
}

func (c *conn) put(label string, s tx) {
	c.t.Helper()
	spec := wire.TCPFrameSpec{
		SrcMAC: wire.MAC(testbed.RawMAC), DstMAC: wire.MAC(c.raw.ServerMAC()),
		Src: c.local.Addr(), Dst: c.remote.Addr(), SrcPort: c.local.Port(), DstPort: c.remote.Port(),
		Seq: s.seq, Ack: s.ack, Flags: s.flags, Window: s.window, Urgent: s.urgent, TOS: s.ecn,
	}
	if spec.Window == 0 && !s.zeroWnd {
		spec.Window = ourWindow
		if s.flags&wire.TCPFlagSYN != 0 || !c.scaled {
			spec.Window = 65535 // a SYN's window is never scaled
		}
	}
	if s.synOpts {
		spec.Options.MSS = ourMSS
		spec.Options.HasWScale, spec.Options.WScale = true, ourWScale
		spec.Options.SACKPermitted = c.sack
	}
	if c.ts && !s.noTS {
		spec.Options.HasTS, spec.Options.TSVal = true, c.tsval(s.tsDelta)
		if s.flags&wire.TCPFlagSYN == 0 || s.flags&wire.TCPFlagACK != 0 {
			spec.Options.TSEcr = c.tsRecent
		}
	}
	data := s.data
	if s.flags&wire.TCPFlagSYN != 0 {
		c.wsOffered = spec.Options.HasWScale
		var o wire.TCPOptions
		if s.rawOpts != nil && wire.ParseTCPOptions(s.rawOpts, &o) == nil {
			c.wsOffered = o.HasWScale
		}
	}
	if s.rawOpts != nil {
		spec.Options = wire.TCPOptions{}
		data = append(append([]byte(nil), s.rawOpts...), s.data...)
	}
	b := make([]byte, spec.HeaderLen()+len(data))
	n, err := wire.BuildTCP(b, &spec, data)
	if err != nil {
		c.t.Fatalf("build: %v", err)
	}
	b = b[:n]
	l4 := spec.HeaderLen() - wire.TCPMinHeaderLen - wire.TCPOptionsLen(&spec.Options)
	if s.rawOpts != nil {
		// The options were built as text: move the data offset over
		// them and sum the segment again.
		t := wire.TCP(b[l4:])
		t[12] = byte((wire.TCPMinHeaderLen+len(s.rawOpts))/4) << 4
		t.SetChecksum(0)
		t.SetChecksum(^wire.Checksum(t, wire.PseudoHeaderSumAddr(wire.ProtoTCP, spec.Src, spec.Dst, uint32(len(t)))))
	}
	if s.badSum {
		b[l4+16] ^= 0x5a
	}
	if s.ipOpts && spec.Src.Is4() {
		const ip = wire.EthernetHeaderLen
		b = append(b[:ip+20], append([]byte{1, 1, 1, 0}, b[ip+20:]...)...)
		b[ip] = 0x46                                            // IHL 6
		binary.BigEndian.PutUint16(b[ip+2:], uint16(len(b)-ip)) // total length
		binary.BigEndian.PutUint16(b[ip+10:], 0)                // checksum
		binary.BigEndian.PutUint16(b[ip+10:], ^wire.Checksum(b[ip:ip+24], 0))
	}
	if s.hopByHop && spec.Src.Is6() {
		const ip = wire.EthernetHeaderLen
		b = append(b[:ip+40], append([]byte{wire.ProtoTCP, 0, 1, 4, 0, 0, 0, 0}, b[ip+40:]...)...)
		b[ip+6] = 0 // next header: hop-by-hop options
		binary.BigEndian.PutUint16(b[ip+4:], uint16(len(b)-ip-40))
	}
	if err := c.raw.Send(b); err != nil {
		c.t.Fatal(err)
	}
	c.log = append(c.log, "> "+label)
}

// drain reads replies that arrived since the last step into the log
// first, so a late reply is reported where it is, not with the next step.
func (c *conn) drain() {
	var late []seg
	for {
		select {
		case b := <-c.rx:
			late = append(late, c.parse(b))
			continue
		default:
		}
		break
	}
	if late = fresh(late); len(late) > 0 {
		c.log = append(c.log, "< (late) "+c.list(late))
	}
}

func (c *conn) parse(b []byte) seg {
	var f wire.Frame
	if err := wire.ParseFrame(b, &f); err != nil {
		c.t.Fatalf("captured frame: %v", err)
	}
	s := seg{flags: f.Flags, seq: f.Seq, ack: f.Ack, urgent: f.Urgent, opts: f.Options,
		data: append([]byte(nil), f.Payload...), ttl: f.TTL, df: f.DontFragment, ecn: f.TOS & 3}
	if s.flags&wire.TCPFlagRST != 0 {
		return s
	}
	if s.flags&wire.TCPFlagSYN != 0 {
		if !c.synced || s.seq != c.irs {
			c.irs, c.rcvNxt, c.synced, c.theirFIN = s.seq, s.seq+1, true, false
			if s.flags&wire.TCPFlagACK != 0 {
				c.ts = c.ts && s.opts.HasTS
				c.sack = c.sack && s.opts.SACKPermitted
				c.scaled = c.wsOffered && s.opts.HasWScale
			}
		}
	}
	if s.opts.HasTS {
		c.tsRecent = s.opts.TSVal
	}
	end := s.seq + uint32(len(s.data))
	if s.flags&wire.TCPFlagSYN != 0 {
		end++
	}
	if s.flags&wire.TCPFlagFIN != 0 {
		end++
	}
	if c.synced && int32(end-c.rcvNxt) > 0 && int32(s.seq-c.rcvNxt) <= 0 {
		c.rcvNxt = end
		c.theirFIN = s.flags&wire.TCPFlagFIN != 0
	}
	if s.flags&(wire.TCPFlagSYN|wire.TCPFlagRST) == 0 && (len(s.data) > 0 || s.flags&wire.TCPFlagFIN != 0) {
		n := c.norm(s)
		s.retx = c.sent[n]
		c.sent[n] = true
	}
	return s
}

// fresh drops timer retransmissions from got: the logs compare answers,
// not each stack's RTO or TLP timing.
func fresh(got []seg) []seg {
	out := got[:0:0]
	for _, s := range got {
		if !s.retx {
			out = append(out, s)
		}
	}
	return out
}

// collect waits for the replies to the last step.
// With until, it waits up to awaitLimit for until to hold, then quiet.
func (c *conn) collect(quiet time.Duration, until func() bool) []seg {
	var got []seg
	wait := firstWait
	if until != nil {
		wait = awaitLimit
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case b := <-c.rx:
			got = append(got, c.parse(b))
			if until == nil || until() {
				timer.Reset(quiet)
			}
		case <-timer.C:
			return got
		}
	}
}

// stream returns a condition: n more octets of text and, if fin, their
// FIN received in order since the call.
func (c *conn) upTo(n int, fin bool) func() bool {
	start := c.rcvNxt
	if fin {
		n++
	}
	return func() bool { return int32(c.rcvNxt-start) >= int32(n) && (!fin || c.theirFIN) }
}

// expect logs the replies one by one (for answers whose every segment
// matters: SYN-ACK, RST, challenge ACK, nothing).
func (c *conn) expect(label string) []seg {
	got := c.collect(quiet, nil)
	c.log = append(c.log, "< "+label+": "+c.list(fresh(got)))
	return got
}

// expectSYNACK is expect, waiting for a SYN-ACK.
func (c *conn) expectSYNACK(label string) []seg {
	var seen bool
	got := c.collect(quiet, func() bool {
		seen = seen || c.synced
		return seen
	})
	c.log = append(c.log, "< "+label+": "+c.list(fresh(got)))
	return got
}

// expectOver collects for all of d and logs the distinct segments in the
// order they first came, and whether any came again: for timer-driven
// sends (a retransmitted SYN-ACK, window probes), whose count in a window
// depends on each stack's RTO estimate, not on conformance.
func (c *conn) expectOver(label string, d time.Duration, repeats bool) {
	var got []seg
	deadline := time.After(d)
	for done := false; !done; {
		select {
		case b := <-c.rx:
			got = append(got, c.parse(b))
		case <-deadline:
			done = true
		}
	}
	var distinct []string
	seen := map[string]bool{}
	again := ""
	for _, s := range got {
		n := c.norm(s)
		if seen[n] {
			if repeats {
				again = " (repeated)"
			}
			continue
		}
		seen[n] = true
		distinct = append(distinct, n)
	}
	out := "nothing"
	if len(distinct) > 0 {
		out = strings.Join(distinct, " | ")
	}
	c.log = append(c.log, "< "+label+": "+out+again)
}

// expectMaxSeg logs the stream and the longest text segment: both
// stacks fill segments to the peer's MSS less the options they carry
// (RFC 9293 §3.7.1, RFC 6691).
func (c *conn) expectMaxSeg(label string, n int) {
	got := c.collect(settle, c.upTo(n, false))
	most := 0
	for _, s := range got {
		most = max(most, len(s.data))
	}
	c.log = append(c.log, fmt.Sprintf("< %s: %s, longest segment %d", label, c.stream(got), most))
}

// expectStream waits for n octets of text (and a FIN, if fin), and logs
// the replies as what they deliver (for text, whose
// segmentation and piggybacked ACKs are the stacks' own business): the
// text in sequence order, where a FIN is, whether a RST came, the
// highest ACK.
func (c *conn) expectStream(label string, n int, fin bool) {
	got := c.collect(settle, c.upTo(n, fin))
	c.log = append(c.log, "< "+label+": "+c.stream(got))
}

func (c *conn) stream(got []seg) string {
	if len(got) == 0 {
		return "nothing"
	}
	sort.SliceStable(got, func(i, j int) bool { return int32(got[i].seq-got[j].seq) < 0 })
	var text []byte
	var next uint32
	var fin, rst string
	var ack uint32
	hasAck, started := false, false
	for _, s := range got {
		rel := s.seq - c.irs
		if len(s.data) > 0 && (!started || int32(rel-next) > 0) {
			if started {
				text = append(text, fmt.Sprintf("<hole %d>", rel-next)...)
			}
			next, started = rel, true
		}
		if len(s.data) > 0 && int32(rel+uint32(len(s.data))-next) > 0 {
			text = append(text, s.data[next-rel:]...)
			next = rel + uint32(len(s.data))
		}
		if s.flags&wire.TCPFlagFIN != 0 {
			fin = fmt.Sprintf(" fin@%d", rel+uint32(len(s.data)))
		}
		if s.flags&wire.TCPFlagRST != 0 {
			rst = " rst"
		}
		if s.flags&wire.TCPFlagACK != 0 && (!hasAck || int32(s.ack-ack) > 0) {
			ack, hasAck = s.ack, true
		}
	}
	shown := fmt.Sprintf("%q", text)
	if len(text) > 64 {
		shown = fmt.Sprintf("%d octets, crc32 %08x", len(text), crc32.ChecksumIEEE(text))
	}
	out := fmt.Sprintf("text %s%s%s", shown, fin, rst)
	if hasAck {
		out += fmt.Sprintf(" ack=%d", ack-c.iss)
	}
	return out
}

func (c *conn) list(got []seg) string {
	if len(got) == 0 {
		return "nothing"
	}
	parts := make([]string, len(got))
	for i, s := range got {
		parts[i] = c.norm(s)
	}
	return strings.Join(parts, " | ")
}

// norm is one segment with what the comparison looks at: flags but PSH, sequence and ACK numbers relative to each side's ISN,
// text length, urgent pointer, option kinds on a SYN, SACK blocks,
// whether a timestamp is present. Not windows, TSvals, timing.
func (c *conn) norm(s seg) string {
	var b strings.Builder
	for _, f := range []struct {
		bit  uint8
		name string
	}{{wire.TCPFlagSYN, "S"}, {wire.TCPFlagFIN, "F"}, {wire.TCPFlagRST, "R"}, {wire.TCPFlagURG, "U"},
		{wire.TCPFlagECE, "E"}, {wire.TCPFlagCWR, "W"}, {wire.TCPFlagACK, "."}} {
		if s.flags&f.bit != 0 {
			b.WriteString(f.name)
		}
	}
	switch {
	case s.flags&wire.TCPFlagSYN != 0:
		fmt.Fprintf(&b, " seq=ISN") // relative to itself: the ISN is the stack's choice
	case s.flags&wire.TCPFlagRST != 0 && s.seq == 0:
		b.WriteString(" seq=0(absolute)") // a RST to a segment without ACK
	default:
		fmt.Fprintf(&b, " seq=%d", s.seq-c.irs)
	}
	if s.flags&wire.TCPFlagACK != 0 {
		fmt.Fprintf(&b, " ack=%d", s.ack-c.iss)
	}
	if len(s.data) > 0 {
		fmt.Fprintf(&b, " len=%d", len(s.data))
	}
	if s.flags&wire.TCPFlagURG != 0 {
		fmt.Fprintf(&b, " urp=%d", s.urgent)
	}
	o := s.opts
	if s.flags&wire.TCPFlagSYN != 0 {
		var k []string
		if o.MSS != 0 {
			k = append(k, fmt.Sprintf("mss=%d", o.MSS))
		}
		if o.HasWScale {
			k = append(k, "ws")
		}
		if o.SACKPermitted {
			k = append(k, "sackok")
		}
		if o.HasTS {
			k = append(k, "ts")
		}
		fmt.Fprintf(&b, " <%s>", strings.Join(k, ","))
	} else if o.HasTS && s.flags&wire.TCPFlagRST == 0 {
		b.WriteString(" ts")
	}
	for i := range int(o.NumSACK) {
		fmt.Fprintf(&b, " sack=%d-%d", o.SACK[i].Left-c.iss, o.SACK[i].Right-c.iss)
	}
	// IP: the hop limit, and DF on IPv4 (path MTU discovery, RFC 1191).
	fmt.Fprintf(&b, " ttl=%d", s.ttl)
	if s.df {
		b.WriteString(" df")
	}
	if s.ecn != 0 {
		fmt.Fprintf(&b, " ecn=%d", s.ecn)
	}
	return b.String()
}

// Script steps built on send: each keeps sndNxt.

// syn sends our SYN with all options (or none: c.ts and c.sack false).
func (c *conn) syn(label string) {
	c.send(label, tx{flags: wire.TCPFlagSYN, seq: c.iss, synOpts: true})
	c.sndNxt = c.iss + 1
}

// ack acknowledges everything received.
func (c *conn) ack(label string) {
	c.send(label, tx{flags: wire.TCPFlagACK, seq: c.sndNxt, ack: c.rcvNxt})
}

// data sends text at SND.NXT.
func (c *conn) data(label, text string) {
	c.send(label, tx{flags: wire.TCPFlagACK | wire.TCPFlagPSH, seq: c.sndNxt, ack: c.rcvNxt, data: []byte(text)})
	c.sndNxt += uint32(len(text))
}

// fin sends our FIN, with text before it if any.
func (c *conn) fin(label, text string) {
	c.send(label, tx{flags: wire.TCPFlagACK | wire.TCPFlagFIN, seq: c.sndNxt, ack: c.rcvNxt, data: []byte(text)})
	c.sndNxt += uint32(len(text)) + 1
}

// halfOpen sends our SYN and waits for the SYN-ACK, leaving the server's
// end in SYN-RECEIVED (the start of every handshake scenario).
func (c *conn) halfOpen() []seg {
	c.t.Helper()
	c.syn("SYN")
	return c.expectSYNACK("SYN-ACK")
}

// open runs the three-way handshake and checks it completed.
func (c *conn) open() {
	c.t.Helper()
	got := c.halfOpen()
	if len(got) == 0 || got[0].flags != wire.TCPFlagSYN|wire.TCPFlagACK {
		c.t.Fatalf("no SYN-ACK from %v: %s", c.remote, c.list(got))
	}
	c.ack("ACK")
	c.expect("handshake done")
}

// established opens and exchanges one echo, so both stacks are past
// their quick-ACK start-up and the application is reading.
func (c *conn) established() {
	c.t.Helper()
	c.open()
	c.data("text", "hello")
	c.expectStream("echo", 5, false)
	if c.rcvNxt != c.irs+1+5 {
		c.t.Fatalf("no echo from %v", c.remote)
	}
	c.ack("ACK echo")
	c.expect("nothing")
}
