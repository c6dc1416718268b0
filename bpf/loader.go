//go:build linux

package bpf

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Mode is how the program is attached to the device.
type Mode int

const (
	// ModeNone: loaded but not attached (Options.Ifindex was 0).
	ModeNone Mode = iota
	// ModeDriver is native XDP: the program runs in the driver before any
	// sk_buff is built. Fastest, and needed for AF_XDP zero-copy.
	ModeDriver
	// ModeGeneric (skb mode) runs after the sk_buff is built; it works on
	// every device, at a fraction of the speed, copy mode only.
	ModeGeneric
)

func (m Mode) String() string {
	switch m {
	case ModeNone:
		return "none"
	case ModeDriver:
		return "driver"
	case ModeGeneric:
		return "generic"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

func (m Mode) flags() link.XDPAttachFlags {
	if m == ModeGeneric {
		return link.XDPGenericMode
	}
	return link.XDPDriverMode
}

// Options configure Load.
type Options struct {
	// Ifindex is the device to attach to, as seen from the calling
	// thread's network namespace (attach inside the device's namespace,
	// e.g. in testbed's Host.Do). 0 loads the program without attaching it.
	Ifindex int
	// Mode forces driver or generic mode. ModeNone (the zero value) tries
	// driver mode and falls back to generic mode.
	Mode Mode
	// Replace detaches an XDP program someone else attached to the device.
	// Without it, Load refuses and names that program's id.
	Replace bool
	// Dispatcher attaches the program as a component of a libxdp
	// multi-program dispatcher (dispatcher.go) instead of alone: it joins
	// the dispatcher already on the device (xdp-loader's, another
	// libxdp user's) or builds one, so other XDP programs keep running
	// beside it. Frames it does not steer go on to the programs after it
	// (chain call on XDP_PASS). Its place stays (pinned in bpffs) until
	// Close, or until a libxdp tool removes it.
	Dispatcher bool
	// RunPriority places the program among a dispatcher's components
	// (lower runs first); 0 takes the program's compiled-in priority
	// (ProgramRunConfig: 50, libxdp's default).
	RunPriority int
	// MaxFlows sizes the dialed-flows map; 0 means MaxFlows (65536).
	// Its memory is allocated up front (about 100 octets per entry).
	MaxFlows int
}

// Program is the loaded steering program, its maps and, once attached, the
// bpf_link that keeps it on the device. The link belongs to this process:
// closing it (Close, or the process dying) removes the program from the
// device, so a crashed server never leaves frames vanishing into a dead
// socket. Methods are safe for concurrent use.
type Program struct {
	mu      sync.Mutex
	objs    steerObjects
	lnk     link.Link
	mode    Mode
	ifindex int
	veth    bool // the device is a veth (rtnetlink kind), read at attach
	closed  bool
	// dispatched: attached as a component of a libxdp dispatcher in the
	// network namespace ns (Options.Dispatcher), not through lnk.
	dispatched bool
	ns         netns.NsHandle
	// ports mirrors the ports map: how many listen and flow entries
	// name each local port ([portListen], [portFlow]).
	ports map[uint16]*[2]int
}

// Load loads the program and its maps into the kernel and, if o.Ifindex is
// set, attaches it to that device.
func Load(o Options) (*Program, error) {
	spec, err := loadSteer()
	if err != nil {
		return nil, fmt.Errorf("bpf: %w", err)
	}
	if o.MaxFlows < 0 {
		return nil, fmt.Errorf("bpf: Options.MaxFlows %d < 0", o.MaxFlows)
	}
	if o.MaxFlows > 0 {
		spec.Maps[steerMapFlows].MaxEntries = uint32(o.MaxFlows)
	}
	p := &Program{ports: map[uint16]*[2]int{}, ns: -1}
	if o.Dispatcher {
		if o.Ifindex == 0 {
			return nil, errors.New("bpf: Options.Dispatcher needs Options.Ifindex")
		}
		if err := p.join(spec, o); err != nil {
			p.objs.Close()
			return nil, err
		}
		return p, nil
	}
	if err := spec.LoadAndAssign(&p.objs, nil); err != nil {
		return nil, loadError(err)
	}
	if o.Ifindex != 0 {
		if err := p.attach(o); err != nil {
			p.objs.Close()
			return nil, err
		}
	}
	return p, nil
}

// loadError turns the verifier's and the kernel's refusals into advice.
func loadError(err error) error {
	var ve *ebpf.VerifierError
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, os.ErrPermission):
		return fmt.Errorf("bpf: loading the XDP program needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN (for the XSKMAP): %s: %w", privilegeAdvice(), err)
	case errors.As(err, &ve) && missingCaps() != "":
		// Without CAP_PERFMON the verifier refuses packet pointer
		// arithmetic: a privilege problem, not an old kernel.
		return fmt.Errorf("bpf: the verifier refused the XDP program for lack of privilege: %s: %w", privilegeAdvice(), err)
	case errors.As(err, &ve):
		return fmt.Errorf("bpf: the kernel's verifier rejected the XDP program (kernel too old? sluice needs Linux >= 5.10): %w", err)
	}
	return fmt.Errorf("bpf: load XDP program: %w", err)
}

// attach checks that nobody else's program is on the device, then links
// ours in driver mode, falling back to generic mode.
func (p *Program) attach(o Options) error {
	l, err := netlink.LinkByIndex(o.Ifindex)
	if err != nil {
		return fmt.Errorf("bpf: attach: no device with ifindex %d in this network namespace (attach from inside the device's namespace): %w", o.Ifindex, err)
	}
	name := l.Attrs().Name
	p.veth = l.Type() == "veth"
	if x := l.Attrs().Xdp; x != nil && x.Attached {
		owner, err := findXDPLink(uint32(o.Ifindex), x.ProgId)
		if err != nil {
			return fmt.Errorf("bpf: %s: look for the owner of XDP program id %d: %w", name, x.ProgId, err)
		}
		if !o.Replace {
			how := fmt.Sprintf("ip link set dev %s xdp off", name)
			if isDispatcher(x.ProgId) {
				how = "it is a libxdp dispatcher: set Options.Dispatcher to run beside its programs"
			}
			if owner != nil {
				how = fmt.Sprintf("it is held by bpf_link id %d of a running process: stop it, or bpftool link detach id %d", owner.id, owner.id)
				owner.lnk.Close()
			}
			return fmt.Errorf("bpf: %s (ifindex %d) already has XDP program id %d attached in %s mode by someone else; detach it (%s) or set Options.Replace: %w",
				name, o.Ifindex, x.ProgId, attachModeName(x.AttachMode), how, ErrForeignProgram)
		}
		if err := detachForeign(l, x, owner); err != nil {
			return fmt.Errorf("bpf: %s: replace XDP program id %d: %w", name, x.ProgId, err)
		}
	}

	modes := []Mode{ModeDriver, ModeGeneric}
	if o.Mode != ModeNone {
		modes = []Mode{o.Mode}
	}
	var errs []error
	for _, m := range modes {
		lnk, err := link.AttachXDP(link.XDPOptions{
			Program:   p.objs.SluiceSteer,
			Interface: o.Ifindex,
			Flags:     m.flags(),
		})
		if err == nil {
			p.lnk, p.mode, p.ifindex = lnk, m, o.Ifindex
			return nil
		}
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return fmt.Errorf("bpf: attaching XDP to %s needs CAP_NET_ADMIN and CAP_BPF: %s: %w", name, privilegeAdvice(), err)
		}
		if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EEXIST) {
			// Raced with someone attaching between our check and now.
			return fmt.Errorf("bpf: %s already has an XDP program attached (by someone else, just now); set Options.Replace to take over: %w", name, ErrForeignProgram)
		}
		if m == ModeDriver && errors.Is(err, unix.ERANGE) {
			// The program is single-buffer (no xdp.frags); drivers
			// refuse it when a frame may not fit one page.
			err = fmt.Errorf("MTU too large for single-buffer native XDP (lower it to at most ~3500 octets, or use generic mode): %w", err)
		}
		errs = append(errs, fmt.Errorf("%s mode: %w", m, err))
	}
	return fmt.Errorf("bpf: cannot attach XDP to %s (ifindex %d) in %s (does the device support XDP?): %w", name, o.Ifindex, modesText(modes), errors.Join(errs...))
}

func modesText(ms []Mode) string {
	if len(ms) == 1 {
		return ms[0].String() + " mode"
	}
	return "driver or generic mode"
}

// ErrForeignProgram is wrapped by Load's error when the device already runs
// an XDP program that is not ours and Options.Replace is not set.
var ErrForeignProgram = errors.New("XDP program of someone else attached")

// IFLA_XDP_ATTACHED values (include/uapi/linux/if_link.h).
const (
	xdpAttachedDrv   = 1
	xdpAttachedSkb   = 2
	xdpAttachedHw    = 3
	xdpAttachedMulti = 4
)

func attachModeName(m uint32) string {
	switch m {
	case xdpAttachedDrv:
		return "driver"
	case xdpAttachedSkb:
		return "generic"
	case xdpAttachedHw:
		return "offload"
	case xdpAttachedMulti:
		return "several"
	}
	return fmt.Sprintf("unknown (%d)", m)
}

type xdpLinkRef struct {
	id  link.ID
	lnk link.Link
}

// findXDPLink returns the bpf_link that holds program progID on device
// ifindex, or nil if the program was attached through netlink. Link info
// names an ifindex without a namespace, so the program id disambiguates.
func findXDPLink(ifindex, progID uint32) (*xdpLinkRef, error) {
	it := new(link.Iterator)
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil || info.XDP() == nil {
			continue
		}
		if info.XDP().Ifindex == ifindex && (progID == 0 || uint32(info.Program) == progID) {
			return &xdpLinkRef{id: it.ID, lnk: it.Take()}, nil
		}
	}
	return nil, it.Err()
}

// detachForeign removes the device's XDP program. A program attached
// through a bpf_link (as sluice attaches) cannot be removed by netlink, so
// its link is detached (BPF_LINK_DETACH; the owner keeps a dead link fd);
// a legacy netlink attachment (ip link set xdp ...) is removed by netlink.
func detachForeign(l netlink.Link, x *netlink.LinkXdp, owner *xdpLinkRef) error {
	if owner != nil {
		defer owner.lnk.Close()
		if err := owner.lnk.Detach(); err != nil {
			return fmt.Errorf("detach bpf_link %d: %w", owner.id, err)
		}
		return nil
	}
	var flags int
	switch x.AttachMode {
	case xdpAttachedDrv:
		flags = unix.XDP_FLAGS_DRV_MODE
	case xdpAttachedSkb:
		flags = unix.XDP_FLAGS_SKB_MODE
	case xdpAttachedHw:
		flags = unix.XDP_FLAGS_HW_MODE
	}
	if err := netlink.LinkSetXdpFdWithFlags(l, -1, flags); err != nil {
		return fmt.Errorf("netlink detach: %w", err)
	}
	return nil
}

// Mode reports how the program is attached: ModeDriver, ModeGeneric, or
// ModeNone when not attached.
func (p *Program) Mode() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// Ifindex is the device the program is attached to (0 if none).
func (p *Program) Ifindex() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ifindex
}

// Veth reports whether the device the program is attached to is a veth
// (its rtnetlink kind, read once at attach). A veth delivers the peer's
// frames as the peer's stack built them, TCP checksums left partial by TX
// checksum offload included (wire.AcceptPartialChecksum).
func (p *Program) Veth() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.veth && p.ifindex != 0
}

// Close detaches the program from the device and releases the program and
// its maps. Safe to call more than once.
func (p *Program) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	if p.dispatched {
		if err := p.leave(); err != nil {
			errs = append(errs, err)
		}
		p.ns.Close()
		p.dispatched, p.mode, p.ifindex = false, ModeNone, 0
	}
	if p.lnk != nil {
		if err := p.lnk.Close(); err != nil {
			errs = append(errs, fmt.Errorf("bpf: detach: %w", err))
		}
		p.lnk, p.mode, p.ifindex = nil, ModeNone, 0
	}
	if err := p.objs.Close(); err != nil {
		errs = append(errs, fmt.Errorf("bpf: close: %w", err))
	}
	return errors.Join(errs...)
}

func (p *Program) check() error {
	if p.closed {
		return fmt.Errorf("bpf: program closed: %w", net.ErrClosed)
	}
	return nil
}

// ProgramID is the kernel's id of the loaded program, as bpftool and
// `ip link` show it.
func (p *Program) ProgramID() (uint32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.check(); err != nil {
		return 0, err
	}
	info, err := p.objs.SluiceSteer.Info()
	if err != nil {
		return 0, fmt.Errorf("bpf: program info: %w", err)
	}
	id, ok := info.ID()
	if !ok {
		return 0, errors.New("bpf: kernel reports no program id")
	}
	return uint32(id), nil
}
