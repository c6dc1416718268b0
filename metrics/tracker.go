package metrics

import "github.com/sluicenet/sluice/sched"

// Tracker wraps a sched.Handler and forwards every callback.
//
// Deprecated: the loops list their connections themselves
// (sched.Group.ListConns, Group(g).Conns, sluice.Server.Conns); a Tracker
// no longer records anything.
type Tracker struct {
	sched.Handler
}

// Track wraps h.
//
// Deprecated: use h itself.
func Track(h sched.Handler) *Tracker { return &Tracker{Handler: h} }

// OnWritable forwards to the wrapped handler when it has one.
func (t *Tracker) OnWritable(c *sched.Conn) {
	if w, ok := t.Handler.(sched.WritableHandler); ok {
		w.OnWritable(c)
	}
}
