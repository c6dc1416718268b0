package tcp

import (
	"testing"
	"time"
)

// ssRounds feeds HyStart++ the ACKs of a slow start from 10 segments,
// doubling per round, one ACK per 1000-octet segment, with the RTT rtt
// gives for ACK i of round r, until it ends slow start or rounds run
// out. It returns the round that ended it (-1: none) and, per round,
// whether CSS was on at the round's last ACK.
func ssRounds(h *hystartPP, rounds int, rtt func(r, i int) time.Duration) (exitRound int, css []bool) {
	w := 10
	for r := range rounds {
		for i := range w {
			inflight := uint32((w-i-1)*1000 + 2*(i+1)*1000)
			if _, exit := h.onAck(1000, inflight, rtt(r, i)); exit {
				return r, css
			}
		}
		css = append(css, h.inCSS())
		w *= 2
	}
	return -1, css
}

func TestHyStartSteadyRTT(t *testing.T) {
	var h hystartPP
	if r, css := ssRounds(&h, 10, func(int, int) time.Duration { return 20 * time.Millisecond }); r != -1 || h.inCSS() {
		t.Fatalf("constant RTT: slow start ended in round %d (CSS %v)", r, css)
	}
}

// One 667 ms sample in a round of 20 ms ones moves no round minimum.
func TestHyStartSingleNoisySample(t *testing.T) {
	var h hystartPP
	r, css := ssRounds(&h, 10, func(r, i int) time.Duration {
		if r == 4 && i == 7 {
			return 667 * time.Millisecond
		}
		return 20 * time.Millisecond
	})
	for k, c := range css {
		if c {
			t.Fatalf("CSS entered in round %d on one noisy sample", k)
		}
	}
	if r != -1 {
		t.Fatalf("slow start ended in round %d", r)
	}
}

// A round whose every sample is late enters CSS (growth / 4); the next
// round's minimum falls back below the baseline: slow start resumes.
func TestHyStartNoisyRoundResumes(t *testing.T) {
	var h hystartPP
	sawCSS := false
	r, _ := ssRounds(&h, 10, func(r, i int) time.Duration {
		if h.inCSS() {
			sawCSS = true
		}
		if r == 4 {
			return 30 * time.Millisecond
		}
		return 20 * time.Millisecond
	})
	if !sawCSS {
		t.Fatal("a round 10 ms above the last did not enter CSS")
	}
	if r != -1 || h.inCSS() {
		t.Fatalf("slow start ended (round %d) or stayed in CSS after the RTT fell back", r)
	}
}

// A lasting rise: CSS with quarter growth, then congestion avoidance
// after CSS_ROUNDS rounds.
func TestHyStartExit(t *testing.T) {
	var h hystartPP
	var divs []uint32
	w := 10
	exitAt := -1
	for r := 0; r < 12 && exitAt < 0; r++ {
		for i := range w {
			rtt := 20 * time.Millisecond
			if r >= 4 {
				rtt = time.Duration(20+5*(r-3)) * time.Millisecond // the queue grows
			}
			inflight := uint32((w-i-1)*1000 + 2*(i+1)*1000)
			d, exit := h.onAck(1000, inflight, rtt)
			if exit {
				exitAt = r
				break
			}
			if i == w-1 {
				divs = append(divs, d)
			}
		}
		w *= 2
	}
	if exitAt < 4+hsCSSRounds-1 || exitAt > 4+hsCSSRounds+1 {
		t.Fatalf("slow start ended in round %d (growth divisors %v); want about CSS_ROUNDS after round 4", exitAt, divs)
	}
	if divs[3] != 1 || divs[len(divs)-1] != hsCSSGrowthDiv {
		t.Fatalf("growth divisors per round %v: 1 before the rise, %d in CSS", divs, hsCSSGrowthDiv)
	}
}
