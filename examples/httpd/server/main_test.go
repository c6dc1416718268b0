package server

import (
	"testing"

	"github.com/sluicenet/sluice/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }
