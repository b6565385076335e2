package main

// End-to-end tests of the orbitflow binary: they build it, start
// `orbitflow run` as a child process on free loopback ports, and drive it
// with `ingest`, `sql` and plain HTTP, against the real embedded NATS server
// and the real ClickHouse engine. Each test ends only the processes it
// started.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/connectors/github"
	"github.com/orbitflow/orbitflow/services/connectors/source"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "orbitflow-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "orbitflow")
	// Built without -race: the children are the system under test; the race
	// detector covers the packages' own tests.
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build orbitflow: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// instance is one data dir with a config on free ports.
type instance struct {
	t       testing.TB
	dir     string
	config  string
	chAddr  string
	apiAddr string
	gwAddr  string
	run     *exec.Cmd
	runLog  *kittest.SyncBuffer
	runArgs []string // after run --config, e.g. --demo
}

// waitLog waits until the run log holds want. A line the process wrote
// before it answered a request reaches the buffer later, through exec's
// copying goroutine, so a test must not read the log right after the reply.
func (in *instance) waitLog(want string) {
	in.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(in.runLog.String(), want) {
		if time.Now().After(deadline) {
			in.t.Fatalf("the run log never said %q; log:\n%s", want, in.runLog.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// scrape reads the running instance's /metrics with the API key.
func (in *instance) scrape() string {
	in.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+in.apiAddr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(in.t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(in.t, http.StatusOK, resp.StatusCode, string(body))
	return string(body)
}

// apiKey is the API key of test instances; their config holds its SHA-256.
const apiKey = "test-key-0123456789abcdef"

func newInstance(t testing.TB) *instance {
	t.Helper()
	dir := t.TempDir()
	in := &instance{t: t, dir: dir, chAddr: freePort(t), apiAddr: freePort(t), gwAddr: freePort(t)}
	in.config = filepath.Join(dir, "orbitflow.yaml")
	cfg := fmt.Sprintf(`data_dir: %s
log: {level: info}
nats:
  embedded: {listen: "%s"}
clickhouse:
  embedded: {listen: "%s"}
api:
  listen: "%s"
  api_keys: ["sha256:%s"]
sink:
  flush_interval: 200ms
gateway:
  listen: "%s"
  hooks:
    - {source: generic, community: acme, secrets: ["%s"]}
    - {source: github, community: acme, secrets: ["%s"]}
`, filepath.Join(dir, "data"), freePort(t), in.chAddr, in.apiAddr, fmt.Sprintf("%x", sha256.Sum256([]byte(apiKey))), in.gwAddr, hookKey, githubSecret)
	require.NoError(t, os.WriteFile(in.config, []byte(cfg), 0o600))
	return in
}

// start launches `orbitflow run` and waits until it serves its own
// run.json (one left by a killed run names another pid).
func (in *instance) start() {
	t := in.t
	t.Helper()
	in.runLog = &kittest.SyncBuffer{}
	cmd := exec.Command(binary, append([]string{"run", "--config", in.config}, in.runArgs...)...)
	cmd.Stdout = in.runLog
	cmd.Stderr = in.runLog
	require.NoError(t, cmd.Start())
	in.run = cmd
	t.Cleanup(func() {
		if in.run != nil && in.run.Process != nil && in.run.ProcessState == nil {
			_ = in.run.Process.Kill()
			_ = in.run.Wait()
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if b, err := os.ReadFile(filepath.Join(in.dir, "data", "run.json")); err == nil {
			var st struct {
				PID int `json:"pid"`
			}
			if json.Unmarshal(b, &st) == nil && st.PID == cmd.Process.Pid {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("orbitflow run did not come up within 2m; its log:\n%s", in.runLog.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends sig and waits for the process; it returns the exit error.
func (in *instance) stop(sig syscall.Signal) error {
	in.t.Helper()
	require.NoError(in.t, in.run.Process.Signal(sig))
	done := make(chan error, 1)
	go func() { done <- in.run.Wait() }()
	select {
	case err := <-done:
		in.run = nil
		return err
	case <-time.After(90 * time.Second):
		_ = in.run.Process.Kill()
		in.t.Fatalf("orbitflow run did not stop within 90s after %v; log:\n%s", sig, in.runLog.String())
		return nil
	}
}

// cli runs an orbitflow command against this instance.
func (in *instance) cli(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	full := append([]string{args[0], "--config", in.config}, args[1:]...)
	cmd := exec.CommandContext(ctx, binary, full...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func (in *instance) sqlValue(query string) string {
	in.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, errOut, err := in.cli(ctx, "sql", "--format", "TSV", query)
	require.NoError(in.t, err, "sql %q: %s", query, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(in.t, lines, 2, "want a header and one row, got %q", out)
	return lines[1]
}

// writeEvents writes n valid events (ids e-0..e-n-1) plus the given extra lines.
func writeEvents(t testing.TB, path string, n int, extra ...string) {
	t.Helper()
	writeEventsFrom(t, path, 0, n, extra...)
}

// writeEventsFrom writes writeEvents' events from..to-1.
func writeEventsFrom(t testing.TB, path string, from, to int, extra ...string) {
	t.Helper()
	activityFile{community: "acme", from: from, to: to, members: 5000, step: time.Second, idPrefix: "e-"}.write(t, path, extra...)
}

// activityFile is a JSON Lines file of activities from..to-1 of
// community: activity i has id idPrefix<i>, is by member u<i % members>,
// of github, discourse and slack in turn, at 2026-01-01 + i·step.
type activityFile struct {
	community string
	from, to  int
	members   int
	step      time.Duration
	idPrefix  string
}

// write writes the file, then the extra lines.
func (a activityFile) write(t testing.TB, path string, extra ...string) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	w := bufio.NewWriterSize(f, 1<<20)
	sources := []string{"github", "discourse", "slack"}
	types := map[string]string{"github": "github.issue.opened", "discourse": "discourse.post.created", "slack": "slack.message.posted"}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := a.from; i < a.to; i++ {
		src := sources[i%3]
		at := base.Add(time.Duration(i) * a.step).Format("2006-01-02T15:04:05.000Z")
		fmt.Fprintf(w, `{"id":"%s%d","schema_version":1,"community":"%s","source":"%s","type":"%s","occurred_at":"%s","actor":{"source":"%s","source_id":"u%d","username":"user%d"},"channel":"general","title":"hello"}`+"\n",
			a.idPrefix, i, a.community, src, types[src], at, src, i%a.members, i%a.members)
	}
	for _, l := range extra {
		fmt.Fprintln(w, l)
	}
	require.NoError(t, w.Flush())
	require.NoError(t, f.Close())
}

func TestRunIngestQuery(t *testing.T) {
	in := newInstance(t)
	in.start()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	file := filepath.Join(in.dir, "events.jsonl")
	writeEvents(t, file, 3000,
		`{"id":"bad-1","schema_version":1,"community":"acme","source":"github","type":"github.nonsense","occurred_at":"2026-01-01T00:00:00.000Z","actor":{"source":"github","source_id":"1"}}`,
		`{not json`,
	)
	out, errOut, err := in.cli(ctx, "ingest", "--source", "jsonl", "--community", "acme", "--wait", file)
	require.NoError(t, err, "ingest: %s\n%s", out, errOut)
	require.Contains(t, out, "read 3002, published 3000, duplicates 0, rejected 2")
	require.Contains(t, out, "unknown type")

	require.Equal(t, "3000", in.sqlValue("SELECT count() FROM activities"))
	require.Equal(t, "2", in.sqlValue("SELECT count() FROM dead_letters"))
	require.Equal(t, "1000", in.sqlValue("SELECT count() FROM activities WHERE source = 'slack'"))

	// The ClickHouse HTTP interface answers plain curl-style requests.
	resp, err := http.Get("http://" + in.chAddr + "/?query=" + url.QueryEscape("SELECT count() FROM activities"))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Equal(t, "3000\n", string(body))

	// A repeated ingest stores nothing twice.
	out, errOut, err = in.cli(ctx, "ingest", "--source", "jsonl", "--community", "acme", "--wait", file)
	require.NoError(t, err, "second ingest: %s\n%s", out, errOut)
	require.Contains(t, out, "published 0, duplicates 3000, rejected 2")
	require.Equal(t, "3000", in.sqlValue("SELECT count() FROM activities"))
	require.Equal(t, "2", in.sqlValue("SELECT count() FROM dead_letters"), "the same rejected input is dead-lettered once")

	// The pipeline API needs its key and reports the consumers.
	req, _ := http.NewRequest("GET", "http://"+in.apiAddr+"/v1/pipeline", nil)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	var p struct {
		Consumers []struct {
			Name     string `json:"name"`
			AckFloor uint64 `json:"ack_floor"`
		} `json:"consumers"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&p))
	resp.Body.Close()
	require.NotEmpty(t, p.Consumers)

	// Prometheus metrics from the services' instruments, behind the key:
	// the sink's rows (3000 activities, and the 2 dead letters).
	metricsText := in.scrape()
	require.Contains(t, metricsText, `orbitflow_sink_rows_total{table="activities_raw"} 3000`)
	require.Contains(t, metricsText, `orbitflow_stream_lag{consumer="sink-activities",stream="ACTIVITIES"} 0`, "ingest --wait returned: the sink is caught up")
	require.Contains(t, metricsText, `orbitflow_rejected_total{reason=`)
	require.Contains(t, metricsText, `orbitflow_http_server_request_duration_seconds_count{code="200",method="GET",route="/v1/pipeline",server="api"}`)
	require.Contains(t, metricsText, "go_goroutines")

	// The query API answers from the health views: 3000 identities active
	// on 2026-01-01, each with one contribution, once the sink's rollup
	// refresher (every 5 s) has caught up.
	want := []map[string]any{{"period_start": "2026-01-01", "active_members": float64(3000), "activities": float64(3000),
		"contributors": float64(3000), "contributions": float64(3000), "new_members": float64(3000), "new_contributors": float64(3000)}}
	var h struct {
		Rows []map[string]any `json:"rows"`
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		req, _ = http.NewRequest("GET", "http://"+in.apiAddr+"/api/v1/communities/acme/health?from=2026-01-01&to=2026-01-01&period=day", nil)
		req.Header.Set("Authorization", "Bearer "+apiKey)
		resp, err = http.DefaultClient.Do(req)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		h.Rows = nil
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&h))
		resp.Body.Close()
		if reflect.DeepEqual(want, h.Rows) || time.Now().After(deadline) {
			break
		}
	}
	require.Equal(t, want, h.Rows)

	require.NoError(t, in.stop(syscall.SIGTERM), "run exits cleanly on SIGTERM; log:\n%s", in.runLog.String())
	_, err = os.Stat(filepath.Join(in.dir, "data", "run.json"))
	require.True(t, os.IsNotExist(err), "run.json is withdrawn at shutdown")

	// With no run active, sql opens the data dir itself and finds the same rows.
	require.Equal(t, "3000", in.sqlValue("SELECT count() FROM activities"))
}

const (
	hookKey      = "hook-key-0123456789abcdef"
	githubSecret = "github-secret-0123456789"
)

// TestSignedGitHubWebhookIsQueryable sends a real GitHub payload example the
// way GitHub does (X-Hub-Signature-256 over the body), like curl would.
func TestSignedGitHubWebhookIsQueryable(t *testing.T) {
	body, err := os.ReadFile("../../../shared/realdata/github_webhooks/api.github.com/issues/opened.payload.json")
	require.NoError(t, err, "the GitHub webhook fixtures are required")
	in := newInstance(t)
	in.start()
	post := func(secret string) int {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		req, _ := http.NewRequest(http.MethodPost, "http://"+in.gwAddr+"/hooks/github", bytes.NewReader(body))
		req.Header.Set("X-GitHub-Event", "issues")
		req.Header.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusUnauthorized, post("not-the-secret-0123456789"))
	sent := time.Now()
	require.Equal(t, http.StatusAccepted, post(githubSecret))
	require.Equal(t, http.StatusAccepted, post(githubSecret), "a redelivery is accepted")
	for in.sqlValue("SELECT count() FROM activities WHERE type = 'github.issue.opened'") != "1" {
		require.Less(t, time.Since(sent), time.Minute, "the delivery never became a row")
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("signed GitHub delivery queryable %s after it was sent", time.Since(sent).Round(time.Millisecond))
	require.Equal(t, "1", in.sqlValue("SELECT count() FROM activities"), "the redelivery is not counted twice")
}

// TestGHArchiveIngestIsExactlyOnce replays the real GH Archive hour: every
// mapped event lands once, and replaying it again adds nothing.
func TestGHArchiveIngestIsExactlyOnce(t *testing.T) {
	const file = "../../../shared/realdata/gharchive/2015-01-01-0.json.gz"
	want := map[string]bool{}
	var ignored int
	for rec := range github.ArchiveFiles([]string{file}, source.Env{Community: "demo"}) {
		require.NoError(t, rec.Err, rec.Pos)
		if rec.Ignored != "" {
			ignored++
			continue
		}
		want[rec.Event.ID] = true
	}
	require.NotEmpty(t, want)
	in := newInstance(t)
	in.start()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, errOut, err := in.cli(ctx, "ingest", "--source", "gharchive", "--community", "demo", "--wait", file)
	require.NoError(t, err, "ingest: %s\n%s", out, errOut)
	require.Contains(t, out, fmt.Sprintf("rejected 0, ignored %d", ignored))
	require.Equal(t, strconv.Itoa(len(want)), in.sqlValue("SELECT count() FROM activities WHERE community = 'demo'"))
	require.Equal(t, strconv.Itoa(len(want)), in.sqlValue("SELECT uniqExact(event_id) FROM activities"))

	out, errOut, err = in.cli(ctx, "ingest", "--source", "gharchive", "--community", "demo", "--wait", file)
	require.NoError(t, err, "second ingest: %s\n%s", out, errOut)
	require.Contains(t, out, "published 0,")
	require.Equal(t, strconv.Itoa(len(want)), in.sqlValue("SELECT count() FROM activities"), "a replay adds nothing")
}

// TestWebhookDeliveryIsQueryable posts deliveries to the running gateway the
// way a platform (or curl) would: an authentic one becomes a row, a wrongly
// authenticated one is rejected and counted, and nothing of it is stored.
func TestWebhookDeliveryIsQueryable(t *testing.T) {
	in := newInstance(t)
	in.start()
	// run.json is written before the banner that lists the hooks: wait for it.
	want := "webhook: POST http://" + in.gwAddr + "/hooks/generic (generic, community acme)"
	in.waitLog(want)
	post := func(key, body string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+in.gwAddr+"/hooks/generic", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	at := time.Now().UTC().Add(-time.Minute).Format("2006-01-02T15:04:05.000Z")
	good := `{"id":"hook-1","source":"product","type":"custom.signup","occurred_at":"` + at + `","actor":{"source":"product","source_id":"u1"}}`
	forged := strings.Replace(good, "hook-1", "hook-forged", 1)
	require.Equal(t, http.StatusUnauthorized, post("wrong-key-0123456789abcdef", forged))
	sent := time.Now()
	require.Equal(t, http.StatusAccepted, post(hookKey, good))
	for in.sqlValue("SELECT count() FROM activities WHERE event_id = 'hook-1'") != "1" {
		require.Less(t, time.Since(sent), time.Minute, "the delivery never became a row")
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("webhook delivery queryable %s after it was sent", time.Since(sent).Round(time.Millisecond))
	require.Equal(t, "0", in.sqlValue("SELECT count() FROM activities WHERE event_id = 'hook-forged'"))
	require.Equal(t, "0", in.sqlValue("SELECT count() FROM dead_letters"), "a forged delivery is not stored, even as a dead letter")
	in.waitLog("delivery rejected: bad signature")
	metricsText := in.scrape()
	require.Contains(t, metricsText, `orbitflow_http_server_request_duration_seconds_count{code="202",method="POST",route="/hooks/generic",server="gateway"} 1`)
	require.Contains(t, metricsText, `orbitflow_http_server_request_duration_seconds_count{code="401",method="POST",route="/hooks/generic",server="gateway"} 1`)
	// Counted right after the insert that made the row queryable.
	require.Eventually(t, func() bool {
		return strings.Contains(in.scrape(), `orbitflow_activities_total{source="product",type="custom"} 1`)
	}, 10*time.Second, 50*time.Millisecond)
	require.NotContains(t, in.runLog.String(), hookKey, "a secret reached the log")
}

// exactlyOnce checks a community's activities against the published ids
// through the instance's ClickHouse HTTP interface.
func (in *instance) exactlyOnce(ctx context.Context, community string, ids []string) store.ExactlyOnce {
	in.t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{in.chAddr}, Protocol: clickhouse.HTTP,
		Auth: clickhouse.Auth{Database: store.DefaultConfig().Database}})
	require.NoError(in.t, err)
	defer conn.Close()
	r, err := store.CheckExactlyOnce(ctx, conn, community, ids)
	require.NoError(in.t, err)
	return r
}

// TestFileConnectorsThroughTheBinary ingests a real mailing-list archive and
// an event-attendance CSV with `orbitflow ingest --wait`.
func TestFileConnectorsThroughTheBinary(t *testing.T) {
	const archive = "../../../shared/realdata/mailing_lists/apache_ponymail_corpus/maven-dev-2017-11-mailarchivesao.mbox"
	_, err := os.Stat(archive)
	require.NoError(t, err, "the mailing-list fixtures are required")
	in := newInstance(t)
	in.start()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	out, errOut, err := in.cli(ctx, "ingest", "--source", "mbox", "--community", "maven", "--wait", archive)
	require.NoError(t, err, "ingest mbox: %s\n%s", out, errOut)
	var published int
	_, err = fmt.Sscanf(out[strings.Index(out, "published "):], "published %d", &published)
	require.NoError(t, err, out)
	require.Greater(t, published, 100)
	require.Equal(t, strconv.Itoa(published), in.sqlValue("SELECT count() FROM activities WHERE source = 'mailinglist'"))
	require.Equal(t, "0", in.sqlValue("SELECT countIf(position(identity, '@') > 0) FROM activities"), "no address in clear")

	csv := filepath.Join(in.dir, "attendance.csv")
	require.NoError(t, os.WriteFile(csv, []byte("event_id,event_name,date,member_id,username,role\n"+
		"m1,Go meetup,2026-01-10,u1,jane,organized\nm1,Go meetup,2026-01-10,u2,joe,attended\nm1,Go meetup,2026-01-10,u3,ann,dancing\n"), 0o600))
	out, errOut, err = in.cli(ctx, "ingest", "--source", "events", "--community", "maven", "--wait", csv)
	require.NoError(t, err, "ingest csv: %s\n%s", out, errOut)
	require.Contains(t, out, "published 2, duplicates 0, rejected 1")
	require.Equal(t, "11", in.sqlValue("SELECT toUInt32(sum(weight)) FROM activities WHERE type = 'events.event.organized'"))
	require.Equal(t, "1", in.sqlValue("SELECT count() FROM dead_letters WHERE reason LIKE '%column role%'"))
}

// TestBackfillResumesFromItsCursor backfills a Discord channel from a local
// REST server, then runs again: the second run stops at what it has.
func TestBackfillResumesFromItsCursor(t *testing.T) {
	msg := func(id, at string) string {
		return `{"id":"` + id + `","channel_id":"1189262451238539200","author":{"id":"1189262451238539001","username":"jane"},"content":"hi","timestamp":"` + at + `","type":0,"mentions":[]}`
	}
	var mu sync.Mutex
	var queries []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "Bot discord-token-for-test", r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/channels/1189262451238539200":
			_, _ = io.WriteString(w, `{"id":"1189262451238539200","type":0,"guild_id":"1189262451238539100"}`)
		case "/channels/1189262451238539200/messages":
			mu.Lock()
			queries = append(queries, r.URL.RawQuery)
			mu.Unlock()
			q := r.URL.Query()
			if q.Get("before") == "" && q.Get("after") == "" {
				_, _ = io.WriteString(w, "["+msg("1189262451238539299", "2025-01-02T03:04:05.000+00:00")+","+msg("1189262451238539298", "2025-01-02T03:04:04.000+00:00")+"]")
				return
			}
			_, _ = io.WriteString(w, "[]")
		default:
			http.NotFound(w, r)
		}
	}))
	defer api.Close()
	in := newInstance(t)
	in.start()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := func() string {
		cmd := exec.CommandContext(ctx, binary, "backfill", "--config", in.config, "--source", "discord", "--community", "acme",
			"--channel", "1189262451238539200", "--base-url", api.URL, "--wait")
		cmd.Env = append(os.Environ(), "DISCORD_BOT_TOKEN=discord-token-for-test")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return string(out)
	}
	out := run()
	require.Contains(t, out, "published 2, duplicates 0, rejected 0")
	require.Equal(t, "2", in.sqlValue("SELECT count() FROM activities WHERE source = 'discord'"))
	mu.Lock()
	first := len(queries)
	mu.Unlock()
	out = run()
	require.Contains(t, out, "resuming from")
	require.Contains(t, out, "read 0, published 0", "the second run stops at the newest message it already has")
	mu.Lock()
	require.Equal(t, 1, len(queries)-first, "one page, not the whole history again: %q", queries[first:])
	mu.Unlock()
	require.NotContains(t, out, "discord-token-for-test", "the token reached the output")
}

// topLoveSQL compares the members view with the batch recompute of love
// from activities (schemas/clickhouse/README.md) at the same instant.
const topLoveSQL = `
WITH now64(3) AS t
SELECT r.member_id, m.love, r.love, m.orbit_level, m.reach
FROM (
    SELECT a.community AS community, if(i.member_id != '', i.member_id, a.identity) AS member_id,
           sum(toFloat64(a.weight) * pow(0.9, dateDiff('millisecond', a.occurred_at, t) / 2592000000)) AS love
    FROM activities AS a
    LEFT JOIN (SELECT community, identity, member_id FROM member_identities FINAL) AS i
        ON i.community = a.community AND i.identity = a.identity
    WHERE a.community = 'demo' AND NOT a.is_bot AND a.occurred_at <= t
    GROUP BY community, member_id
) AS r
LEFT JOIN members AS m ON m.community = r.community AND m.member_id = r.member_id
ORDER BY r.love DESC, r.member_id
LIMIT 10`

// lovedMember is one row of topLove.
type lovedMember struct {
	id, level string
	reach     float64 // decayed to the query's now
}

func (m lovedMember) String() string {
	return fmt.Sprintf("%s\t%s\t%.5g", m.id, m.level, m.reach)
}

// sameTopLove: the same members at the same levels, their reach equal but
// for the decay between the two queries' clocks (seconds against a half-life
// of weeks), so to a relative 1e-4 rather than to printed digits, which a
// value near a rounding boundary flips.
func sameTopLove(t *testing.T, want, got []lovedMember) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i].id+" "+want[i].level, got[i].id+" "+got[i].level, "row %d", i)
		require.InDelta(t, want[i].reach, got[i].reach, 1e-4*math.Abs(want[i].reach), "reach of %s", want[i].id)
	}
}

// topLove waits until the top 10 of the batch recompute (from activities,
// complete once ingested) agrees with the members view (the processor
// flushes every second) and returns it. The recompute drives: a member the
// processor has not written yet shows as a disagreement, not as absent.
func (in *instance) topLove() []lovedMember {
	in.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, errOut, err := in.cli(ctx, "sql", "--format", "TSV", topLoveSQL)
		cancel()
		require.NoError(in.t, err, errOut)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		ok := len(lines) == 11 // header + 10
		var top []lovedMember
		for _, l := range lines[1:] {
			f := strings.Split(l, "\t")
			if len(f) != 5 {
				ok = false
				break
			}
			streamed, err1 := strconv.ParseFloat(f[1], 64)
			batch, err2 := strconv.ParseFloat(f[2], 64)
			if err1 != nil || err2 != nil || math.Abs(streamed-batch) > 1e-9*math.Abs(batch) {
				ok = false
			}
			reach, err3 := strconv.ParseFloat(f[4], 64)
			if err3 != nil {
				ok = false
			}
			top = append(top, lovedMember{id: f[0], level: f[3], reach: reach})
		}
		if ok {
			return top
		}
		require.True(in.t, time.Now().Before(deadline), "members never agreed with the recompute:\n%s", out)
		time.Sleep(500 * time.Millisecond)
	}
}

// TestGHArchiveScoresAgreeWithTheRecompute: the Orbit Model's scores of the
// GH Archive hour match the batch recompute, and killing the run mid-replay
// and starting it again gives identical results.
func TestGHArchiveScoresAgreeWithTheRecompute(t *testing.T) {
	const file = "../../../shared/realdata/gharchive/2015-01-01-0.json.gz"
	in := newInstance(t)
	in.start()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, errOut, err := in.cli(ctx, "ingest", "--source", "gharchive", "--community", "demo", "--wait", file)
	require.NoError(t, err, "ingest: %s\n%s", out, errOut)
	first := in.topLove()
	t.Logf("top 10 by love (member, level, reach):\n%v", first)

	// The top member, explained: its love comes from its own activities.
	topMember := first[0].id
	out, errOut, err = in.cli(ctx, "members", "show", topMember)
	require.NoError(t, err, "members show: %s\n%s", out, errOut)
	t.Logf("orbitflow members show %s:\n%s", topMember, out)
	for _, want := range []string{topMember + " ", " in demo", "love ", "by source: github", "level: ", "step ", "reach ", "strongest connections", "\nroles:", "graph: no weekly measures yet"} {
		require.Contains(t, out, want)
	}
	require.NotContains(t, out, "the processor may not have caught up", "the explanation adds up to the streamed love")
	_, errOut, err = in.cli(ctx, "members", "show", "github:0")
	require.Error(t, err)
	require.Contains(t, errOut, "has no scores")

	// Again from scratch, killed as soon as the rows are written, while the
	// processor may still be scoring (the processor's own tests crash it
	// mid-stream deterministically; here the whole run dies).
	in2 := newInstance(t)
	in2.start()
	out, errOut, err = in2.cli(ctx, "ingest", "--source", "gharchive", "--community", "demo", "--wait", file)
	require.NoError(t, err, "ingest: %s\n%s", out, errOut)
	require.Error(t, in2.stop(syscall.SIGKILL))
	in2.start()
	sameTopLove(t, first, in2.topLove()) // a run killed mid-replay and restarted scores the same
}

// orbitflow members merge and unmerge are commands on the stream: the
// running processor applies them, and the members view follows.
func TestMembersMergeAndUnmerge(t *testing.T) {
	in := newInstance(t)
	in.start()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	file := filepath.Join(in.dir, "events.jsonl")
	writeEvents(t, file, 300) // github:u0, discourse:u1, slack:u2, github:u3, ...
	out, errOut, err := in.cli(ctx, "ingest", "--source", "jsonl", "--community", "acme", "--wait", file)
	require.NoError(t, err, "ingest: %s\n%s", out, errOut)
	members := func(want string) {
		deadline := time.Now().Add(time.Minute)
		for in.sqlValue("SELECT count() FROM members WHERE community = 'acme'") != want {
			require.True(t, time.Now().Before(deadline), "members never became %s", want)
			time.Sleep(200 * time.Millisecond)
		}
	}
	members("300")

	out, errOut, err = in.cli(ctx, "members", "merge", "--reason", "same person", "github:u0", "slack:u2")
	require.NoError(t, err, "merge: %s\n%s", out, errOut)
	require.Contains(t, out, "merge of github:u0 and slack:u2 in acme is on the stream")
	members("299")
	require.Equal(t, "github:u0", in.sqlValue("SELECT merged_into FROM members_raw FINAL WHERE member_id = 'slack:u2'"))
	require.Equal(t, "merge\tsame person", in.sqlValue(
		"SELECT toString(kind), splitByString(': ', reason)[2] FROM identity_changes FINAL WHERE community = 'acme'"))
	love := in.sqlValue("SELECT round(love_at_activity, 6) FROM (SELECT sum(weight * pow(0.9, dateDiff('millisecond', occurred_at, toDateTime64('2026-01-01 00:05:00', 3, 'UTC')) / 2592000000)) AS love_at_activity FROM activities WHERE identity IN ('github:u0', 'slack:u2'))")
	got := in.sqlValue("SELECT round(love * pow(0.9, dateDiff('millisecond', love_at, toDateTime64('2026-01-01 00:05:00', 3, 'UTC')) / 2592000000), 6) FROM members_raw FINAL WHERE member_id = 'github:u0'")
	require.Equal(t, love, got, "the merged member's love comes from both identities' activities")

	out, errOut, err = in.cli(ctx, "members", "unmerge", "slack:u2")
	require.NoError(t, err, "unmerge: %s\n%s", out, errOut)
	members("300")

	_, errOut, err = in.cli(ctx, "members", "merge", "github:u0", "github:nobody")
	require.Error(t, err)
	require.Contains(t, errOut, `identity "github:nobody" has no activities in community "acme"`)
	_, errOut, err = in.cli(ctx, "members", "unmerge")
	require.Error(t, err)
	require.Contains(t, errOut, "members unmerge takes 1 argument(s)")
}
