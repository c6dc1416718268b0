package loadgen

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/testbed"
	"golang.org/x/sys/unix"
)

// serve starts a net/http server on loopback answering with h and returns
// its address.
func serve(t *testing.T, h http.HandlerFunc) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return netip.MustParseAddrPort(ln.Addr().String())
}

func hello(w http.ResponseWriter, r *http.Request) {
	w.Header()["Date"] = nil
	w.Header().Set("Content-Length", "13")
	w.Write([]byte("Hello, World!"))
}

// TestRunModes runs each mode briefly against a correct server on loopback:
// requests complete, none fails. It checks that the generator works, not
// how fast.
func TestRunModes(t *testing.T) {
	addr := serve(t, hello)
	for _, m := range []Mode{KeepAlive, Close, Rate} {
		t.Run(m.String(), func(t *testing.T) {
			r, err := Run(Config{Addr: addr, Mode: m, Conns: 4, Rate: 2000, WantLength: 13,
				Warmup: 50 * time.Millisecond, Duration: 150 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if r.Requests == 0 || r.Latency.TotalCount() != int64(r.Requests) {
				t.Fatalf("requests %d, latency samples %d", r.Requests, r.Latency.TotalCount())
			}
			if m == KeepAlive && r.CPU <= 0 {
				t.Fatalf("no generator CPU time measured")
			}
			if r.ErrorCount() != 0 {
				t.Fatalf("errors: %s", r.ErrorString())
			}
			if m == Close && r.Connects < r.Requests-uint64(4) {
				t.Fatalf("close mode: %d connects for %d requests", r.Connects, r.Requests)
			}
			if d := r.SendLag.TotalCount() - int64(r.Requests); m == Rate && (d > 4 || d < -4) {
				t.Fatalf("rate mode: %d send lags for %d requests", r.SendLag.TotalCount(), r.Requests)
			}
			if m == Rate && r.Requests > 2000 {
				t.Fatalf("rate mode sent %d requests in 150 ms at 2000/s", r.Requests)
			}
		})
	}
}

// TestRunCountsBadResponses: wrong status and wrong length are errors, and
// are not counted as requests.
func TestRunCountsBadResponses(t *testing.T) {
	for _, tt := range []struct {
		name string
		h    http.HandlerFunc
		kind int
	}{
		{"status", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }, ErrStatus},
		{"length", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("Hello")) }, ErrLength},
		{"hangup", func(w http.ResponseWriter, r *http.Request) {
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
		}, ErrEOF},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := serve(t, tt.h)
			r, err := Run(Config{Addr: addr, Mode: KeepAlive, Conns: 2, WantLength: 13,
				Warmup: 10 * time.Millisecond, Duration: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if r.Errors[tt.kind] == 0 || r.Requests != 0 {
				t.Fatalf("errors %s, requests %d; want %s errors and no requests", r.ErrorString(), r.Requests, errKindNames[tt.kind])
			}
		})
	}
}

func TestRunConnectRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	r, err := Run(Config{Addr: addr, Mode: KeepAlive, Conns: 1, Duration: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors[ErrConnect] == 0 || r.Requests != 0 {
		t.Fatalf("errors %s, requests %d", r.ErrorString(), r.Requests)
	}
}

// TestRunSaysWhatIsStuck: a server whose accept queue is full (backlog 0,
// never accepting) completes one handshake and drops the other SYNs, and
// answers nothing. Nothing fails, nothing completes: the result says what
// was outstanding at the end instead of a bare 0.
func TestRunSaysWhatIsStuck(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(sa.(*unix.SockaddrInet4).Port))
	const conns = 4
	r, err := Run(Config{Addr: addr, Mode: KeepAlive, Conns: conns, WantLength: 13,
		Warmup: 20 * time.Millisecond, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := r.Stuck
	if r.Requests != 0 || r.ErrorCount() != 0 {
		t.Fatalf("requests %d, errors %q; want none of either", r.Requests, r.ErrorString())
	}
	if s.Connecting+s.Awaiting != conns || s.Connecting == 0 || s.Awaiting == 0 || s.Oldest <= 0 {
		t.Fatalf("stuck %+v; want %d in all, some connecting (SYNs dropped), some awaiting (accepted by the kernel, never answered), an oldest wait", s, conns)
	}
	if !strings.Contains(s.String(), "connecting") {
		t.Fatalf("Stuck.String() = %q", s.String())
	}
	if r.Waited < 0 {
		t.Fatalf("waited %v", r.Waited)
	}
}

// TestRunMissedWindow: a generator thread that first looks at the clock
// after its window closed (here: a Begin long past; on a loaded machine: a
// thread kept off its CPU for the whole window) says so, rather than
// reporting a window with nothing in it.
func TestRunMissedWindow(t *testing.T) {
	addr := serve(t, hello)
	r, err := Run(Config{Addr: addr, Mode: KeepAlive, Conns: 1, WantLength: 13,
		Begin: time.Now().Add(-time.Second), Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Missed || r.Requests != 0 {
		t.Fatalf("missed %v, requests %d; want a missed window and no requests", r.Missed, r.Requests)
	}
	// A request completed inside the window was seen there.
	r, err = Run(Config{Addr: addr, Mode: KeepAlive, Conns: 1, WantLength: 13, Duration: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests > 0 && r.Missed {
		t.Fatalf("%d requests in a window the generator says it missed", r.Requests)
	}
}

// requireFeature stops t when a kernel feature's probe failed: skipped
// with the reason where the probe says the kernel lacks it (absent),
// except with CI=true, where a missing feature fails the run as a
// missing capability does (testbed.Require); any other error fails.
func requireFeature(t *testing.T, err, absent error) {
	t.Helper()
	switch {
	case err == nil:
	case errors.Is(err, absent) && !testbed.InCI():
		t.Skip(err)
	default:
		t.Fatal(err)
	}
}
