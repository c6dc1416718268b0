package sluice

import (
	"errors"
	"fmt"
	"log/slog"

	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/afxdp"
)

// napiDeferral is the NAPI deferral Start set (Config.NAPIDeferHardIRQs,
// NAPIFlushTimeout) and what each instance had before, for Close to
// restore.
type napiDeferral struct {
	netns string
	saved []afxdp.NAPI
}

// deferNAPI sets the deferral on every NAPI instance of the device with
// ifindex, as cfg asks; nil when it asks for none, or when the default
// cannot be applied (logged). It runs after the program is attached:
// veth runs NAPI only with GRO or an XDP program.
func deferNAPI(cfg Config, ifindex int, log *slog.Logger) (*napiDeferral, error) {
	if cfg.NAPIDeferHardIRQs < 0 {
		return nil, nil
	}
	n := uint32(orInt(cfg.NAPIDeferHardIRQs, DefaultNAPIDeferHardIRQs))
	t := cfg.NAPIFlushTimeout
	if t == 0 {
		t = DefaultNAPIFlushTimeout
	}
	d := &napiDeferral{netns: cfg.Netns}
	err := inNetns(cfg.Netns, func() error {
		list, err := afxdp.ListNAPI(ifindex)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			return fmt.Errorf("%s lists no NAPI instance", cfg.Interface)
		}
		k, err := afxdp.DeferNAPI(list, n, t)
		d.saved = list[:k]
		return err
	})
	if err == nil {
		log.Info("sluice: NAPI deferral", "interface", cfg.Interface, "instances", len(d.saved),
			"defer_hard_irqs", n, "gro_flush_timeout", t)
		return d, nil
	}
	d.restore()
	if cfg.NAPIDeferHardIRQs == 0 {
		log.Warn("sluice: running without NAPI deferral (Config.NAPIDeferHardIRQs -1 silences this)",
			"interface", cfg.Interface, "err", err)
		return nil, nil
	}
	return nil, fmt.Errorf("sluice: Config.NAPIDeferHardIRQs: NAPI deferral on %s (-1 runs without): %w", cfg.Interface, err)
}

// restore puts back the settings deferNAPI found. An instance that is
// gone (the device, or veth's NAPI with the program, or the namespace
// with both) needs nothing.
func (d *napiDeferral) restore() error {
	if d == nil || len(d.saved) == 0 {
		return nil
	}
	entered := false
	err := inNetns(d.netns, func() error {
		entered = true
		var first error
		for _, x := range d.saved {
			err := afxdp.SetNAPI(x)
			if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) && first == nil {
				first = err
			}
		}
		return first
	})
	d.saved = nil
	if err != nil && entered {
		return fmt.Errorf("sluice: restoring NAPI deferral: %w", err)
	}
	return nil
}
