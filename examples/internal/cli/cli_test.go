package cli

import (
	"slices"
	"testing"
)

func TestCores(t *testing.T) {
	got, err := Cores("0, 1,-1")
	if err != nil || !slices.Equal(got, []int{0, 1, -1}) {
		t.Fatalf("Cores(\"0, 1,-1\") = %v, %v", got, err)
	}
	if got, err := Cores(""); err != nil || got != nil {
		t.Fatalf("Cores(\"\") = %v, %v; want nil, nil", got, err)
	}
	if _, err := Cores("1,x"); err == nil {
		t.Fatal("Cores(\"1,x\"): no error")
	}
}
