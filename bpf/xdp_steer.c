//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluice XDP steering program.
 *
 * Every frame arriving on the device is classified; TCP segments addressed
 * to a (local address, port) sluice listens on, or belonging to a flow it
 * dialed, are redirected to the AF_XDP socket of the RX queue they arrived
 * on, and so are ICMP errors quoting a segment of such a flow (PMTU
 * discovery, soft errors). Everything else -- ARP, other ICMP, UDP, SSH and
 * every kernel socket, every
 * frame the program cannot classify -- gets XDP_PASS and the kernel stack
 * handles it as if the program were not there. Nothing is ever dropped here:
 * the program's only power is to take frames away from the kernel, and it
 * does so only when it is sure.
 *
 * Every packet access is bounds-checked against data_end right before it is
 * made, so the verifier (kernel 6.x) can prove it stays inside the frame.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "steer.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Not in the UAPI headers: IEEE 802.1Q tag, RFC 791 fragment bits. */
struct vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};
#define IP_MF 0x2000
#define IP_OFFSET 0x1fff

/* IPv6 next-header values (RFC 8200 §4, IANA) that are extension headers. */
#define NH_HOPOPTS 0
#define NH_ROUTING 43
#define NH_FRAGMENT 44
#define NH_ESP 50
#define NH_AH 51
#define NH_DSTOPTS 60
#define NH_MOBILITY 135
#define NH_HIP 139
#define NH_SHIM6 140

/* XSKMAP[rx queue] = the AF_XDP socket bound to that queue. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, SLUICE_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

/*
 * Software steering (DESIGN: "fewer queues than loops"): fanout[q] = n > 0
 * means queue q has n sockets sharing its UMEM, in
 * xsks_fanout[q*SLUICE_MAX_FANOUT + 0 .. n-1]; a flow goes to the slot its
 * map value pins, else to hash(4-tuple) % n. n == 0: use xsks[q].
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} fanout SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, SLUICE_MAX_QUEUES * SLUICE_MAX_FANOUT);
	__type(key, __u32);
	__type(value, __u32);
} xsks_fanout SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLUICE_MAX_LISTEN);
	__type(key, struct listen_key);
	__type(value, struct steer_value);
} listen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLUICE_MAX_FLOWS);
	__type(key, struct flow_key);
	__type(value, struct steer_value);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counters);
} counters SEC(".maps");

static __always_inline int count(enum counter c)
{
	__u32 zero = 0;
	struct counters *v = bpf_map_lookup_elem(&counters, &zero);

	if (v)
		((__u64 *)v)[c] += 1; /* per-CPU value: no other writer */
	return XDP_PASS;
}

/* Multiplicative mix (golden ratio constant): cheap, and spreads the bits
 * of every word of the 4-tuple. Mirrored in Go by FanoutSlot (maps.go). */
static __always_inline __u32 mix(__u32 h, __u32 v)
{
	h ^= v;
	h *= 0x9e3779b1;
	return h ^ (h >> 16);
}

static __always_inline __u32 flow_hash(const struct flow_key *k)
{
	const __u32 *s = (const __u32 *)k->saddr;
	const __u32 *d = (const __u32 *)k->daddr;
	__u32 h = 0;

	h = mix(h, s[0]);
	h = mix(h, s[1]);
	h = mix(h, s[2]);
	h = mix(h, s[3]);
	h = mix(h, d[0]);
	h = mix(h, d[1]);
	h = mix(h, d[2]);
	h = mix(h, d[3]);
	h = mix(h, (__u32)k->sport | ((__u32)k->dport << 16));
	return h;
}

static __always_inline int redirect(struct xdp_md *ctx, const struct flow_key *fk,
				    const struct steer_value *v)
{
	__u32 q = ctx->rx_queue_index;
	__u32 *n = bpf_map_lookup_elem(&fanout, &q);
	long ret;

	if (n && *n > 0) {
		__u32 cnt = *n;
		__u32 slot = v->fanout_slot;

		if (cnt > SLUICE_MAX_FANOUT)
			cnt = SLUICE_MAX_FANOUT;
		if (slot >= cnt)
			slot = flow_hash(fk) % cnt;
		ret = bpf_redirect_map(&xsks_fanout, q * SLUICE_MAX_FANOUT + slot, XDP_PASS);
		if (ret == XDP_REDIRECT)
			count(CNT_FANOUT);
	} else {
		ret = bpf_redirect_map(&xsks, q, XDP_PASS);
	}
	if (ret == XDP_REDIRECT) {
		count(CNT_REDIRECTED);
		return XDP_REDIRECT;
	}
	/* No socket for this queue (not registered yet, or closed): the kernel
	 * gets the segment, which is what would happen without sluice. */
	return count(CNT_REDIRECT_NO_SOCKET);
}

/*
 * The map entry that makes the flow fk sluice's (a dialed flow, else a
 * listened local address and port), or NULL. fk holds the 4-tuple as seen
 * in an incoming packet (saddr/sport remote, daddr/dport local).
 */
static __always_inline struct steer_value *owned(struct flow_key *fk)
{
	struct steer_value *v;
	struct listen_key lk = {};
	__u32 port = fk->dport;
	__u32 *interest = bpf_map_lookup_elem(&ports, &port);
	__u32 what = interest ? *interest : 0;

	if (what & SLUICE_PORT_FLOW) {
		v = bpf_map_lookup_elem(&flows, fk);
		if (v)
			return v;
	}
	if (!(what & SLUICE_PORT_LISTEN))
		return NULL;

	__builtin_memcpy(lk.addr, fk->daddr, sizeof(lk.addr));
	lk.port = fk->dport;
	lk.family = fk->family;
	v = bpf_map_lookup_elem(&listen, &lk);
	if (!v) {
		/* Wildcard: any local address of this family on this port. */
		__builtin_memset(lk.addr, 0, sizeof(lk.addr));
		v = bpf_map_lookup_elem(&listen, &lk);
	}
	return v;
}

/* Steering decision for a parsed TCP segment. */
static __always_inline int steer(struct xdp_md *ctx, struct flow_key *fk)
{
	struct steer_value *v = owned(fk);

	if (v)
		return redirect(ctx, fk, v);
	return count(CNT_PASSED_NOT_LISTENED);
}

/*
 * ICMP errors about sluice's flows: ICMPv4 destination unreachable (type 3,
 * code 4 is RFC 1191's "fragmentation needed") and ICMPv6 destination
 * unreachable (1) or packet too big (2, RFC 8201). The quoted datagram is
 * one sluice sent, so its source is our end: the flow key is the quoted
 * 4-tuple reversed, and the error goes to the socket that flow's segments
 * go to (the TCB checks the quoted sequence number, RFC 5927 §4.1). Any
 * other ICMP, and errors about flows sluice does not own, stay with the
 * kernel, counted as before under CNT_PASSED_NOT_TCP.
 *
 * ic is the ICMP message (len octets); qip the quoted IP header.
 */
#define ICMP4_DEST_UNREACH 3
#define ICMP6_DEST_UNREACH 1
#define ICMP6_PKT_TOOBIG 2
#define ICMP_HDR_LEN 8

static __always_inline int icmp4(struct xdp_md *ctx, __u8 *ic, __u32 len)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct flow_key fk = {};
	struct steer_value *v;
	struct iphdr *q;
	__u8 *qt;

	if (len < ICMP_HDR_LEN + sizeof(*q) + 4 || (void *)(ic + ICMP_HDR_LEN) > data_end)
		return count(CNT_PASSED_NOT_TCP);
	if (ic[0] != ICMP4_DEST_UNREACH)
		return count(CNT_PASSED_NOT_TCP);
	q = (void *)(ic + ICMP_HDR_LEN);
	if ((void *)(q + 1) > data_end)
		return count(CNT_PASSED_NOT_TCP);
	if (q->version != 4 || q->ihl < 5 || q->protocol != IPPROTO_TCP)
		return count(CNT_PASSED_NOT_TCP);
	qt = (__u8 *)q + q->ihl * 4;
	if ((void *)(qt + 4) > data_end)
		return count(CNT_PASSED_NOT_TCP);
	fk.family = SLUICE_AF_INET;
	fk.saddr[10] = 0xff;
	fk.saddr[11] = 0xff;
	fk.daddr[10] = 0xff;
	fk.daddr[11] = 0xff;
	__builtin_memcpy(&fk.saddr[12], &q->daddr, 4);
	__builtin_memcpy(&fk.daddr[12], &q->saddr, 4);
	fk.sport = ((__u16)qt[2] << 8) | qt[3];
	fk.dport = ((__u16)qt[0] << 8) | qt[1];
	v = owned(&fk);
	if (v)
		return redirect(ctx, &fk, v);
	return count(CNT_PASSED_NOT_TCP);
}

static __always_inline int icmp6(struct xdp_md *ctx, __u8 *ic, __u32 len)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct flow_key fk = {};
	struct steer_value *v;
	struct ipv6hdr *q;
	__u8 *qt;

	if (len < ICMP_HDR_LEN + sizeof(*q) + 4 || (void *)(ic + ICMP_HDR_LEN) > data_end)
		return count(CNT_PASSED_NOT_TCP);
	if (ic[0] != ICMP6_DEST_UNREACH && ic[0] != ICMP6_PKT_TOOBIG)
		return count(CNT_PASSED_NOT_TCP);
	q = (void *)(ic + ICMP_HDR_LEN);
	/* Only a quoted TCP header right after the fixed header: sluice sends
	 * no extension headers. */
	if ((void *)(q + 1) > data_end || q->version != 6 || q->nexthdr != IPPROTO_TCP)
		return count(CNT_PASSED_NOT_TCP);
	qt = (__u8 *)(q + 1);
	if ((void *)(qt + 4) > data_end)
		return count(CNT_PASSED_NOT_TCP);
	fk.family = SLUICE_AF_INET6;
	__builtin_memcpy(fk.saddr, &q->daddr, 16);
	__builtin_memcpy(fk.daddr, &q->saddr, 16);
	fk.sport = ((__u16)qt[2] << 8) | qt[3];
	fk.dport = ((__u16)qt[0] << 8) | qt[1];
	v = owned(&fk);
	if (v)
		return redirect(ctx, &fk, v);
	return count(CNT_PASSED_NOT_TCP);
}

/*
 * TCP header at tcp, with l4len octets of IP payload (RFC 9293 §3.1: Data
 * Offset counts 32-bit words, at least 5).
 */
static __always_inline int tcp(struct xdp_md *ctx, struct flow_key *fk, struct tcphdr *th,
			       __u32 l4len)
{
	void *data_end = (void *)(long)ctx->data_end;
	__u32 doff;

	if (l4len < sizeof(*th))
		return count(CNT_PASSED_BAD_HEADER);
	if ((void *)(th + 1) > data_end)
		return count(CNT_PASSED_TRUNCATED);
	doff = th->doff * 4;
	if (doff < sizeof(*th) || doff > l4len)
		return count(CNT_PASSED_BAD_HEADER);
	fk->sport = bpf_ntohs(th->source);
	fk->dport = bpf_ntohs(th->dest);
	return steer(ctx, fk);
}

/* RFC 791 §3.1. */
static __always_inline int ipv4(struct xdp_md *ctx, void *l3)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = l3;
	struct flow_key fk = {};
	__u32 hl, tot;

	if ((void *)(ip + 1) > data_end)
		return count(CNT_PASSED_TRUNCATED);
	if (ip->version != 4 || ip->ihl < 5)
		return count(CNT_PASSED_BAD_HEADER);
	hl = ip->ihl * 4;
	tot = bpf_ntohs(ip->tot_len);
	if (tot < hl)
		return count(CNT_PASSED_BAD_HEADER);
	/* Frames may carry Ethernet padding after the datagram, never less. */
	if (l3 + tot > data_end)
		return count(CNT_PASSED_TRUNCATED);
	/* Reassembly is the kernel's job: any fragment, first one included. */
	if (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return count(CNT_PASSED_FRAGMENT);
	if (ip->protocol == IPPROTO_ICMP)
		return icmp4(ctx, l3 + hl, tot - hl);
	if (ip->protocol != IPPROTO_TCP)
		return count(CNT_PASSED_NOT_TCP);

	fk.family = SLUICE_AF_INET;
	/* v4-mapped (RFC 4291 §2.5.5.2): ::ffff:a.b.c.d */
	fk.saddr[10] = 0xff;
	fk.saddr[11] = 0xff;
	fk.daddr[10] = 0xff;
	fk.daddr[11] = 0xff;
	__builtin_memcpy(&fk.saddr[12], &ip->saddr, 4);
	__builtin_memcpy(&fk.daddr[12], &ip->daddr, 4);
	return tcp(ctx, &fk, l3 + hl, tot - hl);
}

/*
 * RFC 8200 §3, §4. Hop-by-hop, routing and destination-options headers are
 * walked (at most SLUICE_MAX_IPV6_EXT); a fragment header means "kernel",
 * as for IPv4; AH, ESP, mobility/HIP/shim6, a chain too long, or a routing
 * header with segments left (we are not the final destination) are passed
 * with CNT_PASSED_IPV6_EXT.
 */
static __always_inline int ipv6(struct xdp_md *ctx, void *l3)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct ipv6hdr *ip6 = l3;
	struct flow_key fk = {};
	__u32 off = sizeof(*ip6), end;
	__u8 nh;
	int i;

	if ((void *)(ip6 + 1) > data_end)
		return count(CNT_PASSED_TRUNCATED);
	if (ip6->version != 6)
		return count(CNT_PASSED_BAD_HEADER);
	end = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
	if (l3 + end > data_end)
		return count(CNT_PASSED_TRUNCATED);
	nh = ip6->nexthdr;

	for (i = 0; i < SLUICE_MAX_IPV6_EXT; i++) {
		__u8 *eh;

		if (nh != NH_HOPOPTS && nh != NH_ROUTING && nh != NH_DSTOPTS)
			break;
		/* Hop-by-hop may only come first (RFC 8200 §4.1). */
		if (nh == NH_HOPOPTS && i != 0)
			return count(CNT_PASSED_IPV6_EXT);
		/* Every one of these is at least 8 octets (RFC 8200 §4.3-4.6). */
		if (off + 8 > end)
			return count(CNT_PASSED_TRUNCATED);
		eh = l3 + off;
		if ((void *)(eh + 8) > data_end)
			return count(CNT_PASSED_TRUNCATED);
		/* Segments Left != 0: this node is a waypoint, not the
		 * destination; the kernel forwards or rejects it (§4.4). */
		if (nh == NH_ROUTING && eh[3] != 0)
			return count(CNT_PASSED_IPV6_EXT);
		nh = eh[0];
		off += ((__u32)eh[1] + 1) * 8;
		if (off > end)
			return count(CNT_PASSED_TRUNCATED);
		/* Keeps the offset provably small for the verifier (packet
		 * offsets must stay under 64 KiB); no sane chain is this long. */
		if (off > SLUICE_MAX_IPV6_EXT_LEN)
			return count(CNT_PASSED_IPV6_EXT);
	}

	switch (nh) {
	case IPPROTO_TCP:
		break;
	case NH_FRAGMENT:
		return count(CNT_PASSED_FRAGMENT);
	case IPPROTO_ICMPV6:
		return icmp6(ctx, l3 + off, end - off);
	case NH_HOPOPTS:
	case NH_ROUTING:
	case NH_DSTOPTS:
	case NH_ESP:
	case NH_AH:
	case NH_MOBILITY:
	case NH_HIP:
	case NH_SHIM6:
		return count(CNT_PASSED_IPV6_EXT);
	default:
		return count(CNT_PASSED_NOT_TCP);
	}

	fk.family = SLUICE_AF_INET6;
	__builtin_memcpy(fk.saddr, &ip6->saddr, 16);
	__builtin_memcpy(fk.daddr, &ip6->daddr, 16);
	return tcp(ctx, &fk, l3 + off, end - off);
}

/*
 * Run configuration for a multi-program dispatcher (libxdp's protocol, the
 * XDP_RUN_CONFIG of xdp/xdp_helpers.h): the default run priority (lower runs
 * first; libxdp's default is 50) and the actions after which the next
 * program runs. Only XDP_PASS: a steered frame is sluice's, everything
 * passed goes on to the programs after it. The Go loader reads these
 * values from this section's BTF (bpf/dispatcher.go).
 */
struct {
	__uint(priority, 50);
	__uint(XDP_PASS, 1);
} _sluice_steer SEC(".xdp_run_config");

SEC("xdp")
int sluice_steer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	void *l3 = eth + 1;
	__be16 proto;

	if (l3 > data_end)
		return count(CNT_PASSED_TRUNCATED);
	proto = eth->h_proto;
	/* One 802.1Q or 802.1ad tag; a second (QinQ inner) tag is "not IP". */
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_hdr *vh = l3;

		if ((void *)(vh + 1) > data_end)
			return count(CNT_PASSED_TRUNCATED);
		proto = vh->encap_proto;
		l3 = vh + 1;
	}
	if (proto == bpf_htons(ETH_P_IP))
		return ipv4(ctx, l3);
	if (proto == bpf_htons(ETH_P_IPV6))
		return ipv6(ctx, l3);
	return count(CNT_PASSED_NOT_IP);
}
