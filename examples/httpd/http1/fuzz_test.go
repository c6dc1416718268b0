package http1

import "testing"

// fuzzLimits are small so that every limit is reachable by short inputs.
var fuzzLimits = Limits{MaxHeaderBytes: 200, MaxHeaders: 6, MaxTargetBytes: 40, MaxBodyBytes: 500}

// FuzzParser checks, for any input: no panic; Feed never consumes more than
// it was given and EvNeedMore consumes everything (asserted in transcript);
// and the result does not depend on how the input is cut (whole, two cuts
// chosen by the fuzzer, byte by byte).
func FuzzParser(f *testing.F) {
	for _, tc := range parseCases {
		f.Add([]byte(tc.in), uint16(7), uint16(23))
	}
	f.Add([]byte(pipeline), uint16(70), uint16(200))
	f.Fuzz(func(t *testing.T, in []byte, c1, c2 uint16) {
		if len(in) > 4096 {
			return
		}
		want := transcript(t, NewParser(fuzzLimits), whole(in))
		i, j := int(c1)%(len(in)+1), int(c2)%(len(in)+1)
		if i > j {
			i, j = j, i
		}
		if got := transcript(t, NewParser(fuzzLimits), splitAt(in, i, j)); got != want {
			t.Fatalf("cuts %d,%d:\n%s\nwhole:\n%s", i, j, got, want)
		}
		if got := transcript(t, NewParser(fuzzLimits), byteByByte(in)); got != want {
			t.Fatalf("byte by byte:\n%s\nwhole:\n%s", got, want)
		}
	})
}
