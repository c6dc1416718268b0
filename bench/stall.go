package main

// A run that completed no request is not a figure of the server: the
// bench says why, from both ends, instead of reporting a silent 0. The
// generator tells what was outstanding at the end (connects: the SYNs went
// unanswered; responses: connected, not answered) and how long its thread
// waited for a CPU; the server child tells how long its threads waited
// and, for sluice, its loop's and socket's counters.

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sluicenet/sluice"
)

// stallNote is why s completed no request, or "" if it completed some.
func stallNote(s sample) string {
	if s.res.Requests > 0 {
		return ""
	}
	parts := []string{"no request completed"}
	if s.res.Missed {
		parts = append(parts, "the generator's thread had no turn inside the window")
	}
	if st := s.res.Stuck.String(); st != "" {
		parts = append(parts, st)
	}
	over := "window"
	if s.res.Missed {
		over = "run" // Result.Missed: the generator's times cover its whole run
	}
	srvOver := "window"
	if d := s.span() - s.res.Elapsed; d > s.res.Elapsed/10 || -d > s.res.Elapsed/10 {
		// This process read the edges late: kept off its CPU too.
		srvOver = fmt.Sprintf("%v between its readings (the bench read the edges late)", s.span().Round(time.Millisecond))
	}
	parts = append(parts, fmt.Sprintf("%v window: generator ran %v and waited %v for a CPU over the %s; server's threads ran %v and waited %v over the %s",
		s.res.Elapsed, s.res.CPU.Round(time.Millisecond), s.res.Waited.Round(time.Millisecond), over,
		s.serverCPU.Round(time.Millisecond), s.serverWait.Round(time.Millisecond), srvOver))
	if s.diag != "" && s.diag != "-" {
		parts = append(parts, "server after the window: "+s.diag)
	}
	return strings.Join(parts, "; ")
}

// starved reports whether s completed no request because the machine
// kept the server or the generator off its CPU: the server's threads
// waited for one over half the window, or the generator had no turn in
// it. Such a run is still an error (its figures are not the server's);
// the short suite's test tells it from a server that stopped.
func starved(s sample) bool {
	return s.res.Requests == 0 && (s.res.Missed || 2*s.serverWait > s.span())
}

// diag asks the child for its own counters (sluice's; "-" from the
// others). A loop that does not answer within its 5 s says so.
func (p *serverProc) diag() string {
	if _, err := p.stdin.Write([]byte("diag\n")); err != nil {
		return "diag: " + err.Error()
	}
	select {
	case l := <-p.diagLines:
		return strings.TrimPrefix(l, "diag ")
	case <-p.done:
		return "exited: " + p.stderr.String()
	case <-time.After(10 * time.Second):
		return "did not answer a diag request in 10s"
	}
}

// sluiceDiag is the counters that say where a sluice server's traffic
// stopped: the XDP program's, each loop's RX and TX, its connections and
// its socket's kernel drops.
func sluiceDiag(st sluice.Stats, err error) string {
	if err != nil {
		return "stats: " + err.Error()
	}
	x := st.XDP
	b := []string{fmt.Sprintf("xdp redirected=%d passed=%d nosocket=%d", x.Redirected, x.Passed(), x.RedirectNoSocket)}
	for _, l := range st.Loops {
		k := l.XSK
		b = append(b, fmt.Sprintf("loop %d: iterations=%d sleeps=%d rx=%d tx=%d drops=%d established=%d conns=%d synq=%d listendrops=%d "+
			"txringfull=%d txnoframe=%d txdropped=%d freeframes=%d xsk rxdropped=%d rxringfull=%d fillempty=%d",
			l.Queue, l.Iterations, l.Sleeps, l.RxFrames, l.TxFrames, l.DroppedFrames(), l.Established, l.Conns, l.SynQueue, l.ListenerDrops,
			l.TxRingFull, l.TxNoFrame, l.TxDropped, l.FreeFrames, k.RxDropped, k.RxRingFull, k.RxFillRingEmptyDescs))
	}
	return strings.Join(b, "; ")
}

// procWait is how long process pid's threads (the live ones) have waited
// on a run queue: the second field of each /proc/<pid>/task/*/schedstat.
func procWait(pid int) time.Duration {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var d time.Duration
	for _, e := range ents {
		b, err := os.ReadFile(dir + "/" + e.Name() + "/schedstat")
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) >= 2 {
			ns, _ := strconv.ParseInt(f[1], 10, 64)
			d += time.Duration(ns)
		}
	}
	return d
}
