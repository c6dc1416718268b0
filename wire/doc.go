// Package wire holds pure codecs over []byte: Ethernet II (+ one 802.1Q
// tag), ARP, IPv4, IPv6 (extension-header walk), ICMPv4/ICMPv6, the TCP
// header and options, and Internet checksums (RFC 1071 full, RFC 1624
// incremental, IPv4/IPv6 pseudo-headers). No allocation, no I/O, no
// imports beyond the standard library.
//
// Two styles, as in gVisor and smoltcp:
//
//   - Views: IPv4, IPv6, TCP, ICMPv4, ICMPv6, ARP and Ethernet are []byte
//     types with accessors that read and write fields in place. A view is
//     obtained from a Parse function (ParseIPv4, ParseIPv6, ParseTCP,
//     ParseARP, ParseICMP), which checks every length the accessors rely on,
//     so accessors never index out of bounds.
//   - Reprs and builders: EthernetHeader, IPv4Header, IPv6Header, TCPHeader,
//     TCPOptions decoded into structs, and Put* functions that encode them.
//
// The RX hot path is one call, ParseFrame, filling a reusable Frame and
// verifying the IPv4 header and TCP checksums; the TX path is BuildTCP, or
// PutTCPHeaders + CopyFinishTCP, which sums the payload while copying it
// straight into a UMEM frame (FinishTCP when the payload is already in
// place). On amd64 the sums are one add-with-carry chain in assembly
// (checksum_amd64.s). Every parser error is a DropReason, a one-byte error value
// the caller can count per reason without allocating.
//
// Decisions:
//   - No reassembly: IPv4/IPv6 fragments are dropped (DropFragment). TCP
//     sets DF and does path MTU discovery, as Linux does. An IPv6 atomic
//     fragment (offset 0, M = 0; RFC 6946) is not a fragment.
//   - The IPv6 extension walk is bounded (MaxIPv6ExtHeaders); a routing
//     header with Segments Left > 0 is refused (we are not the final
//     destination), hop-by-hop must come first (RFC 8200 §4.1).
//   - TCP options are encoded in Linux's aligned layout (see
//     PutTCPOptions), so a capture of sluice looks like a capture of Linux.
//   - Source addresses a TCP peer cannot have (multicast, broadcast, class E,
//     loopback, unspecified, IPv4-mapped in IPv6) and multicast
//     destinations are dropped as DropBadAddress.
//   - A TCP checksum field holding exactly the folded pseudo-header sum is
//     what a Linux peer with TX checksum offload leaves on a veth: it is
//     DropPartialChecksum, unless the caller passes AcceptPartialChecksum
//     (sched does on a veth, where the kernel trusts it too) and then
//     marks Frame.PartialChecksum.
package wire
