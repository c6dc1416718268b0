package netenv

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// capability is one Linux capability a sluice server needs, with the
// reason, so an error can say why it is asked for.
type capability struct {
	bit  uint
	name string // as in capabilities(7), e.g. "CAP_NET_ADMIN"
	alt  uint   // another capability that stands in for it (0: none)
	why  string
}

// needed are the capabilities of a server (Serve) and of a client (Dial):
// both attach the XDP program and open AF_XDP sockets.
//   - CAP_NET_ADMIN: attaching XDP to a device, creating an XSKMAP, and
//     RTM_NEWNEIGH (NTF_USE) to start neighbour resolution.
//   - CAP_NET_RAW: socket(AF_XDP) (net/xdp/xsk.c, xsk_create).
//   - CAP_BPF: loading the program and creating its maps; the kernel accepts
//     CAP_SYS_ADMIN in its place (bpf_capable()).
//   - CAP_PERFMON: the verifier refuses the steering program's pointer
//     arithmetic on packet data without it ("pointer arithmetic with it
//     prohibited for !root": Spectre v1 masking is bypassed only for
//     perfmon_capable(), kernel/bpf/verifier.c). Measured on Linux 6.18:
//     CAP_BPF+CAP_NET_ADMIN alone fail to load bpf/'s program.
//     CAP_SYS_ADMIN stands in for it too.
var needed = []capability{
	{unix.CAP_NET_ADMIN, "CAP_NET_ADMIN", 0, "attach XDP, create the XSKMAP"},
	{unix.CAP_NET_RAW, "CAP_NET_RAW", 0, "open AF_XDP sockets"},
	{unix.CAP_BPF, "CAP_BPF", unix.CAP_SYS_ADMIN, "load the XDP program and its maps"},
	{unix.CAP_PERFMON, "CAP_PERFMON", unix.CAP_SYS_ADMIN, "pass the verifier's pointer-arithmetic rules"},
}

// effectiveCaps returns the calling thread's effective capability set
// (capget(2) on thread 0 = the caller; capabilities are per thread).
func effectiveCaps() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, err
	}
	return uint64(data[0].Effective) | uint64(data[1].Effective)<<32, nil
}

// MissingCapabilities names the capabilities sluice needs that the calling
// thread's effective set lacks, e.g. ["CAP_NET_RAW", "CAP_BPF"]; empty
// when all are present.
func MissingCapabilities() ([]string, error) {
	eff, err := effectiveCaps()
	if err != nil {
		return nil, fmt.Errorf("sluice: capget: %w", err)
	}
	return missing(eff), nil
}

func missing(eff uint64) []string {
	has := func(c uint) bool { return c < 64 && eff&(1<<c) != 0 }
	var out []string
	for _, c := range needed {
		if !has(c.bit) && (c.alt == 0 || !has(c.alt)) {
			out = append(out, c.name)
		}
	}
	return out
}

// CheckPrivileges reports whether the calling thread may do what Serve
// and Dial do: attach XDP, load BPF, open AF_XDP sockets, and pin
// umemBytes of UMEM (0: skip that check). The UMEM is charged to the
// user's locked memory (net/xdp/xdp_umem.c, xdp_umem_account_pages)
// unless the process has CAP_IPC_LOCK, so RLIMIT_MEMLOCK must cover it.
func CheckPrivileges(umemBytes int64) error {
	eff, err := effectiveCaps()
	if err != nil {
		return fmt.Errorf("sluice: capget: %w", err)
	}
	if m := missing(eff); len(m) > 0 {
		var why []string
		for _, c := range needed {
			for _, n := range m {
				if n == c.name {
					why = append(why, c.name+" to "+c.why)
				}
			}
		}
		lower := make([]string, 0, len(needed))
		upper := make([]string, 0, len(needed))
		for _, c := range needed {
			lower = append(lower, strings.ToLower(c.name))
			upper = append(upper, c.name)
		}
		return newError(ErrPermission, nil, fmt.Sprintf(
			"missing capabilities %s (needs %s): run as root or grant them: \"setcap %s+ep BINARY\", or in a systemd unit AmbientCapabilities=%s and CapabilityBoundingSet=%s",
			strings.Join(m, ", "), strings.Join(why, "; "),
			strings.Join(lower, ","), strings.Join(upper, " "), strings.Join(upper, " ")))
	}
	if umemBytes <= 0 || eff&(1<<unix.CAP_IPC_LOCK) != 0 {
		return nil
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &rl); err != nil {
		return fmt.Errorf("sluice: getrlimit(RLIMIT_MEMLOCK): %w", err)
	}
	if rl.Cur != unix.RLIM_INFINITY && rl.Cur < uint64(umemBytes) {
		return newError(ErrPermission, nil, fmt.Sprintf(
			"locked-memory limit %d bytes is below the %d bytes of UMEM: raise it (\"ulimit -l unlimited\", systemd LimitMEMLOCK=infinity) or grant CAP_IPC_LOCK",
			rl.Cur, umemBytes))
	}
	return nil
}
