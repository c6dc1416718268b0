package conform

import (
	"strings"
	"time"

	"github.com/sluicenet/sluice/wire"
)

const (
	flagA  = wire.TCPFlagACK
	flagS  = wire.TCPFlagSYN
	flagR  = wire.TCPFlagRST
	flagF  = wire.TCPFlagFIN
	flagPA = wire.TCPFlagPSH | wire.TCPFlagACK
)

// The scenarios: the lifecycle edges of RFC 9293 §3.10 and the
// hardening of RFC 5961, RFC 6191, RFC 7323.
var scenarios = []scenario{
	{name: "handshake/options", run: func(c *conn) {
		c.established()
		c.fin("FIN", "")
		c.expectStream("ACK, bye, FIN", 3, true)
		c.ack("ACK their FIN")
		c.expect("closed: nothing")
	}},
	{name: "handshake/no-options", run: func(c *conn) {
		c.ts, c.sack = false, false
		c.send("SYN without options", tx{flags: flagS, seq: c.iss})
		c.sndNxt = c.iss + 1
		c.expectSYNACK("SYN-ACK")
		c.ack("ACK")
		c.data("text", "hello")
		c.expectStream("echo", 5, false)
		c.ack("ACK echo")
		c.expect("nothing")
	}},
	{name: "handshake/ipv6", ipv6: true, run: func(c *conn) {
		c.established()
		c.fin("FIN", "")
		c.expectStream("ACK, bye, FIN", 3, true)
		c.ack("ACK their FIN")
		c.expect("closed: nothing")
	}},
	{name: "handshake/synack-retransmitted", run: func(c *conn) {
		c.syn("SYN")
		// Both stacks' initial RTO is 1 s (RFC 6298 §2.1), the next 2 s.
		c.expectOver("SYN-ACK, retransmitted within 1.6 s", 1600*time.Millisecond, true)
	}},
	{name: "synrecv/retransmitted-syn", run: func(c *conn) {
		c.halfOpen()
		c.send("same SYN again", tx{flags: flagS, seq: c.iss, synOpts: true})
		c.expect("SYN-ACK again")
	}},
	{name: "synrecv/bad-ack", run: func(c *conn) {
		c.halfOpen()
		c.send("ACK of ISN+1000", tx{flags: flagA, seq: c.sndNxt, ack: c.irs + 1000})
		c.expect("RST seq=1000")
		c.ack("right ACK")
		c.expect("nothing")
		c.data("text", "hello")
		c.expectStream("echo", 5, false)
	}},
	{name: "synrecv/rst", run: func(c *conn) {
		c.halfOpen()
		c.send("RST at SND.NXT", tx{flags: flagR, seq: c.sndNxt})
		c.expect("nothing")
		c.ack("ACK of the SYN-ACK")
		c.expect("RST (no connection)")
		c.iss += 1000
		c.syn("new SYN")
		c.expectSYNACK("SYN-ACK")
	}},
	{name: "synrecv/old-syn", run: func(c *conn) {
		c.halfOpen()
		c.send("SYN with ISN-1000", tx{flags: flagS, seq: c.iss - 1000, synOpts: true})
		c.expect("answer")
	}},
	{name: "close/peer-first-half-close", run: func(c *conn) {
		c.established()
		c.fin("text and FIN", "ping")
		c.expectStream("ACK, echo, bye (written after EOF), FIN", 7, true)
		c.ack("ACK all")
		c.expect("nothing")
		c.data("text to a closed connection", "late")
		c.expect("RST")
	}},
	{name: "close/server-first", run: func(c *conn) {
		c.established()
		c.data("quit", quitWord)
		c.expectStream("echo and FIN", 4, true)
		c.ack("ACK all")
		c.expect("nothing (FIN-WAIT-2)")
		c.fin("FIN", "")
		c.expect("ACK (TIME-WAIT)")
		c.send("FIN again", tx{flags: flagA | flagF, seq: c.sndNxt - 1, ack: c.rcvNxt})
		c.expect("ACK again")
	}},
	{name: "close/simultaneous", run: func(c *conn) {
		c.established()
		c.data("quit", quitWord)
		c.expectStream("echo and FIN", 4, true)
		c.send("FIN not acking theirs", tx{flags: flagA | flagF, seq: c.sndNxt, ack: c.rcvNxt - 1})
		c.sndNxt++
		c.expect("ACK of our FIN (CLOSING)")
		c.ack("ACK their FIN")
		c.expect("nothing (TIME-WAIT)")
		c.send("FIN again", tx{flags: flagA | flagF, seq: c.sndNxt - 1, ack: c.rcvNxt})
		c.expect("ACK")
	}},
	{name: "close/data-after-server-close", run: func(c *conn) {
		c.established()
		c.data("quit", quitWord)
		c.expectStream("echo and FIN", 4, true)
		c.ack("ACK all")
		c.expect("nothing (FIN-WAIT-2)")
		c.data("text after their close", "more")
		c.expect("RST (RFC 1122 4.2.2.13)")
	}},
	{name: "timewait/new-syn-newer", run: func(c *conn) {
		timeWait(c)
		c.iss = c.sndNxt + 100_000
		c.syn("SYN, higher seq, newer TSval")
		c.expect("SYN-ACK (RFC 6191)")
	}},
	{name: "timewait/new-syn-older-ts", run: func(c *conn) {
		timeWait(c)
		c.iss = c.sndNxt + 100_000
		c.send("SYN, higher seq, older TSval", tx{flags: flagS, seq: c.iss, synOpts: true, tsDelta: -100_000})
		c.expect("ACK of the old connection, or nothing")
	}},
	{name: "timewait/new-syn-lower-seq-no-ts", run: func(c *conn) {
		c.ts = false
		timeWait(c)
		c.iss = c.sndNxt - 100_000
		c.syn("SYN, lower seq, no timestamps")
		c.expect("ACK of the old connection")
	}},
	{name: "timewait/new-syn-higher-seq-no-ts", run: func(c *conn) {
		c.ts = false
		timeWait(c)
		c.iss = c.sndNxt + 100_000
		c.syn("SYN, higher seq, no timestamps")
		c.expectSYNACK("SYN-ACK")
	}},
	{name: "timewait/new-syn-lower-seq-newer-ts", run: func(c *conn) {
		timeWait(c)
		c.iss = c.sndNxt - 100_000
		c.syn("SYN, lower seq, newer TSval (RFC 6191 §2: the timestamp decides)")
		c.expect("SYN-ACK")
	}},
	{name: "timewait/new-syn-same-seq-no-ts", run: func(c *conn) {
		c.ts = false
		timeWait(c)
		c.iss = c.sndNxt
		c.syn("SYN at RCV.NXT, no timestamps (not above it)")
		c.expect("ACK of the old connection")
	}},
	{name: "timewait/fin-paws-old", run: func(c *conn) {
		timeWait(c)
		c.send("FIN again with an old TSval", tx{flags: flagA | flagF, seq: c.sndNxt - 1, ack: c.rcvNxt, tsDelta: -100_000})
		c.expect("ACK (RFC 7323 §5.3)")
	}},
	{name: "timewait/old-duplicate", run: func(c *conn) {
		timeWait(c)
		c.send("old text", tx{flags: flagPA, seq: c.sndNxt - 10, ack: c.rcvNxt, data: []byte("old")})
		c.expect("ACK")
	}},
	{name: "timewait/rst", run: func(c *conn) {
		timeWait(c)
		c.send("RST at SND.NXT", tx{flags: flagR, seq: c.sndNxt})
		c.expect("nothing")
		c.ack("ACK")
		c.expect("answer")
	}},
	{name: "rfc5961/rst-exact", run: func(c *conn) {
		c.established()
		c.send("RST at RCV.NXT", tx{flags: flagR, seq: c.sndNxt})
		c.expect("nothing")
		c.data("text", "after")
		c.expect("RST (no connection)")
	}},
	{name: "rfc5961/rst-in-window", run: func(c *conn) {
		c.established()
		c.send("RST at RCV.NXT+100", tx{flags: flagR, seq: c.sndNxt + 100})
		c.expect("challenge ACK")
		c.data("text", "alive")
		c.expectStream("echo", 5, false)
	}},
	{name: "rfc5961/rst-out-of-window", run: func(c *conn) {
		c.established()
		c.send("RST at RCV.NXT+16M", tx{flags: flagR, seq: c.sndNxt + 1<<24})
		c.expect("nothing")
		c.data("text", "alive")
		c.expectStream("echo", 5, false)
	}},
	{name: "rfc5961/syn-established", run: func(c *conn) {
		c.established()
		c.send("SYN at RCV.NXT+100", tx{flags: flagS, seq: c.sndNxt + 100, synOpts: true})
		c.expect("challenge ACK")
		c.data("text", "alive")
		c.expectStream("echo", 5, false)
	}},
	{name: "rfc5961/ack-unsent", run: func(c *conn) {
		c.established()
		c.send("ACK of SND.NXT+1000", tx{flags: flagA, seq: c.sndNxt, ack: c.rcvNxt + 1000})
		c.expect("ACK (RFC 9293 3.10.7.4)")
		c.data("text", "alive")
		c.expectStream("echo", 5, false)
	}},
	{name: "rfc5961/data-ack-unsent", run: func(c *conn) {
		c.established()
		c.send("text with ACK of SND.NXT+1000", tx{flags: flagPA, seq: c.sndNxt, ack: c.rcvNxt + 1000, data: []byte("bad")})
		c.expect("ACK, text dropped")
		c.data("text", "alive")
		c.expectStream("echo", 5, false)
	}},
	{name: "window/beyond", run: func(c *conn) {
		c.established()
		c.send("text at RCV.NXT+8M", tx{flags: flagPA, seq: c.sndNxt + 8<<20, ack: c.rcvNxt, data: []byte("far")})
		c.expect("duplicate ACK")
		c.data("text", "alive")
		c.expectStream("echo", 5, false)
	}},
	{name: "window/out-of-order-sack", run: func(c *conn) {
		c.established()
		c.send("text 100 octets ahead", tx{flags: flagPA, seq: c.sndNxt + 100, ack: c.rcvNxt, data: []byte("later")})
		c.expect("duplicate ACK with SACK")
		hole := make([]byte, 100)
		for i := range hole {
			hole[i] = 'x'
		}
		c.data("the hole", string(hole))
		c.sndNxt += 5
		c.expectStream("ACK of all, echo", 105, false)
	}},
	{name: "window/zero-window-peer", run: func(c *conn) {
		c.established()
		c.send("text, window 0", tx{flags: flagPA, seq: c.sndNxt, ack: c.rcvNxt, data: []byte("held"), zeroWnd: true})
		c.sndNxt += 4
		// A probe after one RTO (200 ms minimum), then more at
		// doubling intervals: the window sees one or two.
		c.expectOver("ACK, no text, then window probes", 1500*time.Millisecond, false)
		c.send("window opens", tx{flags: flagA, seq: c.sndNxt, ack: c.rcvNxt})
		c.expectStream("echo", 4, false)
	}},
	{name: "checksum/bad", run: func(c *conn) {
		c.established()
		c.send("text, bad checksum", tx{flags: flagPA, seq: c.sndNxt, ack: c.rcvNxt, data: []byte("bad"), badSum: true})
		c.expect("nothing")
		c.data("text", "alive")
		c.expectStream("echo", 5, false)
	}},
	{name: "timestamps/missing", run: func(c *conn) {
		c.established()
		c.send("text without TS", tx{flags: flagPA, seq: c.sndNxt, ack: c.rcvNxt, data: []byte("nots"), noTS: true})
		c.sndNxt += 4
		c.expectStream("answer", 4, false)
	}},
	{name: "timestamps/paws-old", run: func(c *conn) {
		c.established()
		c.send("text with an old TSval", tx{flags: flagPA, seq: c.sndNxt, ack: c.rcvNxt, data: []byte("old"), tsDelta: -100_000})
		c.expect("duplicate ACK (PAWS, RFC 7323 5.3)")
		c.data("text", "alive")
		c.expectStream("echo", 5, false)
	}},
	{name: "handshake/ack-with-text", run: func(c *conn) {
		c.halfOpen()
		c.data("ACK with text", "hello")
		c.expectStream("echo", 5, false)
	}},
	{name: "handshake/syn-with-text", run: func(c *conn) {
		c.send("SYN with text (no TFO)", tx{flags: flagS, seq: c.iss, synOpts: true, data: []byte("early")})
		c.sndNxt = c.iss + 1
		c.expect("SYN-ACK not acking the text")
		c.data("ACK with text", "hello")
		c.expectStream("echo", 5, false)
	}},
	{name: "synrecv/rst-in-window", run: func(c *conn) {
		c.halfOpen()
		c.send("RST at SND.NXT+100", tx{flags: flagR, seq: c.sndNxt + 100})
		c.expect("answer")
		c.ack("ACK of the SYN-ACK")
		c.expect("answer")
	}},
	{name: "synrecv/fin", run: func(c *conn) {
		c.halfOpen()
		c.fin("ACK and FIN", "")
		c.expectStream("ACK, bye, FIN", 3, true)
		c.ack("ACK their FIN")
		c.expect("nothing")
	}},
	{name: "close/last-ack-refin", run: func(c *conn) {
		c.established()
		c.fin("FIN", "")
		c.expectStream("ACK, bye, FIN", 3, true)
		c.send("our FIN again, not acking theirs", tx{flags: flagA | flagF, seq: c.sndNxt - 1, ack: c.rcvNxt - 1})
		c.expect("ACK (LAST-ACK)")
		c.ack("ACK their FIN")
		c.expect("nothing")
	}},
	{name: "window/overlap-left", run: func(c *conn) {
		c.established()
		c.send("text starting 3 octets back", tx{flags: flagPA, seq: c.sndNxt - 3, ack: c.rcvNxt, data: []byte("lo, world")})
		c.sndNxt += 6
		c.expectStream("echo of the new octets", 6, false)
	}},
	{name: "window/dsack", run: func(c *conn) {
		c.established()
		c.send("hello again", tx{flags: flagPA, seq: c.sndNxt - 5, ack: c.rcvNxt, data: []byte("hello")})
		c.expect("duplicate ACK with D-SACK (RFC 2883)")
	}},
	{name: "window/sack-two-blocks", run: func(c *conn) {
		c.established()
		c.send("text 100 octets ahead", tx{flags: flagPA, seq: c.sndNxt + 100, ack: c.rcvNxt, data: []byte("aaaa")})
		c.expect("duplicate ACK with SACK")
		c.send("text 200 octets ahead", tx{flags: flagPA, seq: c.sndNxt + 200, ack: c.rcvNxt, data: []byte("bbbb")})
		c.expect("duplicate ACK, latest block first (RFC 2018 §4)")
	}},
	{name: "listen/ack", run: func(c *conn) {
		c.send("ACK, no connection", tx{flags: flagA, seq: c.iss, ack: 12345})
		c.expect("RST seq=SEG.ACK")
	}},
	{name: "listen/rst", run: func(c *conn) {
		c.send("RST, no connection", tx{flags: flagR, seq: c.iss})
		c.expect("nothing")
	}},
	{name: "listen/fin-no-ack", run: func(c *conn) {
		c.send("FIN without ACK, no connection", tx{flags: flagF, seq: c.iss})
		c.expect("nothing (RFC 9293 3.10.7.2: no ACK, no SYN: drop)")
	}},
	{name: "listen/text-no-ack", run: func(c *conn) {
		c.send("text without ACK, no connection", tx{flags: wire.TCPFlagPSH, seq: c.iss, data: []byte("hi")})
		c.expect("nothing")
	}},
	{name: "listen/syn-fin", run: func(c *conn) {
		c.send("SYN+FIN", tx{flags: flagS | flagF, seq: c.iss, synOpts: true})
		c.expect("answer")
	}},
	{name: "listen/syn-rst", run: func(c *conn) {
		c.send("SYN+RST", tx{flags: flagS | flagR, seq: c.iss, synOpts: true})
		c.expect("nothing")
	}},
	{name: "listen/syn-ack", run: func(c *conn) {
		c.send("SYN+ACK to a listener", tx{flags: flagS | flagA, seq: c.iss, ack: 12345, synOpts: true})
		c.expect("RST seq=SEG.ACK")
	}},
	{name: "options/malformed-length", run: func(c *conn) {
		c.ts, c.sack = false, false
		// MSS, then an option whose length (1) is below 2.
		c.send("SYN with a bad option length", tx{flags: flagS, seq: c.iss,
			rawOpts: []byte{2, 4, 0x05, 0xb4, 30, 1, 0, 0}})
		c.sndNxt = c.iss + 1
		c.expect("answer")
	}},
	{name: "options/unknown-kind", run: func(c *conn) {
		c.ts, c.sack = false, false
		c.send("SYN with MSS and an unknown option", tx{flags: flagS, seq: c.iss,
			rawOpts: []byte{2, 4, 0x05, 0xb4, 253, 4, 0xab, 0xcd}})
		c.sndNxt = c.iss + 1
		c.expectSYNACK("SYN-ACK")
	}},
	{name: "options/wscale-15", run: func(c *conn) {
		c.ts, c.sack = false, false
		c.send("SYN with window scale 15", tx{flags: flagS, seq: c.iss,
			rawOpts: []byte{2, 4, 0x05, 0xb4, 1, 3, 3, 15}})
		c.sndNxt = c.iss + 1
		c.expectSYNACK("SYN-ACK")
		c.ack("ACK")
		c.data("text", "hello")
		c.expectStream("echo", 5, false)
	}},
	{name: "options/ts-only", run: func(c *conn) {
		c.sack = false
		c.send("SYN with timestamps only", tx{flags: flagS, seq: c.iss, rawOpts: nil, synOpts: false})
		c.sndNxt = c.iss + 1
		c.expectSYNACK("SYN-ACK")
		c.ack("ACK")
		c.data("text", "hello")
		c.expectStream("echo", 5, false)
	}},
	{name: "options/sack-only", run: func(c *conn) {
		c.ts = false
		c.send("SYN with MSS and SACK-permitted", tx{flags: flagS, seq: c.iss, rawOpts: []byte{2, 4, 0x05, 0xb4, 1, 1, 4, 2}})
		c.sndNxt = c.iss + 1
		c.expect("SYN-ACK")
		c.ack("ACK")
		c.send("text 100 octets ahead", tx{flags: flagPA, seq: c.sndNxt + 100, ack: c.rcvNxt, data: []byte("later")})
		c.expect("duplicate ACK with SACK")
	}},
	{name: "options/small-mss", run: func(c *conn) {
		c.ts, c.sack = false, false
		c.send("SYN with MSS 100", tx{flags: flagS, seq: c.iss, rawOpts: []byte{2, 4, 0, 100}})
		c.sndNxt = c.iss + 1
		c.expectSYNACK("SYN-ACK")
		c.ack("ACK")
		c.data("250 octets", string(make([]byte, 250)))
		c.expectMaxSeg("echo", 250)
	}},
	{name: "options/tiny-mss", run: func(c *conn) {
		c.ts, c.sack = false, false
		c.send("SYN with MSS 8", tx{flags: flagS, seq: c.iss, rawOpts: []byte{2, 4, 0, 8}})
		c.sndNxt = c.iss + 1
		c.expectSYNACK("SYN-ACK")
		c.ack("ACK")
		c.data("250 octets", string(make([]byte, 250)))
		c.expectMaxSeg("echo (the MSS floor, 48)", 250)
	}},
	{name: "options/no-mss", run: func(c *conn) {
		c.ts, c.sack = false, false
		c.send("SYN without options", tx{flags: flagS, seq: c.iss})
		c.sndNxt = c.iss + 1
		c.expect("SYN-ACK")
		c.ack("ACK")
		c.data("1400 octets", strings.Repeat("x", 1400))
		c.expectMaxSeg("echo in segments of the default MSS (RFC 9293 3.7.1)", 1400)
	}},
	{name: "options/no-mss/ipv6", ipv6: true, run: func(c *conn) {
		c.ts, c.sack = false, false
		c.send("SYN without options", tx{flags: flagS, seq: c.iss})
		c.sndNxt = c.iss + 1
		c.expect("SYN-ACK")
		c.ack("ACK")
		c.data("1400 octets", strings.Repeat("x", 1400))
		c.expectMaxSeg("echo in segments of the default MSS (RFC 9293 3.7.1)", 1400)
	}},
	{name: "options/mss-zero", run: func(c *conn) {
		c.ts, c.sack = false, false
		c.send("SYN with MSS 0", tx{flags: flagS, seq: c.iss, rawOpts: []byte{2, 4, 0, 0}})
		c.sndNxt = c.iss + 1
		c.expect("SYN-ACK")
		c.ack("ACK")
		c.data("1400 octets", strings.Repeat("x", 1400))
		c.expectMaxSeg("echo", 1400)
	}},
	{name: "synrecv/ack-paws-old", run: func(c *conn) {
		c.halfOpen()
		c.send("ACK with a TSval older than the SYN's", tx{flags: flagA, seq: c.sndNxt, ack: c.rcvNxt, tsDelta: -100_000})
		c.expect("answer")
		c.data("text", "hello")
		c.expectStream("echo", 5, false)
	}},
	{name: "established/ack-old-in-window", run: func(c *conn) {
		c.established()
		c.send("ACK below SND.UNA", tx{flags: flagA, seq: c.sndNxt, ack: c.rcvNxt - 3})
		c.expect("nothing")
	}},
	{name: "established/no-ack-flag", run: func(c *conn) {
		c.established()
		c.send("text without ACK", tx{flags: wire.TCPFlagPSH, seq: c.sndNxt, data: []byte("noack")})
		c.expect("nothing (RFC 9293 3.10.7.4: drop)")
		c.data("text", "alive")
		c.expectStream("echo", 5, false)
	}},
	{name: "established/fin-out-of-order", run: func(c *conn) {
		c.established()
		c.send("FIN 10 octets ahead", tx{flags: flagA | flagF, seq: c.sndNxt + 10, ack: c.rcvNxt})
		c.expect("duplicate ACK")
		c.fin("the 10 octets and the FIN", "0123456789")
		c.expectStream("echo, bye, FIN", 13, true)
	}},
	{name: "established/syn-fin", run: func(c *conn) {
		c.established()
		c.send("SYN+FIN at RCV.NXT", tx{flags: flagS | flagF, seq: c.sndNxt, synOpts: true})
		c.expect("challenge ACK")
		c.data("text", "alive")
		c.expectStream("echo", 5, false)
	}},
	{name: "rfc5961/ack-too-old", run: func(c *conn) {
		c.established()
		c.send("text with ACK 1 GiB behind", tx{flags: flagPA, seq: c.sndNxt, ack: c.rcvNxt - 1<<30, data: []byte("old")})
		c.expect("challenge ACK, text dropped (RFC 5961 §5.2)")
		c.data("text", "alive")
		c.expectStream("echo", 5, false)
	}},
	{name: "keepalive/probe-empty", run: func(c *conn) {
		c.established()
		c.send("keep-alive: SEG.SEQ = RCV.NXT-1, no text", tx{flags: flagA, seq: c.sndNxt - 1, ack: c.rcvNxt})
		c.expect("ACK (RFC 9293 3.8.4)")
	}},
	{name: "keepalive/probe-one-octet", run: func(c *conn) {
		c.established()
		c.send("keep-alive: SEG.SEQ = RCV.NXT-1, one octet", tx{flags: flagA, seq: c.sndNxt - 1, ack: c.rcvNxt, data: []byte("o")})
		c.expect("ACK")
	}},
	{name: "synrecv/syn-in-window", run: func(c *conn) {
		c.halfOpen()
		c.send("SYN at ISN+100", tx{flags: flagS, seq: c.iss + 100, synOpts: true})
		c.expect("answer")
		c.ack("ACK of the SYN-ACK")
		c.expect("answer")
	}},
	{name: "timewait/new-text", run: func(c *conn) {
		timeWait(c)
		c.send("new text at RCV.NXT", tx{flags: flagPA, seq: c.sndNxt, ack: c.rcvNxt, data: []byte("new")})
		c.expect("ACK")
	}},
	{name: "timewait/new-syn-no-ts", run: func(c *conn) {
		timeWait(c)
		c.iss = c.sndNxt + 100_000
		c.send("SYN, higher seq, no timestamp (the old connection had them)", tx{flags: flagS, seq: c.iss, synOpts: true, noTS: true})
		c.sndNxt = c.iss + 1
		c.expect("answer")
	}},
	// Answers to invalid segments in pairs: Linux limits ACKs to
	// out-of-window segments without text, and challenge ACKs, to one
	// per 500 ms per connection (tcp_invalid_ratelimit), so a pair shows
	// where a stack limits.
	{name: "ratelimit/rst-in-window-twice", run: func(c *conn) {
		c.established()
		c.sendPair("RST at RCV.NXT+100", tx{flags: flagR, seq: c.sndNxt + 100},
			"RST at RCV.NXT+200", tx{flags: flagR, seq: c.sndNxt + 200})
		c.expect("challenge ACKs")
	}},
	{name: "ratelimit/syn-twice", run: func(c *conn) {
		c.established()
		c.sendPair("SYN at RCV.NXT+100", tx{flags: flagS, seq: c.sndNxt + 100, synOpts: true},
			"SYN at RCV.NXT+200", tx{flags: flagS, seq: c.sndNxt + 200, synOpts: true})
		c.expect("challenge ACKs")
	}},
	{name: "ratelimit/ack-unsent-twice", run: func(c *conn) {
		c.established()
		c.sendPair("ACK of SND.NXT+1000", tx{flags: flagA, seq: c.sndNxt, ack: c.rcvNxt + 1000},
			"ACK of SND.NXT+2000", tx{flags: flagA, seq: c.sndNxt, ack: c.rcvNxt + 2000})
		c.expect("ACKs")
	}},
	{name: "ratelimit/ack-beyond-window-twice", run: func(c *conn) {
		c.established()
		c.sendPair("ACK at RCV.NXT+8M", tx{flags: flagA, seq: c.sndNxt + 8<<20, ack: c.rcvNxt},
			"ACK at RCV.NXT+9M", tx{flags: flagA, seq: c.sndNxt + 9<<20, ack: c.rcvNxt})
		c.expect("duplicate ACKs")
	}},
	{name: "ratelimit/text-beyond-window-twice", run: func(c *conn) {
		c.established()
		c.sendPair("text at RCV.NXT+8M", tx{flags: flagPA, seq: c.sndNxt + 8<<20, ack: c.rcvNxt, data: []byte("far")},
			"text at RCV.NXT+9M", tx{flags: flagPA, seq: c.sndNxt + 9<<20, ack: c.rcvNxt, data: []byte("far")})
		c.expect("duplicate ACKs")
	}},
	{name: "ratelimit/paws-twice", run: func(c *conn) {
		c.established()
		c.sendPair("ACK with an old TSval", tx{flags: flagA, seq: c.sndNxt, ack: c.rcvNxt, tsDelta: -100_000},
			"ACK with an old TSval again", tx{flags: flagA, seq: c.sndNxt, ack: c.rcvNxt, tsDelta: -100_000})
		c.expect("duplicate ACKs")
	}},
	{name: "ratelimit/synrecv-old-syn-twice", run: func(c *conn) {
		c.halfOpen()
		c.sendPair("SYN with ISN-1000", tx{flags: flagS, seq: c.iss - 1000, synOpts: true},
			"SYN with ISN-2000", tx{flags: flagS, seq: c.iss - 2000, synOpts: true})
		c.expect("answers")
	}},
	{name: "handshake/ack-text-fin", run: func(c *conn) {
		c.halfOpen()
		c.fin("ACK, text and FIN in one", "hello")
		c.expectStream("ACK, echo, bye, FIN", 8, true)
		c.ack("ACK all")
		c.expect("nothing")
	}},
	{name: "segments/two-writes", run: func(c *conn) {
		c.established()
		big := []byte(strings.Repeat("0123456789", 140))
		c.sendPair("1400 octets", tx{flags: flagPA, seq: c.sndNxt, ack: c.rcvNxt, data: big},
			"1400 octets", tx{flags: flagPA, seq: c.sndNxt + 1400, ack: c.rcvNxt, data: big})
		c.sndNxt += 2800
		// Not the segment sizes: Linux may coalesce the two writes
		// (autocorking), sluice sends each as written.
		c.expectStream("echo", 2800, false)
	}},
	{name: "close/text-in-fin-wait-1", run: func(c *conn) {
		c.established()
		c.data("quit", quitWord)
		c.expectStream("echo and FIN", 4, true)
		c.send("text, not acking their FIN", tx{flags: flagPA, seq: c.sndNxt, ack: c.rcvNxt - 1, data: []byte("more")})
		c.expect("RST (RFC 1122 4.2.2.13)")
	}},
	{name: "ip/ipv4-options", run: func(c *conn) {
		c.send("SYN in an IPv4 header with options", tx{flags: flagS, seq: c.iss, synOpts: true, ipOpts: true})
		c.sndNxt = c.iss + 1
		c.expect("SYN-ACK")
		c.ack("ACK")
		c.send("text in an IPv4 header with options", tx{flags: flagPA, seq: c.sndNxt, ack: c.rcvNxt, data: []byte("opts"), ipOpts: true})
		c.sndNxt += 4
		c.expectStream("echo", 4, false)
	}},
	{name: "ecn/syn-ece-cwr", run: func(c *conn) {
		c.send("SYN with ECE and CWR (RFC 3168 §6.1.1)", tx{flags: flagS | wire.TCPFlagECE | wire.TCPFlagCWR, seq: c.iss, synOpts: true})
		c.sndNxt = c.iss + 1
		c.expect("SYN-ACK")
		c.ack("ACK")
		c.data("text", "hello")
		c.expectStream("echo", 5, false)
	}},
	{name: "ip/ipv6-hop-by-hop", ipv6: true, run: func(c *conn) {
		c.send("SYN after a hop-by-hop options header", tx{flags: flagS, seq: c.iss, synOpts: true, hopByHop: true})
		c.sndNxt = c.iss + 1
		c.expect("SYN-ACK")
		c.ack("ACK")
		c.send("text after a hop-by-hop options header", tx{flags: flagPA, seq: c.sndNxt, ack: c.rcvNxt, data: []byte("hbh"), hopByHop: true})
		c.sndNxt += 3
		c.expectStream("echo", 3, false)
	}},
	{name: "rfc5961/rst-ack-exact", run: func(c *conn) {
		c.established()
		c.send("RST|ACK at RCV.NXT", tx{flags: flagR | flagA, seq: c.sndNxt, ack: c.rcvNxt})
		c.expect("nothing")
		c.data("text", "after")
		c.expect("RST (no connection)")
	}},
	{name: "rfc5961/rst-with-text", run: func(c *conn) {
		c.established()
		c.send("RST at RCV.NXT with text (RFC 9293 3.5.3)", tx{flags: flagR | flagA, seq: c.sndNxt, ack: c.rcvNxt, data: []byte("reason")})
		c.expect("nothing")
		c.data("text", "after")
		c.expect("RST (no connection)")
	}},
	{name: "urgent/inline", run: func(c *conn) {
		c.established()
		c.send("text with URG", tx{flags: flagPA | wire.TCPFlagURG, seq: c.sndNxt, ack: c.rcvNxt, data: []byte("urgent"), urgent: 6})
		c.sndNxt += 6
		c.expectStream("echo", 6, false)
	}},
}

func init() {
	// IPv6 runs of a subset: the engine is one, the frames differ.
	for _, name := range []string{"close/simultaneous", "timewait/new-syn-newer",
		"rfc5961/rst-in-window", "window/out-of-order-sack"} {
		for _, sc := range scenarios {
			if sc.name == name {
				sc.name += "/ipv6"
				sc.ipv6 = true
				scenarios = append(scenarios, sc)
			}
		}
	}
}

// timeWait takes the connection to TIME-WAIT on the server: the server
// closes first, we acknowledge its FIN and send ours.
func timeWait(c *conn) {
	c.established()
	c.data("quit", quitWord)
	c.expectStream("echo and FIN", 4, true)
	c.fin("ACK and FIN", "")
	c.expect("ACK (TIME-WAIT)")
}
