package http1

import (
	"math/rand/v2"
	"testing"
)

// TestValidFieldValueMatchesTable checks the word-at-a-time path against
// the byte table, with every byte value at every position of a 17-byte
// value (two words and a tail).
func TestValidFieldValueMatchesTable(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 17)
	for pos := range b {
		for c := 0; c < 256; c++ {
			for i := range b {
				b[i] = byte(0x20 + r.IntN(0x5f)) // printable filler
				if r.IntN(4) == 0 {
					b[i] = byte(0x80 + r.IntN(0x80))
				}
			}
			b[pos] = byte(c)
			want := true
			for _, x := range b {
				want = want && isFieldChar[x]
			}
			if got := validFieldValue(b); got != want {
				t.Fatalf("%q: got %v want %v", b, got, want)
			}
		}
	}
}
