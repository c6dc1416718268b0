package netenv

import (
	"fmt"
	"github.com/sluicenet/sluice/internal/ethtool"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Channels is a device's queue configuration (ethtool -l).
type Channels struct {
	RX, TX, Combined          int // in use
	MaxRX, MaxTX, MaxCombined int // the driver's limits (0: not reported)
	FromSysfs                 bool
}

// Queues is the number of RX queues in use, which is how many AF_XDP
// sockets can be bound without software steering: rx-only channels plus
// combined ones.
func (c Channels) Queues() int { return c.RX + c.Combined }

// MaxQueues is the most RX queues the driver allows (0: unknown).
func (c Channels) MaxQueues() int { return c.MaxRX + c.MaxCombined }

// ChannelsOf reports ifname's queues: ETHTOOL_GCHANNELS in the calling
// thread's network namespace, else the rx-N entries of
// /sys/class/net/IF/queues. The ioctl comes first because /sys shows the
// namespace it was mounted in, not the caller's.
func ChannelsOf(ifname string) (Channels, error) {
	ch, err := ethtool.GetChannels(ifname)
	if err == nil && ch.Rx+ch.Combined > 0 {
		return Channels{
			RX: int(ch.Rx), TX: int(ch.Tx), Combined: int(ch.Combined),
			MaxRX: int(ch.MaxRx), MaxTX: int(ch.MaxTx), MaxCombined: int(ch.MaxCombined),
		}, nil
	}
	if err == unix.ENODEV {
		_, lerr := link(ifname)
		if lerr != nil {
			return Channels{}, lerr
		}
	}
	ents, serr := os.ReadDir("/sys/class/net/" + ifname + "/queues")
	if serr != nil {
		if err == nil {
			err = serr
		}
		return Channels{}, fmt.Errorf("sluice: queue count of %s: ethtool channels and sysfs both failed: %w", ifname, err)
	}
	out := Channels{FromSysfs: true}
	for _, e := range ents {
		switch {
		case strings.HasPrefix(e.Name(), "rx-"):
			out.RX++
		case strings.HasPrefix(e.Name(), "tx-"):
			out.TX++
		}
	}
	if out.RX == 0 {
		return Channels{}, fmt.Errorf("sluice: queue count of %s: no rx queues listed in sysfs", ifname)
	}
	return out, nil
}

// CheckQueues reports whether ifname has at least loops RX queues, so that
// every loop owns a queue (DESIGN: one NIC queue, one loop, one core).
// The advice follows the driver's channel model: combined channels
// (most NICs) or separate rx/tx (veth), and the driver's maximum.
// Callers that steer in software (fewer queues than loops) skip this check.
func CheckQueues(ifname string, loops int) error {
	ch, err := ChannelsOf(ifname)
	if err != nil {
		return err
	}
	return queuesError(ifname, ch, loops)
}

func queuesError(ifname string, ch Channels, loops int) error {
	have := ch.Queues()
	if have >= loops {
		return nil
	}
	plural := "s"
	if have == 1 {
		plural = ""
	}
	set := fmt.Sprintf("ethtool -L %s combined %d", ifname, loops)
	if ch.MaxCombined == 0 && ch.MaxRX > 0 {
		set = fmt.Sprintf("ethtool -L %s rx %d tx %d", ifname, loops, loops)
	}
	advice := fmt.Sprintf("raise the queue count (\"%s\") or run %d loop%s", set, have, plural)
	if max := ch.MaxQueues(); max > 0 && max < loops {
		advice = fmt.Sprintf("the driver allows at most %d (\"ethtool -l %s\"): run at most that many loops, or steer in software (fewer queues than loops)", max, ifname)
	}
	return newError(ErrQueueCount, nil, fmt.Sprintf(
		"interface %s has %d RX queue%s but %d loops were requested: %s", ifname, have, plural, loops, advice))
}
