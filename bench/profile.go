package main

// CPU profiles as bench output: the first measured window of every
// (workload, server) step is profiled twice over, and each profile is
// rendered to SVG next to the plots (-out/profiles):
//
//   - <step>.pprof.pb.gz: the server's Go CPU profile (runtime/pprof in the
//     child, started and stopped on its stdin). Every server here is a Go
//     program; for sluice this is its whole cost but the AF_XDP copy-mode
//     receive (the NAPI thread, below).
//   - <step>.perf.pb.gz: perf record -g of the server process and, on the
//     napi rig, its NAPI thread (kernel TCP, XDP, the UMEM copy), converted
//     from perf script to the pprof format with the thread (process or
//     NAPI) as the root frame. Only where perf is installed.
//
// SVGs are drawn by go tool pprof, which needs graphviz's dot: without it
// the .pb.gz files are still written (go tool pprof -http reads them) and
// the run says so. The profiled window is one of its own, -duration long,
// between the warm-up and the first measured window, so the profilers'
// CPU time (100 Hz SIGPROF, perf at 499 Hz) and allocations stay out of
// the figures. -profile=false turns profiling off; -short turns it off
// unless asked for.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

var profState struct {
	mu   sync.Mutex
	done map[string]bool // steps profiled already
	out  []string        // files written
	note string          // why something was not drawn
}

// profiler is one profiled window.
type profiler struct {
	base string // path without extension
	srv  *serverProc
	perf *exec.Cmd
}

// profileNext reports whether the step running (progress.go's current
// step) is still to be profiled, and marks it profiled.
func profileNext(c config) bool {
	if !c.profile {
		return false
	}
	step := currentStep()
	profState.mu.Lock()
	defer profState.mu.Unlock()
	if step == "" || profState.done[step] {
		return false
	}
	if profState.done == nil {
		profState.done = map[string]bool{}
	}
	profState.done[step] = true
	return true
}

// startProfile starts profiling srv until stop.
func startProfile(c config, srv *serverProc) *profiler {
	step := currentStep()
	dir, err := filepath.Abs(filepath.Join(c.out, "profiles"))
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		profNote("profiles: " + err.Error())
		return nil
	}
	p := &profiler{base: filepath.Join(dir, fileSafe(step)), srv: srv}
	if _, err := srv.ask("prof " + p.base + ".pprof.pb.gz\n"); err != nil {
		profNote("pprof: " + err.Error())
	}
	if _, err := exec.LookPath("perf"); err != nil {
		profNote("perf not installed: no kernel-side profiles")
		return p
	}
	pids := []string{strconv.Itoa(srv.cmd.Process.Pid)}
	if srv.napi != nil {
		for _, t := range srv.napi.server {
			pids = append(pids, strconv.Itoa(t))
		}
	}
	os.Remove(p.base + ".perf.data") // or perf keeps it as .old
	p.perf = exec.Command("perf", "record", "-q", "-g", "-F", "499", "-p", strings.Join(pids, ","),
		"-o", p.base+".perf.data")
	if err := p.perf.Start(); err != nil {
		profNote("perf record: " + err.Error())
		p.perf = nil
	}
	return p
}

// stop ends the profiles.
func (p *profiler) stop() {
	if p == nil {
		return
	}
	if _, err := p.srv.ask("profstop\n"); err != nil {
		profNote("pprof: " + err.Error())
	}
	if p.perf != nil {
		p.perf.Process.Signal(os.Interrupt)
		p.perf.Wait() // ends by the signal: its status says so
		if st, err := os.Stat(p.base + ".perf.data"); err != nil || st.Size() == 0 {
			profNote("perf record wrote nothing")
			p.perf = nil
		}
	}
}

// render converts and draws the profiles stop ended, outside the measured
// window.
func (p *profiler) render() {
	if p == nil {
		return
	}
	if st, err := os.Stat(p.base + ".pprof.pb.gz"); err == nil && st.Size() > 0 {
		p.draw(p.base+".pprof.pb.gz", p.base+".pprof.svg")
	}
	if p.perf == nil {
		return
	}
	data := p.base + ".perf.data"
	defer os.Remove(data)
	out, err := exec.Command("perf", "script", "-i", data, "-F", "comm,tid,ip,sym").Output()
	if err != nil {
		profNote("perf script: " + err.Error())
		return
	}
	pb := p.base + ".perf.pb.gz"
	if err := os.WriteFile(pb, perfToPprof(out), 0o644); err != nil {
		profNote(err.Error())
		return
	}
	p.draw(pb, p.base+".perf.svg")
}

// draw keeps src and draws it to svg with go tool pprof where graphviz is
// installed.
func (p *profiler) draw(src, svg string) {
	profState.mu.Lock()
	profState.out = append(profState.out, src)
	profState.mu.Unlock()
	if _, err := exec.LookPath("dot"); err != nil {
		profNote("graphviz (dot) not installed: profiles kept as .pb.gz, no SVG")
		return
	}
	if out, err := exec.Command("go", "tool", "pprof", "-svg", "-output", svg, src).CombinedOutput(); err != nil {
		profNote(fmt.Sprintf("go tool pprof -svg %s: %v: %s", filepath.Base(src), err, bytes.TrimSpace(out)))
		return
	}
	profState.mu.Lock()
	profState.out = append(profState.out, svg)
	profState.mu.Unlock()
}

func profNote(s string) {
	profState.mu.Lock()
	defer profState.mu.Unlock()
	if !strings.Contains(profState.note, s) {
		profState.note = joinNote(profState.note, s)
	}
}

// profilesWritten returns the files written and a note on what was not.
func profilesWritten() ([]string, string) {
	profState.mu.Lock()
	defer profState.mu.Unlock()
	return profState.out, profState.note
}

func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '_'
	}, s)
}

// perfToPprof turns perf script output (-F comm,tid,ip,sym: a header line
// per sample, then one tab-indented frame per line, leaf first) into a
// gzipped pprof profile, one location per function, with the sampled
// thread's name (NAPI threads folded to one name) as the root frame.
func perfToPprof(script []byte) []byte {
	var e pprofEnc
	e.init()
	sc := bufio.NewScanner(bytes.NewReader(script))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var stack []uint64
	comm := ""
	flush := func() {
		if comm != "" {
			e.sample(append(stack, e.loc("["+comm+"]")))
		}
		stack, comm = stack[:0], ""
	}
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.TrimSpace(l) == "":
			flush()
		case l[0] != '\t':
			flush()
			f := strings.Fields(l)
			comm = strings.Join(f[:max(1, len(f)-1)], " ")
			if strings.HasPrefix(comm, "napi/") {
				comm = "napi thread"
			}
		default:
			f := strings.Fields(l)
			sym := "[unknown]"
			if len(f) >= 2 {
				sym, _, _ = strings.Cut(f[1], "+0x")
			}
			stack = append(stack, e.loc(sym))
		}
	}
	flush()
	return e.bytes()
}

// pprofEnc writes the few fields of profile.proto a call graph needs.
type pprofEnc struct {
	strs    map[string]int64
	strList []string
	locs    map[string]uint64
	body    []byte // samples, locations, functions
}

func (e *pprofEnc) init() {
	e.strs, e.locs = map[string]int64{}, map[string]uint64{}
	e.str("")
}

func (e *pprofEnc) str(s string) int64 {
	if i, ok := e.strs[s]; ok {
		return i
	}
	i := int64(len(e.strList))
	e.strs[s] = i
	e.strList = append(e.strList, s)
	return i
}

// loc is the location (and function) id of a function name.
func (e *pprofEnc) loc(name string) uint64 {
	if id, ok := e.locs[name]; ok {
		return id
	}
	id := uint64(len(e.locs) + 1)
	e.locs[name] = id
	n := uint64(e.str(name))
	fn := pbUint(pbUint(pbUint(nil, 1, id), 2, n), 3, n) // Function{id, name, system_name}
	e.body = pbBytes(e.body, 5, fn)
	line := pbUint(nil, 1, id)                                        // Line{function_id}
	e.body = pbBytes(e.body, 4, pbBytes(pbUint(nil, 1, id), 4, line)) // Location{id, line}
	return id
}

func (e *pprofEnc) sample(locs []uint64) {
	var packed []byte
	for _, l := range locs {
		packed = binary.AppendUvarint(packed, l)
	}
	s := pbBytes(nil, 1, packed)                    // location_id, packed
	s = pbBytes(s, 2, binary.AppendUvarint(nil, 1)) // value: one sample
	e.body = pbBytes(e.body, 2, s)
}

func (e *pprofEnc) bytes() []byte {
	vt := pbUint(pbUint(nil, 1, uint64(e.str("samples"))), 2, uint64(e.str("count")))
	out := pbBytes(nil, 1, vt) // sample_type
	out = append(out, e.body...)
	for _, s := range e.strList {
		out = pbBytes(out, 6, []byte(s))
	}
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	z.Write(out)
	z.Close()
	return b.Bytes()
}

func pbUint(b []byte, field int, v uint64) []byte {
	return binary.AppendUvarint(binary.AppendUvarint(b, uint64(field)<<3), v)
}

func pbBytes(b []byte, field int, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(field)<<3|2)
	return append(binary.AppendUvarint(b, uint64(len(v))), v...)
}
