package sluice

import (
	"os"
	"strconv"
	"strings"

	"github.com/sluicenet/sluice/tcp/timewait"
)

// twBucketsPath is Linux's bound on TIME-WAIT sockets, per network
// namespace (read in the serving one, /proc/sys/net follows the reader's).
const twBucketsPath = "/proc/sys/net/ipv4/tcp_max_tw_buckets"

// hostTimeWaitMax is the serving namespace's net.ipv4.tcp_max_tw_buckets,
// or 0 when it cannot be read or is not positive. Linux derives it from
// memory: half the buckets of the established hash, which is sized from
// RAM at boot (131072 on a 24 GiB machine, 262144 on larger ones). Call it
// inside the namespace.
func hostTimeWaitMax() int {
	b, err := os.ReadFile(twBucketsPath)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// timeWaitShare is each loop's share of the server's TIME-WAIT bound
// (Config.TimeWaitMax, rounded up over the loops, as MaxConns) and where
// the bound came from; host is hostTimeWaitMax's answer.
func (c *Config) timeWaitShare(loops, host int) (share int, from string, err error) {
	total, from := c.TimeWaitMax, "Config.TimeWaitMax"
	if total == 0 {
		total, from = host, "net.ipv4.tcp_max_tw_buckets"
		if host == 0 {
			total, from = timewait.DefaultMax, "default (tcp_max_tw_buckets unreadable)"
		}
	}
	share = (total + loops - 1) / loops
	if share > timewait.MaxLimit {
		if c.TimeWaitMax != 0 {
			return 0, "", cfgErr("TimeWaitMax", "%d over %d loops is %d a loop, above %d: lower it or run more loops",
				c.TimeWaitMax, loops, share, timewait.MaxLimit)
		}
		share = timewait.MaxLimit
	}
	return share, from, nil
}
