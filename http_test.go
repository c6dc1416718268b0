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
			// net/http replaces a connection whose request writer is late
			// (testbed.ConnLog): count what the client dialed, and check
			// that the server ended none of them.
			var log testbed.ConnLog
			cl := bed.Peer.HTTPClientLog(50, &log)
			defer cl.CloseIdleConnections()
			testbed.Workers(t, 50, 20, func(w, i int) error { return httpOne(cl, &log, host, w*20+i) })
			e := log.Ends()
			if err := e.Check(50); err != nil {
				t.Error(err)
			}
			if n := newConns.Load() - before; n < 1 || n > int64(e.Dialed) {
				t.Errorf("server accepted %d connections, client dialed %d", n, e.Dialed)
			}
		})
	}
}

func httpOne(cl *http.Client, log *testbed.ConnLog, host string, i int) error {
	if i%2 == 0 {
		n := (i * 997) % 200_000
		req, err := http.NewRequest("GET", fmt.Sprintf("http://%s/n/%d", host, n), nil)
		if err != nil {
			return err
		}
		resp, b, err := log.Do(cl, req)
		if err != nil || resp.StatusCode != 200 || !bytes.Equal(b, pattern(n)) {
			return fmt.Errorf("GET /n/%d: %d octets, %v", n, len(b), statusOr(resp, err))
		}
		return nil
	}
	body := pattern(i * 31 % 70_000)
	req, err := http.NewRequest("POST", "http://"+host+"/echo", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, b, err := log.Do(cl, req)
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(b, body) {
		return fmt.Errorf("POST /echo %d octets: %d back, %v", len(body), len(b), statusOr(resp, err))
	}
	return nil
}

// statusOr names what went wrong with a response: the error, else its status.
func statusOr(resp *http.Response, err error) string {
	if err != nil || resp == nil {
		return fmt.Sprint(err)
	}
	return resp.Status
}

var _ = context.Background
