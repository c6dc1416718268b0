// Package bpf holds sluice's XDP steering program (xdp_steer.c and
// steer.h, compiled by bpf2go into the committed steer_bpfel.go and
// steer_bpfel.o, so building needs no clang; `go generate ./bpf/` rebuilds
// them where clang and libbpf-dev are installed) and its Go loader.
//
// # What the program does
//
// Every frame the device receives is classified; TCP segments to a listened
// (local address, port), or belonging to a dialed flow, are redirected with
// bpf_redirect_map(&xsks, rx_queue_index, XDP_PASS) to the AF_XDP socket of
// the RX queue they arrived on. Everything else gets XDP_PASS and the kernel
// handles it as if the program were not there: ARP, ICMP, UDP, SSH, every
// kernel socket, and every frame it cannot classify. It never drops.
//
//   - Ethernet with at most one 802.1Q or 802.1ad tag (a second tag: not IP).
//   - IPv4 with options (IHL). Any fragment (MF or offset != 0, the first one
//     included) is passed: reassembly is the kernel's job.
//   - IPv6: up to 4 hop-by-hop, routing and destination-options headers are
//     walked (at most 4096 octets of header). A fragment header is passed as a
//     fragment; AH, ESP, mobility/HIP/shim6, a longer chain, a hop-by-hop
//     header that is not first, or a routing header with segments left (we are
//     a waypoint, RFC 8200 §4.4) is passed as PassedIPv6Ext.
//   - Length fields are checked against each other and the frame: IP total
//     or payload length beyond the frame is "truncated" (Ethernet padding
//     after the datagram is fine); IHL < 5, a total length shorter than the
//     headers, a TCP data offset < 5 or past the segment is "bad header".
//     Checksums are not verified here (wire/ does it in user space).
//   - The program is not multi-buffer aware (no xdp.frags): drivers refuse
//     it in native mode when the MTU exceeds about a page (ERANGE), and the
//     automatic mode then falls back to generic mode.
//
// # Maps (layouts in steer.h)
//
//	listen   HASH   {addr [16]u8, port u16, family u8, pad u8} -> {fanout_slot u32}
//	flows    HASH   {saddr [16]u8, daddr [16]u8, sport u16, dport u16, family u8, pad [3]u8} -> {fanout_slot u32}
//	ports    ARRAY  local port -> bit 0: some listen entry, bit 1: some flow entry
//	xsks     XSKMAP rx queue -> AF_XDP socket
//	fanout   ARRAY  rx queue -> number of software-steered sockets (0: use xsks)
//	xsks_fanout XSKMAP queue*16 + slot -> AF_XDP socket
//	counters PERCPU_ARRAY [1] struct counters (one u64 per reason)
//
// Addresses are 16 octets: IPv6 as is, IPv4 as the v4-mapped ::ffff:a.b.c.d
// (RFC 4291 §2.5.5.2); family is 4 or 6. Ports are in host byte order. A
// listen entry with an all-zero address is the wildcard for its family; the
// exact entry is looked up first. Flow keys are oriented as the INCOMING
// segment: saddr/sport are the remote peer, daddr/dport are ours. A flow
// entry is looked up before the listen entries. The ports map is a
// prefilter the loader keeps in step (reference counts per port): a segment
// to a port nobody listens or dialed from costs one array lookup (about 30 ns
// per frame in BPF_PROG_TEST_RUN against 65 ns for a listened one).
//
// A steered segment whose queue has no socket in the XSKMAP is passed to the
// kernel and counted as RedirectNoSocket (the kernel then answers as if
// sluice were not there, typically with a RST).
//
// # Software steering
//
// When a device has fewer queues than loops, SetFanout(q, fds) puts up to 16
// AF_XDP sockets sharing queue q's UMEM behind that queue; the program picks
// fds[FanoutSlot(remote, local, len(fds))], or a flow's pinned slot
// (AddFlow's slot argument). FanoutSlot is the program's hash, in Go.
//
// # Attaching
//
// Load(Options{Ifindex: i}) attaches through a bpf_link owned by this
// process, in driver mode, falling back to generic (skb) mode; Mode reports
// which. Close (or the process exiting) detaches. Load refuses a device that
// already runs someone else's XDP program and names its id and, if it is held
// by a bpf_link, the link; Options.Replace detaches it first (BPF_LINK_DETACH
// for a link, netlink for a legacy attachment). Attaching resolves the
// ifindex in the calling thread's network namespace: call Load there (e.g.
// in testbed's Host.Do).
//
// # Beside other XDP programs (libxdp's dispatcher)
//
// With Options.Dispatcher the program instead joins a multi-program
// dispatcher in the format of libxdp's protocol, version 2 (xdp-tools
// lib/libxdp/protocol.org; dispatcher.go, xdp_dispatcher.c), so it coexists
// with programs loaded by xdp-loader, xdp-filter or any libxdp user: it
// reads the dispatcher on the device (or finds none), builds a new one with
// every component in run-priority order, links each component into its
// slot as an extension (freplace) program, pins them under
// <bpffs>/xdp/dispatch-<ifindex>-<id>/ (LIBXDP_BPFFS moves <bpffs> from
// /sys/fs/bpf), and swaps it in through netlink with XDP_FLAGS_REPLACE,
// under libxdp's flock on <bpffs>/xdp. Close does the same without
// sluice's program (or detaches the dispatcher when it was alone). The
// run configuration is compiled into the program (its .xdp_run_config
// section, ProgramRunConfig): priority 50, chain call on XDP_PASS, so a
// frame sluice does not steer goes on to the programs after it; a filter
// meant to see every frame takes a lower priority. Options.RunPriority
// overrides it. The pins outlive the process: a killed server leaves its
// component in place (steered frames then find no socket and are passed,
// RedirectNoSocket) until `xdp-loader unload` removes it. A kernel that
// refuses extension programs (BPF trampolines under lockdown or an LSM
// policy) cannot run components at all: Load fails with ErrExtensionRefused
// and changes nothing.
package bpf
