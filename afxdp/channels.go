package afxdp

import (
	"fmt"
	"github.com/sluicenet/sluice/internal/ethtool"
	"os"
	"strings"
)

// QueueCount reports how many RX queues dev (a name in the calling
// thread's network namespace) has in use: ETHTOOL_GCHANNELS first
// (rx + combined channels), else the rx-N entries under
// /sys/class/net/DEV/queues. Note that /sys shows the namespace it was
// mounted in, so the fallback is only right in the mounting namespace.
func QueueCount(dev string) (int, error) {
	ch, err := ethtool.GetChannels(dev)
	if err == nil {
		if n := int(ch.Rx + ch.Combined); n > 0 {
			return n, nil
		}
	}
	ents, serr := os.ReadDir("/sys/class/net/" + dev + "/queues")
	if serr != nil {
		if err == nil {
			err = serr
		}
		return 0, fmt.Errorf("afxdp: queue count of %s: ethtool channels and sysfs both failed: %w", dev, err)
	}
	n := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "rx-") {
			n++
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("afxdp: queue count of %s: no rx queues listed in sysfs", dev)
	}
	return n, nil
}
