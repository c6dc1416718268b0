//go:build linux

package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// libxdp's multi-program dispatcher protocol, version 2 (xdp-tools
// lib/libxdp/protocol.org). The device runs a dispatcher (xdp_dispatcher.c)
// attached through netlink; its slots prog0..prog9 are replaced (freplace)
// by the component programs in run-priority order, each pinned with its
// link under <bpffs>/xdp/dispatch-<ifindex>-<dispatcher id>/prog<i>-prog
// and prog<i>-link, so they outlive the process that added them. Adding or
// removing a component builds a new dispatcher with the new set (the
// components already there are linked to it too) and swaps it in
// atomically (XDP_FLAGS_REPLACE); the directory of the old one goes. Every
// change holds flock on <bpffs>/xdp, as libxdp does.
const (
	dispatcherVersion = 2
	dispatcherMagic   = 236 // 'X' + 'D' + 'P'
	dispatcherRetval  = 31  // the stubs' return value, always chain-called
	dispatcherSlots   = 10
	dispatcherName    = "xdp_dispatcher"
	// DefaultRunPriority is libxdp's default run priority; sluice's own
	// comes from its program's XDP_RUN_CONFIG (RunConfig).
	DefaultRunPriority = 50
)

// ErrExtensionRefused is wrapped by Load's error when Options.Dispatcher
// is set and the kernel refuses to load sluice's program as an extension
// (freplace) of the dispatcher even with every capability.
var ErrExtensionRefused = errors.New("the kernel refuses BPF extension (freplace) programs, which a multi-program dispatcher needs")

// dispatcherConfig is struct xdp_dispatcher_config, version 2: the
// dispatcher's read-only data, also read back to learn its components.
type dispatcherConfig struct {
	Magic, Version, NumProgs, Frags uint8
	ChainCall                       [dispatcherSlots]uint32
	RunPrios                        [dispatcherSlots]uint32
	ProgFlags                       [dispatcherSlots]uint32
}

const dispatcherConfigSize = 4 + 3*4*dispatcherSlots

// XDP return codes (enum xdp_action, include/uapi/linux/bpf.h).
const (
	xdpAborted = iota
	xdpDrop
	xdpPass
	xdpTX
	xdpRedirect
)

// xdpActions are the XDP return codes by the names XDP_RUN_CONFIG uses.
var xdpActions = map[string]uint32{
	"XDP_ABORTED": xdpAborted, "XDP_DROP": xdpDrop, "XDP_PASS": xdpPass,
	"XDP_TX": xdpTX, "XDP_REDIRECT": xdpRedirect,
}

// RunConfig is a component's place in a dispatcher: Priority orders the
// programs (lower runs first), ChainCall is the bitmap of XDP actions
// (1 << XDP_PASS, ...) after which the next program runs.
type RunConfig struct {
	Priority  uint32
	ChainCall uint32
}

// ProgramRunConfig returns the run configuration compiled into sluice's
// program (its XDP_RUN_CONFIG section): priority 50, chain call on
// XDP_PASS, so every frame it does not steer reaches the programs after
// it.
func ProgramRunConfig() (RunConfig, error) {
	spec, err := loadSteer()
	if err != nil {
		return RunConfig{}, fmt.Errorf("bpf: %w", err)
	}
	return runConfig(spec, steerProgSluiceSteer)
}

// runConfig reads program prog's run configuration from the object's BTF:
// the struct _<prog> in the .xdp_run_config section, whose members are
// pointers to arrays whose lengths are the values (libbpf's __uint).
func runConfig(spec *ebpf.CollectionSpec, prog string) (RunConfig, error) {
	rc := RunConfig{Priority: DefaultRunPriority, ChainCall: 1 << xdpPass}
	var ds *btf.Datasec
	if spec.Types == nil || spec.Types.TypeByName(".xdp_run_config", &ds) != nil {
		return rc, nil // none compiled in: libxdp's defaults
	}
	for _, v := range ds.Vars {
		vr, ok := v.Type.(*btf.Var)
		if !ok || vr.Name != "_"+prog {
			continue
		}
		st, ok := btf.UnderlyingType(vr.Type).(*btf.Struct)
		if !ok {
			return rc, fmt.Errorf("bpf: run config of %s is not a struct", prog)
		}
		rc.ChainCall = 0
		for _, m := range st.Members {
			ptr, ok := m.Type.(*btf.Pointer)
			if !ok {
				return rc, fmt.Errorf("bpf: run config of %s: member %s is not a __uint", prog, m.Name)
			}
			arr, ok := ptr.Target.(*btf.Array)
			if !ok {
				return rc, fmt.Errorf("bpf: run config of %s: member %s is not a __uint", prog, m.Name)
			}
			if m.Name == "priority" {
				rc.Priority = arr.Nelems
			} else if a, ok := xdpActions[m.Name]; ok && arr.Nelems != 0 {
				rc.ChainCall |= 1 << a
			} else if !ok {
				return rc, fmt.Errorf("bpf: run config of %s: unknown member %s", prog, m.Name)
			}
		}
		return rc, nil
	}
	return rc, nil
}

// component is one program of a dispatcher.
type component struct {
	prog *ebpf.Program // nil for ours until loaded against the new dispatcher
	name string
	id   ebpf.ProgramID
	rc   RunConfig
	// flags is program_flags (BPF_F_XDP_HAS_FRAGS); ours has none.
	flags uint32
	ours  bool
}

// dispatcher is one attached to a device.
type dispatcher struct {
	prog  *ebpf.Program
	id    ebpf.ProgramID
	mode  Mode
	dir   string
	comps []*component
}

func (d *dispatcher) close() {
	if d == nil {
		return
	}
	for _, c := range d.comps {
		c.prog.Close()
	}
	d.prog.Close()
}

// bpffsXDP is libxdp's state directory, <bpffs>/xdp (LIBXDP_BPFFS names
// another bpffs, as for libxdp).
func bpffsXDP() (string, error) {
	root := bpffsRoot()
	var fs unix.Statfs_t
	if err := unix.Statfs(root, &fs); err != nil || fs.Type != unix.BPF_FS_MAGIC {
		return "", fmt.Errorf("bpf: %s is not a BPF filesystem (mount -t bpf bpf %s): a dispatcher's programs are pinned there", root, root)
	}
	dir := filepath.Join(root, "xdp")
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("bpf: %w", err)
	}
	return dir, nil
}

func bpffsRoot() string {
	if e := os.Getenv("LIBXDP_BPFFS"); e != "" {
		return e
	}
	return "/sys/fs/bpf"
}

// isDispatcher reports whether program id is a libxdp dispatcher sluice
// can join.
func isDispatcher(id uint32) bool {
	p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
	if err != nil {
		return false
	}
	defer p.Close()
	_, err = dispatcherConf(p)
	return err == nil
}

// lockXDP takes libxdp's lock: flock on the state directory.
func lockXDP(dir string) (func(), error) {
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("bpf: open %s: %w", dir, err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bpf: lock %s: %w", dir, err)
	}
	return func() { unix.Flock(fd, unix.LOCK_UN); unix.Close(fd) }, nil
}

// current takes libxdp's lock and reads the dispatcher on l (nil: none);
// the caller releases the lock with unlock (nil on error).
func current(l netlink.Link) (cur *dispatcher, state string, unlock func(), err error) {
	if state, err = bpffsXDP(); err != nil {
		return nil, "", nil, err
	}
	if unlock, err = lockXDP(state); err != nil {
		return nil, "", nil, err
	}
	if cur, err = readDispatcher(l, state); err != nil {
		unlock()
		return nil, "", nil, err
	}
	return cur, state, unlock, nil
}

// readDispatcher returns the libxdp dispatcher attached to l with its
// components (nil if the device has no XDP program), or an error wrapping
// ErrForeignProgram if it runs another kind of program.
func readDispatcher(l netlink.Link, state string) (*dispatcher, error) {
	x := l.Attrs().Xdp
	if x == nil || !x.Attached {
		return nil, nil
	}
	name := l.Attrs().Name
	d := &dispatcher{id: ebpf.ProgramID(x.ProgId)}
	switch x.AttachMode {
	case xdpAttachedDrv:
		d.mode = ModeDriver
	case xdpAttachedSkb:
		d.mode = ModeGeneric
	default:
		return nil, fmt.Errorf("bpf: %s: XDP program id %d attached in %s mode, not a dispatcher sluice can join: %w", name, x.ProgId, attachModeName(x.AttachMode), ErrForeignProgram)
	}
	var err error
	if d.prog, err = ebpf.NewProgramFromID(d.id); err != nil {
		return nil, fmt.Errorf("bpf: %s: XDP program id %d: %w", name, x.ProgId, err)
	}
	cfg, err := dispatcherConf(d.prog)
	if err != nil {
		d.prog.Close()
		return nil, fmt.Errorf("bpf: %s already runs XDP program id %d, which is not a libxdp dispatcher (%v); detach it to let sluice build one: %w", name, x.ProgId, err, ErrForeignProgram)
	}
	d.dir = filepath.Join(state, fmt.Sprintf("dispatch-%d-%d", l.Attrs().Index, d.id))
	for i := range int(cfg.NumProgs) {
		c := &component{
			rc:    RunConfig{Priority: cfg.RunPrios[i], ChainCall: cfg.ChainCall[i] &^ (1 << dispatcherRetval)},
			flags: cfg.ProgFlags[i],
		}
		c.prog, err = ebpf.LoadPinnedProgram(filepath.Join(d.dir, fmt.Sprintf("prog%d-prog", i)), nil)
		if err == nil {
			var info *ebpf.ProgramInfo
			if info, err = c.prog.Info(); err == nil {
				c.name = info.Name
				c.id, _ = info.ID()
			}
		}
		if err != nil {
			c.prog.Close()
			d.close()
			return nil, fmt.Errorf("bpf: %s: dispatcher id %d: component %d: %w", name, d.id, i, err)
		}
		d.comps = append(d.comps, c)
	}
	return d, nil
}

// dispatcherConf reads a dispatcher's configuration from its only map (the
// frozen .rodata), checking what libxdp checks.
func dispatcherConf(p *ebpf.Program) (*dispatcherConfig, error) {
	info, err := p.Info()
	if err != nil {
		return nil, err
	}
	if info.Name != dispatcherName {
		return nil, fmt.Errorf("program %q", info.Name)
	}
	ids, _ := info.MapIDs()
	if len(ids) != 1 {
		return nil, fmt.Errorf("%d maps", len(ids))
	}
	m, err := ebpf.NewMapFromID(ids[0])
	if err != nil {
		return nil, err
	}
	defer m.Close()
	mi, err := m.Info()
	if err != nil {
		return nil, err
	}
	if mi.KeySize != 4 || mi.MaxEntries != 1 || mi.Flags&unix.BPF_F_RDONLY_PROG == 0 || mi.ValueSize < dispatcherConfigSize {
		return nil, errors.New("configuration map of another layout")
	}
	b, err := m.LookupBytes(uint32(0))
	if err != nil {
		return nil, err
	}
	if b[0] != dispatcherMagic || b[1] != dispatcherVersion {
		return nil, fmt.Errorf("dispatcher version %d (magic %d); sluice speaks version %d", b[1], b[0], dispatcherVersion)
	}
	var c dispatcherConfig
	if _, err := binary.Decode(b[:dispatcherConfigSize], binary.NativeEndian, &c); err != nil {
		return nil, err
	}
	if c.NumProgs > dispatcherSlots {
		return nil, fmt.Errorf("%d programs enabled", c.NumProgs)
	}
	return &c, nil
}

// sortComponents puts comps in libxdp's run order: by priority, then by
// name, programs already loaded before new ones.
func sortComponents(comps []*component) {
	sort.SliceStable(comps, func(i, j int) bool {
		a, b := comps[i], comps[j]
		if a.rc.Priority != b.rc.Priority {
			return a.rc.Priority < b.rc.Priority
		}
		if a.name != b.name {
			return a.name < b.name
		}
		return !a.ours && b.ours
	})
}

// install builds a dispatcher running comps in order, pins its components,
// and attaches it in place of cur (nil: the device has none) in the first
// of modes that works. loadOurs loads sluice's program against the new
// dispatcher's slot. The dispatcher it returns has no open references: the
// attachment and the pins hold it.
func install(l netlink.Link, state string, comps []*component, cur *dispatcher, modes []Mode,
	loadOurs func(disp *ebpf.Program, slot string) (*ebpf.Program, error)) (d *dispatcher, err error) {
	spec, err := loadDispatcher()
	if err != nil {
		return nil, fmt.Errorf("bpf: dispatcher: %w", err)
	}
	conf := dispatcherConfig{Magic: dispatcherMagic, Version: dispatcherVersion, NumProgs: uint8(len(comps))}
	for i, c := range comps {
		conf.ChainCall[i] = c.rc.ChainCall | 1<<dispatcherRetval
		conf.RunPrios[i] = c.rc.Priority
		conf.ProgFlags[i] = c.flags
	}
	ro := spec.Maps[".rodata"]
	if ro == nil || len(ro.Contents) != 1 {
		return nil, errors.New("bpf: dispatcher object without its configuration")
	}
	val, ok := ro.Contents[0].Value.([]byte)
	if !ok || len(val) != dispatcherConfigSize {
		return nil, errors.New("bpf: dispatcher configuration of another size")
	}
	val, err = binary.Append(nil, binary.NativeEndian, &conf)
	if err != nil {
		return nil, err
	}
	ro.Contents[0].Value = val
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		return nil, loadError(err)
	}
	defer coll.Close()
	disp := coll.Programs[dispatcherName]
	info, err := disp.Info()
	if err != nil {
		return nil, fmt.Errorf("bpf: dispatcher info: %w", err)
	}
	id, _ := info.ID()
	dir := filepath.Join(state, fmt.Sprintf("dispatch-%d-%d", l.Attrs().Index, id))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("bpf: %w", err)
	}
	var links []link.Link
	defer func() {
		for _, k := range links {
			k.Close() // pinned ones stay
		}
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	for i, c := range comps {
		slot := fmt.Sprintf("prog%d", i)
		p := c.prog
		if c.ours && p == nil {
			if p, err = loadOurs(disp, slot); err != nil {
				return nil, err
			}
		}
		k, err := link.AttachFreplace(disp, slot, p)
		if err != nil {
			return nil, fmt.Errorf("bpf: link %s into the dispatcher's %s: %w", c.name, slot, err)
		}
		links = append(links, k)
		if err := pinFD(p.FD(), filepath.Join(dir, slot+"-prog")); err != nil {
			return nil, fmt.Errorf("bpf: pin %s: %w", slot, err)
		}
		if err := k.Pin(filepath.Join(dir, slot+"-link")); err != nil {
			return nil, fmt.Errorf("bpf: pin %s link: %w", slot, err)
		}
	}
	var errs []error
	for _, m := range modes {
		flags := uint32(unix.XDP_FLAGS_UPDATE_IF_NOEXIST)
		expected := -1
		if cur != nil {
			flags, expected = unix.XDP_FLAGS_REPLACE, cur.prog.FD()
		}
		err := setXDP(l.Attrs().Index, disp.FD(), expected, flags|modeFlag(m))
		if err == nil {
			if cur != nil {
				os.RemoveAll(cur.dir)
			}
			return &dispatcher{id: id, dir: dir, mode: m}, nil
		}
		if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("bpf: %s: the device's XDP program changed while sluice built a dispatcher (try again): %w", l.Attrs().Name, err)
		}
		errs = append(errs, fmt.Errorf("%s mode: %w", m, err))
	}
	return nil, fmt.Errorf("bpf: cannot attach the dispatcher to %s in %s: %w", l.Attrs().Name, modesText(modes), errors.Join(errs...))
}

func modeFlag(m Mode) uint32 {
	if m == ModeGeneric {
		return unix.XDP_FLAGS_SKB_MODE
	}
	return unix.XDP_FLAGS_DRV_MODE
}

// setXDP attaches program fd (-1: none) to the device through netlink, as
// libxdp does (a bpf_link could not be replaced by the next libxdp user);
// with XDP_FLAGS_REPLACE only if expected is still the attached program.
func setXDP(ifindex, fd, expected int, flags uint32) error {
	req := nl.NewNetlinkRequest(unix.RTM_SETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(ifindex)
	req.AddData(msg)
	x := nl.NewRtAttr(unix.IFLA_XDP|unix.NLA_F_NESTED, nil)
	x.AddRtAttr(unix.IFLA_XDP_FD, nl.Uint32Attr(uint32(int32(fd))))
	x.AddRtAttr(unix.IFLA_XDP_FLAGS, nl.Uint32Attr(flags))
	if flags&unix.XDP_FLAGS_REPLACE != 0 {
		x.AddRtAttr(unix.IFLA_XDP_EXPECTED_FD, nl.Uint32Attr(uint32(int32(expected))))
	}
	req.AddData(x)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// join loads sluice's program as a component of the device's libxdp
// dispatcher, building one if the device has no XDP program.
func (p *Program) join(spec *ebpf.CollectionSpec, o Options) error {
	rc, err := runConfig(spec, steerProgSluiceSteer)
	if err != nil {
		return err
	}
	if o.RunPriority > 0 {
		rc.Priority = uint32(o.RunPriority)
	}
	l, err := netlink.LinkByIndex(o.Ifindex)
	if err != nil {
		return fmt.Errorf("bpf: attach: no device with ifindex %d in this network namespace (attach from inside the device's namespace): %w", o.Ifindex, err)
	}
	cur, state, unlock, err := current(l)
	if err != nil {
		return err
	}
	defer unlock()
	defer cur.close()
	comps := []*component{{name: steerProgSluiceSteer, rc: rc, ours: true}}
	modes := []Mode{ModeDriver, ModeGeneric}
	if o.Mode != ModeNone {
		modes = []Mode{o.Mode}
	}
	if cur != nil {
		comps = append(comps, cur.comps...)
		if o.Mode != ModeNone && o.Mode != cur.mode {
			return fmt.Errorf("bpf: %s: the dispatcher runs in %s mode, Options.Mode asks for %s", l.Attrs().Name, cur.mode, o.Mode)
		}
		modes = []Mode{cur.mode}
	}
	if len(comps) > dispatcherSlots {
		return fmt.Errorf("bpf: %s: the dispatcher already runs %d programs, the most it can", l.Attrs().Name, dispatcherSlots)
	}
	sortComponents(comps)
	if p.ns, err = netns.Get(); err != nil {
		return fmt.Errorf("bpf: %w", err)
	}
	d, err := install(l, state, comps, cur, modes, func(disp *ebpf.Program, slot string) (*ebpf.Program, error) {
		ps := spec.Programs[steerProgSluiceSteer]
		ps.Type, ps.AttachType, ps.AttachTarget, ps.AttachTo = ebpf.Extension, ebpf.AttachNone, disp, slot
		if err := spec.LoadAndAssign(&p.objs, nil); err != nil {
			if errors.Is(err, unix.EPERM) && missingCaps() == "" {
				return nil, fmt.Errorf("bpf: %w (kernel lockdown or an LSM policy refusing BPF trampolines; libxdp falls back to a single program there): attach sluice alone, without Options.Dispatcher: %w", ErrExtensionRefused, err)
			}
			return nil, loadError(err)
		}
		return p.objs.SluiceSteer, nil
	})
	if err != nil {
		p.ns.Close()
		return err
	}
	p.mode, p.ifindex, p.veth, p.dispatched = d.mode, o.Ifindex, l.Type() == "veth", true
	return nil
}

// leave removes sluice's program from the device's dispatcher (whichever
// it is now: other libxdp users may have rebuilt it), detaching the
// dispatcher if nothing else runs in it. The device is found in the
// namespace Load ran in.
func (p *Program) leave() error {
	info, err := p.objs.SluiceSteer.Info()
	if err != nil {
		return fmt.Errorf("bpf: program info: %w", err)
	}
	ours, _ := info.ID()
	return inNetns(p.ns, func() error {
		l, err := netlink.LinkByIndex(p.ifindex)
		if err != nil {
			return nil // the device (or its namespace) is gone, and the dispatcher with it
		}
		cur, state, unlock, err := current(l)
		if errors.Is(err, ErrForeignProgram) {
			return nil // someone replaced the dispatcher, and us with it
		}
		if err != nil {
			return err
		}
		defer unlock()
		if cur == nil {
			return nil // someone detached the dispatcher, and us with it
		}
		defer cur.close()
		var rest []*component
		for _, c := range cur.comps {
			if c.id != ours {
				rest = append(rest, c)
			}
		}
		switch {
		case len(rest) == len(cur.comps):
			return nil // not in it any more (removed by someone else)
		case len(rest) == 0:
			if err := setXDP(p.ifindex, -1, cur.prog.FD(), unix.XDP_FLAGS_REPLACE|modeFlag(cur.mode)); err != nil {
				return fmt.Errorf("bpf: detach the dispatcher from %s: %w", l.Attrs().Name, err)
			}
			os.RemoveAll(cur.dir)
			return nil
		}
		_, err = install(l, state, rest, cur, []Mode{cur.mode}, nil)
		return err
	})
}

// inNetns runs fn on a locked OS thread inside namespace ns; a thread that
// cannot return to its own namespace is discarded.
func inNetns(ns netns.NsHandle, fn func() error) error {
	c := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			c <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			c <- err
			return
		}
		err = fn()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		c <- err
	}()
	return <-c
}
