package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

// The components of the all-in-one process, as pprof labels: the app starts
// each part under pprof.Labels("component", name), and every goroutine it
// starts inherits the label.
const (
	LabelKey = "component"
	// Engine is the ClickHouse engine's own threads (not Go's: samples
	// with no Go frame); its work on Go threads (calls into the library) is
	// labelled with the component that made the call (the HTTP interface).
	Engine = "clickhouse-engine-threads"
	// Unlabelled is Go's runtime (GC workers, scheduler) and anything
	// started outside a labelled part.
	Unlabelled = "go-runtime-other"
)

// clockTick is the unit of /proc CPU times (USER_HZ; 100 on Linux).
const clockTick = 10 * time.Millisecond

// processCPU is this process's user+system CPU time so far.
func processCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, fmt.Errorf("bench: CPU accounting needs /proc (Linux): %w", err)
	}
	end := bytes.LastIndexByte(b, ')')
	fields := strings.Fields(string(b[end+1:]))
	// After the name: state is field 3; utime is 14, stime 15 (1-based).
	if end < 0 || len(fields) < 13 {
		return 0, errors.New("bench: unexpected /proc/self/stat")
	}
	ut, err1 := strconv.ParseInt(fields[11], 10, 64)
	st, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("bench: unexpected /proc/self/stat")
	}
	return time.Duration(ut+st) * clockTick, nil
}

// Usage is what the process used during one phase.
type Usage struct {
	Wall time.Duration `json:"wall_ns"`
	// CPU is in cores (CPU seconds per wall second) per component; the
	// components add up to Total.
	CPU   map[string]float64 `json:"cpu_cores"`
	Total float64            `json:"cpu_cores_total"`
	// RSS is the process's resident memory at the end of the phase and its
	// peak; GoBytes is what Go's runtime holds (heap, stacks, metadata);
	// the rest of RSS is the engine (its allocations and mapped library).
	RSSBytes     uint64 `json:"rss_bytes"`
	PeakRSSBytes uint64 `json:"peak_rss_bytes"`
	GoBytes      uint64 `json:"go_bytes"`
	// GoLiveBytes is the Go heap still reachable after a collection at
	// the end of the phase; GoBytes is larger by the collector's headroom
	// (GOGC=300 lets the heap grow to 4× the live bytes).
	GoLiveBytes uint64 `json:"go_live_bytes"`
}

// meter measures one phase: CPU from /proc, split across Go's components
// by a CPU profile with labels.
type meter struct {
	start time.Time
	cpu   time.Duration
	prof  bytes.Buffer
}

// startMeter begins measuring. Only one meter (one CPU profile) at a time.
func startMeter() (*meter, error) {
	m := &meter{start: time.Now()}
	var err error
	if m.cpu, err = processCPU(); err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(&m.prof); err != nil {
		return nil, fmt.Errorf("bench: CPU profile: %w", err)
	}
	return m, nil
}

// stop ends the phase and returns its usage; profile, if not nil, receives
// the raw CPU profile (for `go tool pprof`).
func (m *meter) stop(profileTo *bytes.Buffer) (Usage, error) {
	pprof.StopCPUProfile()
	cpu, err := processCPU()
	if err != nil {
		return Usage{}, err
	}
	u := Usage{Wall: time.Since(m.start), CPU: map[string]float64{}}
	secs := u.Wall.Seconds()
	u.Total = (cpu - m.cpu).Seconds() / secs
	if profileTo != nil {
		profileTo.Write(m.prof.Bytes())
	}
	shares, err := shares(m.prof.Bytes())
	if err != nil {
		return u, err
	}
	for name, share := range shares {
		u.CPU[name] = share * u.Total
	}
	u.RSSBytes, u.PeakRSSBytes = rss()
	u.GoBytes = goBytes()
	runtime.GC() // the phase is measured: a collection now costs nothing it reports
	u.GoLiveBytes = heapObjects()
	return u, nil
}

// shares splits a CPU profile's samples by component: the label the app
// set, or for the NATS server's goroutines (which set labels of their own:
// account, stream, consumer) the bus; samples with no Go frame at all are
// the engine's own threads.
func shares(data []byte) (map[string]float64, error) {
	p, err := profile.ParseData(data)
	if err != nil {
		return nil, fmt.Errorf("bench: parse CPU profile: %w", err)
	}
	return sharesOf(p), nil
}

func sharesOf(p *profile.Profile) map[string]float64 {
	byName := map[string]int64{}
	var total int64
	vi := len(p.SampleType) - 1 // cpu nanoseconds
	for _, s := range p.Sample {
		byName[component(s)] += s.Value[vi]
		total += s.Value[vi]
	}
	out := map[string]float64{}
	for k, v := range byName {
		if total > 0 {
			out[k] = float64(v) / float64(total)
		}
	}
	return out
}

func component(s *profile.Sample) string {
	if l := s.Label[LabelKey]; len(l) > 0 {
		return l[0]
	}
	for _, k := range []string{"account", "stream", "consumer"} {
		if len(s.Label[k]) > 0 {
			return "bus"
		}
	}
	goCode := false
	for _, loc := range s.Location {
		for _, line := range loc.Line {
			name := ""
			if line.Function != nil {
				name = line.Function.Name
			}
			switch {
			case strings.HasPrefix(name, "github.com/nats-io/"):
				// The NATS client's own goroutines (subscriptions, the
				// async publish acks) start wherever they were first needed.
				return "bus"
			case name != "" && !strings.HasPrefix(name, "[") && name != "runtime._ExternalCode":
				goCode = true
			}
		}
	}
	if goCode {
		return Unlabelled // the runtime: GC, scheduler
	}
	return Engine // no Go frame: a thread of the engine
}

// rss returns VmRSS and VmHWM of this process in bytes.
func rss() (cur, peak uint64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			cur = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return cur, peak
}

// goBytes is the memory Go's runtime has mapped and not returned.
func goBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() - s[1].Value.Uint64()
}

// heapObjects is the bytes of the heap's objects.
func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// sortedComponents lists the components of u by CPU, largest first.
func sortedComponents(u Usage) []string {
	names := make([]string, 0, len(u.CPU))
	for k := range u.CPU {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		return u.CPU[names[i]] > u.CPU[names[j]] || u.CPU[names[i]] == u.CPU[names[j]] && names[i] < names[j]
	})
	return names
}
