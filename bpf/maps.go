//go:build linux

package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
)

// Limits of the maps (bpf/steer.h).
const (
	MaxQueues = 256   // XSKMAP entries: queues 0..MaxQueues-1
	MaxFanout = 16    // sockets per queue under software steering
	MaxListen = 4096  // listen entries
	MaxFlows  = 65536 // dialed flows, unless Options.MaxFlows says otherwise
)

// Address families as stored in the map keys.
const (
	familyIPv4 = 4
	familyIPv6 = 6
)

// AnySlot, as a flow's slot, lets the program pick the fanout socket by
// hashing the 4-tuple (see FanoutSlot).
const AnySlot = -1

// addr16 returns the key form of a: IPv6 as is, IPv4 as ::ffff:a.b.c.d.
// An unspecified address (0.0.0.0, ::) becomes the all-zero wildcard.
func addr16(a netip.Addr) (b [16]byte, family uint8) {
	a = a.Unmap()
	family = familyIPv6
	if a.Is4() {
		family = familyIPv4
	}
	if a.IsUnspecified() {
		return b, family
	}
	return a.As16(), family
}

func listenKeys(ap netip.AddrPort) ([]steerListenKey, error) {
	if ap.Port() == 0 {
		return nil, fmt.Errorf("bpf: listen %s: port 0", ap)
	}
	if !ap.Addr().IsValid() {
		// Any address of either family.
		return []steerListenKey{
			{Port: ap.Port(), Family: familyIPv4},
			{Port: ap.Port(), Family: familyIPv6},
		}, nil
	}
	a, fam := addr16(ap.Addr())
	return []steerListenKey{{Addr: a, Port: ap.Port(), Family: fam}}, nil
}

// AddListen steers TCP segments to ap (local address and port) to the
// AF_XDP sockets. An unspecified address (0.0.0.0 or ::) means any local
// address of that family; the zero netip.Addr (netip.AddrPortFrom(
// netip.Addr{}, port)) means any address of either family. An IPv4-mapped
// IPv6 address counts as IPv4. Adding an existing entry is not an error.
func (p *Program) AddListen(ap netip.AddrPort) error {
	keys, err := listenKeys(ap)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.check(); err != nil {
		return err
	}
	v := steerSteerValue{FanoutSlot: ^uint32(0)}
	for _, k := range keys {
		if err := p.insert(p.objs.Listen, &k, &v, k.Port, portListen); err != nil {
			return mapError("add listen "+ap.String(), err)
		}
	}
	return nil
}

// RemoveListen undoes AddListen. Removing an absent entry is not an error.
func (p *Program) RemoveListen(ap netip.AddrPort) error {
	keys, err := listenKeys(ap)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.check(); err != nil {
		return err
	}
	for _, k := range keys {
		if err := p.remove(p.objs.Listen, &k, k.Port, portListen); err != nil {
			return mapError("remove listen "+ap.String(), err)
		}
	}
	return nil
}

// Indices into Program.ports and bits of the ports map (steer.h).
const (
	portListen = 0 // SLUICE_PORT_LISTEN = 1 << 0
	portFlow   = 1 // SLUICE_PORT_FLOW = 1 << 1
)

// insert adds key -> v to m (overwriting the value of an existing key)
// and, for a new key, counts it against local port port, setting the
// port's bit in the ports map once the entry is in place.
func (p *Program) insert(m *ebpf.Map, key, v any, port uint16, kind int) error {
	err := m.Update(key, v, ebpf.UpdateNoExist)
	if errors.Is(err, ebpf.ErrKeyExist) {
		return m.Update(key, v, ebpf.UpdateExist)
	}
	if err != nil {
		return err
	}
	if err := p.refPort(port, kind, +1); err != nil {
		m.Delete(key)
		return err
	}
	return nil
}

// remove deletes key from m and uncounts it; an absent key is no error.
func (p *Program) remove(m *ebpf.Map, key any, port uint16, kind int) error {
	err := m.Delete(key)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return p.refPort(port, kind, -1)
}

func (p *Program) refPort(port uint16, kind, delta int) error {
	r := p.ports[port]
	if r == nil {
		r = new([2]int)
		p.ports[port] = r
	}
	r[kind] += delta
	var bits uint32
	for i, n := range r {
		if n > 0 {
			bits |= 1 << i
		}
	}
	if err := p.objs.Ports.Put(uint32(port), bits); err != nil {
		r[kind] -= delta
		return err
	}
	if bits == 0 {
		delete(p.ports, port)
	}
	return nil
}

func flowKey(remote, local netip.AddrPort) (steerFlowKey, error) {
	r, rf := addr16(remote.Addr())
	l, lf := addr16(local.Addr())
	switch {
	case !remote.Addr().IsValid() || !local.Addr().IsValid():
		return steerFlowKey{}, fmt.Errorf("bpf: flow %s <- %s: both addresses needed", local, remote)
	case rf != lf:
		return steerFlowKey{}, fmt.Errorf("bpf: flow %s <- %s: address families differ", local, remote)
	case remote.Addr().Unmap().IsUnspecified() || local.Addr().Unmap().IsUnspecified():
		return steerFlowKey{}, fmt.Errorf("bpf: flow %s <- %s: unspecified address", local, remote)
	}
	// Oriented as in an incoming segment: source = remote, dest = local.
	return steerFlowKey{Saddr: r, Daddr: l, Sport: remote.Port(), Dport: local.Port(), Family: rf}, nil
}

// AddFlow steers the segments of one connection sluice dialed: those from
// remote to local. slot pins the flow to one socket of a software-steered
// queue (SetFanout); AnySlot, or a slot not below that queue's socket
// count, hashes. A flow entry wins over listen entries.
func (p *Program) AddFlow(remote, local netip.AddrPort, slot int) error {
	k, err := flowKey(remote, local)
	if err != nil {
		return err
	}
	if slot < AnySlot || slot >= MaxFanout {
		return fmt.Errorf("bpf: flow slot %d out of range [%d, %d)", slot, AnySlot, MaxFanout)
	}
	v := steerSteerValue{FanoutSlot: uint32(int32(slot))}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.check(); err != nil {
		return err
	}
	if err := p.insert(p.objs.Flows, &k, &v, k.Dport, portFlow); err != nil {
		return mapError(fmt.Sprintf("add flow %s <- %s", local, remote), err)
	}
	return nil
}

// RemoveFlow undoes AddFlow. Removing an absent flow is not an error.
func (p *Program) RemoveFlow(remote, local netip.AddrPort) error {
	k, err := flowKey(remote, local)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.check(); err != nil {
		return err
	}
	if err := p.remove(p.objs.Flows, &k, k.Dport, portFlow); err != nil {
		return mapError(fmt.Sprintf("remove flow %s <- %s", local, remote), err)
	}
	return nil
}

// SetSocket registers the AF_XDP socket fd bound to RX queue queue: the
// program redirects that queue's steered segments to it. The map holds its
// own reference to the socket; closing fd alone does not remove it (the
// kernel drops the entry when the socket is released).
func (p *Program) SetSocket(queue, fd int) error {
	if queue < 0 || queue >= MaxQueues {
		return fmt.Errorf("bpf: queue %d out of range [0, %d)", queue, MaxQueues)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.check(); err != nil {
		return err
	}
	if err := p.objs.Xsks.Put(uint32(queue), uint32(fd)); err != nil {
		return mapError(fmt.Sprintf("register AF_XDP socket fd %d for queue %d (is it a bound AF_XDP socket?)", fd, queue), err)
	}
	return nil
}

// RemoveSocket unregisters queue's socket; its segments then go to the
// kernel (counted as RedirectNoSocket).
func (p *Program) RemoveSocket(queue int) error {
	if queue < 0 || queue >= MaxQueues {
		return fmt.Errorf("bpf: queue %d out of range [0, %d)", queue, MaxQueues)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.check(); err != nil {
		return err
	}
	if err := p.objs.Xsks.Delete(uint32(queue)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return mapError(fmt.Sprintf("remove socket of queue %d", queue), err)
	}
	return nil
}

// SetFanout turns on software steering for queue: fds are AF_XDP sockets
// all bound to that queue (sharing its UMEM, XDP_SHARED_UMEM), and each
// steered segment goes to fds[FanoutSlot(...)], or to its flow's pinned
// slot. An empty fds turns fanout off (the queue uses SetSocket's socket).
func (p *Program) SetFanout(queue int, fds []int) error {
	if queue < 0 || queue >= MaxQueues {
		return fmt.Errorf("bpf: queue %d out of range [0, %d)", queue, MaxQueues)
	}
	if len(fds) > MaxFanout {
		return fmt.Errorf("bpf: %d sockets for queue %d, at most %d", len(fds), queue, MaxFanout)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.check(); err != nil {
		return err
	}
	// Off first, so the program never reads a half-filled slot table.
	if err := p.objs.Fanout.Put(uint32(queue), uint32(0)); err != nil {
		return mapError("fanout off", err)
	}
	for i := range MaxFanout {
		idx := uint32(queue*MaxFanout + i)
		if i < len(fds) {
			if err := p.objs.XsksFanout.Put(idx, uint32(fds[i])); err != nil {
				return mapError(fmt.Sprintf("register AF_XDP socket fd %d as slot %d of queue %d", fds[i], i, queue), err)
			}
		} else if err := p.objs.XsksFanout.Delete(idx); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return mapError("clear fanout slot", err)
		}
	}
	if len(fds) > 0 {
		if err := p.objs.Fanout.Put(uint32(queue), uint32(len(fds))); err != nil {
			return mapError("fanout on", err)
		}
	}
	return nil
}

// FanoutSlot is the socket index in [0, n) the program picks for a
// segment from remote to local under software steering (no pinned slot):
// the same hash as flow_hash in xdp_steer.c, so a loop can tell which of
// its siblings owns a flow.
func FanoutSlot(remote, local netip.AddrPort, n int) int {
	if n <= 0 {
		return 0
	}
	k, err := flowKey(remote, local)
	if err != nil {
		return 0
	}
	h := uint32(0)
	for i := 0; i < 16; i += 4 {
		h = fanoutMix(h, binary.LittleEndian.Uint32(k.Saddr[i:]))
	}
	for i := 0; i < 16; i += 4 {
		h = fanoutMix(h, binary.LittleEndian.Uint32(k.Daddr[i:]))
	}
	h = fanoutMix(h, uint32(k.Sport)|uint32(k.Dport)<<16)
	return int(h % uint32(min(n, MaxFanout)))
}

func fanoutMix(h, v uint32) uint32 {
	h ^= v
	h *= 0x9e3779b1
	return h ^ h>>16
}

// Counters are the program's packet counts, summed over all CPUs. Every
// frame the program sees adds one to exactly one Passed* field or to
// Redirected or RedirectNoSocket; Fanout counts a subset of Redirected.
type Counters struct {
	PassedNotIP       uint64 // not IPv4/IPv6: ARP, LLDP, a second VLAN tag...
	PassedNotTCP      uint64 // IP, not TCP: ICMP, UDP...
	PassedFragment    uint64 // IPv4 or IPv6 fragment (reassembly is the kernel's)
	PassedNotListened uint64 // TCP, neither listened nor a dialed flow
	PassedTruncated   uint64 // a header or the IP length runs past the frame
	PassedBadHeader   uint64 // bad IP version, IHL < 5, lengths, TCP data offset
	PassedIPv6Ext     uint64 // IPv6 extension chain not walked (AH, ESP, too long, routing)
	Redirected        uint64 // XDP_REDIRECT to an AF_XDP socket
	RedirectNoSocket  uint64 // steered, but no socket for the queue: passed
	Fanout            uint64 // of Redirected, picked among a queue's sockets in software
}

// Passed is the sum of the Passed* fields.
func (c Counters) Passed() uint64 {
	return c.PassedNotIP + c.PassedNotTCP + c.PassedFragment + c.PassedNotListened +
		c.PassedTruncated + c.PassedBadHeader + c.PassedIPv6Ext + c.RedirectNoSocket
}

func (c *Counters) add(s *steerCounters) {
	c.PassedNotIP += s.PassedNotIp
	c.PassedNotTCP += s.PassedNotTcp
	c.PassedFragment += s.PassedFragment
	c.PassedNotListened += s.PassedNotListened
	c.PassedTruncated += s.PassedTruncated
	c.PassedBadHeader += s.PassedBadHeader
	c.PassedIPv6Ext += s.PassedIpv6Ext
	c.Redirected += s.Redirected
	c.RedirectNoSocket += s.RedirectNoSocket
	c.Fanout += s.Fanout
}

// Counters reads the counters, summed across CPUs. Each CPU's value is
// read in one syscall but CPUs are not read at the same instant.
func (p *Program) Counters() (Counters, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var c Counters
	if err := p.check(); err != nil {
		return c, err
	}
	var per []steerCounters
	if err := p.objs.Counters.Lookup(uint32(0), &per); err != nil {
		return c, mapError("read counters", err)
	}
	for i := range per {
		c.add(&per[i])
	}
	return c, nil
}

func mapError(what string, err error) error {
	return fmt.Errorf("bpf: %s: %w", what, err)
}
