package sluice

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// inNetns runs fn in the network namespace Config.Netns names, on a
// locked OS thread (namespaces are per thread); "" runs fn directly.
// Netlink queries, the XDP attach and the AF_XDP binds resolve the
// interface in the calling thread's namespace, and sockets made there stay
// there. A thread that cannot switch back is left locked, so it dies with
// its goroutine instead of serving other goroutines in the wrong
// namespace.
func inNetns(name string, fn func() error) error {
	if name == "" {
		return fn()
	}
	done := make(chan error, 1)
	go func() {
		err := fmt.Errorf("sluice: network namespace %q: the function exited its goroutine", name)
		defer func() { done <- err }()
		runtime.LockOSThread()
		orig, gerr := netns.Get()
		if gerr != nil {
			err = fmt.Errorf("sluice: reading this thread's network namespace: %w", gerr)
			return
		}
		defer orig.Close()
		ns, gerr := netns.GetFromName(name)
		if gerr != nil {
			err = fmt.Errorf("sluice: Config.Netns %q: no such network namespace (`ip netns list` shows the names): %w", name, gerr)
			runtime.UnlockOSThread()
			return
		}
		defer ns.Close()
		if serr := netns.Set(ns); serr != nil {
			err = fmt.Errorf("sluice: entering network namespace %q (needs CAP_SYS_ADMIN): %w", name, serr)
			return
		}
		err = fn()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return <-done
}
