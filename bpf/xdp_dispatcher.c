//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A multi-program XDP dispatcher in the format of libxdp's protocol,
 * version 2 (xdp-tools lib/libxdp/protocol.org), so that sluice and libxdp
 * users (xdp-loader, xdp-filter, ...) can share one device: each reads the
 * other's dispatcher and builds the next one.
 *
 * Ten stub functions prog0..prog9 are replaced (freplace) by the component
 * programs; the dispatcher calls the first num_progs_enabled in turn and
 * goes on to the next only if the return value's bit is set in that
 * slot's chain_call_actions. A stub returns XDP_DISPATCHER_RETVAL (31),
 * whose bit is always set, so a slot whose program went away is skipped.
 * The configuration is read-only data set before loading, so the verifier
 * prunes the unused slots.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define XDP_DISPATCHER_VERSION 2
#define XDP_DISPATCHER_MAGIC 236 /* 'X' + 'D' + 'P' */
#define XDP_DISPATCHER_RETVAL 31
#define MAX_DISPATCHER_ACTIONS 10

struct xdp_dispatcher_config {
	__u8 magic;
	__u8 dispatcher_version;
	__u8 num_progs_enabled;
	__u8 is_xdp_frags;
	__u32 chain_call_actions[MAX_DISPATCHER_ACTIONS];
	__u32 run_prios[MAX_DISPATCHER_ACTIONS];
	__u32 program_flags[MAX_DISPATCHER_ACTIONS];
};

/* const: in .rodata, frozen at load; volatile: the compiler must not fold
 * the zero it sees here into the code. */
static volatile const struct xdp_dispatcher_config conf = {};

#define STUB(n)                                            \
	__attribute__((noinline)) int prog##n(struct xdp_md *ctx) \
	{                                                  \
		volatile int ret = XDP_DISPATCHER_RETVAL;  \
		if (!ctx)                                  \
			return XDP_ABORTED;                \
		return ret;                                \
	}

STUB(0)
STUB(1)
STUB(2)
STUB(3)
STUB(4)
STUB(5)
STUB(6)
STUB(7)
STUB(8)
STUB(9)

#define SLOT(n)                                                  \
	if (num < n + 1)                                         \
		goto out;                                        \
	ret = prog##n(ctx);                                      \
	if (!((1U << ret) & conf.chain_call_actions[n]))         \
		return ret;

SEC("xdp")
int xdp_dispatcher(struct xdp_md *ctx)
{
	__u8 num = conf.num_progs_enabled;
	int ret;

	SLOT(0)
	SLOT(1)
	SLOT(2)
	SLOT(3)
	SLOT(4)
	SLOT(5)
	SLOT(6)
	SLOT(7)
	SLOT(8)
	SLOT(9)
out:
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
