package sluice

import (
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

// TestValidate: Validate names the field and says what to do, touching
// nothing on the system (it runs unprivileged, with no such interface).
func TestValidate(t *testing.T) {
	ok := func() Config { return Config{Interface: "eth0", Listen: []string{":8080"}} }
	for _, c := range []struct {
		name  string
		edit  func(*Config)
		field string // "" means valid
		msg   string
	}{
		{"minimal", func(*Config) {}, "", ""},
		{"everything set", func(c *Config) {
			c.Listen = []string{"198.18.0.1:80", "[2001:2::1]:80", "0.0.0.0:81", "[::]:81"}
			c.Loops, c.Cores = 2, []int{0, 1}
			c.ZeroCopy, c.XDPMode = ZeroCopyRequire, XDPDriver
			c.FrameSize, c.FrameCount = 2048, 8192
			c.ReadBuffer, c.WriteBuffer, c.WriteQueueLimit = 1<<20, 1<<20, 1<<20
			c.ReadBufferMax, c.WriteBufferMax = 8<<20, 8<<20
			c.MSL = time.Second
			c.KeepAlive = net.KeepAliveConfig{Enable: true, Idle: time.Minute}
			c.Nagle, c.Backlog, c.SynBacklog, c.NoSynCookies = true, 1024, 1024, true
			c.Congestion, c.MaxConns = "reno", 10000
		}, "", ""},
		{"unpinned", func(c *Config) { c.Cores = []int{-1} }, "", ""},
		{"no interface", func(c *Config) { c.Interface = "" }, "Interface", "name the network device"},
		{"long interface", func(c *Config) { c.Interface = "averyveryverylongname" }, "Interface", "at most 15"},
		{"netns path", func(c *Config) { c.Netns = "/var/run/netns/x" }, "Netns", "not a path"},
		{"no port", func(c *Config) { c.Listen = []string{"198.18.0.1"} }, "Listen[0]", "host:port"},
		{"port zero", func(c *Config) { c.Listen = []string{":0"} }, "Listen[0]", "1 to 65535"},
		{"host name", func(c *Config) { c.Listen = []string{"localhost:80"} }, "Listen[0]", "not an IP address"},
		{"zone", func(c *Config) { c.Listen = []string{"[fe80::1%eth0]:80"} }, "Listen[0]", "drop the zone"},
		{"multicast", func(c *Config) { c.Listen = []string{"224.0.0.1:80"} }, "Listen[0]", "multicast"},
		{"duplicate", func(c *Config) { c.Listen = []string{":80", ":80"} }, "Listen[1]", "repeats Listen[0]"},
		{"loops", func(c *Config) { c.Loops = -1 }, "Loops", "0 for one per RX queue"},
		{"core", func(c *Config) { c.Cores = []int{0, -1} }, "Cores[1]", "not a CPU"},
		{"zero-copy mode", func(c *Config) { c.ZeroCopy = 7 }, "ZeroCopy", "ZeroCopyAuto"},
		{"xdp mode", func(c *Config) { c.XDPMode = 9 }, "XDPMode", "XDPGeneric"},
		{"zero-copy generic", func(c *Config) { c.ZeroCopy, c.XDPMode = ZeroCopyRequire, XDPGeneric }, "ZeroCopy", "driver mode"},
		{"frame size", func(c *Config) { c.FrameSize = 3000 }, "FrameSize", "2048 or 4096"},
		{"frame count", func(c *Config) { c.FrameCount = 1000 }, "FrameCount", "power of two"},
		{"read buffer", func(c *Config) { c.ReadBuffer = 100 }, "ReadBuffer", "4096 octets to 1 GiB"},
		{"write buffer", func(c *Config) { c.WriteBuffer = 2 << 30 }, "WriteBuffer", "4096 octets to 1 GiB"},
		{"read buffer max", func(c *Config) { c.ReadBufferMax = 32 << 10 }, "ReadBufferMax", "ReadBuffer (65536) to 1 GiB"},
		{"write buffer max", func(c *Config) { c.WriteBuffer, c.WriteBufferMax = 1<<20, 512<<10 }, "WriteBufferMax", "WriteBuffer (1048576) to 1 GiB"},
		{"buffer max over 1 GiB", func(c *Config) { c.ReadBufferMax = 2 << 30 }, "ReadBufferMax", "to 1 GiB"},
		{"no auto-tuning", func(c *Config) { c.ReadBufferMax, c.WriteBufferMax = -1, -1 }, "", ""},
		{"write queue", func(c *Config) { c.WriteQueueLimit = -1 }, "WriteQueueLimit", "negative"},
		{"msl", func(c *Config) { c.MSL = time.Hour }, "MSL", "1ms to 10m"},
		{"keepalive", func(c *Config) { c.KeepAlive.Idle = -1 }, "KeepAlive", "Enable false"},
		{"backlog", func(c *Config) { c.Backlog = -5 }, "Backlog", "1..1048576"},
		{"syn backlog", func(c *Config) { c.SynBacklog = 1 << 21 }, "SynBacklog", "1..1048576"},
		{"congestion", func(c *Config) { c.Congestion = "vegas" }, "Congestion", "not built in"},
		{"bbr", func(c *Config) { c.Congestion = "BBR" }, "", ""},
		{"run priority alone", func(c *Config) { c.XDPRunPriority = 10 }, "XDPRunPriority", "without XDPDispatcher"},
		{"run priority", func(c *Config) { c.XDPDispatcher, c.XDPRunPriority = true, 10 }, "", ""},
		{"negative priority", func(c *Config) { c.XDPDispatcher, c.XDPRunPriority = true, -1 }, "XDPRunPriority", "negative"},
		{"socket busy poll", func(c *Config) { c.SocketBusyPoll = time.Nanosecond }, "SocketBusyPoll", "1µs"},
		{"max conns", func(c *Config) { c.MaxConns = -1 }, "MaxConns", "no limit"},
		{"time-wait max", func(c *Config) { c.TimeWaitMax = -1 }, "TimeWaitMax", "tcp_max_tw_buckets"},
		{"shutdown timeout", func(c *Config) { c.ShutdownTimeout = -time.Second }, "ShutdownTimeout", "negative"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok()
			c.edit(&cfg)
			err := cfg.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Validate: %v, want a *ConfigError", err)
			}
			if ce.Field != c.field || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("Validate: field %q, %q; want field %q mentioning %q", ce.Field, err, c.field, c.msg)
			}
			if !strings.Contains(err.Error(), "Config."+c.field) {
				t.Fatalf("message %q does not name Config.%s", err, c.field)
			}
			if _, err := NewServer(cfg, NopHandler{}); err == nil {
				t.Fatal("NewServer accepted the config")
			}
		})
	}
}

// TestValidateAll: every problem is reported at once.
func TestValidateAll(t *testing.T) {
	cfg := Config{Listen: []string{"x"}, FrameSize: 1, MSL: -1}
	err := cfg.Validate()
	for _, f := range []string{"Config.Interface", "Config.Listen[0]", "Config.FrameSize", "Config.MSL"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("joined error %v lacks %s", err, f)
		}
	}
}

// TestListenParse: the address forms Listen takes.
func TestListenParse(t *testing.T) {
	for in, want := range map[string]string{
		":80":                    "invalid AddrPort", // zero Addr: both families
		"198.18.0.1:80":          "198.18.0.1:80",
		"[::ffff:198.18.0.1]:80": "198.18.0.1:80", // v4-mapped counts as IPv4
		"[2001:2::1]:443":        "[2001:2::1]:443",
		"0.0.0.0:1":              "0.0.0.0:1",
	} {
		ap, err := parseListen(in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got := ap.String(); got != want {
			if !(want == "invalid AddrPort" && !ap.Addr().IsValid() && ap.Port() == 80) {
				t.Errorf("%s: %s, want %s", in, got, want)
			}
		}
	}
}

// TestActionString and friends keep the names stable in logs.
func TestStrings(t *testing.T) {
	if None.String() != "None" || Close.String() != "Close" || Shutdown.String() != "Shutdown" {
		t.Error("Action names")
	}
	if ZeroCopyRequire.String() != "require" || XDPGeneric.String() != "generic" {
		t.Error("mode names")
	}
}

// TestReasons: the close reasons match their errnos and themselves only.
func TestReasons(t *testing.T) {
	all := []error{ErrPeerClosed, ErrReset, ErrTimeout, ErrAborted, ErrRefused, ErrServerClosed}
	for i, a := range all {
		for j, b := range all {
			if errors.Is(a, b) != (i == j) {
				t.Errorf("errors.Is(%v, %v) = %v", a, b, i != j)
			}
		}
	}
	var ne net.Error
	if !errors.As(ErrTimeout, &ne) || !ne.Timeout() {
		t.Error("ErrTimeout is not a net.Error with Timeout")
	}
	if !errors.Is(ErrServerClosed, net.ErrClosed) {
		t.Error("ErrServerClosed does not match net.ErrClosed")
	}
}

// The auto-tuning bounds reach the engine: the engine's defaults (Linux's
// tcp_rmem and tcp_wmem maxima), the Config's when set, none when
// negative.
func TestTCPConfigBufferMax(t *testing.T) {
	for _, c := range []struct {
		name       string
		rmax, wmax int
		rcv, snd   int
	}{
		{"default", 0, 0, 6 << 20, 4 << 20},
		{"set", 1 << 20, 2 << 20, 1 << 20, 2 << 20},
		{"off", -1, -1, 0, 0},
	} {
		s := &Server{cfg: Config{ReadBufferMax: c.rmax, WriteBufferMax: c.wmax, MemoryLimit: -1}, log: slog.New(slog.DiscardHandler)}
		tc, _, err := s.tcpConfig(1500)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if tc.RecvBufferMax != c.rcv || tc.SendBufferMax != c.snd || tc.RecvBuffer != DefaultBuffer {
			t.Errorf("%s: RecvBufferMax %d SendBufferMax %d RecvBuffer %d, want %d %d %d", c.name, tc.RecvBufferMax, tc.SendBufferMax, tc.RecvBuffer, c.rcv, c.snd, DefaultBuffer)
		}
	}
}
