//go:build linux

package bpf

import (
	"strings"

	"golang.org/x/sys/unix"
)

// missingCaps names the capabilities Load and attach need that the calling
// thread lacks (effective set), so an EPERM can say exactly what to grant.
// Creating the XSKMAP needs CAP_NET_ADMIN as well as CAP_BPF; attaching XDP
// needs CAP_NET_ADMIN; the verifier allows the program's pointer arithmetic
// on packet data only with CAP_PERFMON ("prohibited for !root" otherwise).
// CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON.
func missingCaps() string {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return "CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN"
	}
	has := func(c uint) bool { return data[c/32].Effective&(1<<(c%32)) != 0 }
	var miss []string
	if !has(unix.CAP_BPF) && !has(unix.CAP_SYS_ADMIN) {
		miss = append(miss, "CAP_BPF")
	}
	if !has(unix.CAP_PERFMON) && !has(unix.CAP_SYS_ADMIN) {
		miss = append(miss, "CAP_PERFMON")
	}
	if !has(unix.CAP_NET_ADMIN) {
		miss = append(miss, "CAP_NET_ADMIN")
	}
	switch len(miss) {
	case 0:
		return ""
	case 1:
		return miss[0]
	}
	return strings.Join(miss[:len(miss)-1], ", ") + " and " + miss[len(miss)-1]
}

// privilegeAdvice is the "what to do" part of a permission error.
func privilegeAdvice() string {
	m := missingCaps()
	if m == "" {
		// All capabilities present: something else refused (LSM, a
		// locked-down kernel, a BPF token policy).
		return "the kernel refused although CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN are present (check LSM policy / kernel lockdown)"
	}
	return "missing " + m + ": run as root or grant them (setcap cap_bpf,cap_perfmon,cap_net_admin+ep on the binary)"
}
