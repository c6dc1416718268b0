package sluice

import (
	"strings"

	"github.com/sluicenet/sluice/sched"
	"github.com/sluicenet/sluice/tcp"
)

// tcpConfig is the engine configuration every loop shares: Linux's
// defaults (sched.DefaultTCPConfig: RFC 6528 ISNs, SYN cookies) with
// Config's knobs applied, and the MSS the link's MTU allows.
func (s *Server) tcpConfig(mtu int) (*tcp.Config, int, error) {
	tc, err := sched.DefaultTCPConfig()
	if err != nil {
		return nil, 0, err
	}
	c := &s.cfg
	// RFC 9293 §3.7.1: MSS is the MTU less the fixed IP and TCP headers;
	// the loops take each family's from LoopConfig.MTU, this is IPv4's.
	if mtu > 40+64 {
		tc.MSS = uint16(min(mtu-40, 65535))
	}
	tc.SendBuffer = orInt(c.WriteBuffer, DefaultBuffer)
	tc.RecvBuffer = orInt(c.ReadBuffer, DefaultBuffer)
	tc.MSL = orDur(c.MSL, DefaultMSL)
	tc.NoDelay = !c.Nagle
	if ka := c.KeepAlive; ka.Enable {
		tc.KeepAlive = true
		tc.KeepIdle = orDur(ka.Idle, DefaultKeepAliveIdle)
		tc.KeepInterval = orDur(ka.Interval, DefaultKeepAliveInterval)
		tc.KeepCount = orInt(ka.Count, DefaultKeepAliveCount)
	}
	tc.AcceptBacklog = orInt(c.Backlog, DefaultBacklog)
	tc.SynBacklog = orInt(c.SynBacklog, DefaultSynBacklog)
	tc.SynCookies = !c.NoSynCookies && tc.Cookies != nil
	tc.CC, _ = congestion(c.Congestion)
	if err := tc.Validate(); err != nil {
		return nil, 0, cfgErr("(TCP)", "%v", err)
	}
	return tc, int(tc.MSS), nil
}

// congestion maps Config.Congestion to the engine's controller.
func congestion(name string) (tcp.Algorithm, bool) {
	switch strings.ToLower(name) {
	case "", "cubic":
		return tcp.CUBIC, true
	case "reno", "newreno":
		return tcp.NewReno, true
	}
	return 0, false
}
