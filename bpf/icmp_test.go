//go:build linux

package bpf

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// icmpMsg is an ICMP message: type, code, the 4-octet rest (the next-hop
// MTU for "fragmentation needed" / "packet too big"), and a body (the
// quoted datagram). The checksum is left zero: the program does not check
// it (the loop does).
func icmpMsg(typ, code uint8, mtu uint32, body []byte) []byte {
	b := make([]byte, 8, 8+len(body))
	b[0], b[1] = typ, code
	binary.BigEndian.PutUint32(b[4:], mtu)
	return append(b, body...)
}

// quoted4 is the start of an IPv4 TCP segment sluice sent from `from` to
// `to`: IP header and the first 8 octets of TCP (RFC 792).
func quoted4(from, to netip.AddrPort) []byte {
	return cat(ipv4Hdr(from.Addr(), to.Addr(), protoTCP, 0, 1460), tcpHdr(from.Port(), to.Port(), 0)[:8])
}

func quoted6(from, to netip.AddrPort) []byte {
	return cat(ipv6Hdr(from.Addr(), to.Addr(), protoTCP, 1440), tcpHdr(from.Port(), to.Port(), 0)[:8])
}

func icmp4Frame(m []byte) []byte {
	return cat(eth(etherIPv4), ipv4Hdr(other4, local4, protoICMP, 0, len(m)), m)
}

func icmp6Frame(m []byte) []byte {
	return cat(eth(etherIPv6), ipv6Hdr(other6, local6, protoICMPv6, len(m)), m)
}

// ICMP errors quoting a segment of a listened or dialed flow are steered
// to sluice like the flow's own segments (RFC 1191 / RFC 8201 PMTU
// discovery and soft errors are the TCB's); every other ICMP stays with
// the kernel, counted as PassedNotTCP as before.
func TestICMPErrorsSteered(t *testing.T) {
	p := loadForRun(t)
	const fragNeeded, destUnreach4, echo4 = 3, 3, 8
	const destUnreach6, tooBig6, echo6 = 1, 2, 128
	dialed4 := quoted4(ap(local4, 5555), ap(remote4, 40000))
	listened4 := quoted4(ap(local4, 80), ap(remote4, 1234))
	wild4 := quoted4(ap(other4, 443), ap(remote4, 1234))
	kernel4 := quoted4(ap(local4, 22), ap(remote4, 1234))
	reversed4 := quoted4(ap(remote4, 40000), ap(local4, 5555)) // a segment TO us: not ours to quote
	udp4 := cat(ipv4Hdr(local4, remote4, protoUDP, 0, 8), make([]byte, 8))
	dialed6 := quoted6(ap(local6, 5555), ap(remote6, 40000))
	listened6 := quoted6(ap(local6, 80), ap(remote6, 1234))
	kernel6 := quoted6(ap(local6, 22), ap(remote6, 1234))
	for _, c := range []struct {
		name   string
		frame  []byte
		reason string
	}{
		{"v4 frag needed, dialed flow", icmp4Frame(icmpMsg(destUnreach4, 4, 1400, dialed4)), steered},
		{"v4 frag needed, listened flow", icmp4Frame(icmpMsg(fragNeeded, 4, 1400, listened4)), steered},
		{"v4 host unreachable, listened wildcard", icmp4Frame(icmpMsg(destUnreach4, 1, 0, wild4)), steered},
		{"v4 frag needed, kernel flow", icmp4Frame(icmpMsg(fragNeeded, 4, 1400, kernel4)), "PassedNotTCP"},
		{"v4 frag needed, reversed tuple", icmp4Frame(icmpMsg(fragNeeded, 4, 1400, reversed4)), "PassedNotTCP"},
		{"v4 unreachable quoting UDP", icmp4Frame(icmpMsg(destUnreach4, 3, 0, udp4)), "PassedNotTCP"},
		{"v4 echo with a TCP-looking body", icmp4Frame(icmpMsg(echo4, 0, 0, dialed4)), "PassedNotTCP"},
		{"v4 quote cut before TCP ports", icmp4Frame(icmpMsg(fragNeeded, 4, 1400, dialed4[:22])), "PassedNotTCP"},
		{"v6 packet too big, dialed flow", icmp6Frame(icmpMsg(tooBig6, 0, 1280, dialed6)), steered},
		{"v6 unreachable, listened flow", icmp6Frame(icmpMsg(destUnreach6, 0, 0, listened6)), steered},
		{"v6 packet too big, kernel flow", icmp6Frame(icmpMsg(tooBig6, 0, 1280, kernel6)), "PassedNotTCP"},
		{"v6 echo request", icmp6Frame(icmpMsg(echo6, 0, 0, dialed6)), "PassedNotTCP"},
		{"v6 quote cut before TCP ports", icmp6Frame(icmpMsg(tooBig6, 0, 1280, dialed6[:42])), "PassedNotTCP"},
	} {
		expect(t, p, c.name, c.frame, c.reason)
	}
}
