package tcptest_test

import (
	"fmt"
	"testing"

	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/tcp/tcptest"
)

// A script: passive open, the peer's FIN, our close, TIME-WAIT-free end
// (the passive closer goes through LAST-ACK), on the virtual clock.
func TestScript(t *testing.T) {
	h := tcptest.New(t, tcp.DefaultConfig())
	h.Listen()
	h.In(tcptest.Seg{Flags: tcp.FlagSYN, Seq: 100})
	h.Out(tcptest.Seg{Flags: tcp.FlagSYN | tcp.FlagACK, Seq: tcptest.ISS, Ack: 101})
	h.State(tcp.SynReceived)
	h.In(tcptest.Seg{Flags: tcp.FlagACK, Seq: 101, Ack: tcptest.ISS + 1})
	h.State(tcp.Established)
	h.In(tcptest.Seg{Flags: tcp.FlagFIN | tcp.FlagACK, Seq: 101, Ack: tcptest.ISS + 1})
	h.Out(tcptest.Seg{Flags: tcp.FlagACK, Seq: tcptest.ISS + 1, Ack: 102})
	h.TCB.Close(h.Now)
	h.Out(tcptest.Seg{Flags: tcp.FlagFIN | tcp.FlagACK, Seq: tcptest.ISS + 1, Ack: 102})
	// The peer's ACK is lost: our FIN is retransmitted after the RTO.
	h.Advance(h.TCB.Vars().RTO) // (the handshake gave an RTT sample)
	h.Out(tcptest.Seg{Flags: tcp.FlagFIN | tcp.FlagACK, Seq: tcptest.ISS + 1, Ack: 102})
	h.In(tcptest.Seg{Flags: tcp.FlagACK, Seq: 102, Ack: tcptest.ISS + 2})
	h.State(tcp.Closed)
}

// The harness itself must fail a test whose expectation is wrong.
func TestHarnessDetectsMismatch(t *testing.T) {
	ft := &fakeT{T: t}
	func() {
		defer func() { recover() }()
		h := tcptest.New(ft, tcp.DefaultConfig())
		h.Dial()
		h.Out(tcptest.Seg{Flags: tcp.FlagSYN, Seq: tcptest.ISS + 1})
	}()
	if !ft.failed {
		t.Fatal("wrong sequence number not reported")
	}
}

type fakeT struct {
	*testing.T
	failed bool
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = true
	panic(fmt.Sprintf(format, args...))
}
func (f *fakeT) Fatal(args ...any) { f.failed = true; panic(fmt.Sprint(args...)) }
