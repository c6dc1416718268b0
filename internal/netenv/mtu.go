package netenv

import "fmt"

// XDPPacketHeadroom is XDP_PACKET_HEADROOM (include/uapi/linux/bpf.h): the
// kernel reserves it in front of every packet in a UMEM frame, after the
// UMEM's own configured headroom.
const XDPPacketHeadroom = 256

// linkOverhead is the part of a frame beyond the MTU that a UMEM frame must
// hold: the Ethernet header and one 802.1Q/802.1ad tag (the steering
// program accepts one). The FCS is not delivered.
const linkOverhead = 14 + 4

// MaxMTU is the largest MTU whose frames fit in one UMEM frame of
// frameSize bytes with headroom bytes of UMEM headroom. The kernel's
// receive capacity per frame is chunk_size - headroom - XDP_PACKET_HEADROOM
// (net/xdp/xsk_buff_pool.c, frame_len); a longer frame is dropped, counted
// only in XDP_STATISTICS.
func MaxMTU(frameSize, headroom int) int {
	return frameSize - headroom - XDPPacketHeadroom - linkOverhead
}

// CheckMTU reports whether a full-MTU frame of ifname fits in a UMEM frame
// of frameSize bytes with headroom bytes of UMEM headroom.
func CheckMTU(ifname string, frameSize, headroom int) error {
	l, err := link(ifname)
	if err != nil {
		return err
	}
	return mtuError(ifname, l.Attrs().MTU, frameSize, headroom)
}

func mtuError(ifname string, mtu, frameSize, headroom int) error {
	max := MaxMTU(frameSize, headroom)
	if mtu <= max {
		return nil
	}
	if max < 68 { // RFC 791: every IPv4 module must take 68 octets
		return newError(ErrMTU, nil, fmt.Sprintf(
			"frame size %d with headroom %d leaves no room for a packet (XDP reserves %d, Ethernet+VLAN %d): use 2048- or 4096-byte frames",
			frameSize, headroom, XDPPacketHeadroom, linkOverhead))
	}
	return newError(ErrMTU, nil, fmt.Sprintf(
		"MTU %d of interface %s is too large for %d-byte frames with headroom %d (largest MTU that fits: %d = %d - %d headroom - %d XDP headroom - %d Ethernet+VLAN): lower it (\"ip link set dev %s mtu %d\"), use larger frames, or less headroom",
		mtu, ifname, frameSize, headroom, max, frameSize, headroom, XDPPacketHeadroom, linkOverhead, ifname, max))
}
