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
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/internal/ethtool"
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
	if n.server, err = threadedNAPI(bed.Server, c.serverCPU); err != nil {
		return nil, err
	}
	if n.peer, err = threadedNAPI(bed.Peer, c.clientCPU); err != nil {
		return nil, err
	}
	return &n, nil
}

// threadedNAPI turns GRO on at h's veth end (veth runs NAPI only with GRO
// or an XDP program), makes its NAPI threaded and pins the new threads to
// cpu. The threads are named napi/<dev>-<id>; other testbeds (tests run
// beside the bench) may have ends of the same name, so ours are the ones
// that appear when we switch threading on.
func threadedNAPI(h *testbed.Host, cpu int) ([]int, error) {
	if err := h.Do(func() error { return ethtool.SetValue(h.Link, unix.ETHTOOL_SGRO, 1) }); err != nil {
		return nil, fmt.Errorf("%s: GRO on: %w", h.Link, err)
	}
	before := napiPids(h.Link)
	// sysfs shows the devices of the namespace it was mounted in; ip
	// netns exec mounts the namespace's own.
	if out, err := exec.Command("ip", "netns", "exec", h.Name, "sh", "-c",
		"echo 1 > /sys/class/net/"+h.Link+"/threaded").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s: threaded NAPI: %v: %s", h.Link, err, out)
	}
	var pids []int
	for deadline := time.Now().Add(2 * time.Second); len(pids) == 0; {
		for p := range napiPids(h.Link) {
			if !before[p] {
				pids = append(pids, p)
			}
		}
		if len(pids) == 0 {
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("%s: no NAPI thread appeared", h.Link)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	var set unix.CPUSet
	set.Set(cpu)
	// SCHED_FIFO, as the softirq of a NIC's interrupt preempts the
	// process on its core. A SCHED_OTHER NAPI thread waits for a
	// scheduler slice behind the busy server on every wakeup (6-11 ms
	// per wakeup measured from schedstat on this shared machine, 4-5 µs
	// with FIFO), and a connection needs several: that was the collapse
	// of Connection: close runs to ~1k conn/s for kernel servers.
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 50}
	for _, p := range pids {
		if err := unix.SchedSetaffinity(p, &set); err != nil {
			return nil, fmt.Errorf("pin NAPI thread %d to CPU %d: %w", p, cpu, err)
		}
		if err := unix.SchedSetAttr(p, &attr, 0); err != nil {
			return nil, fmt.Errorf("NAPI thread %d SCHED_FIFO: %w", p, err)
		}
	}
	return pids, nil
}

// napiPids are the pids of the kthreads named napi/<dev>-*.
func napiPids(dev string) map[int]bool {
	out := map[int]bool{}
	dirs, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err != nil || !strings.HasPrefix(string(b), "napi/"+dev+"-") {
			continue
		}
		if p, err := strconv.Atoi(filepath.Base(filepath.Dir(f))); err == nil {
			out[p] = true
		}
	}
	return out
}

// cpu is the CPU time the server's NAPI threads have used so far (0
// without them).
func (n *napiThreads) cpu() (time.Duration, error) {
	var sum time.Duration
	for _, p := range n.server {
		d, err := kthreadCPU(p)
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
