package sluice

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/sluicenet/sluice/testbed"
)

// startErr starts a server with cfg and returns Start's error (failing
// the test when it starts).
func startErr(t *testing.T, cfg Config) error {
	t.Helper()
	s, err := NewServer(cfg, NopHandler{})
	if err != nil {
		return err
	}
	err = s.Start()
	if err == nil {
		s.Close()
		t.Fatalf("Start succeeded; want an error")
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "listen" {
		t.Errorf("Start error %T is not a *net.OpError with Op listen: %v", err, err)
	}
	t.Logf("Start: %v", err)
	return err
}

func wantMsg(t *testing.T, err error, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

// TestStartErrors: every start-up problem fails Start with an error that
// matches its sentinel and says what to do.
func TestStartErrors(t *testing.T) {
	bed := newBed(t, 1)
	base := func() Config { return testConfig(bed, 7100) }

	t.Run("interface missing", func(t *testing.T) {
		cfg := base()
		cfg.Interface = "nosuch0"
		err := startErr(t, cfg)
		if !errors.Is(err, ErrNoInterface) {
			t.Errorf("want ErrNoInterface, got %v", err)
		}
		wantMsg(t, err, "nosuch0", bed.Server.Link) // the ones present are listed
	})
	t.Run("address not on interface", func(t *testing.T) {
		cfg := base()
		cfg.Listen = []string{"198.18.0.77:7100"}
		err := startErr(t, cfg)
		if !errors.Is(err, ErrAddressNotOnInterface) {
			t.Errorf("want ErrAddressNotOnInterface, got %v", err)
		}
		wantMsg(t, err, "198.18.0.77", bed.Server.Link, "198.18.0.1")
	})
	t.Run("kernel listener", func(t *testing.T) {
		l := bed.Server.ListenTCP(t, testbed.HostPort(bed.Server.IPv4, 7100))
		defer l.Close()
		err := startErr(t, base())
		if !errors.Is(err, ErrKernelListener) {
			t.Errorf("want ErrKernelListener, got %v", err)
		}
		wantMsg(t, err, "7100")
	})
	t.Run("queues fewer than loops", func(t *testing.T) {
		cfg := base()
		cfg.Loops = 4
		err := startErr(t, cfg)
		if !errors.Is(err, ErrQueueCount) {
			t.Errorf("want ErrQueueCount, got %v", err)
		}
		wantMsg(t, err, "4", "ethtool")
	})
	t.Run("zero-copy on veth", func(t *testing.T) {
		cfg := base()
		cfg.ZeroCopy = ZeroCopyRequire
		err := startErr(t, cfg)
		if !errors.Is(err, ErrNoXDP) {
			t.Errorf("want ErrNoXDP, got %v", err)
		}
		wantMsg(t, err, "zero-copy", "ZeroCopyAuto", bed.Server.Link)
	})
	t.Run("no such namespace", func(t *testing.T) {
		cfg := base()
		cfg.Netns = "sluice-no-such-ns"
		err := startErr(t, cfg)
		wantMsg(t, err, "sluice-no-such-ns", "ip netns list")
	})
	t.Run("interface down", func(t *testing.T) {
		// Last: the bed's link stays down.
		defer bed.Server.Exec(context.Background(), "ip", "link", "set", bed.Server.Link, "up")
		if out, err := bed.Server.Exec(context.Background(), "ip", "link", "set", bed.Server.Link, "down"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		err := startErr(t, base())
		if !errors.Is(err, ErrInterfaceDown) {
			t.Errorf("want ErrInterfaceDown, got %v", err)
		}
		wantMsg(t, err, bed.Server.Link, "ip link set")
	})
	t.Run("after Close", func(t *testing.T) {
		s, err := NewServer(base(), NopHandler{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if err := s.Start(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Start after Close: %v, want net.ErrClosed", err)
		}
	})
}

// TestStartMTU: an MTU whose frames do not fit the UMEM frame size.
func TestStartMTU(t *testing.T) {
	bed := testbed.New(t, testbed.Options{MTU: 3000})
	cfg := testConfig(bed, 7101)
	cfg.FrameSize = 2048
	err := startErr(t, cfg)
	if !errors.Is(err, ErrMTU) {
		t.Errorf("want ErrMTU, got %v", err)
	}
	wantMsg(t, err, "3000", "2048")
	_ = os.Getpid
}
