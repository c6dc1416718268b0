package sched

import (
	"errors"
	"net"
	"time"

	"github.com/sluicenet/sluice/tcp"
)

// Per-connection options. The loop's tcp.Config is shared by its TCBs, so
// a connection whose options differ points its TCB (tcp.TCB.Reconfigure)
// at a variant: a copy of the family's Config differing only in NoDelay
// and the keepalive fields, made once per distinct combination and kept
// by the loop (at most maxVariants), so setting an option allocates only
// the first time a combination is used.

// optKey names a variant Config.
type optKey struct {
	v6          bool
	noDelay, ka bool
	idle, intvl time.Duration
	count       int
}

// maxVariants bounds the variant Configs a loop keeps.
const maxVariants = 64

// errTooManyVariants: more distinct option combinations than maxVariants.
var errTooManyVariants = errors.New("sched: too many distinct keepalive/NoDelay combinations on one loop (64): use fewer distinct values")

// variant returns the Config for k, making it on first use.
func (l *Loop) variant(k optKey) (*tcp.Config, error) {
	base := l.tcpCfg
	if k.v6 {
		base = l.tcpCfg6
	}
	if base.NoDelay == k.noDelay && base.KeepAlive == k.ka && base.KeepIdle == k.idle &&
		base.KeepInterval == k.intvl && base.KeepCount == k.count {
		return base, nil
	}
	if v, ok := l.variants[k]; ok {
		return v, nil
	}
	if len(l.variants) >= maxVariants {
		return nil, errTooManyVariants
	}
	v := *base
	v.NoDelay, v.KeepAlive, v.KeepIdle, v.KeepInterval, v.KeepCount = k.noDelay, k.ka, k.idle, k.intvl, k.count
	if err := v.Validate(); err != nil {
		return nil, err
	}
	if l.variants == nil {
		l.variants = make(map[optKey]*tcp.Config)
	}
	l.variants[k] = &v
	return &v, nil
}

// opts returns c's current option key.
func (c *Conn) opts() optKey {
	if c.ext != nil && c.ext.hasOpt {
		return c.ext.opt
	}
	l := c.loop
	base := l.configFor(c.key.Local().Addr())
	return optKey{
		v6:      base == l.tcpCfg6 && l.tcpCfg6 != l.tcpCfg || !c.key.Local().Addr().Unmap().Is4(),
		noDelay: base.NoDelay, ka: base.KeepAlive,
		idle: base.KeepIdle, intvl: base.KeepInterval, count: base.KeepCount,
	}
}

// setOpts applies k to c's TCB.
func (c *Conn) setOpts(k optKey) error {
	if c.tcb == nil || c.done || c.tcb.State() == tcp.Closed {
		return tcp.ErrClosed
	}
	l := c.loop
	cfg, err := l.variant(k)
	if err != nil {
		return err
	}
	e := c.extension()
	e.opt, e.hasOpt = k, true
	prev := l.enter(c)
	c.tcb.SetNoDelay(k.noDelay)
	c.tcb.Reconfigure(cfg, l.now)
	l.leave(prev)
	l.markDirty(c) // Reconfigure may have sent text and moved the Deadline
	return nil
}

// SetNoDelay switches Nagle's algorithm (RFC 9293 §3.7.4) off (true) or
// on for this connection, as TCP_NODELAY does; turning it off sends what
// Nagle was holding at once. Loop thread only.
func (c *Conn) SetNoDelay(on bool) error {
	if c.tcb == nil {
		return tcp.ErrClosed
	}
	k := c.opts()
	k.noDelay = on
	return c.setOpts(k)
}

// SetKeepAlive turns keepalive probes (RFC 9293 §3.8.4) on or off for this
// connection, with the loop's idle time, interval and count unless
// SetKeepAliveConfig set others. Loop thread only.
func (c *Conn) SetKeepAlive(on bool) error {
	return c.SetKeepAliveConfig(net.KeepAliveConfig{Enable: on})
}

// SetKeepAlivePeriod sets the idle time and the probe interval to d and
// turns keepalive on, as net.TCPConn's does. Loop thread only.
func (c *Conn) SetKeepAlivePeriod(d time.Duration) error {
	return c.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: d, Interval: d})
}

// SetKeepAliveConfig sets keepalive as net.TCPConn's does: Enable turns it
// on or off; Idle, Interval and Count replace the current values when
// positive (zero or negative keep them). The idle time restarts now.
// Loop thread only.
func (c *Conn) SetKeepAliveConfig(kc net.KeepAliveConfig) error {
	if c.tcb == nil {
		return tcp.ErrClosed
	}
	k := c.opts()
	k.ka = kc.Enable
	if kc.Idle > 0 {
		k.idle = kc.Idle
	}
	if kc.Interval > 0 {
		k.intvl = kc.Interval
	}
	if kc.Count > 0 {
		k.count = kc.Count
	}
	if k.ka && (k.idle <= 0 || k.intvl <= 0 || k.count <= 0) {
		return errors.New("sched: keepalive needs a positive idle time, interval and count")
	}
	return c.setOpts(k)
}

// Writev writes the buffers in order, as one Write of their concatenation
// would (without building it): the send buffer takes what fits and the
// rest is held (see Write). It returns the octets queued. Loop thread
// only.
func (c *Conn) Writev(bufs [][]byte) (int, error) {
	n := 0
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		m, err := c.Write(b)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
