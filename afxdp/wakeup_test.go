package afxdp

import (
	"errors"
	"testing"
)

// TestWakeupOnlyWhenAsked: with need_wakeup the TX and fill wakeups make
// a syscall only when the kernel set XDP_RING_NEED_WAKEUP.
func TestWakeupOnlyWhenAsked(t *testing.T) {
	g := &queueRings{fill: FillRing{ring: fakeRing(8, 0), addrs: make([]uint64, 8)}}
	s := &Socket{fd: 1 << 20, needWakeup: true, group: g, tx: TxRing{ring: fakeRing(8, 0), descs: make([]Desc, 8)}}
	if err := s.WakeupTx(); err != nil || s.txWakeups != 0 {
		t.Fatalf("WakeupTx without the flag: err %v, %d syscalls", err, s.txWakeups)
	}
	if err := s.WakeupFill(); err != nil || s.fillWakeup != 0 {
		t.Fatalf("WakeupFill without the flag: err %v, %d syscalls", err, s.fillWakeup)
	}
	s.tx.flags.Store(1)
	g.fill.flags.Store(1)
	// An fd that is not open: the syscall is made and fails with EBADF,
	// which maps to ErrClosed.
	if err := s.WakeupTx(); !errors.Is(err, ErrClosed) || s.txWakeups != 1 {
		t.Fatalf("WakeupTx with the flag: err %v, %d syscalls", err, s.txWakeups)
	}
	if err := s.WakeupFill(); !errors.Is(err, ErrClosed) || s.fillWakeup != 1 {
		t.Fatalf("WakeupFill with the flag: err %v, %d syscalls", err, s.fillWakeup)
	}
}

func TestClosedSocketCalls(t *testing.T) {
	s := &Socket{fd: -1, group: &queueRings{}}
	for name, err := range map[string]error{"WakeupTx": s.WakeupTx(), "WakeupFill": s.WakeupFill()} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s on a closed socket: %v", name, err)
		}
	}
	if _, err := s.Poll(0); !errors.Is(err, ErrClosed) {
		t.Errorf("Poll on a closed socket: %v", err)
	}
}
