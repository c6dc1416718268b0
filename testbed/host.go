package testbed

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"runtime"

	"github.com/vishvananda/netns"
)

// Do runs fn on a locked OS thread inside h's namespace and returns its
// error. Sockets opened and XDP programs attached in fn stay in that
// namespace after fn returns. Goroutines fn starts run in the caller's
// namespace, not h's. The thread is discarded if it cannot switch back.
func (h *Host) Do(fn func() error) error { return doIn(h.ns, h.Name, fn) }

func doIn(ns netns.NsHandle, name string, fn func() error) error {
	c := make(chan error, 1)
	go func() {
		// fn may end the goroutine with runtime.Goexit (t.Fatal): the
		// deferred send still reports, and the locked thread, possibly
		// still in h's namespace, dies with the goroutine.
		err := errors.New("testbed: Do: fn exited its goroutine (t.Fatal or runtime.Goexit inside Do)")
		defer func() { c <- err }()
		runtime.LockOSThread()
		orig, gerr := netns.Get()
		if gerr != nil {
			err = gerr
			return
		}
		defer orig.Close()
		if serr := netns.Set(ns); serr != nil {
			err = fmt.Errorf("enter netns %s: %w", name, serr)
			return
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic in %s: %v", name, r)
				}
			}()
			err = fn()
		}()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return <-c
}

// Command returns a command that runs inside h's namespace
// (`ip netns exec`).
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return commandIn(ctx, h.Name, name, args...)
}

// Exec runs a command inside h's namespace and returns its combined output.
func (h *Host) Exec(ctx context.Context, name string, args ...string) (string, error) {
	return execIn(ctx, h.Name, name, args...)
}

func commandIn(ctx context.Context, ns, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

func execIn(ctx context.Context, ns, name string, args ...string) (string, error) {
	out, err := commandIn(ctx, ns, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s in %s: %w: %s", name, ns, err, out)
	}
	return string(out), nil
}
