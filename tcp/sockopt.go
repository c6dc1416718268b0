package tcp

// Per-connection socket options the owner changes after the TCB exists
// (TCP_NODELAY, SO_KEEPALIVE and its TCP_KEEPIDLE/KEEPINTVL/KEEPCNT).
// Config is shared read-only by a loop's TCBs, so an owner that wants one
// connection to differ keeps a few variant Configs (copies of its own,
// differing only in those fields) and points the TCB at one.

// Reconfigure points the TCB at cfg, which must differ from the Config it
// was opened with only in NoDelay, KeepAlive, KeepIdle, KeepInterval and
// KeepCount (the MSS, buffers, timers and keys must be the same). The
// keepalive timer restarts from now under the new settings (RFC 9293
// §3.8.4: the idle time counts from the last segment; setting the option
// anew restarts it, as Linux's tcp_set_keepalive does), and with NoDelay
// on, text Nagle was holding is sent at once (as setting TCP_NODELAY
// pushes pending frames in Linux).
func (t *TCB) Reconfigure(cfg *Config, now Instant) {
	t.cfg = cfg
	t.keepAt = Never
	t.keepProbes = 0
	t.armKeepalive(now)
	if cfg.NoDelay {
		t.trySend(now)
	}
}
