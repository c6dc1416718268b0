package sluice

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// xdpSockets lists this process's AF_XDP sockets and whether each was
// bound zero-copy (XDP_OPTIONS, XDP_OPTIONS_ZEROCOPY). getsockopt at
// SOL_XDP fails on every other kind of socket.
func xdpSockets() map[int]bool {
	out := map[int]bool{}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return out
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err != nil || !strings.HasPrefix(l, "socket:") {
			continue
		}
		flags, err := unix.GetsockoptInt(fd, unix.SOL_XDP, unix.XDP_OPTIONS)
		if err != nil {
			continue
		}
		out[fd] = flags&unix.XDP_OPTIONS_ZEROCOPY != 0
	}
	return out
}

// boundMode names how the sockets Start made were bound ("zero-copy",
// "copy" or "mixed"): those in after that were not in before. "" when
// none is found. (Sockets another server of this process binds at the
// same moment could be counted too; the log line is all that uses it.)
//
// TODO(sched): a Loop accessor for afxdp.Socket.Mode would make this scan
// unnecessary.
func boundMode(before, after map[int]bool) string {
	zc, cp := 0, 0
	for fd, z := range after {
		if _, old := before[fd]; old {
			continue
		}
		if z {
			zc++
		} else {
			cp++
		}
	}
	switch {
	case zc > 0 && cp == 0:
		return "zero-copy"
	case cp > 0 && zc == 0:
		return "copy"
	case zc > 0:
		return "mixed"
	}
	return ""
}
