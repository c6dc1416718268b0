package main

// The idle workload's client processes: the bench binary re-executed in
// the peer namespace (as the servers are in theirs) with
// SLUICE_BENCH_IDLE=<count>, SLUICE_BENCH_ADDR=<server> and
// SLUICE_BENCH_SRC=<source addresses, comma-separated>. It opens the
// connections, prints "opened N failed M <first error>" and holds them
// until its stdin closes (or its parent dies).

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/testbed"
)

const (
	envIdle = "SLUICE_BENCH_IDLE"
	envSrc  = "SLUICE_BENCH_SRC"
)

func init() {
	if n := os.Getenv(envIdle); n != "" {
		os.Exit(idleClientMain(n))
	}
}

func idleClientMain(count string) int {
	unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
	n, err := strconv.Atoi(count)
	dst, err2 := netip.ParseAddrPort(os.Getenv(envAddr))
	var srcs []netip.Addr
	for _, s := range strings.Split(os.Getenv(envSrc), ",") {
		if a, err := netip.ParseAddr(s); err == nil {
			srcs = append(srcs, a)
		}
	}
	if err != nil || err2 != nil || len(srcs) == 0 {
		fmt.Fprintf(os.Stderr, "idle client: bad arguments: %v %v %q\n", err, err2, os.Getenv(envSrc))
		return 2
	}
	var (
		next, failed atomic.Int64
		mu           sync.Mutex
		fds          []int
		firstErr     string
		wg           sync.WaitGroup
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || failed.Load() > int64(n)/100+10 {
					return
				}
				fd, err := dialIdle(srcs[int(i)%len(srcs)], dst)
				mu.Lock()
				if err != nil {
					failed.Add(1)
					if firstErr == "" {
						firstErr = err.Error()
					}
				} else {
					fds = append(fds, fd)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Printf("opened %d failed %d %s\n", len(fds), failed.Load(), firstErr)
	io.Copy(io.Discard, os.Stdin) // hold until the parent closes stdin
	return 0
}

type idleResult struct {
	opened, failed int
	err            string
}

type idleClient struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	stderr  *lockedBuffer
	results chan idleResult
	result  *idleResult
	done    chan struct{}
}

func startIdleClient(bed *testbed.Bed, dst netip.AddrPort, srcs []string, n int) (*idleClient, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("ip", "netns", "exec", bed.Peer.Name, exe)
	cmd.Env = append(os.Environ(), envIdle+"="+strconv.Itoa(n), envAddr+"="+dst.String(),
		envSrc+"="+strings.Join(srcs, ","), "GOMAXPROCS=2",
		// Blocking connect(2)s interrupted by the runtime's preemption
		// signal fail with EINTR; these goroutines need no preemption.
		"GODEBUG=asyncpreemptoff=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cl := &idleClient{cmd: cmd, stderr: &lockedBuffer{}, results: make(chan idleResult, 1), done: make(chan struct{})}
	cmd.Stderr = cl.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if cl.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var r idleResult
			f := strings.SplitN(sc.Text(), " ", 5)
			if len(f) >= 4 && f[0] == "opened" {
				r.opened, _ = strconv.Atoi(f[1])
				r.failed, _ = strconv.Atoi(f[3])
				if len(f) == 5 {
					r.err = f[4]
				}
				cl.results <- r
			}
		}
		cmd.Wait()
		close(cl.done)
	}()
	return cl, nil
}

// stop closes the client's stdin (it closes its connections and exits)
// and kills it if it has not within a few seconds.
func (cl *idleClient) stop() {
	cl.stdin.Close()
	select {
	case <-cl.done:
	case <-time.After(5 * time.Second):
		cl.cmd.Process.Kill()
		<-cl.done
	}
}
