// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A second XDP program for the dispatcher tests (dispatcher_test.go),
 * loaded with xdp-loader beside sluice's: it counts the IPv4 frames it sees
 * by protocol (ICMP, TCP, other) and passes every one. Rebuild with
 *   clang -O2 -g -Wall -target bpf -I/usr/include/x86_64-linux-gnu \
 *     -c xdp_count.c -o xdp_count.o
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} seen SEC(".maps");

/* libxdp's run configuration: before sluice (50), go on after XDP_PASS. */
struct {
	__uint(priority, 10);
	__uint(XDP_PASS, 1);
} _xdp_count SEC(".xdp_run_config");

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	__u32 k = 2;
	__u64 *n;

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	if (ip->protocol == IPPROTO_ICMP)
		k = 0;
	else if (ip->protocol == IPPROTO_TCP)
		k = 1;
	n = bpf_map_lookup_elem(&seen, &k);
	if (n)
		__sync_fetch_and_add(n, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
