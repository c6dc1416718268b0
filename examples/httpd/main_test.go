package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicenet/sluice/examples/httpd/server"
	"github.com/sluicenet/sluice/testbed"
)

// The test binary doubles as httpd: with envMain set it runs main, so the
// tests check the command itself (flags, start-up, signals, exit status).
const envMain = "HTTPD_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envMain) == "1" {
		main()
		os.Exit(0)
	}
	testbed.Main(m)
}

// httpd starts the command with args; it is killed at cleanup if still
// running.
func httpd(t *testing.T, args ...string) (*exec.Cmd, *bufio.Scanner, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), envMain+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, bufio.NewScanner(out), &stderr
}

// TestCommand: httpd serves both families from its flags (callbacks and
// -stdlib), and on SIGTERM finishes the response in flight and exits 0.
func TestCommand(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	v4 := netip.AddrPortFrom(bed.Server.IPv4, 8080).String()
	v6 := netip.AddrPortFrom(bed.Server.IPv6, 8080).String()
	for _, mode := range []string{"callbacks", "stdlib"} {
		t.Run(mode, func(t *testing.T) {
			args := []string{"-iface", bed.Server.Link, "-netns", bed.Server.Name,
				"-listen", v4 + "," + v6, "-queues", "1", "-cores", "-1", "-size", "100",
				// Room for the 16 MiB in flight on a loaded machine under
				// -race (the default 5 s is not: the rest would be reset).
				"-shutdown-timeout", "60s"}
			if mode == "stdlib" {
				args = append(args, "-stdlib")
			}
			cmd, out, stderr := httpd(t, args...)
			if !out.Scan() || !strings.HasPrefix(out.Text(), "httpd: serving") {
				cmd.Wait()
				t.Fatalf("no start-up line: %q\nstderr: %s", out.Text(), stderr)
			}
			t.Log(out.Text())
			for _, host := range []string{v4, v6} {
				c := dial(t, bed, host)
				fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatalf("%s: %v", host, err)
				}
				if b, err := io.ReadAll(resp.Body); err != nil || !bytes.Equal(b, server.Body(100)) {
					t.Fatalf("%s: GET / got %d octets, %v", host, len(b), err)
				}
				c.Close()
			}

			// A response in flight when SIGTERM arrives is finished.
			const size = 16 << 20
			c := dial(t, bed, v6)
			c.SetReadBuffer(64 << 10)
			fmt.Fprintf(c, "GET /size/%d HTTP/1.1\r\nHost: x\r\n\r\n", size)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			first := make([]byte, 1000)
			if _, err := io.ReadFull(resp.Body, first); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			rest, err := io.ReadAll(resp.Body)
			if err != nil || !bytes.Equal(append(first, rest...), server.Body(size)) {
				t.Fatalf("in-flight response: %d octets, %v", len(first)+len(rest), err)
			}
			c.Close()
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("httpd exited with %v\nstderr: %s", err, stderr)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("httpd did not exit after SIGTERM")
			}
		})
	}
}

// TestCommandErrors: a bad command line or configuration fails with a
// message naming what to fix, and exit status 1 (2 for the command line).
func TestCommandErrors(t *testing.T) {
	testbed.Require(t)
	for _, tc := range []struct {
		args []string
		want string
		code int
	}{
		{[]string{"-listen", "198.18.0.1:8080"}, "Interface", 1},
		{[]string{"-iface", "sluice-no-such-dev", "-listen", "198.18.0.1:8080"}, "sluice-no-such-dev", 1},
		{[]string{"-iface", "lo", "-cores", "x"}, "-cores", 2},
		{[]string{"-iface", "lo", "extra"}, "unexpected arguments", 2},
		{[]string{"-no-such-flag"}, "no-such-flag", 2},
	} {
		cmd, _, stderr := httpd(t, tc.args...)
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != tc.code {
			t.Errorf("%q: %v, want exit status %d", tc.args, err, tc.code)
		}
		if !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: stderr %q does not mention %q", tc.args, stderr, tc.want)
		}
	}
}

func dial(t *testing.T, bed *testbed.Bed, addr string) *net.TCPConn {
	t.Helper()
	c := bed.Peer.Dial(t, addr)
	c.SetDeadline(time.Now().Add(60 * time.Second))
	return c
}
