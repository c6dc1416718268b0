package testbed

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

const netnsDir = "/var/run/netns"

// Main is a TestMain body: it runs the tests, then fails the run if any
// namespace this process made, or any file descriptor that appeared during
// the run (sockets, BPF programs, maps and links, eventfds), is still there.
func Main(m *testing.M) {
	// The runtime's poller opens an epoll fd and an eventfd on first use;
	// start it now so they are part of the baseline, not a "leak".
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	before := openFDs()
	code := m.Run()
	if leaks := Leaks(before); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "testbed: leaked after tests:\n  %s\n", strings.Join(leaks, "\n  "))
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Leaks lists the namespaces of this process still present and the file
// descriptors open now that were not in before (as from openFDs). It gives
// finalizers a moment first, since os.File and net.Conn close on GC.
func Leaks(before map[int]string) []string {
	var leaks []string
	for _, name := range ownNamespaces(os.Getpid()) {
		leaks = append(leaks, "netns "+name)
	}
	for try := 0; ; try++ {
		runtime.GC()
		var fds []string
		for fd, what := range openFDs() {
			if before[fd] != what && leakable(what) {
				fds = append(fds, fmt.Sprintf("fd %d -> %s", fd, what))
			}
		}
		if len(fds) == 0 || try == 10 {
			return append(leaks, fds...)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// leakable reports whether an fd target is something a test makes and must
// close: sockets (AF_XDP, netlink, TCP), BPF objects, eventfds.
func leakable(target string) bool {
	return strings.HasPrefix(target, "socket:") ||
		strings.HasPrefix(target, "anon_inode:bpf") ||
		strings.HasPrefix(target, "anon_inode:[eventfd]") ||
		strings.HasPrefix(target, "anon_inode:[xdp")
}

// openFDs maps each open fd of this process to what it points at.
func openFDs() map[int]string {
	fds := map[int]string{}
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if t, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil {
			fds[fd] = t
		}
	}
	return fds
}

func ownNamespaces(pid int) []string {
	var out []string
	ents, _ := os.ReadDir(netnsDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), nsPrefix(pid)) {
			out = append(out, e.Name())
		}
	}
	return out
}

// removeStale deletes namespaces that an earlier, killed sluice process made
// (named sluice-PID-… where PID no longer runs). Namespaces of live
// processes and anyone else's are never touched.
func removeStale() {
	ents, _ := os.ReadDir(netnsDir)
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), "sluice-")
		if !ok {
			continue
		}
		pidStr, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			netns.DeleteNamed(e.Name())
		}
	}
}
