package conform

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// scenario is one script, run once against each side.
type scenario struct {
	name string
	ipv6 bool
	run  func(c *conn)
}

// known are the scenarios where sluice is known to differ from Linux:
// the reason, and whether it is a defect to fix (an RFC says Linux is
// right) or a deliberate choice. A known scenario that differs is
// logged, not failed; one that matches fails, so the table stays true.
var known = map[string]struct {
	defect bool
	why    string
}{
	"timewait/rst": {false, "RFC 1337 §3: sluice ignores a RST in TIME-WAIT (the entry stays, " +
		"the next ACK gets nothing); Linux's default (tcp_rfc1337=0) ends TIME-WAIT on it and " +
		"answers the next ACK with RST. Linux with tcp_rfc1337=1 does as sluice (tcp/doc.go)."},
	"close/last-ack-refin": {true, "RFC 2883 §4: a retransmitted FIN in LAST-ACK is a duplicate " +
		"segment; Linux's ACK reports it with a D-SACK block (sack=FIN..FIN+1, tcp_send_dupack -> " +
		"tcp_dsack_set), sluice's ACK carries none (it does send D-SACK for duplicate text: window/dsack)."},
}

// TestConform runs every scenario against Linux and sluice on one bed and
// compares the normalised exchanges line by line.
func TestConform(t *testing.T) {
	r := newRig(t)
	// Every scenario's connections run at once (they are separate
	// 4-tuples, and each stack's rate limits are per connection): the
	// suite takes about as long as its longest script.
	logs := make([][][]string, len(scenarios))
	failed := make([][]string, len(scenarios))
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for n, sc := range scenarios {
		logs[n] = make([][]string, len(r.sides))
		failed[n] = make([]string, len(r.sides))
		for i, sd := range r.sides {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				logs[n][i], failed[n][i] = runSide(t, r, sd, sc)
			}()
		}
	}
	wg.Wait()
	for n, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			logs, failed := logs[n], failed[n]
			for i, f := range failed {
				if f != "" {
					t.Errorf("%s: script stopped: %s", r.sides[i].name, f)
				}
			}
			diff := compare(logs[0], logs[1])
			report := fmt.Sprintf("%s:\n  %s\n%s:\n  %s", r.sides[0].name, strings.Join(logs[0], "\n  "),
				r.sides[1].name, strings.Join(logs[1], "\n  "))
			k, isKnown := known[sc.name]
			switch {
			case diff == "" && isKnown:
				t.Errorf("listed as a known difference (%s) but matches Linux now: remove it from the table\n%s", k.why, report)
			case diff == "":
				t.Logf("match\n%s", report)
			case isKnown:
				t.Logf("known difference (defect %v): %s\nfirst difference: %s\n%s", k.defect, k.why, diff, report)
			default:
				t.Errorf("sluice differs from Linux: %s\n%s", diff, report)
			}
		})
	}
}

// runSide runs sc against one side, with its own connection, and returns
// the log; a script that cannot go on (no SYN-ACK) says why.
func runSide(t *testing.T, r *rig, sd side, sc scenario) (log []string, stopped string) {
	remote := sd.v4
	if sc.ipv6 {
		remote = sd.v6
	}
	st := &stopT{TB: t}
	c := newConn(st, r.raw, remote)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if v := recover(); v != nil && v != errStop {
				panic(v)
			}
		}()
		sc.run(c)
	}()
	<-done
	return c.log, st.msg
}

// stopT turns a script's Fatalf into the end of that side's script, so
// the other side's still completes and both logs are printed.
type stopT struct {
	testing.TB
	msg string
}

var errStop = fmt.Errorf("script stopped")

func (s *stopT) Fatalf(format string, a ...any) {
	s.msg = fmt.Sprintf(format, a...)
	panic(errStop)
}

func (s *stopT) Fatal(a ...any) {
	s.msg = fmt.Sprint(a...)
	panic(errStop)
}

func (s *stopT) Helper() {}

// compare returns the first line where the logs differ, or "".
func compare(a, b []string) string {
	for i := range max(len(a), len(b)) {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return fmt.Sprintf("step %d: linux %q, sluice %q", i+1, x, y)
		}
	}
	return ""
}

// parallel bounds the scripts running at once.
const parallel = 16
