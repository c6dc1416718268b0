//go:build linux

package bpf

import (
	"testing"

	"github.com/sluicenet/sluice/testbed"
)

// TestMain fails the run if a test leaks a namespace or an fd (BPF
// programs, maps and links are anon_inode:bpf-* fds).
func TestMain(m *testing.M) { testbed.Main(m) }
