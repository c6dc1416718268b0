package server

import (
	"testing"
)

// TestPhases: what a connection waits for, event by event, and when its
// timer is set again (a phase change, or progress where the bound counts
// from the last progress).
func TestPhases(t *testing.T) {
	_, c := newTestConn(t, Options{})
	m := &memTransport{sndBuf: 1 << 20}
	step := func(data string, ev Event, wantPh Phase, wantRe bool) {
		t.Helper()
		if data != "" {
			if a := c.OnData(m, []byte(data)); a != None {
				t.Fatalf("action %v", a)
			}
		}
		ph, re := c.Rearm(m, ev)
		if ph != wantPh || re != wantRe {
			t.Fatalf("after %q: phase %v rearm %v, want %v %v", data, ph, re, wantPh, wantRe)
		}
	}
	step("P", EvData, PhaseHead, true)
	step("OST / HTTP/1.1\r\nHost: a\r\n", EvData, PhaseHead, false) // the head's bound is absolute
	step("Content-Length: 6\r\n\r\n", EvData, PhaseBody, true)
	step("abc", EvData, PhaseBody, true) // body progress pushes the bound back
	step("def", EvData, PhaseIdle, true)
	step("", EvOther, PhaseIdle, false)
	if !c.Idle() {
		t.Fatal("not idle after the response")
	}
}

// TestTimeoutHead: a late head gets 408 with Connection: close after the
// responses before it, then a lingering close; a late body likewise.
func TestTimeoutHead(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ph       Phase
	}{
		{"head", "GET /size/3 HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHo", PhaseHead},
		{"body", "GET /size/3 HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc", PhaseBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := newTestConn(t, Options{})
			m := &memTransport{sndBuf: 1 << 20}
			if a := c.OnData(m, []byte(tc.in)); a != None {
				t.Fatalf("action %v", a)
			}
			a, ph := c.OnTimeout(m)
			if a != Linger || ph != tc.ph {
				t.Fatalf("OnTimeout: %v %v, want Linger %v", a, ph, tc.ph)
			}
			rs := readResponses(t, m.out, "GET", "GET")
			if rs[0].status != 200 || rs[1].status != 408 || !rs[1].close {
				t.Fatalf("responses %d, %d (close %v); want 200, 408 with close", rs[0].status, rs[1].status, rs[1].close)
			}
			if ph, _ := c.Rearm(m, EvOther); ph != PhaseLinger {
				t.Fatalf("after the 408: phase %v, want linger", ph)
			}
			if a, _ := c.OnTimeout(m); a != Close {
				t.Fatalf("linger timeout: %v, want Close", a)
			}
		})
	}
}

// TestTimeoutWrite: a response held for a client that does not read is
// in the write phase (never cut by the idle or head bound, even with the
// next request's head begun), and its timeout resets the connection.
func TestTimeoutWrite(t *testing.T) {
	_, c := newTestConn(t, Options{})
	m := &memTransport{sndBuf: 64 << 10}
	c.OnData(m, []byte("GET /size/1000000 HTTP/1.1\r\nHost: a\r\n\r\nGET / HT"))
	if ph, re := c.Rearm(m, EvData); ph != PhaseWrite || !re {
		t.Fatalf("phase %v rearm %v, want write", ph, re)
	}
	m.drain()
	c.OnWritable(m)
	if ph, re := c.Rearm(m, EvWritable); ph != PhaseWrite || !re {
		t.Fatalf("after progress: phase %v rearm %v, want write, re-armed", ph, re)
	}
	if a, ph := c.OnTimeout(m); a != Abort || ph != PhaseWrite {
		t.Fatalf("OnTimeout: %v %v, want Abort write", a, ph)
	}
}

// TestTimeoutIdle: an idle connection just closes.
func TestTimeoutIdle(t *testing.T) {
	_, c := newTestConn(t, Options{})
	m := &memTransport{sndBuf: 1 << 20}
	c.OnData(m, []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	n := len(m.out)
	if a, ph := c.OnTimeout(m); a != Close || ph != PhaseIdle || len(m.out) != n {
		t.Fatalf("OnTimeout: %v %v, %d octets written; want Close idle, nothing", a, ph, len(m.out)-n)
	}
}

func TestTimeoutsDefaults(t *testing.T) {
	got := Timeouts{Head: -1, Idle: 5}.withDefaults()
	want := Timeouts{Head: 0, Body: DefaultBodyTimeout, Idle: 5, Write: DefaultWriteTimeout}
	if got != want {
		t.Fatalf("%+v, want %+v", got, want)
	}
}
