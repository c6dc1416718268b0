// Package cli is the command-line scaffolding the example programs share:
// the -cores list, the -v logger, and the wait for SIGINT/SIGTERM that ends
// in a graceful shutdown.
package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Cores parses a -cores comma list of CPU numbers ("" is none: the
// default placement).
func Cores(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var cores []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("-cores: %v", err)
		}
		cores = append(cores, n)
	}
	return cores, nil
}

// Logger logs to standard error: warnings, and with -v also start-up and
// shutdown.
func Logger(verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// Signals is done on the first SIGINT or SIGTERM; take it before starting
// the server so a signal during start-up is not lost.
func Signals() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// Server is what Wait stops: an example's started server.
type Server interface {
	Done() <-chan struct{}
	Shutdown(context.Context) error
	Close() error
}

// Wait blocks until sig is done or s stops by itself. On a signal it shuts
// s down gracefully within timeout and reports graceful; if s stopped by
// itself it closes it.
func Wait(sig context.Context, s Server, timeout time.Duration) (graceful bool, err error) {
	select {
	case <-sig.Done():
	case <-s.Done():
		return false, s.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return true, s.Shutdown(ctx)
}
