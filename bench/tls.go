package main

// The tls workload: HTTPS served by net/http with crypto/tls, on sluice's
// Listener adapter and on kernel TCP, with the same certificate (ECDSA
// P-256, made for the run), the same TLS configuration (TLS 1.3, X25519,
// no session tickets: every connection a full handshake) and the same
// handler, one after the other in the same run.
//
//	keep-alive  HTTPS GET / on -conns kept connections: requests/s, server CPU/request
//	handshake   a new connection per request (handshake, GET, close):
//	            handshakes/s, server CPU/handshake
//
// The client is Go's crypto/tls in this process, every thread pinned to
// -client-cpu for the workload, in the peer namespace; it pins the
// server's certificate by its bytes rather than verifying a chain, so
// that the client spends its time on the handshake itself.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	httpd "github.com/sluicenet/sluice/examples/httpd/server"
	"github.com/sluicenet/sluice/testbed"
)

// envTLSDir names the directory holding cert.pem and key.pem for the
// TLS server children (set by the parent before it starts them).
const envTLSDir = "SLUICE_BENCH_TLS_DIR"

// tlsServers are the two HTTPS servers: the names match ratioPairs'
// sluice-via-Listener / net/http pair.
var tlsServers = []httpServer{
	{name: "sluice (net/http via Listener)", kind: "sluice-tls", procs: 2},
	{name: "net/http", kind: "nethttp-tls", procs: 1},
}

// The children look their server up in serveFuncs from serve_child.go's
// init, which runs before this file's: register them during package
// variable initialisation, which precedes every init.
var _ = func() bool {
	serveFuncs["sluice-tls"] = serveSluiceTLS
	serveFuncs["nethttp-tls"] = serveNetHTTPTLS
	return true
}()

func init() {
	workloads["tls"] = tlsWorkload
	defaultWorkloads = append(defaultWorkloads, "tls")
}

// tlsConfig is both servers' and the client's TLS: 1.3 only (its cipher
// suite is the runtime's choice, the same for both: the client notes
// which), X25519 only (Go's default would offer the far costlier
// post-quantum hybrid first), no session tickets.
func tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, CurvePreferences: []tls.CurveID{tls.X25519},
		SessionTicketsDisabled: true, NextProtos: []string{"http/1.1"}}
}

func childTLS() (*tls.Config, error) {
	dir := os.Getenv(envTLSDir)
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envTLSDir, err)
	}
	cfg := tlsConfig()
	cfg.Certificates = []tls.Certificate{cert}
	return cfg, nil
}

func serveSluiceTLS(addr, link string, ready func(string), stop <-chan struct{}) error {
	tc, err := childTLS()
	if err != nil {
		return err
	}
	return serveSluiceHTTP(addr, link, tc, ready, stop)
}

func serveNetHTTPTLS(addr, _ string, ready func(string), stop <-chan struct{}) error {
	tc, err := childTLS()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return serveHTTPOn(tls.NewListener(ln, tc), ready, stop)
}

// writeTLSFiles makes the run's certificate for addr and writes it and
// its key where the children read them.
func writeTLSFiles(dir, addr string) ([]byte, error) {
	cert, certPEM, err := httpd.SelfSigned(addr)
	if err != nil {
		return nil, err
	}
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o600); err != nil {
		return nil, err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600); err != nil {
		return nil, err
	}
	return cert.Certificate[0], nil
}

func tlsWorkload(c config) ([]Result, error) {
	f := &figures{workload: "tls"}
	bed, err := testbed.Create(testbed.Options{Queues: 1})
	if err != nil {
		return nil, err
	}
	defer bed.Close()
	widenPortRange(bed.Peer)
	dir, err := os.MkdirTemp("", "sluice-bench-tls-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	der, err := writeTLSFiles(dir, bed.Server.IPv4.String())
	if err != nil {
		return nil, err
	}
	os.Setenv(envTLSDir, dir) // the children inherit the environment
	defer os.Unsetenv(envTLSDir)
	restore, err := pinAll(c.clientCPU)
	if err != nil {
		return nil, err
	}
	defer restore()
	client := tlsConfig()
	client.InsecureSkipVerify = true // replaced by the pin below
	client.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 || !bytes.Equal(raw[0], der) {
			return errors.New("not the run's certificate")
		}
		return nil
	}
	for range c.runs {
		for _, s := range tlsServers {
			progressStep("tls", s.name)
			srv, err := startServer(bed, s, c.serverCPU)
			if err != nil {
				return nil, err
			}
			err = measureTLS(c, bed, srv, s.name, client, f)
			srv.stop()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.name, err)
			}
		}
	}
	return f.results(), nil
}

// measureTLS runs the two phases against srv and adds their figures.
func measureTLS(c config, bed *testbed.Bed, srv *serverProc, impl string, client *tls.Config, f *figures) error {
	for _, keep := range []bool{true, false} {
		conns, metric, per, unit := c.conns, "requests/s", "cpu/request", "req/s"
		if !keep {
			conns, metric, per, unit = c.closeConns, "handshakes/s", "cpu/handshake", "conn/s"
		}
		ops, cpu, suite, errs, err := tlsRun(c, bed, srv, client, conns, keep)
		if err != nil {
			return err
		}
		r := f.add(impl, metric, unit, higher, float64(ops)/c.duration.Seconds())
		r.Note = "TLS 1.3 " + tls.CipherSuiteName(suite) + ", X25519, ECDSA P-256"
		if !keep {
			r.Note += "; full handshake, GET, close"
		}
		if ops > 0 {
			f.add(impl, per, "ns", lower, float64(cpu)/float64(ops)).Note = "server process utime+stime / operations"
		}
		f.add(impl, "server busy "+metric[:len(metric)-2], "%", "", 100*float64(cpu)/float64(c.duration))
		er := f.add(impl, "errors", "count", lower, float64(errs.n.Load()))
		if e := errs.firstErr(); e != nil {
			er.Note = joinNote(er.Note, e.Error())
		}
	}
	return nil
}

// errCount counts a run's client errors and keeps the first.
type errCount struct {
	n     atomic.Int64
	mu    sync.Mutex
	first error
}

func (e *errCount) add(err error) {
	if e.n.Add(1) == 1 {
		e.mu.Lock()
		e.first = err
		e.mu.Unlock()
	}
}

func (e *errCount) firstErr() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.first
}

// tlsRun drives conns client goroutines for warmup+duration and returns
// the operations completed and the server's CPU time in the measured
// window, and the cipher suite the connections used.
func tlsRun(c config, bed *testbed.Bed, srv *serverProc, client *tls.Config, conns int, keep bool) (int64, time.Duration, uint16, *errCount, error) {
	var ops atomic.Int64
	var suite atomic.Uint32
	errs := &errCount{}
	ctx, cancel := context.WithTimeout(context.Background(), c.warmup+c.duration)
	defer cancel()
	// running says whether an error belongs to the run: a dial's socket
	// deadline (taken from ctx) can expire a moment before ctx reports
	// Done, so an error at the end of the window is the window closing,
	// not a failure.
	end, _ := ctx.Deadline()
	running := func() bool { return ctx.Err() == nil && time.Now().Before(end) }
	var wg sync.WaitGroup
	addr := srv.addr.String()
	req := []byte("GET / HTTP/1.1\r\nHost: " + addr + "\r\n\r\n")
	reqClose := []byte("GET / HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\n\r\n")
	dial := func() (*tls.Conn, error) {
		var nc net.Conn
		err := bed.Peer.Do(func() error {
			var d net.Dialer
			var err error
			nc, err = d.DialContext(ctx, "tcp", addr)
			return err
		})
		if err != nil {
			return nil, err
		}
		tc := tls.Client(nc, client)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		suite.Store(uint32(tc.ConnectionState().CipherSuite))
		return tc, nil
	}
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var tc *tls.Conn
			var br *bufio.Reader
			stop := func() bool { return false }
			closeConn := func() {
				stop()
				tc.Close()
				tc = nil
			}
			for ctx.Err() == nil {
				if tc == nil {
					var err error
					if tc, err = dial(); err != nil {
						if running() {
							errs.add(err)
						}
						return
					}
					conn := tc
					stop = context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
					br = bufio.NewReader(tc)
				}
				r := req
				if !keep {
					r = reqClose
				}
				err := tlsGet(tc, br, r)
				if err != nil {
					if running() {
						errs.add(err)
					}
					closeConn()
					return
				}
				ops.Add(1)
				if !keep {
					closeConn()
				}
			}
			if tc != nil {
				closeConn()
			}
		}()
	}
	time.Sleep(c.warmup)
	ops0 := ops.Load()
	cpu0, err0 := srv.cpuTime()
	time.Sleep(c.duration)
	ops1 := ops.Load()
	cpu1, err1 := srv.cpuTime()
	cancel()
	wg.Wait()
	if err := errors.Join(err0, err1); err != nil {
		return 0, 0, 0, errs, fmt.Errorf("server CPU time: %w (%s)", err, srv.stderr)
	}
	return ops1 - ops0, cpu1 - cpu0, uint16(suite.Load()), errs, nil
}

// tlsGet sends one request and reads the response, checking its status
// and body length.
func tlsGet(w io.Writer, br *bufio.Reader, req []byte) error {
	if _, err := w.Write(req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 || n != helloLength {
		return fmt.Errorf("status %d, %d octets", resp.StatusCode, n)
	}
	return nil
}

// pinAll binds every thread of this process to cpu (the client side of
// the workload) and returns a function restoring each thread's mask to
// the one the process had.
func pinAll(cpu int) (restore func(), err error) {
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return nil, err
	}
	set.Set(cpu)
	if err := setAllThreads(&set); err != nil {
		return nil, fmt.Errorf("pin the TLS client to CPU %d: %w", cpu, err)
	}
	return func() { setAllThreads(&old) }, nil
}

func setAllThreads(set *unix.CPUSet) error {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			if err := unix.SchedSetaffinity(tid, set); err != nil && err != unix.ESRCH {
				return err
			}
		}
	}
	return nil
}
