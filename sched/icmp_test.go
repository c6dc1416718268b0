package sched

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/wire"
)

// fragNeeded builds the frame a router on the path would send: ICMPv4
// destination unreachable, "fragmentation needed and DF set" (RFC 1191 §4)
// with next-hop MTU mtu, quoting the IPv4 header and first 8 octets of a
// segment from pipeServer to pipeClient with sequence number seq.
func fragNeeded(mtu uint16, seq tcp.Seq) []byte {
	router := netip.MustParseAddr("198.18.0.254")
	ipv4 := func(b []byte, proto uint8, src, dst netip.Addr, total int) {
		b[0], b[8], b[9] = 0x45, 64, proto
		binary.BigEndian.PutUint16(b[2:], uint16(total))
		s, d := src.As4(), dst.As4()
		copy(b[12:], s[:])
		copy(b[16:], d[:])
		binary.BigEndian.PutUint16(b[10:], ^wire.Checksum(b[:20], 0))
	}
	quote := make([]byte, 28)
	ipv4(quote, 6, pipeServer.Addr(), pipeClient.Addr(), 1500)
	binary.BigEndian.PutUint16(quote[20:], pipeServer.Port())
	binary.BigEndian.PutUint16(quote[22:], pipeClient.Port())
	binary.BigEndian.PutUint32(quote[24:], uint32(seq))

	icmp := make([]byte, 8+len(quote))
	icmp[0], icmp[1] = wire.ICMPv4DestUnreach, wire.ICMPv4CodeFragNeeded
	binary.BigEndian.PutUint16(icmp[6:], mtu)
	copy(icmp[8:], quote)
	binary.BigEndian.PutUint16(icmp[2:], ^wire.Checksum(icmp, 0))

	f := make([]byte, 14+20+len(icmp))
	copy(f[0:6], pipeSrvMAC[:])
	copy(f[6:12], pipeCliMAC[:])
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ipv4(f[14:], 1, router, pipeServer.Addr(), 20+len(icmp))
	copy(f[34:], icmp)
	return f
}

// serverTCB is the loop's TCB of the pipe's connection.
func (p *pipe) serverTCB(t *testing.T) *tcp.TCB {
	t.Helper()
	v, ok := p.l.conns.Lookup(MakeConnKey(pipeServer, pipeClient))
	if !ok {
		t.Fatal("no server connection")
	}
	return p.l.slab.Get(v).tcb
}

// An ICMP "fragmentation needed" quoting data in flight reaches the
// connection through the loop (sched/icmp.go): the send MSS drops to fit
// the next-hop MTU (RFC 1191), the flight is sent again in smaller
// segments, and the echo completes byte-exact. One quoting a sequence
// number outside SND.UNA..SND.MAX is ignored and counted (RFC 5927).
func TestPipeICMPFragNeeded(t *testing.T) {
	p := newPipe(t, &rawEcho{}, nil)
	p.dial()
	srv := p.serverTCB(t)
	before := srv.Vars().SndMSS

	data := make([]byte, 6000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	p.drop = true // the path drops the server's big segments
	p.cli.Write(data, p.now)
	p.pump()
	v := srv.Vars()
	if v.SndUna == v.SndMax {
		t.Fatal("nothing in flight to quote")
	}

	// Forged: quotes a sequence number we never sent.
	p.l.Input(fragNeeded(1000, v.SndMax+100000))
	if s := srv.Stats(); s.ICMPIgnored != 1 || s.PMTUUpdates != 0 || srv.Vars().SndMSS != before {
		t.Fatalf("out-of-window ICMP: ignored %d, updates %d, MSS %d", s.ICMPIgnored, s.PMTUUpdates, srv.Vars().SndMSS)
	}

	p.drop = false
	p.l.Input(fragNeeded(1000, v.SndUna))
	p.pump()
	if s := srv.Stats(); s.PMTUUpdates != 1 {
		t.Fatalf("PMTU updates %d, want 1", s.PMTUUpdates)
	}
	// 1000 less 20 (IPv4) and 20 (TCP) octets of headers.
	if mss := srv.Vars().SndMSS; mss > 960 || mss >= before {
		t.Fatalf("send MSS %d after a 1000-octet next-hop MTU (was %d)", mss, before)
	}
	var got []byte
	for range 10 {
		got = append(got, p.read()...)
		if len(got) >= len(data) {
			break
		}
		p.advance(time.Second)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("echo after PMTU: %d of %d octets", len(got), len(data))
	}
}
