package progress

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// clock is a settable clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestRateAndETA(t *testing.T) {
	require.Equal(t, 0.0, Rate(100, 0))
	require.InDelta(t, 250.0, Rate(1000, 4*time.Second), 1e-9)

	tests := []struct {
		name             string
		done, total      int64
		elapsed, wantETA time.Duration
		wantOK           bool
	}{
		{"a quarter in 10s leaves 30s", 250, 1000, 10 * time.Second, 30 * time.Second, true},
		{"half in 1m leaves 1m", 5, 10, time.Minute, time.Minute, true},
		{"done", 10, 10, time.Second, 0, true},
		{"past the total", 12, 10, time.Second, 0, true},
		{"unknown total", 10, 0, time.Second, 0, false},
		{"nothing done yet", 0, 10, time.Second, 0, false},
		{"no time passed", 5, 10, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eta, ok := ETA(tt.done, tt.total, tt.elapsed)
			require.Equal(t, tt.wantOK, ok)
			require.Equal(t, tt.wantETA, eta)
		})
	}
}

func TestRenderTerminalWithTotal(t *testing.T) {
	line := Render(State{Done: 512 << 10, Total: 2 << 20, Items: 5000, ItemUnit: "events", Detail: "3 rejected"},
		Options{Label: "ingest", Unit: "B", Terminal: true}, 10*time.Second)
	require.Equal(t, "ingest [======>                 ] 512.0 KiB/2.0 MiB (25%), 5000 events, 500 events/s, ETA 30s, elapsed 10s, 3 rejected", line)
}

func TestRenderPlainWithoutTotal(t *testing.T) {
	line := Render(State{Done: 120000}, Options{Label: "backfill", Unit: "events"}, 2*time.Minute+3*time.Second)
	require.Equal(t, "backfill: 120000 events, 976 events/s, elapsed 2m03s", line)
}

func TestRenderCountsWithTotal(t *testing.T) {
	line := Render(State{Done: 3, Total: 4}, Options{Label: "bench", Unit: "phases"}, 90*time.Second)
	require.Equal(t, "bench: 3 phases/4 phases (75%), 0 phases/s, ETA 30s, elapsed 1m30s", line)
}

func TestTerminalRedrawsInPlaceAtMostTenTimesASecondAndClears(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	var out bytes.Buffer
	b := New(&out, Options{Label: "ingest", Unit: "events", Terminal: true, Now: c.now})
	// 1000 updates over one second: 10 ms apart.
	for i := 1; i <= 1000; i++ {
		c.advance(time.Millisecond)
		b.Update(State{Done: int64(i), Total: 1000})
	}
	draws := strings.Count(out.String(), "\r")
	require.GreaterOrEqual(t, draws, 9)
	require.LessOrEqual(t, draws, 11, "a redraw at most every 100 ms")
	require.NotContains(t, out.String(), "\n", "a terminal bar stays on one line")
	require.Contains(t, out.String(), "\x1b[K", "each redraw clears the rest of the line")

	out.Reset()
	b.Finish()
	require.Equal(t, "\r\x1b[K", out.String(), "finishing clears the bar")
	out.Reset()
	b.Finish()
	require.Empty(t, out.String(), "Finish is idempotent")
}

func TestTerminalLineIsCutToTheWidth(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	var out bytes.Buffer
	b := New(&out, Options{Label: "ingest", Unit: "B", Terminal: true, Width: 40, Now: c.now})
	c.advance(time.Second)
	b.Update(State{Done: 10, Total: 100, Detail: strings.Repeat("x", 100)})
	line := strings.TrimSuffix(strings.TrimPrefix(out.String(), "\r"), "\x1b[K")
	require.Len(t, line, 39)
}

func TestPlainPrintsALineEveryIntervalAndNothingForShortJobs(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	var out bytes.Buffer
	b := New(&out, Options{Label: "ingest", Unit: "events", Every: 5 * time.Second, Now: c.now})
	for i := 1; i <= 40; i++ { // 40 updates, 500 ms apart: 20 s
		c.advance(500 * time.Millisecond)
		b.Update(State{Done: int64(i * 100)})
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 4, "one line every 5 s over 20 s:\n%s", out.String())
	require.Equal(t, "ingest: 1000 events, 200 events/s, elapsed 5s", lines[0])
	require.NotContains(t, out.String(), "\r")
	b.Finish()
	require.Len(t, strings.Split(strings.TrimSpace(out.String()), "\n"), 4, "nothing to clear in plain output")

	out.Reset()
	short := New(&out, Options{Label: "ingest", Now: c.now})
	c.advance(time.Second)
	short.Update(State{Done: 10})
	short.Finish()
	require.Empty(t, out.String(), "a job shorter than the interval prints only its own summary")
}

func TestDurationAndUnits(t *testing.T) {
	require.Equal(t, "0s", Duration(0))
	require.Equal(t, "59s", Duration(59*time.Second+400*time.Millisecond))
	require.Equal(t, "1m00s", Duration(59*time.Second+600*time.Millisecond))
	require.Equal(t, "1h02m03s", Duration(time.Hour+2*time.Minute+3*time.Second))
	require.Equal(t, "512 B", Bytes(512))
	require.Equal(t, "1.5 KiB", Bytes(1536))
	require.Equal(t, "12.0 MiB", Bytes(12<<20))
	require.Equal(t, "950", Count(950))
	require.Equal(t, "12.3k", Count(12300))
	require.Equal(t, "1.25M", Count(1_250_000))
}

func TestFilesFollowsTheReadOffsetOfTheCurrentFile(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	require.NoError(t, os.WriteFile(a, bytes.Repeat([]byte("x"), 1000), 0o600))
	require.NoError(t, os.WriteFile(b, bytes.Repeat([]byte("y\n"), 50_000), 0o600))
	f := NewFiles([]string{a, b, "-"})
	require.Equal(t, int64(101_000), f.Total())
	require.Equal(t, int64(0), f.Done())

	// Reading b (a is passed): done is a's size plus b's offset.
	f.At(b + ":1")
	file, err := os.Open(b)
	require.NoError(t, err)
	defer file.Close()
	br := bufio.NewReaderSize(file, 4096)
	_, err = br.Discard(20_000)
	require.NoError(t, err)
	done := f.Done()
	require.GreaterOrEqual(t, done, int64(1000+20_000))
	require.Less(t, done, int64(1000+20_000+4096+1), "the offset is what the reader took from the file")

	// A position naming an earlier file does not go back, nor does a
	// closed file.
	f.At(a + ":3")
	require.GreaterOrEqual(t, f.Done(), done)
	require.NoError(t, file.Close())
	require.GreaterOrEqual(t, f.Done(), done, "the reader closed the file: done stays")
}
