package netenv

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// link finds ifname in the calling thread's network namespace; a missing
// interface becomes ErrNoInterface naming the interfaces that do exist
// (what `ip link` would list), since the usual cause is a typo or a
// predictable-name rename (eth0 -> enp3s0).
func link(ifname string) (netlink.Link, error) {
	l, err := netlink.LinkByName(ifname)
	if err == nil {
		return l, nil
	}
	var notFound netlink.LinkNotFoundError
	if !errors.As(err, &notFound) && !errors.Is(err, unix.ENODEV) {
		return nil, fmt.Errorf("sluice: look up interface %q: %w", ifname, err)
	}
	names := "none"
	if ls, lerr := netlink.LinkList(); lerr == nil && len(ls) > 0 {
		ns := make([]string, 0, len(ls))
		for _, l := range ls {
			ns = append(ns, l.Attrs().Name)
		}
		sort.Strings(ns)
		names = strings.Join(ns, ", ")
	}
	return nil, newError(ErrNoInterface, nil, fmt.Sprintf(
		"interface %q not found in this network namespace (present: %s): check the name with \"ip link\"", ifname, names))
}

// CheckInterface reports whether ifname exists and is administratively up
// in the calling thread's network namespace. An interface without carrier
// (up, but no cable or peer yet) passes: the carrier may come later and
// sluice would then serve without a restart.
func CheckInterface(ifname string) error {
	l, err := link(ifname)
	if err != nil {
		return err
	}
	return checkUp(l)
}

func checkUp(l netlink.Link) error {
	if l.Attrs().Flags&net.FlagUp == 0 {
		n := l.Attrs().Name
		return newError(ErrInterfaceDown, nil, fmt.Sprintf(
			"interface %s is down: bring it up with \"ip link set dev %s up\"", n, n))
	}
	return nil
}

// Addresses lists the IP addresses configured on ifname (both families,
// link-local included), as prefixes, in the kernel's order.
func Addresses(ifname string) ([]netip.Prefix, error) {
	l, err := link(ifname)
	if err != nil {
		return nil, err
	}
	as, err := addrList(l)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Prefix, 0, len(as))
	for _, a := range as {
		out = append(out, a.prefix)
	}
	return out, nil
}

type ifAddr struct {
	prefix netip.Prefix
	flags  int
}

func addrList(l netlink.Link) ([]ifAddr, error) {
	as, err := netlink.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("sluice: list addresses of %s: %w", l.Attrs().Name, err)
	}
	out := make([]ifAddr, 0, len(as))
	for _, a := range as {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || a.IPNet == nil {
			continue
		}
		ones, _ := a.Mask.Size()
		out = append(out, ifAddr{netip.PrefixFrom(ip.Unmap(), ones), a.Flags})
	}
	return out, nil
}

// CheckAddress reports whether addr is configured on ifname. sluice needs
// the address on the interface although the kernel never sees the TCP
// traffic: the kernel still answers ARP and Neighbour Solicitations for
// it (they pass the XDP program) and routes replies to other protocols.
// An unspecified address (0.0.0.0, ::) means every address of that family
// on the interface and passes when the interface has at least one.
// An IPv6 address whose duplicate address detection failed is refused: the
// kernel does not answer Neighbour Solicitations for it (RFC 4862 §5.4.5).
func CheckAddress(ifname string, addr netip.Addr) error {
	l, err := link(ifname)
	if err != nil {
		return err
	}
	return checkAddress(l, addr)
}

func checkAddress(l netlink.Link, addr netip.Addr) error {
	as, err := addrList(l)
	if err != nil {
		return err
	}
	addr = addr.Unmap().WithZone("")
	name := l.Attrs().Name
	for _, a := range as {
		if addr.IsUnspecified() && a.prefix.Addr().Is4() == addr.Is4() {
			return nil
		}
		if a.prefix.Addr() == addr {
			if a.flags&unix.IFA_F_DADFAILED != 0 {
				return newError(ErrAddressNotOnInterface, nil, fmt.Sprintf(
					"address %s on interface %s failed duplicate address detection (another host uses it): pick another address", addr, name))
			}
			return nil
		}
	}
	have := make([]string, 0, len(as))
	for _, a := range as {
		have = append(have, a.prefix.String())
	}
	list := "none"
	if len(have) > 0 {
		list = strings.Join(have, ", ")
	}
	if addr.IsUnspecified() {
		fam := "IPv4"
		if addr.Is6() {
			fam = "IPv6"
		}
		return newError(ErrAddressNotOnInterface, nil, fmt.Sprintf(
			"interface %s has no %s address to serve %s on (it has: %s): add one with \"ip addr add ADDR/LEN dev %s\"", name, fam, addr, list, name))
	}
	return newError(ErrAddressNotOnInterface, nil, fmt.Sprintf(
		"address %s is not on interface %s (it has: %s): add it with \"ip addr add %s/LEN dev %s\" or serve on one of those", addr, name, list, addr, name))
}
