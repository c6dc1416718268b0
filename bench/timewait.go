package main

// TIME-WAIT churn, measured in the close workload: every request there
// costs the server one connection that it closes first, so the server
// holds one TIME-WAIT entry per connection for 2*MSL (RFC 9293 §3.6;
// 60 s on Linux and in sluice by default), and a run leaves all of them
// in place. After each run the workload counts them and their memory:
//
//   - sluice: its compact TIME-WAIT table (tcp/timewait) lives in the
//     process; the figure is the server's RSS growth over the measured
//     window divided by the entries added in it, with the server's garbage
//     collected and returned to the OS at both edges (measureHTTPOpt). The
//     warm-up before it has grown the pools (TCBs, buffers) to their steady
//     size, so what still grows is the TIME-WAIT table: an upper bound.
//   - kernel TCP: the entries are kernel tw_sock objects, not in the
//     process's RSS; the count is the growth of tw in the server
//     namespace's /proc/net/sockstat over the run and the size is the
//     tw_sock_TCP slab's object size.
//
// The RSS figure is an upper bound full of other growth (a run adds tens
// of thousands of entries, and the ring and index grow by doubling), so
// sluice also gets the heap growth per entry of a table filled to 1M
// entries in this process (issue 13's measure): the table's own cost,
// ring, index and local-address list included.

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/tcp/timewait"
	"github.com/sluicenet/sluice/testbed"
)

// tw0 is the server namespace's kernel TIME-WAIT count before the run.
func timeWaitFigures(f *figures, bed *testbed.Bed, s httpServer, srv *serverProc, m sample, tw0 int) error {
	var held, perEntry float64
	note := ""
	if isSluice(s.name) {
		held = float64(m.st1.timeWait)
		if added := m.st1.timeWait - m.st0.timeWait; added > 0 {
			perEntry = max(0, float64(m.rss1-m.rss0)/float64(added))
		}
		note = fmt.Sprintf("server RSS growth over the window / %d entries added in it (live memory after GC at both edges; upper bound)", m.st1.timeWait-m.st0.timeWait)
		per, err := timeWaitTableHeap()
		if err != nil {
			return err
		}
		f.add(s.name, "heap/TIME-WAIT entry at 1M", "B", lower, per).Note =
			fmt.Sprintf("Go heap growth of a tcp/timewait table filled with %d entries, per entry (in the bench process)", twTableEntries)
	} else {
		tw, err := kernelTimeWait(bed.Server)
		if err != nil {
			return err
		}
		// Entries of earlier runs (other servers, same namespace) may
		// expire during this one: a lower bound.
		held = float64(max(0, tw-tw0))
		size, err := slabObjSize("tw_sock_TCP")
		if err != nil {
			return err
		}
		perEntry = float64(size)
		note = "kernel tw_sock_TCP slab object (not in the process's RSS)"
	}
	f.add(s.name, "TIME-WAIT held", "entries", "", held).Note = "server-side TIME-WAIT entries after the run (2*MSL = 60 s)"
	f.add(s.name, "bytes/TIME-WAIT entry", "B", lower, perEntry).Note = note
	return nil
}

// kernelTimeWait reads the TIME-WAIT count of h's namespace from
// /proc/thread-self/net/sockstat ("TCP: inuse N orphan N tw N ...").
func kernelTimeWait(h *testbed.Host) (int, error) {
	b, err := readIn(h, "/proc/thread-self/net/sockstat")
	if err != nil {
		return 0, err
	}
	return parseSockstatTW(b)
}

// readIn reads a file from inside h's namespace: /proc/thread-self/net
// and /proc/sys/net are the namespace's of the reading thread.
func readIn(h *testbed.Host, path string) (b []byte, err error) {
	err = h.Do(func() error {
		b, err = os.ReadFile(path)
		return err
	})
	return b, err
}

func parseSockstatTW(b []byte) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "TCP:" {
			continue
		}
		for i := 1; i+1 < len(f); i += 2 {
			if f[i] == "tw" {
				return strconv.Atoi(f[i+1])
			}
		}
	}
	return 0, fmt.Errorf("no TCP tw count in sockstat: %q", b)
}

// slabObjSize is the object size of a kernel slab cache, from /proc/slabinfo
// ("name active_objs num_objs objsize ...").
func slabObjSize(name string) (int, error) {
	b, err := os.ReadFile("/proc/slabinfo")
	if err != nil {
		return 0, err
	}
	return parseSlabObjSize(b, name)
}

func parseSlabObjSize(b []byte, name string) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 4 && f[0] == name {
			return strconv.Atoi(f[3])
		}
	}
	return 0, fmt.Errorf("no slab %q in /proc/slabinfo", name)
}

// twTableEntries is how many entries timeWaitTableHeap fills a table with.
const twTableEntries = 1_000_000

var twHeap struct {
	once sync.Once
	per  float64
	err  error
}

// timeWaitTableHeap is the Go heap a tcp/timewait table holding
// twTableEntries live entries costs per entry, with garbage collected at
// both edges; measured once per bench run (it takes a few seconds).
func timeWaitTableHeap() (float64, error) {
	twHeap.once.Do(func() {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		tb, err := timewait.New(timewait.Config{Max: twTableEntries})
		if err != nil {
			twHeap.err = err
			return
		}
		local := netip.MustParseAddr("198.18.0.1")
		for n := range twTableEntries {
			id := tcp.ID{LocalAddr: local, LocalPort: 80, RemotePort: uint16(n),
				RemoteAddr: netip.AddrFrom4([4]byte{198, 19, byte(n >> 24), byte(n >> 16)})}
			if !tb.Insert(&id, &timewait.State{SndNxt: tcp.Seq(n)}, 0) {
				twHeap.err = fmt.Errorf("timewait table refused entry %d of %d", n, twTableEntries)
				return
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		twHeap.per = float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / twTableEntries
		runtime.KeepAlive(tb)
	})
	return twHeap.per, twHeap.err
}
