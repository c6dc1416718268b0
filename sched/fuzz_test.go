package sched

import (
	"encoding/binary"
	"testing"
	"time"
)

// FuzzTimerWheel interprets the input as a program of add/cancel/reset/
// advance operations and checks every step against the reference model
// (see timerwheel_test.go). Deadlines and steps span every wheel level.
func FuzzTimerWheel(f *testing.F) {
	f.Add([]byte{0, 1, 2, 0, 200, 3, 3, 10, 0, 1, 5, 5, 3, 255, 255, 2, 0, 7})
	f.Add([]byte{0, 9, 9, 0, 9, 9, 1, 0, 0, 3, 9, 9, 3, 200, 9})
	scales := [...]int64{1, int64(time.Millisecond), int64(64 * time.Millisecond), int64(4 * time.Second),
		int64(5 * time.Minute), int64(5 * time.Hour), int64(300 * time.Hour), int64(20000 * time.Hour)}
	f.Fuzz(func(t *testing.T, prog []byte) {
		if len(prog) > 3000 {
			prog = prog[:3000]
		}
		c := newWheelChecker(t, 1_000_003)
		now := c.now
		pick := func(b byte) TimerID {
			if len(c.ids) == 0 {
				return TimerID(b)
			}
			return c.ids[int(b)%len(c.ids)]
		}
		for len(prog) >= 3 {
			op, a, b := prog[0], prog[1], prog[2]
			prog = prog[3:]
			amount := int64(b) * scales[a%8] / 16
			switch op % 4 {
			case 0:
				c.add(now + amount - int64(time.Millisecond))
			case 1:
				c.cancel(pick(a ^ b))
			case 2:
				c.reset(pick(a), now+amount)
			case 3:
				now += amount
				c.advance(now)
				c.checkDeadlines()
			}
		}
		for c.w.Len() > 0 {
			nd, _ := c.w.NextDeadline()
			now = max(now, nd)
			c.advance(now)
		}
	})
}

// FuzzConnTable runs insert/delete/lookup programs over a small key space
// against a Go map, from a table small enough that resizes happen often.
func FuzzConnTable(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 1, 1, 2, 2, 0, 3})
	f.Fuzz(func(t *testing.T, prog []byte) {
		tab := NewConnTable(0)
		ref := map[ConnKey]uint32{}
		for i := 0; i+2 < len(prog) && i < 30000; i += 3 {
			k := keyN(uint32(binary.LittleEndian.Uint16(prog[i+1:])) % 512)
			switch prog[i] % 3 {
			case 0:
				_, had := ref[k]
				if tab.Insert(k, uint32(i)) == had {
					t.Fatalf("Insert: reference had=%v", had)
				}
				if !had {
					ref[k] = uint32(i)
				}
			case 1:
				want, had := ref[k]
				got, ok := tab.Delete(k)
				if ok != had || got != want {
					t.Fatalf("Delete = %d,%v want %d,%v", got, ok, want, had)
				}
				delete(ref, k)
			default:
				want, had := ref[k]
				got, ok := tab.Lookup(k)
				if ok != had || got != want {
					t.Fatalf("Lookup = %d,%v want %d,%v", got, ok, want, had)
				}
			}
			if tab.lastMoved > migrateBatch || tab.Len() != len(ref) {
				t.Fatalf("moved %d, len %d want %d", tab.lastMoved, tab.Len(), len(ref))
			}
		}
		for k, want := range ref {
			if got, ok := tab.Lookup(k); !ok || got != want {
				t.Fatalf("final Lookup = %d,%v want %d", got, ok, want)
			}
		}
	})
}
