package netenv

import (
	"testing"

	"github.com/sluicenet/sluice/testbed"
)

func TestMain(m *testing.M) {
	if runChild() {
		return
	}
	testbed.Main(m)
}
