package server

// System tests of HTTPS: crypto/tls and net/http (HTTP/2 and HTTP/1.1 by
// ALPN) on sluice's Listener adapter, with curl and Go's http.Client in the
// peer namespace. The certificate is made by the test (SelfSigned).

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicenet/sluice/testbed"
)

// startTLS serves HTTPS on the bed with a fresh certificate for both of
// the server's addresses; it returns the server and the certificate's PEM
// file (the clients' trust anchor).
func startTLS(t *testing.T, bed *testbed.Bed, edit func(*Config)) (*Server, string, *x509.CertPool) {
	t.Helper()
	cert, pemBytes, err := SelfSigned(bed.Server.IPv4.String(), bed.Server.IPv6.String())
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	s := startWith(t, bed, func(c *Config) {
		c.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		if edit != nil {
			edit(c)
		}
	})
	return s, caFile, pool
}

// h2Client is an HTTPS client from the peer namespace that speaks HTTP/2
// (one connection, multiplexed); dials counts its connections.
func h2Client(bed *testbed.Bed, pool *x509.CertPool, dials *atomic.Int64) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials.Add(1)
				return bed.Peer.DialContext(ctx, network, addr)
			},
			TLSClientConfig:   &tls.Config{RootCAs: pool},
			ForceAttemptHTTP2: true, // a custom DialContext turns it off otherwise
		},
	}
}

func TestSystemTLS(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	s, caFile, pool := startTLS(t, bed, nil)
	for _, ip := range []netip.Addr{bed.Server.IPv4, bed.Server.IPv6} {
		host := netip.AddrPortFrom(ip, testPort).String()
		base := "https://" + host
		t.Run(ip.String(), func(t *testing.T) {
			t.Run("curl h2", func(t *testing.T) {
				out, verbose := peerRun(t, bed, "curl", "-sS", "-v", "--http2", "--cacert", caFile, "--max-time", "30",
					base+"/", base+"/size/70000", base+HealthPath)
				if want := string(Body(DefaultSize)) + string(Body(70000)) + "ok\n"; out != want {
					t.Errorf("bodies: got %d octets, want %d", len(out), len(want))
				}
				if !strings.Contains(verbose, "ALPN: server accepted h2") {
					t.Errorf("no h2 by ALPN:\n%s", verbose)
				}
				if got := strings.Count(verbose, "< HTTP/2 200"); got != 3 {
					t.Errorf("%d HTTP/2 200 responses, want 3:\n%s", got, verbose)
				}
			})
			t.Run("curl http1.1", func(t *testing.T) {
				out, verbose := peerRun(t, bed, "curl", "-sS", "-v", "--http1.1", "--cacert", caFile, "--max-time", "30",
					base+"/size/100", base+"/size/20000")
				if out != string(Body(100))+string(Body(20000)) {
					t.Errorf("bodies: %d octets", len(out))
				}
				if got := strings.Count(verbose, "< HTTP/1.1 200"); got != 2 {
					t.Errorf("%d HTTP/1.1 200 responses, want 2:\n%s", got, verbose)
				}
			})
			t.Run("http.Client h2", func(t *testing.T) {
				// 1,000 requests over 50 connections: one client (one
				// HTTP/2 connection) per worker.
				var dials atomic.Int64
				var clients [50]*http.Client
				for i := range clients {
					clients[i] = h2Client(bed, pool, &dials)
					defer clients[i].CloseIdleConnections()
				}
				testbed.Workers(t, 50, 20, func(w, i int) error { return goOne(clients[w], "https://"+host, 2, w*20+i, nil) })
				if n := dials.Load(); n != 50 {
					t.Errorf("%d connections for 1,000 requests on 50 HTTP/2 clients, want 50", n)
				}
			})
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestSystemTLSShutdown: Shutdown while an HTTP/2 stream is being read
// slowly: the health check turns 503 at once (on a new connection, during
// the drain delay), the stream completes byte-exact, Shutdown returns nil
// and new connections are no longer served.
func TestSystemTLSShutdown(t *testing.T) {
	const size = 8 << 20
	bed := testbed.New(t, testbed.Options{})
	s, _, pool := startTLS(t, bed, func(c *Config) { c.DrainDelay = 500 * time.Millisecond })
	host := netip.AddrPortFrom(bed.Server.IPv4, testPort).String()
	var dials atomic.Int64
	cl := h2Client(bed, pool, &dials)
	defer cl.CloseIdleConnections()
	resp, err := cl.Get(fmt.Sprintf("https://%s/size/%d", host, size))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("response by %s, want HTTP/2", resp.Proto)
	}
	first := make([]byte, 1000)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}

	done := shutdownAsync(s, 30*time.Second)
	testbed.WaitFor(t, "health down", s.Health().Down)
	// A health check on a new connection during the drain delay.
	var d2 atomic.Int64
	hc := h2Client(bed, pool, &d2)
	hr, err := hc.Get("https://" + host + HealthPath)
	if err != nil {
		t.Fatalf("health check during the drain: %v", err)
	}
	hb, _ := io.ReadAll(hr.Body)
	hr.Body.Close()
	hc.CloseIdleConnections()
	if hr.StatusCode != 503 {
		t.Errorf("health during Shutdown: %d %q, want 503", hr.StatusCode, hb)
	}
	// The stream in flight completes, read slowly.
	buf := make([]byte, 64<<10)
	got := append([]byte(nil), first...)
	for {
		n, err := resp.Body.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("stream after %d octets: %v", len(got), err)
		}
		time.Sleep(time.Millisecond)
	}
	if !bytes.Equal(got, Body(size)) {
		t.Fatalf("stream: %d octets, differs from the body", len(got))
	}
	waitShutdown(t, done)
	// Stopped: a new connection is not served.
	var d3 atomic.Int64
	nc := h2Client(bed, pool, &d3)
	nc.Timeout = 5 * time.Second
	if r, err := nc.Get("https://" + host + "/"); err == nil {
		r.Body.Close()
		t.Errorf("served after Shutdown: %s", r.Status)
	}
}
