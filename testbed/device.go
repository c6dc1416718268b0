package testbed

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/internal/ethtool"
)

// SetGRO switches GRO on h's link. A veth end runs NAPI (and has NAPI
// instances to configure) only with GRO on or an XDP program attached;
// with GRO on first, its instances outlive the program.
func (h *Host) SetGRO(on bool) error {
	v := uint32(0)
	if on {
		v = 1
	}
	return h.Do(func() error { return ethtool.SetValue(h.Link, unix.ETHTOOL_SGRO, v) })
}

// ThreadedNAPI turns GRO on at h's veth end (veth runs NAPI only with GRO
// or an XDP program), makes its NAPI threaded and pins the new threads to
// cpu. The threads are named napi/<dev>-<id>; other testbeds (tests run
// beside the bench) may have ends of the same name, so ours are the ones
// that appear when we switch threading on. It returns their pids.
func (h *Host) ThreadedNAPI(cpu int) ([]int, error) {
	if err := h.SetGRO(true); err != nil {
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

// ThreadCPU is thread tid's CPU time, the first field of
// /proc/<tid>/schedstat (another process's thread clock cannot be read):
// a NAPI thread's (ThreadedNAPI) or any other kernel or user thread's.
func ThreadCPU(tid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", tid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("empty /proc/%d/schedstat", tid)
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	return time.Duration(ns), err
}
