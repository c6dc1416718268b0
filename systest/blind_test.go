package systest

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"

	"github.com/sluicenet/sluice/systest/live"
	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/testbed/pktgen"
	"github.com/sluicenet/sluice/wire"
)

// TestBlindInjection is RFC 5961's threat model: an off-path attacker who
// knows a live connection's 4-tuple (here it sends from the peer's own
// address and the client's port) but not its sequence numbers sprays
// guessed segments at it. Per class of guess, the server answers as RFC
// 5961 says, its challenge ACKs stay within Config.ChallengeACKLimit per
// second (§7), no injected text reaches the application, and the
// connection survives and keeps serving.
func TestBlindInjection(t *testing.T) {
	tcpc := live.TCPConfig(t)
	s := live.Start(t, live.Options{Loop: schedLoop(tcpc)})
	c := s.DialPeer(t, s.Addr)
	defer c.Close()
	roundTrip(t, c, []byte("before the attack"))
	h := s.Handler.Last()
	v, st, ok := h.Vars()
	if !ok || st != tcp.Established {
		t.Fatalf("connection not established: %v %v", st, ok)
	}
	client := c.LocalAddr().(*net.TCPAddr).AddrPort()
	base := wire.TCPFrameSpec{
		SrcMAC: macOf(s.Bed.Peer.MAC), DstMAC: macOf(s.Bed.Server.MAC),
		Src: client.Addr(), Dst: s.Addr.Addr(), SrcPort: client.Port(), DstPort: s.Addr.Port(),
		Window: 502,
	}
	if v.TS {
		// An attacker sees no timestamps either, but a segment without one
		// on a timestamped connection is dropped before RFC 5961 is
		// consulted (RFC 7323 §3.2): give the guesses the best chance.
		base.Options = wire.TCPOptions{HasTS: true, TSVal: v.TSRecent, TSEcr: 0}
	}
	rcvNxt, sndNxt, wnd := uint32(v.RcvNxt), uint32(v.SndNxt), max(v.RcvWnd, 2)
	rng := rand.New(rand.NewPCG(1, 2))
	outside := func() uint32 { // a guess outside [RCV.NXT, RCV.NXT+RCV.WND)
		for {
			g := rng.Uint32()
			if g-rcvNxt >= wnd {
				return g
			}
		}
	}
	n := envInt(t, "SLUICE_BLIND_COUNT", 5000)
	type class struct {
		name      string
		spec      func(s *wire.TCPFrameSpec) []byte // payload
		challenge bool                              // answered by rate-limited challenge ACKs
	}
	// unlimited are classes answered once per segment with no rate limit,
	// as Linux answers them: an out-of-window segment carrying text gets
	// its duplicate ACK every time (tcp_oow_rate_limited exempts data
	// segments without SYN: they are not part of an ACK loop). The test
	// still fails if the engine answers more than once per segment (an
	// amplifier) or lets the connection die.
	unlimited := map[string]bool{"data outside window": true}
	classes := []class{
		// §3.2: a RST in the window but not at RCV.NXT gets a challenge ACK.
		{"RST in window", func(s *wire.TCPFrameSpec) []byte {
			s.Flags, s.Seq = wire.TCPFlagRST, rcvNxt+1+rng.Uint32N(wnd-1)
			return nil
		}, true},
		// §3.2: a RST outside the window is dropped silently.
		{"RST outside window", func(s *wire.TCPFrameSpec) []byte {
			s.Flags, s.Seq = wire.TCPFlagRST, outside()
			return nil
		}, false},
		// §4: any SYN on a synchronized connection gets a challenge ACK.
		{"SYN", func(s *wire.TCPFrameSpec) []byte {
			s.Flags, s.Seq = wire.TCPFlagSYN, rng.Uint32()
			return nil
		}, true},
		// §5: text at the right sequence number with an unacceptable ACK
		// (beyond SND.NXT) is discarded with a challenge ACK.
		{"data, bad ACK", func(s *wire.TCPFrameSpec) []byte {
			s.Flags, s.Seq, s.Ack = wire.TCPFlagACK|wire.TCPFlagPSH, rcvNxt, sndNxt+1<<20+rng.Uint32N(1<<30)
			return []byte("INJECTED")
		}, true},
		// RFC 9293 §3.10.7.4: text outside the window is not acceptable.
		{"data outside window", func(s *wire.TCPFrameSpec) []byte {
			s.Flags, s.Seq, s.Ack = wire.TCPFlagACK|wire.TCPFlagPSH, outside(), sndNxt
			return []byte("INJECTED")
		}, false},
	}
	limit := uint64(tcpc.ChallengeACKLimit)
	for i, cl := range classes {
		if i > 0 {
			// A fresh second: the per-connection budget (§7) spent by
			// the previous class must not hide this class's answers.
			time.Sleep(1100 * time.Millisecond)
		}
		frames := make([][]byte, n)
		for i := range frames {
			spec := base
			p := cl.spec(&spec)
			frames[i] = frame(t, &spec, p)
		}
		before := live.Total(s.Stats(t))
		start := time.Now()
		var sent uint64
		if err := s.Bed.Peer.Do(func() error {
			g, err := pktgen.New(s.Bed.Peer.Ifindex, frames)
			if err != nil {
				return err
			}
			defer g.Close()
			// 20k/s: well within what one loop takes, so every guess
			// reaches the engine (a full RX ring would be counted as
			// such, but then it would not test the engine).
			sent, err = g.Run(pktgen.Limits{Count: uint64(n), Duration: 20 * time.Second, Rate: 20_000})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		// Wait until every guess is accounted for (taken by the loop or
		// counted as dropped by the socket), up to 5 s: on a loaded
		// machine the receiving end's NAPI poll and the loop can run
		// tens of ms behind the generator, and guesses still in the veth
		// ring are neither taken nor lost yet.
		after, taken, ringDrops := before, uint64(0), uint64(0)
		for deadline := time.Now().Add(5 * time.Second); ; {
			time.Sleep(100 * time.Millisecond)
			after = live.Total(s.Stats(t))
			taken, ringDrops = after.RxSegments-before.RxSegments, xskLost(&before, &after)
			if taken+ringDrops >= sent || time.Now().After(deadline) {
				break
			}
		}
		elapsed := time.Since(start)
		answers := after.TxFrames - before.TxFrames
		t.Logf("%-20s %d sent in %v, %d reached the loop, %d answers", cl.name, sent, elapsed.Round(time.Millisecond), taken, answers)
		if taken+ringDrops < sent {
			t.Errorf("%s: %d of %d segments reached the loop, %d counted as dropped by the socket: some unaccounted for", cl.name, taken, sent, ringDrops)
		}
		if answers > taken {
			t.Errorf("%s: %d answers to %d segments: the server amplifies", cl.name, answers, taken)
		}
		// The window of time the answers could have come from, in whole
		// seconds plus one: a per-second budget may restart once inside it.
		budget := limit * (uint64(elapsed/time.Second) + 2)
		if cl.challenge && answers == 0 {
			t.Errorf("%s: no challenge ACK", cl.name)
		}
		if answers > budget && !unlimited[cl.name] {
			t.Errorf("%s: %d answers to %d segments in %v, above the %d/s challenge-ACK limit", cl.name, answers, taken, elapsed.Round(time.Millisecond), limit)
		}
		if _, st, ok := h.Vars(); !ok || st != tcp.Established {
			t.Fatalf("after %s: connection %v (present %v)", cl.name, st, ok)
		}
	}
	// Nothing injected reached the application or came back to the client.
	if got := s.Handler.RxText.Load(); got != int64(len("before the attack")) {
		t.Errorf("the application received %d octets, want only the client's %d", got, len("before the attack"))
	}
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := c.Read(make([]byte, 64)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("client read %d unexpected octets (%v)", n, err)
	}
	roundTrip(t, c, []byte("after the attack"))
	if s.Handler.Closed.Load() != 0 {
		t.Error("a connection closed during the attack")
	}
}

func roundTrip(t *testing.T, c net.Conn, msg []byte) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != string(msg) {
		t.Fatalf("echo: %q, %v", got, err)
	}
}
