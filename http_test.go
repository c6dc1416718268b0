package sluice

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicenet/sluice/testbed"
)

// httpServer serves mux through a listener-mode server on the bed.
func httpServer(t *testing.T, bed *testbed.Bed, port int) (*Server, *http.Server, *atomic.Int64) {
	t.Helper()
	s := startServer(t, testConfig(bed, port), nil)
	var newConns atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("X-Remote", r.RemoteAddr)
		w.Write(b)
	})
	mux.HandleFunc("/n/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		w.Write(pattern(n))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		w.Write([]byte("done"))
	})
	hs := &http.Server{Handler: mux, ConnState: func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			newConns.Add(1)
		}
	}}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(s.Listener()) }()
	t.Cleanup(func() {
		hs.Close()
		s.Close()
		if err := <-done; !errors.Is(err, net.ErrClosed) && err != http.ErrServerClosed {
			t.Errorf("http.Serve returned %v", err)
		}
	})
	return s, hs, &newConns
}

// TestHTTP: net/http serves through Listener() unchanged: 1,000 requests
// over 50 connections from the peer's http.Client, per family, GETs of
// several sizes and POSTs echoed, every answer checked.
func TestHTTP(t *testing.T) {
	bed := newBed(t, 1)
	_, _, newConns := httpServer(t, bed, 8080)
	for _, host := range []string{testbed.HostPort(bed.Server.IPv4, 8080), testbed.HostPort(bed.Server.IPv6, 8080)} {
		t.Run(host, func(t *testing.T) {
			before := newConns.Load()
			cl := bed.Peer.HTTPClient(50)
			defer cl.CloseIdleConnections()
			testbed.Workers(t, 50, 20, func(w, i int) error { return httpOne(cl, host, w*20+i) })
			if n := newConns.Load() - before; n < 1 || n > 50 {
				t.Errorf("%d connections for 1,000 requests, want 1..50", n)
			}
		})
	}
}

func httpOne(cl *http.Client, host string, i int) error {
	if i%2 == 0 {
		n := (i * 997) % 200_000
		resp, err := cl.Get(fmt.Sprintf("http://%s/n/%d", host, n))
		if err != nil {
			return err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || !bytes.Equal(b, pattern(n)) {
			return fmt.Errorf("GET /n/%d: status %d, %d octets, %v", n, resp.StatusCode, len(b), err)
		}
		return nil
	}
	body := pattern(i * 31 % 70_000)
	resp, err := cl.Post("http://"+host+"/echo", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		return err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(b, body) {
		return fmt.Errorf("POST /echo %d octets: status %d, %d back, %v", len(body), resp.StatusCode, len(b), err)
	}
	return nil
}

var _ = context.Background
