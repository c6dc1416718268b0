package main

import (
	"testing"
	"time"
)

// TestGenPollFlag: -gen-poll parses "off" and its four fields, prints
// back what it parsed, and refuses what it cannot use.
func TestGenPollFlag(t *testing.T) {
	var g genPoll
	if err := g.Set(genPollDefault.String()); err != nil || g != genPollDefault {
		t.Fatalf("default %v round trip: %v, %v", genPollDefault, g, err)
	}
	if err := g.Set("1,50us,0s,5us"); err != nil {
		t.Fatal(err)
	}
	want := genPoll{deferIRQs: 1, flush: 50 * time.Microsecond, busy: 5 * time.Microsecond}
	if g != want || g.busyPoll().Timeout != 5*time.Microsecond || !g.busyPoll().Prefer {
		t.Fatalf("got %+v", g)
	}
	if err := g.Set("off"); err != nil || !g.off || g.busyPoll().Timeout != 0 || g.String() != "off" {
		t.Fatalf("off: %+v, %v", g, err)
	}
	for _, bad := range []string{"", "2,200us", "x,200us,20ms,10us", "2,200us,20ms,0s", "2,200us,20ms,ten"} {
		if err := g.Set(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
