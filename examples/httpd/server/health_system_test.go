package server

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/sluicenet/sluice/testbed"
)

// TestSystemHealth: HealthPath answers 200 while serving; once Shutdown
// begins it answers 503, on a kept connection and on a new one made
// during the drain delay (new connections are still served then), and
// Shutdown returns nil.
func TestSystemHealth(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			s := startWith(t, bed, func(c *Config) { c.Stdlib, c.DrainDelay = mode.stdlib, time.Second })
			host := netip.AddrPortFrom(bed.Server.IPv4, testPort).String()
			kept := peerDial(t, bed, host)
			kept.SetDeadline(time.Now().Add(30 * time.Second))
			kbr := bufio.NewReader(kept)
			if st, body := healthOn(t, kept, kbr); st != 200 || body != "ok\n" {
				t.Fatalf("health while serving: %d %q", st, body)
			}
			done := shutdownAsync(s, 20*time.Second)
			testbed.WaitFor(t, "health down", s.Health().Down)
			if st, _ := healthOn(t, kept, kbr); st != 503 {
				t.Errorf("health on a kept connection during Shutdown: %d, want 503", st)
			}
			fresh := peerDial(t, bed, host)
			fresh.SetDeadline(time.Now().Add(30 * time.Second))
			if st, _ := healthOn(t, fresh, bufio.NewReader(fresh)); st != 503 {
				t.Errorf("health on a new connection during the drain delay: %d, want 503", st)
			}
			// The server closes both once it stops; a client closes on
			// its FIN, and Shutdown waits for that.
			kept.Close()
			fresh.Close()
			if err := <-done; err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
		})
	}
}

// healthOn asks for HealthPath on c and returns the status and body.
func healthOn(t *testing.T, c io.Writer, br *bufio.Reader) (int, string) {
	t.Helper()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", HealthPath); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
