package main

// NAPI deferral (defer-hard-irqs and gro-flush-timeout) on the server's
// veth end. sluice sets it itself, by default (sluice.Config's
// NAPIDeferHardIRQs and NAPIFlushTimeout; -napi-defer and -napi-flush
// reach the child in envNAPIDefer); the -nodefer variants run sluice
// without it, and gnet-defer runs gnet with the bench setting sluice's
// values on the device before it starts. Every server's start snapshots
// the device's NAPI settings and its stop puts them back: a child is
// killed, so sluice's own Close never restores them, and the next server
// must find the device's defaults.

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/sluicenet/sluice"
	"github.com/sluicenet/sluice/afxdp"
	"github.com/sluicenet/sluice/testbed"
)

const envNAPIDefer = "SLUICE_BENCH_NAPI_DEFER"

// napiDeferConfig is a variant's deferral.
type napiDeferConfig struct {
	deferIRQs int
	flush     time.Duration
}

// napiDefer is the parent's choice, from its flags (0: sluice's
// defaults).
var napiDefer napiDeferConfig

// napiDeferOff is the -nodefer variants' (sluice: leave the device alone).
var napiDeferOff = napiDeferConfig{deferIRQs: -1}

// orDefaults fills sluice's defaults into d's zero fields, for a server
// other than sluice.
func (d napiDeferConfig) orDefaults() napiDeferConfig {
	if d.deferIRQs == 0 {
		d.deferIRQs = sluice.DefaultNAPIDeferHardIRQs
	}
	if d.flush == 0 {
		d.flush = sluice.DefaultNAPIFlushTimeout
	}
	return d
}

func (d napiDeferConfig) String() string { return fmt.Sprintf("%d,%v", d.deferIRQs, d.flush) }

func (d *napiDeferConfig) parse(s string) error {
	a, b, ok := strings.Cut(s, ",")
	if !ok {
		return fmt.Errorf("%q: want defer,flush", s)
	}
	var err error
	if d.deferIRQs, err = strconv.Atoi(a); err != nil {
		return err
	}
	d.flush, err = time.ParseDuration(b)
	return err
}

// napiState is the server end's NAPI settings before a server started.
type napiState struct {
	h     *testbed.Host
	saved []afxdp.NAPI
}

// saveNAPI reads the NAPI settings of h's link.
func saveNAPI(h *testbed.Host) (*napiState, error) {
	st := &napiState{h: h}
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(h.Link)
		if err != nil {
			return err
		}
		st.saved, err = afxdp.ListNAPI(ifi.Index)
		return err
	})
	return st, err
}

// set gives every instance the deferral d.
func (st *napiState) set(d napiDeferConfig) error {
	return st.h.Do(func() error {
		_, err := afxdp.DeferNAPI(st.saved, uint32(d.deferIRQs), d.flush)
		return err
	})
}

// restore puts the saved settings back.
func (st *napiState) restore() error {
	if st == nil {
		return nil
	}
	return st.h.Do(func() error {
		for _, n := range st.saved {
			if err := afxdp.SetNAPI(n); err != nil {
				return err
			}
		}
		return nil
	})
}
