package tcp

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp/syncookie"
)

// FuzzListener sends random segments from a handful of peers to a
// Listener (with SYN cookies and tiny queues), advances time and accepts
// at random. It must never panic, and the queue counts must stay exact:
// the SYN queue counts exactly the live children in SYN-RECEIVED it
// created, within SynBacklog; the accept queue stays within its backlog.
func FuzzListener(f *testing.F) {
	f.Add([]byte{0, 0x02, 0, 0, 0, 0, 1, 0x10, 0, 0, 0, 0})
	f.Add([]byte{1, 0x02, 0, 0, 0, 0, 1, 0x10, 0, 0, 3, 0xe9, 2, 0, 3, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := DefaultConfig()
		cfg.SendBuffer, cfg.RecvBuffer = 4096, 4096
		cfg.MSS = 1000
		cfg.SynBacklog, cfg.AcceptBacklog = 3, 2
		cfg.SynCookies, cfg.Cookies = true, syncookie.New([32]byte{7})
		cfg.ISN = func(*ID, Instant) Seq { return 1000 }
		sink := &countSink{}
		l := NewListener(&cfg, sink)
		children := map[ID]*TCB{}
		now := Instant(1e9)
		for len(data) >= 6 {
			op := data[0]
			id := fuzzID
			id.RemotePort = 40000 + uint16(op&7)
			switch op >> 6 {
			case 0, 1: // a segment from peer op&7
				seg := Segment{Flags: Flags(data[1]), Seq: Seq(5000 + uint32(int16(binary.BigEndian.Uint16(data[2:])))),
					Ack: Seq(1000 + uint32(int16(binary.BigEndian.Uint16(data[4:])))), Window: 1000}
				if data[1]&0x40 != 0 {
					seg.Options = Options{MSS: 1400, HasTS: true, TSVal: 9, HasWScale: true, WScale: 2, SACKPermitted: true}
				}
				if c := children[id]; c != nil && c.State() != Closed {
					c.Input(&seg, now)
				} else if c := l.Input(&id, &seg, now); c != nil {
					children[id] = c
				}
			case 2: // time passes; run due timers
				now = now.Add(time.Duration(data[1]) * 100 * time.Millisecond)
				for _, c := range children {
					if c.Deadline() <= now {
						c.OnTimer(now)
					}
				}
			case 3:
				if c := l.Accept(); c != nil && c.State() != Established && c.State() != CloseWait && c.State() != Closed {
					t.Fatalf("accepted a connection in %v", c.State())
				}
			}
			data = data[6:]
			if msg := checkListener(l, children); msg != "" {
				t.Fatal(msg)
			}
		}
	})
}

func checkListener(l *Listener, children map[ID]*TCB) string {
	inq := 0
	for _, c := range children {
		if c.has(flagInSynQ) {
			inq++
			if c.State() == Closed || c.l != l {
				return fmt.Sprintf("child in %v still counted in the SYN queue", c.State())
			}
		}
		if msg := checkInvariants(c); msg != "" {
			return msg
		}
	}
	if inq != l.synq || l.synq > l.cfg.SynBacklog || l.synq < 0 {
		return fmt.Sprintf("SYN queue %d, children counted %d, backlog %d", l.synq, inq, l.cfg.SynBacklog)
	}
	if l.n > len(l.accept) || l.n < 0 {
		return fmt.Sprintf("accept queue %d > %d", l.n, len(l.accept))
	}
	return ""
}
