package main

// Other work on the measured cores. The server and the generator each own
// a core only by pinning: on a shared machine every unpinned process
// (builds, tests) still runs on those cores, and the kernel on this
// development guest (PREEMPT_NONE, the fair server's reserve) lets such a
// process hold a core for milliseconds even against SCHED_FIFO threads.
// A latency window in which others held the server's or the generator's
// core measures them, not the server (README, "clean rounds").
//
// A core's busy time over a window is the window less its idle time
// (/proc/stat's idle and iowait, kept from the idle loop's own clock
// where NOHZ is on); what the measured threads did not use of it was
// others'.

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// userHz is the unit of /proc/stat's times (USER_HZ, 100 on every Linux
// ABI the suite runs on).
const userHz = 100

// coreIdle is how long cpu has been idle since boot.
func coreIdle(cpu int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseCoreIdle(b, cpu)
}

// parseCoreIdle reads cpu's idle + iowait from /proc/stat's text.
func parseCoreIdle(stat []byte, cpu int) (time.Duration, error) {
	idle, _, err := parseCoreTimes(stat, cpu)
	return idle, err
}

// parseCoreTimes reads cpu's line of /proc/stat's text ("cpuN user nice
// system idle iowait irq softirq steal ..." in USER_HZ ticks): its idle
// time (idle + iowait) and its busy time (the others up to steal).
func parseCoreTimes(stat []byte, cpu int) (idle, busy time.Duration, err error) {
	name := []byte("cpu" + strconv.Itoa(cpu) + " ")
	for line := range bytes.Lines(stat) {
		if !bytes.HasPrefix(line, name) {
			continue
		}
		f := bytes.Fields(line)
		if len(f) < 6 {
			return 0, 0, fmt.Errorf("/proc/stat: short line for cpu%d", cpu)
		}
		var idleTicks, busyTicks int64
		for i, s := range f[1:min(len(f), 9)] {
			v, err := strconv.ParseInt(string(s), 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("/proc/stat cpu%d: %w", cpu, err)
			}
			if i == 3 || i == 4 { // idle, iowait
				idleTicks += v
			} else {
				busyTicks += v
			}
		}
		return time.Duration(idleTicks) * time.Second / userHz, time.Duration(busyTicks) * time.Second / userHz, nil
	}
	return 0, 0, fmt.Errorf("/proc/stat: no cpu%d", cpu)
}

// othersOnCore is what of a window of length span others used of a core:
// its busy time (span less idle) less what the measured threads (own)
// used, never below 0 (the figures' clocks differ by a tick).
func othersOnCore(span, idle, own time.Duration) time.Duration {
	return max(0, span-idle-own)
}
