package testbed

import (
	"sync"
	"testing"
)

// Workers runs fn(w, i) for i in 0..each-1 on each of workers goroutines
// (a load of concurrent clients, as the HTTP system tests make) and reports
// every worker's first error through tb. A worker stops at its first error.
func Workers(tb testing.TB, workers, each int, fn func(w, i int) error) {
	tb.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := fn(w, i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Error(err)
	}
}
