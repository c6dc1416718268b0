package main

import (
	"fmt"

	"github.com/asavie/xdp"

	"github.com/sluicenet/sluice/afxdp"
	"github.com/sluicenet/sluice/testbed"
)

// afxdpReflector runs an afxdp.Reflector on a socket registered with the same
// redirect-everything program the asavie/xdp reflector uses.
type afxdpReflector struct {
	prog *xdp.Program
	umem *afxdp.Umem
	sock *afxdp.Socket
	refl *afxdp.Reflector
	host *testbed.Host
}

func (a *afxdpReflector) name() string { return "afxdp" }

func (a *afxdpReflector) open(h *testbed.Host) (err error) {
	a.host = h
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if a.prog, err = attachRedirectAll(h); err != nil {
		return err
	}
	a.umem, err = afxdp.NewUmem(afxdp.UmemConfig{FrameSize: 2048, FrameCount: reflectorFramesInUMEM,
		FillSize: reflectorRing, CompletionSize: reflectorRing})
	if err != nil {
		return fmt.Errorf("afxdp umem: %w", err)
	}
	a.sock, err = afxdp.NewSocket(a.umem, h.Ifindex, 0, afxdp.SocketConfig{RxSize: reflectorRing, TxSize: reflectorRing})
	if err != nil {
		return fmt.Errorf("afxdp socket: %w", err)
	}
	if err := a.prog.Register(0, a.sock.Fd()); err != nil {
		return fmt.Errorf("register afxdp socket: %w", err)
	}
	a.refl = afxdp.NewReflector(a.sock, a.umem.NewPool(0, reflectorFramesInUMEM))
	return nil
}

func (a *afxdpReflector) loop(stop <-chan struct{}) (uint64, error) {
	st, err := a.refl.Run(stop)
	return st.Packets, err
}

func (a *afxdpReflector) close() error {
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	if a.sock != nil {
		keep(a.sock.Close())
	}
	if a.umem != nil {
		keep(a.umem.Close())
	}
	if a.prog != nil {
		keep(detachRedirectAll(a.host, a.prog))
	}
	*a = afxdpReflector{}
	return first
}
