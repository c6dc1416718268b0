package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/testbed"
	"golang.org/x/sys/unix"
)

// shortHTTP is a -short configuration cut further for tests.
func shortHTTP() config {
	return config{short: true, duration: 250 * time.Millisecond, warmup: 100 * time.Millisecond, runs: 1,
		serverCPU: 0, clientCPU: 1 % runtime.NumCPU(), conns: 16, closeConns: 8, idleConns: 2000,
		rawSlots: 64, churnDuration: time.Second}
}

// TestServersSendTheSameResponse starts each server as the suite does (a
// pinned child in the testbed's server namespace; sluice's over AF_XDP) and
// checks the bytes from a kernel client in the peer namespace: the same
// response from each, keep-alive for a plain GET, every sized response,
// and "Connection: close" and a close for a request asking for it.
func TestServersSendTheSameResponse(t *testing.T) {
	bed := testbed.New(t, testbed.Options{Queues: 1})
	for _, s := range httpServers {
		t.Run(s.name, func(t *testing.T) {
			srv, err := startServer(bed, s, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.stop()
			err = bed.Peer.Do(func() error {
				conn, err := net.DialTimeout("tcp", srv.addr.String(), 5*time.Second)
				if err != nil {
					return err
				}
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(conn)
				exact := s.kind != "sluice-httpd"
				// want checks one response: byte for byte where the server
				// sends the suite's responses; examples/httpd sends its own
				// fields (Date) and pattern body, so for it the status, the
				// length and the connection's fate are checked.
				want := func(path, extra string, resp []byte) error {
					io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: x\r\n"+extra+"\r\n")
					if exact {
						got := make([]byte, len(resp))
						if _, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got, resp) {
							return fmt.Errorf("GET %s: response %.200q, %v; want %.200q", path, got, err, resp)
						}
						return nil
					}
					r, err := http.ReadResponse(br, nil)
					if err != nil {
						return fmt.Errorf("GET %s: %v", path, err)
					}
					body, err := io.ReadAll(r.Body)
					wantLen := bytes.Index(resp, []byte("\r\n\r\n"))
					wantLen = len(resp) - wantLen - 4
					if err != nil || r.StatusCode != 200 || r.ContentLength != int64(wantLen) || len(body) != wantLen {
						return fmt.Errorf("GET %s: status %d, length %d, body %d octets, %v; want 200 and %d", path, r.StatusCode, r.ContentLength, len(body), err, wantLen)
					}
					if r.Close != (extra != "") {
						return fmt.Errorf("GET %s %q: response Close=%v", path, extra, r.Close)
					}
					return nil
				}
				for range 2 { // keep-alive: the same connection answers twice
					if err := want("/", "", helloResp); err != nil {
						return err
					}
				}
				for _, n := range responseSizes {
					if err := want(sizePath(n), "", sizedResponses[sizePath(n)].keep); err != nil {
						return err
					}
				}
				if err := want("/", "Connection: close\r\n", helloRespClose); err != nil {
					return err
				}
				// Then the server closes: nothing more, end of stream.
				if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
					return fmt.Errorf("after the close response: %q, %v; want end of stream", rest, err)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("%v (server stderr: %s)", err, srv.stderr)
			}
		})
	}
}

// TestRespondAll checks the shared responder on pipelined and partial heads.
func TestRespondAll(t *testing.T) {
	var out []byte
	w := func(b []byte) { out = append(out, b...) }
	in := "GET / HTTP/1.1\r\n\r\nGET /bytes/64 HTTP/1.1\r\n\r\nGET / HT"
	used, cl := respondAll([]byte(in), w)
	if cl || used != len(in)-len("GET / HT") {
		t.Fatalf("used %d close %v", used, cl)
	}
	if want := string(helloResp) + string(sizedResponses["/bytes/64"].keep); string(out) != want {
		t.Fatalf("out %q", out)
	}
	out = nil
	in = "GET /nope HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n"
	used, cl = respondAll([]byte(in), w)
	if !cl || used != strings.Index(in, "GET / ") || string(out) != string(helloRespClose) {
		t.Fatalf("close: used %d close %v out %q", used, cl, out)
	}
}

func TestWantsClose(t *testing.T) {
	for head, want := range map[string]bool{
		"GET / HTTP/1.1\r\nHost: x\r\n":                                 false,
		"GET / HTTP/1.1\r\nConnection: close\r\n":                       true,
		"GET / HTTP/1.1\r\nconnection: Keep-Alive, CLOSE\r\n":           true,
		"GET / HTTP/1.0\r\nHost: x\r\n":                                 true,
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n":                  false,
		"GET / HTTP/1.1\r\nX-Connection: close\r\n":                     false,
		"GET / HTTP/1.1\r\nConnection: closed\r\n":                      false,
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade, close  \r\n": true,
	} {
		if got := wantsClose([]byte(head)); got != want {
			t.Errorf("wantsClose(%q) = %v, want %v", head, got, want)
		}
	}
}

// TestCPUClocks: a process's CPU clock and a thread's schedstat read as
// nanoseconds, and they grow with work done.
func TestCPUClocks(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	d0, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	k0, err := testbed.ThreadCPU(unix.Gettid())
	if err != nil {
		t.Fatal(err)
	}
	for x, start := 0, time.Now(); time.Since(start) < 20*time.Millisecond; x++ {
	}
	d1, _ := procCPU(os.Getpid())
	k1, _ := testbed.ThreadCPU(unix.Gettid())
	if d1 <= d0 || k1 <= k0 || d1%(10*time.Millisecond) == 0 {
		t.Fatalf("process CPU %v -> %v, thread %v -> %v", d0, d1, k0, k1)
	}
}

func TestParseWrk(t *testing.T) {
	out := `Running 1s test @ http://198.18.0.1:8001/
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   210.12us   50.00us   1.20ms   90.00%
    Req/Sec    70.12k     1.00k   72.00k    80.00%
  70500 requests in 1.00s, 7.53MB read
  Socket errors: connect 0, read 2, write 0, timeout 0
  Non-2xx or 3xx responses: 3
Requests/sec:  70412.55
Transfer/sec:      7.52MB
`
	rps, note, err := parseWrk(out)
	if err != nil || rps != 70412.55 || !strings.Contains(note, "non-2xx=3") || !strings.Contains(note, "read 2") {
		t.Fatalf("parseWrk = %v, %q, %v", rps, note, err)
	}
	if _, _, err := parseWrk("unable to connect to 198.18.0.1:8001 Connection refused"); err == nil {
		t.Fatal("no error for wrk output without Requests/sec")
	}
}

func TestParseSockstatAndSlabinfo(t *testing.T) {
	sock := "sockets: used 16\nTCP: inuse 1 orphan 0 tw 4242 alloc 333 mem 31\nUDP: inuse 0 mem 0\n"
	if n, err := parseSockstatTW([]byte(sock)); err != nil || n != 4242 {
		t.Fatalf("parseSockstatTW = %d, %v", n, err)
	}
	if _, err := parseSockstatTW([]byte("UDP: inuse 0\n")); err == nil {
		t.Fatal("no error without a TCP line")
	}
	slab := "slabinfo - version: 2.1\ntw_sock_TCPv6 176 176 256 16 1 : tunables 0 0 0\ntw_sock_TCP 112 176 248 16 1 : tunables 0 0 0\n"
	if n, err := parseSlabObjSize([]byte(slab), "tw_sock_TCP"); err != nil || n != 248 {
		t.Fatalf("parseSlabObjSize = %d, %v", n, err)
	}
}

func TestEvalTargets(t *testing.T) {
	rs := []Result{
		{Workload: "keepalive", Impl: "sluice", Metric: "requests/s", Value: 300},
		{Workload: "keepalive", Impl: "gnet", Metric: "requests/s", Value: 100},
		{Workload: "keepalive", Impl: "net/http", Metric: "requests/s", Value: 100},
		{Workload: "keepalive", Impl: "sluice", Metric: "allocs/request", Value: 0.5},
		{Workload: "idle", Impl: "sluice", Metric: "bytes/idle connection", Value: 900},
	}
	byGoal := map[string]Target{}
	for _, tg := range evalTargets(rs) {
		if tg.Impl == "sluice" {
			byGoal[tg.Goal] = tg
		}
	}
	check := func(goal string, found, met bool, v float64) {
		t.Helper()
		tg := byGoal[goal]
		if tg.Found != found || tg.Met != met || (found && tg.Measured != v) {
			t.Errorf("%s: %+v", goal, tg)
		}
	}
	check("keep-alive req/s per core ≥ 2× gnet", true, true, 3)
	check("keep-alive req/s per core ≥ 4× net/http", true, false, 3)
	check("0 allocations/request", true, false, 0.5)
	check("idle connection ≤ 1 KiB", true, true, 900)
	check("conn/s ≥ 5× net/http", false, false, 0)
}

// TestPairedRatio: ratios are the median of per-round ratios, so one
// noisy round of one server moves one ratio; the targets count the rounds
// that meet them, and the p99 target says how many rounds were clean
// and how many of those clean for both servers met it.
func TestPairedRatio(t *testing.T) {
	// Medians 20 and 100 would say 0.20x; the rounds say 1.0, 0.1, 1.2.
	a := Result{Workload: "latency", Impl: "sluice", Metric: "p99 @common", Value: 20, Runs: []float64{10, 20, 120}}
	b := Result{Workload: "latency", Impl: "gnet", Metric: "p99 @common", Value: 100, Runs: []float64{10, 200, 100}}
	v, rounds, ok := pairedRatio(a, b)
	if !ok || v != 1 || len(rounds) != 3 || rounds[1] != 0.1 {
		t.Fatalf("pairedRatio = %v %v %v", v, rounds, ok)
	}
	clean := func(impl string, runs ...float64) Result {
		return Result{Workload: "latency", Impl: impl, Metric: "clean rounds @common", Runs: runs, Value: median(runs)}
	}
	var tg Target
	for _, x := range evalTargets([]Result{a, b, clean("sluice", 1, 1, 0), clean("gnet", 0, 1, 1)}) {
		if x.Impl == "sluice" && x.Goal == "p99 at 50% load ≤ 0.5× gnet's at the same rate" {
			tg = x
		}
	}
	if !tg.Found || tg.Met || tg.Measured != 1 || tg.RoundsMet != 1 || tg.Rounds != 3 ||
		tg.Note != "clean rounds: sluice 2 of 3, gnet 2 of 3; met in 1 of the 1 clean for both" {
		t.Fatalf("p99 target: %+v", tg)
	}
	// Unequal run counts: the ratio of the medians.
	b.Runs = b.Runs[:2]
	if v, rounds, ok := pairedRatio(a, b); !ok || v != 0.2 || rounds != nil {
		t.Fatalf("unpaired = %v %v %v", v, rounds, ok)
	}
}

// TestRigFallback: a napi rig that could not be set up is reported as
// the softirq rig with the reason, once.
func TestRigFallback(t *testing.T) {
	defer func() { rigUsed.fallback = "" }()
	if got := rigName(config{}); got != "napi" {
		t.Fatalf("default rig %q", got)
	}
	rigFallback(errors.New("no threaded NAPI"))
	rigFallback(errors.New("second"))
	if got := rigName(config{rig: "napi"}); got != "softirq (napi unavailable: no threaded NAPI)" {
		t.Fatalf("after fallback: %q", got)
	}
}
