package main

// The rig: which CPU pays for each side's network stack.
//
// On veth a frame is received in the sender's context: veth_xmit hands it
// to the other end, and the other end's receive work (softirq, or a NAPI
// poll scheduled on the sending CPU) runs on the sender's CPU. The kernel
// TCP receive of the server's requests is then charged to the generator,
// and that of its responses (tcp_v4_rcv, tcp_ack, waking the client)
// to the server, inside its sendto/write.
//
// With -rig napi (the default) each veth end runs NAPI (GRO on; an XDP
// program, sluice's, also enables it) in a thread of its own
// (/sys/class/net/DEV/threaded = 1), and each end's NAPI thread is pinned
// to its own side's CPU. A sender's veth_xmit then only queues the frame on
// the receiving end's ring and wakes that end's thread, on the receiver's
// core: each side does its own receive work on its own core, and the
// server's CPU time is its process's plus its NAPI thread's. -rig softirq
// is the veth default (the receive work on the sender's core).

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sluicenet/sluice/testbed"
)

// rigUsed says which rig the HTTP workloads ran on, for the report: the
// one asked for, or softirq with the reason napi could not be set up.
var rigUsed struct {
	sync.Mutex
	fallback string
}

// rigFallback records that the napi rig could not be set up.
func rigFallback(err error) {
	rigUsed.Lock()
	defer rigUsed.Unlock()
	if rigUsed.fallback == "" {
		fmt.Fprintf(os.Stderr, "bench: -rig napi unavailable, measuring on the softirq rig: %v\n", err)
		rigUsed.fallback = "softirq (napi unavailable: " + err.Error() + ")"
	}
}

// rigName is the rig the run used.
func rigName(c config) string {
	rigUsed.Lock()
	defer rigUsed.Unlock()
	if rigUsed.fallback != "" {
		return rigUsed.fallback
	}
	if c.rig == "" {
		return "napi"
	}
	return c.rig
}

// rigs are the -rig choices.
var rigs = []string{"napi", "softirq"}

// napiThreads are the NAPI kthreads of one testbed's two veth ends.
type napiThreads struct {
	server, peer []int // pids
}

// setupRig applies c.rig to bed's veth ends ("" is napi, the default).
func setupRig(c config, bed *testbed.Bed) (*napiThreads, error) {
	if c.rig == "softirq" {
		return &napiThreads{}, nil
	}
	var n napiThreads
	var err error
	if n.server, err = bed.Server.ThreadedNAPI(c.serverCPU); err != nil {
		return nil, err
	}
	if n.peer, err = bed.Peer.ThreadedNAPI(c.clientCPU); err != nil {
		return nil, err
	}
	return &n, nil
}

// cpu is the CPU time the server's NAPI threads have used so far (0
// without them).
func (n *napiThreads) cpu() (time.Duration, error) {
	var sum time.Duration
	for _, p := range n.server {
		d, err := testbed.ThreadCPU(p)
		if err != nil {
			return 0, fmt.Errorf("NAPI thread %d: %w", p, err)
		}
		sum += d
	}
	return sum, nil
}

func checkRig(name string) error {
	for _, r := range append(rigs, "") {
		if r == name {
			return nil
		}
	}
	return errors.New("-rig " + name + ": want one of " + strings.Join(rigs, ", "))
}
