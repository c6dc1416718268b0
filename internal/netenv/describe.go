package netenv

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Device is what start-up prints about the interface it runs on, so an
// operator sees the driver, queues and MTU sluice found without reading
// code (issue 9).
type Device struct {
	Name      string
	Index     int
	Driver    string // ETHTOOL_GDRVINFO, e.g. "ice", "veth"; "" if not told
	Version   string // driver version
	Firmware  string
	BusInfo   string // e.g. PCI address
	MTU       int
	MAC       net.HardwareAddr
	Up        bool   // administratively up
	OperState string // "up", "down", "lowerlayerdown", ...
	Channels  Channels
	Addresses []netip.Prefix
	XDPProgID uint32 // XDP program attached now (0: none)
	XDPMode   string // "driver", "generic", "offload", "multi" or ""
}

// Describe gathers Device for ifname in the calling thread's network
// namespace. Only a missing interface is an error; facts the driver does
// not report stay empty.
func Describe(ifname string) (Device, error) {
	l, err := link(ifname)
	if err != nil {
		return Device{}, err
	}
	a := l.Attrs()
	d := Device{
		Name:      a.Name,
		Index:     a.Index,
		MTU:       a.MTU,
		MAC:       a.HardwareAddr,
		Up:        a.Flags&net.FlagUp != 0,
		OperState: a.OperState.String(),
	}
	if a.Xdp != nil && a.Xdp.Attached {
		d.XDPProgID = a.Xdp.ProgId
		d.XDPMode = xdpMode(a.Xdp.AttachMode)
	}
	if fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err == nil {
		if info, err := unix.IoctlGetEthtoolDrvinfo(fd, ifname); err == nil {
			d.Driver = cstr(info.Driver[:])
			d.Version = cstr(info.Version[:])
			d.Firmware = cstr(info.Fw_version[:])
			d.BusInfo = cstr(info.Bus_info[:])
		}
		unix.Close(fd)
	}
	if ch, err := ChannelsOf(ifname); err == nil {
		d.Channels = ch
	}
	if as, err := addrList(l); err == nil {
		for _, x := range as {
			d.Addresses = append(d.Addresses, x.prefix)
		}
	}
	return d, nil
}

func xdpMode(m uint32) string {
	switch m {
	case nl.XDP_ATTACHED_DRV:
		return "driver"
	case nl.XDP_ATTACHED_SKB:
		return "generic"
	case nl.XDP_ATTACHED_HW:
		return "offload"
	case 4: // XDP_ATTACHED_MULTI
		return "multi"
	}
	return ""
}

func cstr(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// String is the one-line start-up report, e.g.
// "sl-srv (ifindex 2) driver veth 1.0, 1 rx queue (max 1), mtu 1500, mac 02:..., up, addrs 198.18.0.1/24 2001:2::1/64, no xdp program".
func (d Device) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (ifindex %d)", d.Name, d.Index)
	if d.Driver != "" {
		fmt.Fprintf(&b, " driver %s", d.Driver)
		if d.Version != "" {
			fmt.Fprintf(&b, " %s", d.Version)
		}
		if d.BusInfo != "" {
			fmt.Fprintf(&b, " at %s", d.BusInfo)
		}
	}
	q := d.Channels.Queues()
	fmt.Fprintf(&b, ", %d rx queue", q)
	if q != 1 {
		b.WriteString("s")
	}
	if m := d.Channels.MaxQueues(); m > 0 {
		fmt.Fprintf(&b, " (max %d)", m)
	}
	fmt.Fprintf(&b, ", mtu %d, mac %s", d.MTU, d.MAC)
	if d.Up {
		fmt.Fprintf(&b, ", up (%s)", d.OperState)
	} else {
		b.WriteString(", DOWN")
	}
	b.WriteString(", addrs")
	if len(d.Addresses) == 0 {
		b.WriteString(" none")
	}
	for _, a := range d.Addresses {
		b.WriteString(" " + a.String())
	}
	if d.XDPProgID != 0 {
		fmt.Fprintf(&b, ", xdp prog %d (%s)", d.XDPProgID, d.XDPMode)
	} else {
		b.WriteString(", no xdp program")
	}
	return b.String()
}
