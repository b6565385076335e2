package main

// Fault tests of the whole binary (issue 7): `orbitflow run` killed again
// and again while an ingest is under way, and the NATS server inside it
// stopped and started while events are published. Each checks, Jepsen
// style, that every acknowledged event is in `activities` exactly once, and
// the kill test that the scores equal those of a clean run. Sizes scale up
// with environment variables for `make soak` (scripts/soak.sh).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
)

// envInt is the integer in the environment variable name, or def.
func envInt(t testing.TB, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	require.NoError(t, err, "%s", name)
	return n
}

// faultSeed is the seed of a randomized fault test: ORBITFLOW_FAULT_SEED
// replays a failed run; otherwise the clock. It is logged either way.
func faultSeed(t testing.TB) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("ORBITFLOW_FAULT_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "ORBITFLOW_FAULT_SEED")
	}
	t.Logf("seed %d (replay with ORBITFLOW_FAULT_SEED=%d)", seed, seed)
	return seed
}

// killEvents is the size of the SIGKILL test: ORBITFLOW_KILL_TEST_EVENTS
// (1M under `make soak`), by default small enough for `make test`.
func killEvents(t testing.TB) int { return envInt(t, "ORBITFLOW_KILL_TEST_EVENTS", 40_000) }

// httpQuery runs a query through the instance's ClickHouse HTTP interface
// (TSV); it works while `orbitflow run` is up, and fails fast when not.
func (in *instance) httpQuery(query string) (string, error) {
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get("http://" + in.chAddr + "/?query=" + url.QueryEscape(query))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, b)
	}
	return string(b), nil
}

// rawRows is the number of rows in activities_raw (copies included), -1
// when ClickHouse does not answer.
func (in *instance) rawRows() int {
	out, err := in.httpQuery("SELECT count() FROM activities_raw")
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		return -1
	}
	return n
}

// startIngest starts `ingest --wait` of file in the background.
func (in *instance) startIngest(ctx context.Context, file string) (*exec.Cmd, *kittest.SyncBuffer, <-chan error) {
	in.t.Helper()
	cmd := exec.CommandContext(ctx, binary, "ingest", "--config", in.config, "--source", "jsonl", "--community", "acme", "--wait", file)
	out := &kittest.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(in.t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return cmd, out, done
}

// killPoint is where one SIGKILL lands: once activities_raw holds a
// fraction of the rows still missing at the start of the round, then after
// delay more.
type killPoint struct {
	fraction float64
	delay    time.Duration
}

// killPoints draws the kill points: each round is killed once 5% to 60% of
// what it still has to write is written (one in five rounds at 0%: the run
// dies while the ingest is still publishing, before the sink wrote any of
// it), after a delay of up to 300 ms so the kill falls anywhere in a flush
// cycle.
func killPoints(rng *rand.Rand, kills int) []killPoint {
	pts := make([]killPoint, kills)
	for i := range pts {
		pts[i] = killPoint{fraction: 0.05 + 0.55*rng.Float64(), delay: time.Duration(rng.IntN(300)) * time.Millisecond}
		if rng.IntN(5) == 0 {
			pts[i].fraction = 0
		}
	}
	return pts
}

// TestSIGKILLDuringIngestLosesNothing kills `orbitflow run` with SIGKILL
// several times in a row at random points of one `ingest --wait` (the
// ingest is started again after each restart, as a user would), then lets
// the last ingest finish. Every event must be in `activities` exactly once,
// and the scores must equal those of a clean run of the same file.
// ORBITFLOW_KILL_TEST_EVENTS and ORBITFLOW_KILL_TEST_KILLS scale it up
// (make soak); ORBITFLOW_FAULT_SEED replays the kill points of a failure.
func TestSIGKILLDuringIngestLosesNothing(t *testing.T) {
	n := killEvents(t)
	kills := envInt(t, "ORBITFLOW_KILL_TEST_KILLS", 3)
	rng := rand.New(rand.NewPCG(faultSeed(t), 7))
	points := killPoints(rng, kills)
	began := time.Now()

	in := newInstance(t)
	file := filepath.Join(in.dir, "events.jsonl")
	writeEvents(t, file, n)
	in.start()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(max(10, n/10_000))*2*time.Minute)
	defer cancel()

	for k, pt := range points {
		round := time.Now()
		ing, ingOut, ingDone := in.startIngest(ctx, file)
		deadline := time.Now().Add(10 * time.Minute)
		finished := false
		rows := in.rawRows()
		target := rows + int(pt.fraction*float64(n-min(rows, n)))
		for !finished {
			if rows = in.rawRows(); rows >= target {
				break
			}
			select {
			case err := <-ingDone:
				// The ingest finished (or failed) before the kill point:
				// kill the idle run anyway; the next round ingests again.
				require.NoError(t, err, "ingest before kill %d: %s\nrun log:\n%s", k+1, ingOut, in.runLog)
				finished = true
			case <-time.After(20 * time.Millisecond):
			}
			require.True(t, time.Now().Before(deadline), "activities_raw never reached %d rows (at %d); ingest:\n%s\nrun log:\n%s", target, rows, ingOut, in.runLog)
		}
		time.Sleep(pt.delay)
		require.Error(t, in.stop(syscall.SIGKILL), "SIGKILL ends run with an error status")
		t.Logf("kill %d/%d: %d rows in activities_raw (point %d: %.0f%% of what was missing, +%s), %s into the round",
			k+1, kills, rows, target, 100*pt.fraction, pt.delay, time.Since(round).Round(time.Millisecond))
		if !finished {
			// The ingest must notice that its server is gone and fail, not hang.
			killed := time.Now()
			select {
			case err := <-ingDone:
				// Success is the truth only if the ingest was done before
				// the kill landed (the checker below holds it to its word).
				if err == nil {
					require.Contains(t, ingOut.String(), "all events are queryable", "the ingest reported success without its last line")
					t.Logf("the ingest had finished as the kill landed")
					break
				}
				t.Logf("the ingest failed %s after the kill: %s", time.Since(killed).Round(time.Millisecond), lastLine(ingOut.String()))
			case <-time.After(3 * time.Minute):
				_ = ing.Process.Signal(syscall.SIGQUIT) // goroutine dump into ingOut
				<-ingDone
				t.Fatalf("ingest still running 3m after its server was killed; its goroutines:\n%s", ingOut)
			}
		}
		restart := time.Now()
		in.start()
		t.Logf("run up again in %s", time.Since(restart).Round(time.Millisecond))
	}

	out, errOut, err := in.cli(ctx, "ingest", "--source", "jsonl", "--community", "acme", "--wait", file)
	require.NoError(t, err, "last ingest: %s\n%s\nrun log:\n%s", out, errOut, in.runLog)
	require.Contains(t, out, fmt.Sprintf("read %d,", n))
	require.Contains(t, out, "rejected 0")
	t.Logf("%d kills and the last ingest: %s (%s)", kills, strings.TrimSpace(strings.Split(out, "\n")[0]), time.Since(began).Round(time.Second))
	// Jepsen-style: every published id read back exactly once, nothing else.
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("e-%d", i)
	}
	report := in.exactlyOnce(ctx, "acme", ids)
	t.Log(report)
	require.True(t, report.OK(), report.String())

	// The same file through a run nobody kills: the scores must agree.
	clean := newInstance(t)
	clean.start()
	out, errOut, err = clean.cli(ctx, "ingest", "--source", "jsonl", "--community", "acme", "--wait", file)
	require.NoError(t, err, "clean ingest: %s\n%s", out, errOut)
	members := sameScores(t, in, clean, "acme", 2*time.Minute)
	t.Logf("scores of %d members equal those of the clean run (%s in all)", members, time.Since(began).Round(time.Second))
	require.NoError(t, in.stop(syscall.SIGTERM))
	require.NoError(t, clean.stop(syscall.SIGTERM))
}

// scoreColumns are the columns of members_raw that the events decide,
// whatever the timing: not presence_* and presence_at, which are as of the
// stream clock at the flush that wrote the row (batch boundaries differ
// between runs), nor stream_seq and updated_at.
const scoreColumns = `member_id, display_name, first_seen, last_seen, love, love_at, orbit_level, orbit_step,
	reach, reach_at, roles, is_bot, is_teammate, merged_into`

// floatColumns are the indexes of love and reach in scoreColumns: compared
// to a relative 1e-9 (summation order may differ in the last bits).
var floatColumns = map[int]bool{4: true, 8: true}

// sameScores waits until both instances' members of community agree (the
// scoring processors flush within a second of catching up), at most wait,
// and returns how many there are. On disagreement it shows the first
// differing rows.
func sameScores(t *testing.T, a, b *instance, community string, wait time.Duration) int {
	t.Helper()
	q := "SELECT " + scoreColumns + " FROM members_raw FINAL WHERE community = '" + community + "' ORDER BY member_id"
	deadline := time.Now().Add(wait)
	for {
		ra, errA := a.httpQuery(q)
		rb, errB := b.httpQuery(q)
		require.NoError(t, errA)
		require.NoError(t, errB)
		diff := diffScores(ra, rb)
		if len(diff) == 0 && ra != "" {
			return strings.Count(ra, "\n")
		}
		if time.Now().After(deadline) {
			t.Fatalf("scores differ from the clean run after %s (%d vs %d members); first differences (faulted | clean):\n%s",
				wait, strings.Count(ra, "\n"), strings.Count(rb, "\n"), strings.Join(diff, "\n"))
		}
		time.Sleep(time.Second)
	}
}

// diffScores compares two TSV results of scoreColumns row by row and
// returns up to 10 differences.
func diffScores(a, b string) []string {
	la, lb := strings.Split(strings.TrimSpace(a), "\n"), strings.Split(strings.TrimSpace(b), "\n")
	var diff []string
	if len(la) != len(lb) {
		diff = append(diff, fmt.Sprintf("%d rows | %d rows", len(la), len(lb)))
	}
	for i := 0; i < min(len(la), len(lb)) && len(diff) < 10; i++ {
		if !sameRow(la[i], lb[i]) {
			diff = append(diff, la[i]+"\n  | "+lb[i])
		}
	}
	return diff
}

func sameRow(a, b string) bool {
	if a == b {
		return true
	}
	fa, fb := strings.Split(a, "\t"), strings.Split(b, "\t")
	if len(fa) != len(fb) {
		return false
	}
	for i := range fa {
		if fa[i] == fb[i] {
			continue
		}
		if !floatColumns[i] {
			return false
		}
		x, err1 := strconv.ParseFloat(fa[i], 64)
		y, err2 := strconv.ParseFloat(fb[i], 64)
		if err1 != nil || err2 != nil || math.Abs(x-y) > 1e-9*math.Max(math.Abs(x), math.Abs(y)) {
			return false
		}
	}
	return true
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// setConfig replaces old with new in the instance's config file (it must be
// there): the next start reads it.
func (in *instance) setConfig(old, new string) {
	in.t.Helper()
	b, err := os.ReadFile(in.config)
	require.NoError(in.t, err)
	require.Contains(in.t, string(b), old)
	require.NoError(in.t, os.WriteFile(in.config, []byte(strings.Replace(string(b), old, new, 1)), 0o600))
}

// TestRestartDeliversAtOnceWhatAKilledRunHeld: a run killed while its sink
// held messages (taken, not yet written) once left them to the consumer's
// AckWait (2×flush_timeout+30s = 150 s): after a restart nothing reached
// ClickHouse for minutes. The embedded server is this process's own, so no
// one else can hold those deliveries: they are given back at start.
func TestRestartDeliversAtOnceWhatAKilledRunHeld(t *testing.T) {
	const n = 5000
	in := newInstance(t)
	// The sink takes everything and waits an hour to write it.
	in.setConfig("sink:\n  flush_interval: 200ms", "sink:\n  flush_interval: 1h\n  batch_size: 100000")
	file := filepath.Join(in.dir, "events.jsonl")
	writeEvents(t, file, n)
	in.start()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, errOut, err := in.cli(ctx, "ingest", "--source", "jsonl", "--community", "acme", file)
	require.NoError(t, err, "ingest: %s\n%s", out, errOut)
	require.Contains(t, out, fmt.Sprintf("published %d,", n))
	require.Eventually(t, func() bool { return in.sinkPending(ctx) == n }, time.Minute, 100*time.Millisecond,
		"the sink takes every message and holds it")
	require.Equal(t, 0, in.rawRows())
	require.Error(t, in.stop(syscall.SIGKILL))

	in.setConfig("flush_interval: 1h", "flush_interval: 200ms")
	in.start()
	restarted := time.Now()
	for in.rawRows() < n {
		require.Less(t, time.Since(restarted), 60*time.Second,
			"what the killed run held is not written a minute after the restart (the consumer's AckWait is 150s); run log:\n%s", in.runLog)
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the %d messages the killed run held were written %s after the restart", n, time.Since(restarted).Round(time.Millisecond))
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("e-%d", i)
	}
	report := in.exactlyOnce(ctx, "acme", ids)
	require.True(t, report.OK(), report.String())
	require.NoError(t, in.stop(syscall.SIGTERM))
}

// sinkPending is the sink's activity consumer's NumAckPending, read
// through the running instance's NATS (run.json names it); -1 on error.
func (in *instance) sinkPending(ctx context.Context) int {
	info, err := in.consumerInfo(ctx, subjects.ActivityStream, subjects.SinkActivities)
	if err != nil {
		return -1
	}
	return info.NumAckPending
}

// consumerInfo reads a consumer's state through the running instance's NATS.
func (in *instance) consumerInfo(ctx context.Context, stream, consumer string) (*jetstream.ConsumerInfo, error) {
	js, closeFn, err := in.jetStream()
	if err != nil {
		return nil, err
	}
	defer closeFn()
	c, err := js.Consumer(ctx, stream, consumer)
	if err != nil {
		return nil, err
	}
	return c.Info(ctx)
}

// jetStream connects to the running instance's NATS as `orbitflow ingest`
// does (run.json names the URL and the token).
func (in *instance) jetStream() (jetstream.JetStream, func(), error) {
	b, err := os.ReadFile(filepath.Join(in.dir, "data", "run.json"))
	if err != nil {
		return nil, nil, err
	}
	var st struct {
		URL   string `json:"nats_url"`
		Token string `json:"nats_token"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, nil, err
	}
	nc, err := nats.Connect(st.URL, nats.Token(st.Token), nats.MaxReconnects(0))
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return js, nc.Close, nil
}

// TestFullActivityStreamIsAClearErrorAndLosesNothing: an activity stream
// at its byte limit refuses new events. `ingest` stops with an error that
// names the stream and the setting, the gateway answers 503 saying the
// stream is full, and every event the stream acknowledged is written to
// ClickHouse exactly once.
func TestFullActivityStreamIsAClearErrorAndLosesNothing(t *testing.T) {
	const n = 20_000 // ~7 MB of messages, past the 2 MB limit
	in := newInstance(t)
	in.setConfig("nats:\n", "nats:\n  streams: {activity_max_bytes: 2000000}\n")
	file := filepath.Join(in.dir, "events.jsonl")
	writeEvents(t, file, n)
	in.start()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	out, errOut, err := in.cli(ctx, "ingest", "--source", "jsonl", "--community", "acme", "--wait", file)
	require.Error(t, err, "ingest into a full stream: %s\n%s", out, errOut)
	t.Logf("ingest: %s%s", out, lastLine(errOut))
	require.Contains(t, errOut, "stream ACTIVITIES is full")
	require.Contains(t, errOut, "raise nats.streams.activity_max_bytes")
	var published int
	_, err = fmt.Sscanf(out[strings.Index(out, "published "):], "published %d", &published)
	require.NoError(t, err, out)
	require.Greater(t, published, 1000)
	require.Less(t, published, n)

	// The gateway says so too, and the platform will retry.
	at := time.Now().UTC().Add(-time.Minute).Format("2006-01-02T15:04:05.000Z")
	req, _ := http.NewRequest(http.MethodPost, "http://"+in.gwAddr+"/hooks/generic", strings.NewReader(
		`{"id":"hook-1","source":"product","type":"custom.signup","occurred_at":"`+at+`","actor":{"source":"product","source_id":"u1"}}`))
	req.Header.Set("Authorization", "Bearer "+hookKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, string(body))
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	require.Contains(t, string(body), "the event stream is full")
	in.waitLog("stream ACTIVITIES is full")

	// What the stream acknowledged (the first events of the file, in
	// order) is written, exactly once; nothing else.
	for deadline := time.Now().Add(time.Minute); in.rawRows() < published; time.Sleep(100 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the sink never wrote the %d acknowledged events", published)
	}
	ids := make([]string, published)
	for i := range ids {
		ids[i] = fmt.Sprintf("e-%d", i)
	}
	report := in.exactlyOnce(ctx, "acme", ids)
	t.Log(report)
	require.True(t, report.OK(), report.String())
	require.NoError(t, in.stop(syscall.SIGTERM))
}
