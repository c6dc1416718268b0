package sluice

import (
	"os"
	"testing"

	"github.com/sluicenet/sluice/testbed"
)

func TestMain(m *testing.M) {
	if os.Getenv(unprivEnv) != "" {
		os.Exit(runUnprivileged())
	}
	testbed.Main(m)
}
