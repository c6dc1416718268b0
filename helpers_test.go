package sluice

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicenet/sluice/testbed"
)

// testConfig serves port on the bed's server end: both families, copy
// mode (veth), short TIME-WAIT so tests do not hold 4-tuples.
func testConfig(bed *testbed.Bed, port int) Config {
	return Config{
		Interface: bed.Server.Link,
		Netns:     bed.Server.Name,
		Listen:    bed.Server.Listen(port),
		Loops:     bed.Server.Queues,
		Cores:     []int{-1},
		MSL:       250 * time.Millisecond,
		BusyPoll:  -1,
	}
}

// logSink collects slog records as text, for tests that check the
// start-up line.
type logSink struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logSink) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startServer starts a server on the bed and closes it at cleanup.
func startServer(t *testing.T, cfg Config, h Handler) *Server {
	t.Helper()
	s, err := NewServer(cfg, h)
	return testbed.StartServer(t, s, err)
}

func newBed(t *testing.T, queues int) *testbed.Bed {
	t.Helper()
	return testbed.New(t, testbed.Options{Queues: queues})
}
