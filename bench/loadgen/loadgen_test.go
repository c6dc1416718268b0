package loadgen

import (
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"
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
