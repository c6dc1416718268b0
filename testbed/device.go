package testbed

import (
	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/internal/ethtool"
)

// SetGRO switches GRO on h's link. A veth end runs NAPI (and has NAPI
// instances to configure) only with GRO on or an XDP program attached;
// with GRO on first, its instances outlive the program.
func (h *Host) SetGRO(on bool) error {
	v := uint32(0)
	if on {
		v = 1
	}
	return h.Do(func() error { return ethtool.SetValue(h.Link, unix.ETHTOOL_SGRO, v) })
}
