package systest

import (
	"bufio"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/systest/live"
	"github.com/sluicenet/sluice/testbed/pktgen"
	"github.com/sluicenet/sluice/wire"
)

// maxFrame is the longest frame the veth carries at MTU 1500: longer
// corpus values are cut (their IP lengths then run past the frame, which
// the parser must count as such).
const maxFrame = 1514

// corpusDirs are the fuzz corpora replayed: the committed ones
// (testdata/fuzz/<Target>) of wire/, tcp/ and sched/, and those `go test
// -fuzz` (and .ci/fuzz) grew in the build cache.
func corpusDirs(t *testing.T) []string {
	var dirs []string
	for _, pkg := range []string{"wire", "tcp", "sched"} {
		dirs = append(dirs, filepath.Join("..", pkg, "testdata", "fuzz"))
	}
	if out, err := exec.Command("go", "env", "GOCACHE").Output(); err == nil {
		cache := filepath.Join(strings.TrimSpace(string(out)), "fuzz", "github.com", "sluicenet", "sluice")
		for _, pkg := range []string{"wire", "tcp", "sched"} {
			dirs = append(dirs, filepath.Join(cache, pkg))
		}
	}
	return dirs
}

// corpusValues reads every []byte and string value of every corpus file
// ("go test fuzz v1" format) under dirs.
func corpusValues(t *testing.T, dirs []string) (vals [][]byte, files int) {
	for _, d := range dirs {
		filepath.WalkDir(d, func(path string, e os.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return nil
			}
			f, err := os.Open(path)
			if err != nil {
				return nil
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 1<<20), 1<<22)
			if !sc.Scan() || sc.Text() != "go test fuzz v1" {
				return nil
			}
			files++
			for sc.Scan() {
				line := sc.Text()
				for _, p := range []string{"[]byte(", "string("} {
					if q, ok := strings.CutPrefix(line, p); ok {
						if s, err := strconv.Unquote(strings.TrimSuffix(q, ")")); err == nil {
							vals = append(vals, []byte(s))
						}
					}
				}
			}
			return nil
		})
	}
	return vals, files
}

// checksum is the Internet checksum (RFC 1071) of b, starting from sum.
func checksum(b []byte, sum uint32) uint16 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// retarget points an Ethernet/IP/TCP frame at the server's listen address
// and port (same family; at most one VLAN tag; IPv6 without extension
// headers) and, if fix, recomputes the IPv4 header and TCP checksums, so
// that the frame reaches the loop and, checksums fixed, the engine. It
// reports false for a frame it cannot place.
func retarget(f []byte, s *live.Server, fix bool) bool {
	if len(f) < 14 {
		return false
	}
	et, l3 := binary.BigEndian.Uint16(f[12:]), 14
	if et == 0x8100 && len(f) >= 18 {
		et, l3 = binary.BigEndian.Uint16(f[16:]), 18
	}
	var l4 int
	var pseudo uint32
	switch et {
	case 0x0800:
		if len(f) < l3+20 || f[l3+9] != 6 {
			return false
		}
		ihl := int(f[l3]&0x0f) * 4
		if ihl < 20 || len(f) < l3+ihl+20 {
			return false
		}
		dst := s.Addr.Addr().As4()
		copy(f[l3+16:], dst[:])
		l4 = l3 + ihl
		if fix {
			f[l3+10], f[l3+11] = 0, 0
			binary.BigEndian.PutUint16(f[l3+10:], checksum(f[l3:l3+ihl], 0))
		}
		tl := int(binary.BigEndian.Uint16(f[l3+2:]))
		if tl < ihl+20 || l3+tl > len(f) {
			return true // lengths are off: the parser's to drop
		}
		for i := 0; i < 8; i += 2 {
			pseudo += uint32(binary.BigEndian.Uint16(f[l3+12+i:]))
		}
		pseudo += 6 + uint32(tl-ihl)
		f = f[:l3+tl]
	case 0x86dd:
		if len(f) < l3+60 || f[l3+6] != 6 {
			return false
		}
		dst := s.Addr6.Addr().As16()
		copy(f[l3+24:], dst[:])
		l4 = l3 + 40
		pl := int(binary.BigEndian.Uint16(f[l3+4:]))
		if pl < 20 || l4+pl > len(f) {
			return true
		}
		for i := 0; i < 32; i += 2 {
			pseudo += uint32(binary.BigEndian.Uint16(f[l3+8+i:]))
		}
		pseudo += 6 + uint32(pl)
		f = f[:l4+pl]
	default:
		return false
	}
	binary.BigEndian.PutUint16(f[l4+2:], live.Port)
	if fix {
		f[l4+16], f[l4+17] = 0, 0
		binary.BigEndian.PutUint16(f[l4+16:], checksum(f[l4:], pseudo))
	}
	return true
}

// TestReplayMalformed puts on the wire, from the peer: every value of the
// wire/, tcp/ and sched/ fuzz corpora as a raw frame to the server's MAC
// and, where it is an IP/TCP frame, retargeted at the listener with and
// without fixed checksums; then SLUICE_REPLAY_RANDOM (50k) random
// mutations of valid segments. The loop never panics, every frame the XDP
// program redirected is counted by the loop as a segment or a drop by
// reason (or by the socket as a ring drop), and the server still serves a
// connection that was open throughout and a new one.
func TestReplayMalformed(t *testing.T) {
	s := live.Start(t, live.Options{})
	keep := s.DialPeer(t, s.Addr)
	defer keep.Close()
	roundTrip(t, keep, []byte("open throughout"))

	vals, files := corpusValues(t, corpusDirs(t))
	srvMAC, peerMAC := s.Bed.Server.MAC, s.Bed.Peer.MAC
	var frames [][]byte
	addRaw := func(v []byte) {
		f := make([]byte, max(len(v), 14))
		copy(f, v)
		copy(f[0:6], srvMAC)
		frames = append(frames, f[:min(len(f), maxFrame)])
	}
	retargeted := 0
	for _, v := range vals {
		addRaw(v)
		for _, fix := range []bool{false, true} {
			f := append([]byte(nil), v...)
			if len(f) > 14 && retarget(f, s, fix) {
				copy(f[0:6], srvMAC)
				frames = append(frames, f[:min(len(f), maxFrame)])
				retargeted++
			}
		}
	}
	corpusFrames := len(frames)

	// Random malformed frames: valid SYNs and data segments to the
	// listener from spoofed sources, with 1-4 octets changed, a random
	// truncation or extension, and checksums fixed for half of them (so
	// the mutation reaches the engine).
	rng := rand.New(rand.NewPCG(5961, 9293))
	nRandom := envInt(t, "SLUICE_REPLAY_RANDOM", 50_000)
	var bases [][]byte
	for i := range 64 {
		spec := wire.TCPFrameSpec{
			SrcMAC: macOf(peerMAC), DstMAC: macOf(srvMAC), Src: spoofed(i), Dst: s.Addr.Addr(),
			SrcPort: uint16(2000 + i), DstPort: live.Port, Seq: rng.Uint32(), Ack: rng.Uint32(), Window: 1000,
			Flags:   []uint8{wire.TCPFlagSYN, wire.TCPFlagACK | wire.TCPFlagPSH, wire.TCPFlagFIN | wire.TCPFlagACK, wire.TCPFlagRST}[i%4],
			Options: wire.TCPOptions{MSS: 1460, HasWScale: i%2 == 0, WScale: 7, SACKPermitted: true, HasTS: i%3 == 0, TSVal: rng.Uint32()},
		}
		if i%8 == 7 {
			spec.Src, spec.Dst = netipFrom16(i), s.Addr6.Addr()
		}
		bases = append(bases, frame(t, &spec, []byte("GET / HTTP/1.1\r\n\r\n")[:rng.IntN(18)]))
	}
	for range nRandom {
		f := append([]byte(nil), bases[rng.IntN(len(bases))]...)
		switch rng.IntN(4) {
		case 0:
			f = f[:14+rng.IntN(len(f)-13)]
		case 1:
			f = append(f, make([]byte, rng.IntN(64))...)
		}
		for range 1 + rng.IntN(4) {
			i := 14 + rng.IntN(max(len(f)-14, 1))
			if i < len(f) {
				f[i] ^= byte(1 + rng.IntN(255))
			}
		}
		if rng.IntN(2) == 0 {
			retarget(f, s, true)
		}
		frames = append(frames, f)
	}
	t.Logf("%d corpus files, %d values: %d frames (%d retargeted at the listener); %d random malformed frames",
		files, len(vals), corpusFrames, retargeted, nRandom)

	before := s.Stats(t)
	bt := live.Total(before)
	var sent uint64
	start := time.Now()
	if err := s.Bed.Peer.Do(func() error {
		g, err := pktgen.New(s.Bed.Peer.Ifindex, frames)
		if err != nil {
			return err
		}
		defer g.Close()
		sent, err = g.Run(pktgen.Limits{Count: uint64(len(frames)), Duration: 60 * time.Second, Rate: 20_000})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	after := s.Stats(t)
	at := live.Total(after)
	t.Logf("sent %d frames in %v", sent, time.Since(start).Round(time.Millisecond))
	if sent != uint64(len(frames)) {
		t.Errorf("the peer sent %d of %d frames", sent, len(frames))
	}

	rx := at.RxFrames - bt.RxFrames
	seg := at.RxSegments - bt.RxSegments
	var drops uint64
	var byReason []string
	for r := range at.Drops {
		if d := at.Drops[r] - bt.Drops[r]; d > 0 {
			drops += d
			byReason = append(byReason, wire.DropReason(r).String()+" "+strconv.FormatUint(d, 10))
		}
	}
	xb, xa := before.XDP, after.XDP
	redirected := xa.Redirected - xb.Redirected
	seen := (xa.Passed() + xa.Redirected + xa.RedirectNoSocket) - (xb.Passed() + xb.Redirected + xb.RedirectNoSocket)
	ringDrops := xskLost(&bt, &at)
	t.Logf("XDP saw %d frames: %d redirected, passed: not IP %d, not TCP %d, fragment %d, not listened %d, truncated %d, bad header %d, IPv6 ext %d",
		seen, redirected, xa.PassedNotIP-xb.PassedNotIP, xa.PassedNotTCP-xb.PassedNotTCP, xa.PassedFragment-xb.PassedFragment,
		xa.PassedNotListened-xb.PassedNotListened, xa.PassedTruncated-xb.PassedTruncated, xa.PassedBadHeader-xb.PassedBadHeader, xa.PassedIPv6Ext-xb.PassedIPv6Ext)
	t.Logf("loop took %d frames: %d segments, %d dropped (%s); socket ring drops %d", rx, seg, drops, strings.Join(byReason, ", "), ringDrops)

	// Every frame sent passed through the XDP program (the peer's kernel
	// adds a few of its own: neighbour discovery).
	if seen < sent {
		t.Errorf("the XDP program saw %d frames, fewer than the %d sent", seen, sent)
	}
	if rx != seg+drops {
		t.Errorf("loop: %d frames != %d segments + %d drops", rx, seg, drops)
	}
	// The keep-alive connection's own frames are redirected too.
	if rx+ringDrops < redirected {
		t.Errorf("%d frames redirected to the socket, the loop took %d and the socket dropped %d", redirected, rx, ringDrops)
	}
	if drops == 0 || seg == 0 {
		t.Errorf("the replay reached neither the parser's drops (%d) nor the engine (%d segments)", drops, seg)
	}
	// Still serving: the connection open throughout, and a new one.
	roundTrip(t, keep, []byte("still here"))
	if err := echoOnce(s); err != nil {
		t.Errorf("a new connection after the replay: %v", err)
	}
}
