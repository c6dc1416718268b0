package conngen_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/sluicenet/sluice"
	"github.com/sluicenet/sluice/bench/conngen"
	"github.com/sluicenet/sluice/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }

const body = "Hello, World!"

// closer answers each request head with a 13-octet body and closes, as
// an HTTP server does for "Connection: close".
type closer struct{ sluice.NopHandler }

func (closer) OnData(c *sluice.Conn, data []byte) sluice.Action {
	if !bytes.Contains(data, []byte("\r\n\r\n")) {
		return sluice.None // the generator's request comes in one segment
	}
	c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\n" + body))
	return sluice.Close
}

// run drives n connections of a generator on bed's peer against server
// and returns its stats; bounded by a 20 s stop.
func run(t *testing.T, bed *testbed.Bed, server netip.AddrPort, prefix netip.Prefix, n uint64) *conngen.Gen {
	t.Helper()
	if err := conngen.Route(bed, prefix); err != nil {
		t.Fatal(err)
	}
	cfg := conngen.ConfigFor(bed, server, prefix)
	cfg.Slots, cfg.Limit, cfg.WantLength = 32, n, int64(len(body))
	g, err := conngen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = bed.Peer.Do(func() error {
		x, err := conngen.OpenXDP(bed.Peer.Ifindex, prefix)
		if err != nil {
			return err
		}
		defer x.Close()
		return x.Run(g, time.Now().Add(20*time.Second))
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v: %+v", server, g.Stats)
	return g
}

// check: every connection completed, checked, with no error of any kind.
func check(t *testing.T, g *conngen.Gen, n uint64) {
	t.Helper()
	if g.Stats.Completed != n || g.Stats.Errors() != 0 || g.InProgress() != 0 {
		t.Fatalf("completed %d of %d; errors: %s", g.Stats.Completed, n, g.Stats.String())
	}
}

// TestAgainstSluice: a sluice server closes every connection first, so it
// holds one TIME-WAIT entry per connection the generator completed.
func TestAgainstSluice(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	addr := netip.AddrPortFrom(bed.Server.IPv4, 8080)
	srv, err := sluice.NewServer(sluice.Config{Interface: bed.Server.Link, Netns: bed.Server.Name, Loops: 1,
		Listen: []string{addr.String()}}, closer{})
	srv = testbed.StartServer(t, srv, err)
	const n = 3000
	g := run(t, bed, addr, netip.MustParsePrefix("198.19.0.0/16"), n)
	check(t, g, n)
	st, err := srv.Stats()
	if err != nil {
		t.Fatal(err)
	}
	tw := 0
	for _, l := range st.Loops {
		tw += l.TimeWait
	}
	if tw != n {
		t.Fatalf("server holds %d TIME-WAIT entries after %d connections it closed first", tw, n)
	}
}

// TestAgainstLinux: net/http on the kernel's TCP, IPv4 and IPv6.
func TestAgainstLinux(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	for _, tc := range []struct {
		addr   netip.Addr
		prefix string
	}{{bed.Server.IPv4, "198.19.0.0/16"}, {bed.Server.IPv6, "2001:2:0:ff00::/64"}} {
		addr := netip.AddrPortFrom(tc.addr, 8081)
		ln := bed.Server.ListenTCP(t, addr.String())
		hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Date"] = nil
			w.Write([]byte(body))
		})}
		go hs.Serve(ln)
		const n = 1000
		g := run(t, bed, addr, netip.MustParsePrefix(tc.prefix), n)
		hs.Close()
		check(t, g, n)
	}
	// The kernel closed first each time: its TIME-WAIT sockets are ours.
	var sockstat []byte
	if err := bed.Server.Do(func() (err error) {
		sockstat, err = os.ReadFile("/proc/thread-self/net/sockstat")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var inuse, orphan, tw int
	i := bytes.Index(sockstat, []byte("TCP: "))
	if _, err := fmt.Sscanf(string(sockstat[i:]), "TCP: inuse %d orphan %d tw %d", &inuse, &orphan, &tw); err != nil || tw < 2000 {
		t.Fatalf("server namespace TIME-WAIT sockets %d (%v) after 2000 connections it closed first: %s", tw, err, sockstat)
	}
}

// TestPassesOtherTraffic: with the generator's program on the peer's
// link, the peer kernel's own TCP (from an address outside the prefix)
// and its neighbour resolution still work.
func TestPassesOtherTraffic(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	ln := bed.Server.ListenTCP(t, netip.AddrPortFrom(bed.Server.IPv4, 8082).String())
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) })}
	go hs.Serve(ln)
	defer hs.Close()
	var x *conngen.XDP
	if err := bed.Peer.Do(func() (err error) {
		x, err = conngen.OpenXDP(bed.Peer.Ifindex, netip.MustParsePrefix("198.19.0.0/16"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	c := bed.Peer.HTTPClient(1)
	defer c.CloseIdleConnections()
	c.Timeout = 10 * time.Second
	resp, err := c.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}
