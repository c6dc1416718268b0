//go:build linux

package bpf

import (
	"net/netip"
	"reflect"
	"testing"
)

// These need no privilege: key encoding, argument checks, the Go side of
// the fanout hash, and the Counters mirror of struct counters.

func TestListenKeys(t *testing.T) {
	mapped := [16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 18, 14: 0, 15: 1}
	for _, c := range []struct {
		in   netip.AddrPort
		want []steerListenKey
	}{
		{netip.MustParseAddrPort("198.18.0.1:80"), []steerListenKey{{Addr: mapped, Port: 80, Family: 4}}},
		{netip.MustParseAddrPort("[::ffff:198.18.0.1]:80"), []steerListenKey{{Addr: mapped, Port: 80, Family: 4}}},
		{netip.MustParseAddrPort("[2001:2::1]:443"), []steerListenKey{{Addr: local6.As16(), Port: 443, Family: 6}}},
		{netip.MustParseAddrPort("0.0.0.0:80"), []steerListenKey{{Port: 80, Family: 4}}},
		{netip.MustParseAddrPort("[::]:80"), []steerListenKey{{Port: 80, Family: 6}}},
		{netip.AddrPortFrom(netip.Addr{}, 80), []steerListenKey{{Port: 80, Family: 4}, {Port: 80, Family: 6}}},
	} {
		got, err := listenKeys(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("listenKeys(%s) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	if _, err := listenKeys(netip.MustParseAddrPort("198.18.0.1:0")); err == nil {
		t.Error("port 0 accepted")
	}
}

func TestFlowKey(t *testing.T) {
	k, err := flowKey(netip.MustParseAddrPort("198.18.0.2:40000"), netip.MustParseAddrPort("198.18.0.1:80"))
	if err != nil {
		t.Fatal(err)
	}
	want := steerFlowKey{
		Saddr: [16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 18, 15: 2},
		Daddr: [16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 18, 15: 1},
		Sport: 40000, Dport: 80, Family: 4,
	}
	if k != want {
		t.Errorf("flowKey = %+v, want %+v (source = remote)", k, want)
	}
	for _, bad := range [][2]string{
		{"198.18.0.2:1", "[2001:2::1]:80"}, // families differ
		{"0.0.0.0:1", "198.18.0.1:80"},     // unspecified
		{"198.18.0.2:1", "[::]:80"},
	} {
		if _, err := flowKey(netip.MustParseAddrPort(bad[0]), netip.MustParseAddrPort(bad[1])); err == nil {
			t.Errorf("flowKey(%s, %s) accepted", bad[0], bad[1])
		}
	}
	if _, err := flowKey(netip.AddrPort{}, netip.MustParseAddrPort("198.18.0.1:80")); err == nil {
		t.Error("flowKey with no remote accepted")
	}
}

func TestFanoutSlotRange(t *testing.T) {
	local := netip.MustParseAddrPort("198.18.0.1:80")
	seen := map[int]int{}
	for port := uint16(1); port <= 1600; port++ {
		s := FanoutSlot(netip.AddrPortFrom(remote4, port), local, 16)
		if s < 0 || s >= 16 {
			t.Fatalf("slot %d out of [0,16)", s)
		}
		seen[s]++
	}
	// 1600 flows over 16 slots: each gets a fair share (100 expected).
	for s := 0; s < 16; s++ {
		if seen[s] < 50 || seen[s] > 150 {
			t.Errorf("slot %d got %d of 1600 flows", s, seen[s])
		}
	}
	if FanoutSlot(netip.AddrPortFrom(remote4, 1), local, 0) != 0 {
		t.Error("n=0 must give slot 0")
	}
	if s := FanoutSlot(netip.AddrPortFrom(remote4, 1), local, 100); s >= MaxFanout {
		t.Errorf("n above MaxFanout gave slot %d", s)
	}
}

// TestCountersMirror: Counters has one field per field of the C struct
// counters, in order, and add copies each one.
func TestCountersMirror(t *testing.T) {
	ct := reflect.TypeOf(steerCounters{})
	var cFields []string
	for i := range ct.NumField() {
		if ct.Field(i).Name != "_" {
			cFields = append(cFields, ct.Field(i).Name)
		}
	}
	gt := reflect.TypeOf(Counters{})
	if gt.NumField() != len(cFields) {
		t.Fatalf("Counters has %d fields, struct counters %d: %v", gt.NumField(), len(cFields), cFields)
	}
	var s steerCounters
	sv := reflect.ValueOf(&s).Elem()
	n := 0
	for i := range sv.NumField() {
		if ct.Field(i).Name != "_" {
			n++
			sv.Field(i).SetUint(uint64(n))
		}
	}
	var c Counters
	c.add(&s)
	c.add(&s)
	cv := reflect.ValueOf(c)
	for i := range cv.NumField() {
		if got := cv.Field(i).Uint(); got != uint64(2*(i+1)) {
			t.Errorf("Counters.%s = %d after adding %s twice, want %d", gt.Field(i).Name, got, cFields[i], 2*(i+1))
		}
	}
	// Passed: the seven Passed* fields (2+4+...+14 = 56) and
	// RedirectNoSocket (18); not Redirected, not Fanout.
	if got := c.Passed(); got != 74 {
		t.Errorf("Passed() = %d, want 74", got)
	}
}
