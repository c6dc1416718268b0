package wire

// DropReason says why a frame was rejected. It is also the error every
// parser in this package returns, so the RX loop can count drops per reason
// with no allocation: `if r, ok := err.(DropReason); ok { stats[r]++ }` or
// simply Reason(err). Compare with == or errors.Is.
type DropReason uint8

const (
	DropNone              DropReason = iota // not dropped
	DropTruncated                           // frame shorter than a header it claims
	DropNotIP                               // EtherType is neither IPv4 nor IPv6 (ARP, QinQ, ...)
	DropBadIPVersion                        // version field disagrees with the EtherType
	DropBadIPHeader                         // IPv4 IHL < 5, malformed IPv4 options, bad IPv6 ext chain
	DropBadLength                           // IP total/payload length inconsistent with the frame
	DropBadIPChecksum                       // IPv4 header checksum (RFC 791 §3.1)
	DropFragment                            // IP fragment: sluice does no reassembly
	DropNotTCP                              // upper-layer protocol is not TCP
	DropBadTCPHeader                        // TCP data offset < 5 or beyond the segment
	DropBadTCPChecksum                      // TCP checksum with pseudo-header (RFC 9293 §3.1)
	DropBadOptions                          // malformed TCP option list
	DropBadAddress                          // multicast/broadcast/unspecified source, or mismatched families
	DropTooManyExtHeaders                   // IPv6 extension chain longer than MaxIPv6ExtHeaders
	DropNoRoom                              // (TX) buffer too small for the frame being built
	DropBadARP                              // ARP not for Ethernet/IPv4 (htype, ptype, hlen, plen)
	// DropPartialChecksum: the TCP checksum field holds exactly the
	// pseudo-header sum, the form a Linux sender with TX checksum offload
	// leaves for the device to complete (CHECKSUM_PARTIAL). A virtual
	// device (veth, a container's interface) delivers it so; it is
	// accepted with AcceptPartialChecksum (the loop sets it on veth) and
	// dropped under this reason elsewhere, so the fix can be named:
	// `ethtool -K <peer device> tx off`.
	DropPartialChecksum
	NumDropReasons // size for a per-reason counter array
)

var dropNames = [NumDropReasons]string{
	DropNone:              "none",
	DropTruncated:         "truncated",
	DropNotIP:             "not IP",
	DropBadIPVersion:      "bad IP version",
	DropBadIPHeader:       "bad IP header",
	DropBadLength:         "bad length",
	DropBadIPChecksum:     "bad IPv4 header checksum",
	DropFragment:          "IP fragment",
	DropNotTCP:            "not TCP",
	DropBadTCPHeader:      "bad TCP header",
	DropBadTCPChecksum:    "bad TCP checksum",
	DropBadOptions:        "bad TCP options",
	DropBadAddress:        "bad address",
	DropTooManyExtHeaders: "too many IPv6 extension headers",
	DropNoRoom:            "buffer too small",
	DropBadARP:            "bad ARP",
	DropPartialChecksum:   "partial TCP checksum",
}

// String names the reason (for stats output).
func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropNames[r]
	}
	return "unknown"
}

// Error makes a DropReason an error. DropReason is one byte, so converting
// it to an error interface does not allocate.
func (r DropReason) Error() string { return "wire: " + r.String() }

// Reason extracts the DropReason from an error returned by this package:
// DropNone for nil, and NumDropReasons for a foreign error.
func Reason(err error) DropReason {
	if err == nil {
		return DropNone
	}
	if r, ok := err.(DropReason); ok {
		return r
	}
	return NumDropReasons
}
