package conngen

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/sluicenet/sluice/testbed"
)

// Route makes bed's server reach the client prefix through the peer's
// address of its family, so a kernel server resolves one neighbour (the
// peer's link) for every client address; the route goes with the
// namespace.
func Route(bed *testbed.Bed, prefix netip.Prefix) error {
	via, fam := bed.Peer.IPv4, "-4"
	if !prefix.Addr().Is4() {
		via, fam = bed.Peer.IPv6, "-6"
	}
	out, err := bed.Server.Exec(context.Background(), "ip", fam, "route", "replace", prefix.Masked().String(), "via", via.String(), "dev", bed.Server.Link)
	if err != nil {
		return fmt.Errorf("conngen: route %v via %v: %v: %s", prefix, via, err, out)
	}
	return nil
}

// ConfigFor fills the addresses of a generator on bed's peer against
// server: MACs of the two ends, the client prefix.
func ConfigFor(bed *testbed.Bed, server netip.AddrPort, prefix netip.Prefix) Config {
	var c Config
	c.Server, c.Client = server, prefix
	copy(c.SrcMAC[:], bed.Peer.MAC)
	copy(c.DstMAC[:], bed.Server.MAC)
	return c
}
