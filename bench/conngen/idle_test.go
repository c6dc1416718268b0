package conngen

import "testing"

// TestIdle: an Idle generator answers the SYN-ACK with a bare ACK, moves
// the slot on at once, answers a retransmitted SYN-ACK of a held
// connection again, and answers nothing else on it.
func TestIdle(t *testing.T) {
	g, err := New(Config{Server: server, Client: client, SrcMAC: cliMAC, DstMAC: srvMAC, Slots: 2, Key: 42, Idle: true, Limit: 4})
	if err != nil {
		t.Fatal(err)
	}
	var tx txRec
	g.Tick(0, &tx)
	syns := tx.take()
	if len(syns) != 2 {
		t.Fatalf("%d SYNs, want 2", len(syns))
	}
	s := syns[0]
	const irs = 5000
	synack := reply(t, s, syn|ack, irs, s.Seq+1, "")
	g.Input(synack, 1, &tx)
	a := one(t, tx.take(), ack)
	if a.Seq != s.Seq+1 || a.Ack != irs+1 || len(a.Payload) != 0 || a.Src != s.Src || a.SrcPort != s.SrcPort {
		t.Fatalf("ACK seq %d ack %d len %d", a.Seq, a.Ack, len(a.Payload))
	}
	if g.Stats.Completed != 1 || g.InProgress() != 1 {
		t.Fatalf("completed %d, in progress %d", g.Stats.Completed, g.InProgress())
	}
	// The slot opens its next tuple.
	g.Tick(2, &tx)
	if n := one(t, tx.take(), syn); n.Src == s.Src && n.SrcPort == s.SrcPort {
		t.Fatal("tuple reused")
	}
	// The SYN-ACK again (our ACK lost): the same ACK again.
	g.Input(synack, 3, &tx)
	if a2 := one(t, tx.take(), ack); a2.Seq != a.Seq || a2.Ack != a.Ack || g.Stats.SynAckAgain != 1 {
		t.Fatalf("ACK again seq %d ack %d, stats %+v", a2.Seq, a2.Ack, g.Stats)
	}
	// A keep-alive probe, data, a FIN, a RST, a SYN-ACK acknowledging no
	// SYN of ours: counted, never answered.
	for _, f := range [][]byte{
		reply(t, s, ack, irs, s.Seq+1, ""),
		reply(t, s, ack|psh, irs+1, s.Seq+1, "x"),
		reply(t, s, fin|ack, irs+1, s.Seq+1, ""),
		reply(t, s, rst, s.Seq+1, 0, ""),
		reply(t, s, syn|ack, irs, s.Seq+7, ""),
	} {
		g.Input(f, 4, &tx)
	}
	if fs := tx.take(); len(fs) != 0 || g.Stats.Held != 5 || g.Stats.Errors() != 0 {
		t.Fatalf("answered %d held segments, stats %+v", len(fs), g.Stats)
	}
	// Never done by itself: it holds until stopped.
	if g.Done() {
		t.Fatal("an Idle generator is done before Stop")
	}
	g.Stop()
	g.Abort(&tx)
	if !g.Done() {
		t.Fatal("not done after Stop and Abort")
	}
}
