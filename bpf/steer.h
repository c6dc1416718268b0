/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Shared layout of the sluice steering maps. The Go loader (bpf/loader.go)
 * mirrors these through the types bpf2go generates (steerListenKey,
 * steerFlowKey, steerCounter); change both together and run go generate.
 */
#ifndef SLUICE_STEER_H
#define SLUICE_STEER_H

#include <linux/types.h>

/* Upper bounds, not per-device values: the loader sizes nothing by them. */
#define SLUICE_MAX_QUEUES 256 /* XSKMAP entries: one AF_XDP socket per RX queue */
#define SLUICE_MAX_FANOUT 16  /* software steering: sockets sharing one queue */
#define SLUICE_MAX_LISTEN 4096
#define SLUICE_MAX_FLOWS 65536

/* At most this many IPv6 extension headers (hop-by-hop, routing,
 * destination options) are walked before giving up and passing the packet
 * to the kernel (RFC 8200 §4.1 recommends the order HBH, DstOpts, Routing,
 * Fragment, AH, ESP, DstOpts: a normal chain in front of TCP is at most 3). */
#define SLUICE_MAX_IPV6_EXT 4
/* ... and at most this many octets of IPv6 header plus extensions. */
#define SLUICE_MAX_IPV6_EXT_LEN 4096

enum sluice_family {
	SLUICE_AF_INET = 4,
	SLUICE_AF_INET6 = 6,
};

/*
 * Listen map key: a local (destination) address and port.
 * addr is the IPv6 address, or for IPv4 the v4-mapped form ::ffff:a.b.c.d
 * (RFC 4291 §2.5.5.2). An all-zero addr is the wildcard "any local address
 * of this family on this port"; an exact entry is looked up first.
 * port is in host byte order. family is SLUICE_AF_INET or SLUICE_AF_INET6.
 */
struct listen_key {
	__u8 addr[16];
	__u16 port;
	__u8 family;
	__u8 pad; /* must be zero */
};

/*
 * Dialed-flows map key: the 4-tuple exactly as it appears in an INCOMING
 * packet, so saddr/sport are the remote peer and daddr/dport are ours.
 * Addresses as in listen_key (v4-mapped for IPv4), ports in host byte order.
 */
struct flow_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u8 family;
	__u8 pad[3]; /* must be zero */
};

/*
 * ports[local port] says which of the hash maps can hold an entry for a
 * segment to that port, so traffic sluice does not own (SSH, kernel
 * sockets) costs one array lookup instead of three hash lookups. The
 * loader keeps it in step with listen and flows (reference counts in Go).
 */
#define SLUICE_PORT_LISTEN 1
#define SLUICE_PORT_FLOW 2

/*
 * Value of both maps. fanout_slot pins a flow to one socket of a
 * software-steered queue (see fanout below); SLUICE_SLOT_HASH (~0) means
 * "choose by 4-tuple hash". It is ignored for queues without fanout.
 */
#define SLUICE_SLOT_HASH 0xffffffff
struct steer_value {
	__u32 fanout_slot;
};

/*
 * Per-CPU packet counters, one per verdict and reason: the single value of
 * the PERCPU_ARRAY "counters". Every field is a __u64 so the program can
 * index them (enum counter below gives the indices, in field order).
 */
struct counters {
	__u64 passed_not_ip;       /* not IPv4/IPv6 (ARP, LLDP, a second VLAN tag, ...) */
	__u64 passed_not_tcp;      /* IP but not TCP (ICMP, UDP, ...) */
	__u64 passed_fragment;     /* IPv4 MF/offset or an IPv6 fragment header */
	__u64 passed_not_listened; /* TCP, but neither listened nor a dialed flow */
	__u64 passed_truncated;    /* a header, or the IP length, runs past the frame */
	__u64 passed_bad_header;   /* IP version, IHL < 5, lengths shorter than headers, TCP offset < 5 */
	__u64 passed_ipv6_ext;     /* IPv6 extension chain not walked (AH, ESP, too long, routing in progress) */
	__u64 redirected;          /* bpf_redirect_map said XDP_REDIRECT */
	__u64 redirect_no_socket;  /* steered, but no AF_XDP socket for the queue: XDP_PASS */
	__u64 fanout;              /* of the redirected, steered in software among a queue's sockets */
};

enum counter {
	CNT_PASSED_NOT_IP = 0,
	CNT_PASSED_NOT_TCP,
	CNT_PASSED_FRAGMENT,
	CNT_PASSED_NOT_LISTENED,
	CNT_PASSED_TRUNCATED,
	CNT_PASSED_BAD_HEADER,
	CNT_PASSED_IPV6_EXT,
	CNT_REDIRECTED,
	CNT_REDIRECT_NO_SOCKET,
	CNT_FANOUT,
	CNT_MAX,
};

_Static_assert(sizeof(struct counters) == CNT_MAX * sizeof(__u64), "enum counter out of step with struct counters");

#endif
