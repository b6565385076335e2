package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
)

// stage is one `orbitflow run --target` process of a split-mode test.
type stage struct {
	t      testing.TB
	target string
	config string
	env    []string
	cmd    *exec.Cmd
	log    *kittest.SyncBuffer
}

// start runs the stage and waits for its banner; the test's cleanup kills
// it (by its own pid) if the test did not stop it.
func (s *stage) start() {
	s.t.Helper()
	s.launch()
	s.waitUp()
}

// launch starts the process without waiting for it.
func (s *stage) launch() {
	s.t.Helper()
	s.log = &kittest.SyncBuffer{}
	s.cmd = exec.Command(binary, "run", "--config", s.config, "--target", s.target)
	s.cmd.Env = append(os.Environ(), s.env...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	require.NoError(s.t, s.cmd.Start())
	cmd := s.cmd
	s.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
}

// waitUp waits for the banner the process prints once started.
func (s *stage) waitUp() {
	s.t.Helper()
	want := "is running --target " + s.target
	for deadline := time.Now().Add(2 * time.Minute); !strings.Contains(s.log.String(), want); time.Sleep(50 * time.Millisecond) {
		if s.cmd.ProcessState != nil || time.Now().After(deadline) {
			s.t.Fatalf("--target %s did not come up; its log:\n%s", s.target, s.log.String())
		}
	}
}

// stop signals the stage and waits for it to exit; it returns the exit error.
func (s *stage) stop(sig syscall.Signal) error {
	s.t.Helper()
	require.NoError(s.t, s.cmd.Process.Signal(sig))
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(90 * time.Second):
		_ = s.cmd.Process.Kill()
		s.t.Fatalf("--target %s did not stop within 90s after %v; log:\n%s", s.target, sig, s.log.String())
		return nil
	}
}

// get fetches an ops or API path with the API key.
func (s *stage) get(url string) (int, string) {
	s.t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// splitEnv is a split-mode deployment on loopback: NATS and the ClickHouse
// engine each in a process of their own, and one config for the stages.
type splitEnv struct {
	t                testing.TB
	dir              string
	natsAddr, chAddr string
	apiAddr, gwAddr  string
	split            string // the stages' config
	nats, ch         *stage
	ctx              context.Context
}

func newSplitEnv(t testing.TB, extra string) *splitEnv {
	e := &splitEnv{t: t, dir: t.TempDir(), natsAddr: freePort(t), chAddr: freePort(t), apiAddr: freePort(t), gwAddr: freePort(t)}
	const natsToken = "split-nats-token-0123456789"
	natsCfg := e.write("nats.yaml", fmt.Sprintf("data_dir: %s\nnats:\n  embedded: {listen: %q, token: %q}\n",
		filepath.Join(e.dir, "nats-data"), e.natsAddr, natsToken))
	chCfg := e.write("clickhouse.yaml", fmt.Sprintf("data_dir: %s\nclickhouse:\n  embedded: {listen: %q}\n",
		filepath.Join(e.dir, "ch-data"), e.chAddr))
	// One config for every stage, as a deployment shares one; each
	// stage's ops port comes from its environment.
	e.split = e.write("split.yaml", fmt.Sprintf(`data_dir: %s
nats:
  mode: external
  external: {urls: ["nats://%s"], token: %q}
clickhouse:
  mode: external
  external: {addrs: [%q], protocol: http}
api:
  listen: %q
  api_keys: ["sha256:%x"]
sink:
  flush_interval: 200ms
gateway:
  listen: %q
  hooks:
    - {source: generic, community: acme, secrets: [%q]}
people:
  email_salt: "split-mode-test-salt-0123456789"
%s`, filepath.Join(e.dir, "split-data"), e.natsAddr, natsToken, e.chAddr, e.apiAddr, sha256.Sum256([]byte(apiKey)), e.gwAddr, hookKey, extra))
	e.nats = &stage{t: t, target: "nats", config: natsCfg}
	e.ch = &stage{t: t, target: "clickhouse", config: chCfg}
	e.nats.start()
	e.ch.start()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	e.ctx = ctx
	return e
}

func (e *splitEnv) write(name, body string) string {
	p := filepath.Join(e.dir, name)
	require.NoError(e.t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

// stage returns a started stage of the split config with its ops port.
func (e *splitEnv) stage(target, ops string) *stage {
	s := &stage{t: e.t, target: target, config: e.split, env: []string{"ORBITFLOW_OPS_LISTEN=" + ops}}
	s.start()
	return s
}

// cli runs an orbitflow command with the stages' config.
func (e *splitEnv) cli(args ...string) string {
	e.t.Helper()
	cmd := exec.CommandContext(e.ctx, binary, append([]string{args[0], "--config", e.split}, args[1:]...)...)
	b, err := cmd.CombinedOutput()
	require.NoError(e.t, err, "%v: %s", args, b)
	return string(b)
}

// result is what a command run in the background printed, and its error.
type result struct {
	out string
	err error
}

// background runs an orbitflow command with the stages' config while the
// test goes on (require cannot stop a test from another goroutine).
func (e *splitEnv) background(args ...string) <-chan result {
	done := make(chan result, 1)
	go func() {
		b, err := exec.CommandContext(e.ctx, binary, append([]string{args[0], "--config", e.split}, args[1:]...)...).CombinedOutput()
		done <- result{string(b), err}
	}()
	return done
}

func (e *splitEnv) value(query string) string {
	e.t.Helper()
	return strings.TrimSpace(strings.Split(strings.TrimSpace(e.cli("sql", "--format", "TSV", query)), "\n")[1])
}

func (e *splitEnv) waitValue(query, want string) {
	e.t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); e.value(query) != want; time.Sleep(200 * time.Millisecond) {
		require.True(e.t, time.Now().Before(deadline), "%s never reached %s (at %s)", query, want, e.value(query))
	}
}

// stopServers stops ClickHouse and NATS, each cleanly.
func (e *splitEnv) stopServers() {
	require.NoError(e.t, e.ch.stop(syscall.SIGTERM), e.ch.log.String())
	require.NoError(e.t, e.nats.stop(syscall.SIGTERM), e.nats.log.String())
}

// TestSplitModeStagesAsProcesses runs the pipeline as separate processes,
// as a deployment on servers does: NATS and the ClickHouse engine each in
// a process of their own, then the sink, the processors, the API and the
// connectors, each a process with its own health, readiness and metrics.
// What is ingested and posted is written exactly once and scored; a sink
// SIGKILLed while events keep coming loses nothing and doubles nothing
// after its restart; every stage stops cleanly.
func TestSplitModeStagesAsProcesses(t *testing.T) {
	e := newSplitEnv(t, "")
	ops := map[string]string{}
	stages := map[string]*stage{}
	for _, target := range []string{"sink", "processors", "api", "connectors"} {
		ops[target] = freePort(t)
		stages[target] = e.stage(target, ops[target])
	}

	// A target that needs the shared servers says so when given embedded ones.
	out, err := exec.Command(binary, "run", "--config", e.nats.config, "--target", "sink").CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "nats.mode: want external")

	first := filepath.Join(e.dir, "first.jsonl")
	writeEvents(t, first, 2000)
	e.cli("ingest", "--source", "jsonl", "--community", "acme", first)
	at := time.Now().UTC().Add(-time.Minute).Format("2006-01-02T15:04:05.000Z")
	req, _ := http.NewRequest(http.MethodPost, "http://"+e.gwAddr+"/hooks/generic", strings.NewReader(
		`{"id":"hook-1","source":"product","type":"custom.signup","occurred_at":"`+at+`","actor":{"source":"product","source_id":"u1"}}`))
	req.Header.Set("Authorization", "Bearer "+hookKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	e.waitValue("SELECT count() FROM activities WHERE community = 'acme'", "2001")

	// The sink dies while events keep coming: they wait in the stream.
	require.ErrorContains(t, stages["sink"].stop(syscall.SIGKILL), "killed")
	second := filepath.Join(e.dir, "second.jsonl")
	writeEvents(t, second, 3000) // e-0..e-1999 again (duplicates) and 1000 new
	ingestOut := e.cli("ingest", "--source", "jsonl", "--community", "acme", second)
	require.Contains(t, ingestOut, "published 1000")
	require.Contains(t, ingestOut, "duplicates 2000")
	stages["sink"] = e.stage("sink", ops["sink"])
	e.waitValue("SELECT count() FROM activities WHERE community = 'acme'", "3001")
	ids := make([]string, 3000)
	for i := range ids {
		ids[i] = fmt.Sprintf("e-%d", i)
	}
	in := &instance{t: t, chAddr: e.chAddr}
	report := in.exactlyOnce(e.ctx, "acme", append(ids, "hook-1"))
	require.True(t, report.OK(), report.String())

	// The processors scored every member: 3000 actors of the files and the
	// webhook's.
	e.waitValue("SELECT uniqExact(member_id) FROM members WHERE community = 'acme'", "3001")

	// Each stage answers for itself: ready once its own consumers are
	// caught up, and its own metrics.
	for target, want := range map[string]string{
		"sink":       `orbitflow_sink_rows_total{table="activities_raw"}`,
		"processors": "orbitflow_scoring_events_total",
		"connectors": `orbitflow_gateway_deliveries_total{outcome="accepted",source="generic"} 1`,
	} {
		s := stages[target]
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
			code, body := s.get("http://" + ops[target] + "/readyz")
			if code == http.StatusOK {
				break
			}
			require.True(t, time.Now().Before(deadline), "%s never ready: %d %s", target, code, body)
		}
		// A row is queryable a moment before its writer hears the insert
		// succeeded and counts it.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			code, body := s.get("http://" + ops[target] + "/metrics")
			require.Equal(t, http.StatusOK, code, target)
			if strings.Contains(body, want) {
				break
			}
			require.True(t, time.Now().Before(deadline), "%s's metrics lack %s; log:\n%s", target, want, s.log.String())
		}
	}
	code, body := stages["api"].get("http://" + e.apiAddr + "/readyz")
	require.Equal(t, http.StatusOK, code, body)

	// Producers first, then consumers, then the servers: each exits 0.
	for _, target := range []string{"connectors", "api", "processors", "sink"} {
		require.NoError(t, stages[target].stop(syscall.SIGTERM), "%s; log:\n%s", target, stages[target].log.String())
	}
	e.stopServers()
}

// TestProcessorsScaleOutAndIn: processors instances share the scoring
// shards. Under load, one instance becomes three (the first gives shards
// back, the new ones take them), one of the three is SIGKILLed (its shards
// move once their leases expire, and resume from their checkpoints),
// another stops cleanly (its shards move at once), and the last one scores
// alone. Every member of six communities, one per shard, is scored exactly
// once: nothing lost, nothing applied twice.
func TestProcessorsScaleOutAndIn(t *testing.T) {
	e := newSplitEnv(t, "scoring: {checkpoint_interval: 1s, shards: 6}\nops: {lease_ttl: 2s}\n")
	communities := []string{"c00", "c01", "c02", "c03", "c04", "c05"} // shards 4, 3, 0, 5, 2, 1
	scored := func(n int) {
		e.waitValue("SELECT count() FROM members WHERE community LIKE 'c0_'", fmt.Sprint(n*len(communities)))
	}
	sink := e.stage("sink", freePort(t))
	a := e.stage("processors", freePort(t))
	waitLog(t, a, "active: holds the processors lease") // the alert evaluator's
	require.NoError(t, <-e.ingestCommunities(communities, 300))
	scored(300)
	require.Contains(t, a.log.String(), "shards=\"all 6\"", "alone, the instance scores every shard")

	e.scaleOutAndIn(a, "scoring processor started", communities, func() *stage { return e.stage("processors", freePort(t)) }, scored)
	// Each member has one activity (dedup across the re-sent files): its
	// love is that activity's weight, twice it if applied twice.
	require.Equal(t, "0", e.value(`SELECT count() FROM members_raw AS m FINAL
		INNER JOIN (SELECT community, member_id, sum(weight) AS w, count() AS n FROM activities WHERE community LIKE 'c0_' GROUP BY community, member_id) AS x
		USING (community, member_id) WHERE n != 1 OR abs(m.love - x.w) > 1e-9`), "every member scored exactly once")
	require.Equal(t, fmt.Sprint(1200*len(communities)), e.value("SELECT count() FROM members_raw FINAL WHERE community LIKE 'c0_'"))

	require.NoError(t, a.stop(syscall.SIGTERM), a.log.String())
	require.NoError(t, sink.stop(syscall.SIGTERM), sink.log.String())
	e.stopServers()
}

// TestSinksScaleOutAndIn runs 1, then 3 --target sink processes sharing
// sink.shards while events come, SIGKILLs one and stops another: every
// event of six communities is written exactly once.
func TestSinksScaleOutAndIn(t *testing.T) {
	e := newSplitEnv(t, "ops: {lease_ttl: 2s}\n")
	communities := []string{"c00", "c01", "c02", "c03", "c04", "c05"}
	const shards = 3
	perShard := map[int]int{}
	for _, c := range communities {
		perShard[bus.ShardOf(c, shards)]++
	}
	require.Len(t, perShard, shards, "every shard has a community")
	// A SIGKILLed sink's messages come again after the ack wait, 2 x
	// flush_timeout + 30 s: 40 s.
	sinkStage := func() *stage {
		s := &stage{t: t, target: "sink", config: e.split, env: []string{"ORBITFLOW_OPS_LISTEN=" + freePort(t),
			fmt.Sprintf("ORBITFLOW_SINK_SHARDS=%d", shards), "ORBITFLOW_SINK_FLUSH_TIMEOUT=5s"}}
		s.start()
		return s
	}
	written := func(n int) {
		e.waitValue("SELECT count() FROM activities WHERE community LIKE 'c0_'", fmt.Sprint(n*len(communities)))
	}

	a := sinkStage()
	waitLog(t, a, "sink started")
	require.NoError(t, <-e.ingestCommunities(communities, 300))
	written(300)
	require.Contains(t, a.log.String(), "shards=\"all 3\"", "alone, the instance writes every shard")
	require.Contains(t, a.log.String(), "dead_letters=true", "the owner of shard 0 writes the dead letters")

	e.scaleOutAndIn(a, "sink started", communities, sinkStage, written)
	in := &instance{t: t, chAddr: e.chAddr}
	for _, cm := range communities {
		ids := make([]string, 1200)
		for i := range ids {
			ids[i] = fmt.Sprintf("%s-%d", cm, i)
		}
		report := in.exactlyOnce(e.ctx, cm, ids)
		require.True(t, report.OK(), "%s: %s", cm, report.String())
	}
	require.NoError(t, a.stop(syscall.SIGTERM), a.log.String())
	e.stopServers()
}

// scaleOutAndIn is what the tests of a target whose instances share shards
// (bus.ShardGroup) do once a is alone and caught up: 1 → 3 instances
// (start) while events come, one SIGKILLed while events come, one stopped
// cleanly; caught(n) waits until n events of each community are in, after
// each step. a runs on.
func (e *splitEnv) scaleOutAndIn(a *stage, started string, communities []string, start func() *stage, caught func(n int)) {
	t := e.t
	t.Helper()
	load := e.ingestCommunities(communities, 600)
	b, c := start(), start()
	for _, s := range []*stage{a, b, c} {
		waitLog(t, s, started)
	}
	waitLog(t, a, "gave shards back")
	waitLog(t, b, "took shards")
	waitLog(t, c, "took shards")
	require.NoError(t, <-load)
	caught(600)

	// SIGKILL one of three, events coming: its shards wait for their
	// leases to expire, then resume elsewhere (from the scoring
	// checkpoints; a sink's unacknowledged messages after their ack wait).
	load = e.ingestCommunities(communities, 900)
	require.ErrorContains(t, b.stop(syscall.SIGKILL), "killed")
	require.NoError(t, <-load)
	caught(900)

	// A clean stop gives the shards back at once; the last instance works
	// alone.
	require.NoError(t, c.stop(syscall.SIGTERM), c.log.String())
	require.NoError(t, <-e.ingestCommunities(communities, 1200))
	caught(1200)
}

// ingestCommunities ingests n events of each community (the files first,
// here), the commands one after the other in the background.
func (e *splitEnv) ingestCommunities(communities []string, n int) <-chan error {
	files := make([]string, len(communities))
	for i, c := range communities {
		files[i] = filepath.Join(e.dir, fmt.Sprintf("%s-%d.jsonl", c, n))
		writeCommunityEvents(e.t, files[i], c, n)
	}
	done := make(chan error, 1)
	go func() {
		for i, c := range communities {
			if res := <-e.background("ingest", "--source", "jsonl", "--community", c, files[i]); res.err != nil {
				done <- fmt.Errorf("ingest %s: %w: %s", c, res.err, res.out)
				return
			}
		}
		done <- nil
	}()
	return done
}

// writeCommunityEvents writes n events of community (writeEvents' events,
// with ids of the community's own).
func writeCommunityEvents(t testing.TB, path, community string, n int) {
	activityFile{community: community, to: n, members: 5000, step: time.Second, idPrefix: community + "-"}.write(t, path)
}

// waitLog waits until the stage's log holds want.
func waitLog(t testing.TB, s *stage, want string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !strings.Contains(s.log.String(), want); time.Sleep(50 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "--target %s never said %q; log:\n%s", s.target, want, s.log.String())
	}
}

// TestRollingRestartOfEveryProcess restarts every process of a split
// deployment on a NATS cluster, one at a time, while events keep coming:
// each NATS node (waiting for it to catch up before the next), the
// ClickHouse engine, both sinks (sharing sink.shards), both processors
// instances and the API. Every event is written exactly once and every
// member scored once. `make soak` runs more rounds on more events
// (ORBITFLOW_ROLLING_ROUNDS, ORBITFLOW_ROLLING_EVENTS).
func TestRollingRestartOfEveryProcess(t *testing.T) {
	rounds, maxEvents := envInt(t, "ORBITFLOW_ROLLING_ROUNDS", 1), envInt(t, "ORBITFLOW_ROLLING_EVENTS", 60000)
	// The default lease TTL (10 s): a NATS node restarting leaves the
	// lease bucket without a leader for a second or two.
	c := newClusterEnv(t, "scoring: {checkpoint_interval: 1s, shards: 4}\n")
	c.ctx = rollingContext(t, rounds)
	apiAddr := freePort(t)
	stages := []*stage{c.stage("sink", freePort(t)), c.stage("sink", freePort(t)),
		c.stage("processors", freePort(t)), c.stage("processors", freePort(t))}
	api := &stage{t: t, target: "api", config: c.split, env: []string{"ORBITFLOW_API_LISTEN=" + apiAddr}}
	api.start()
	stages = append(stages, api)

	// The load: batches of 200 new events, one ingest every quarter second
	// or so, until the restarts are done (or maxEvents: too few fails). Community r<k> gets events
	// 5000k..5000k+4999, one per member.
	const batch = 200
	community := func(i int) string { return fmt.Sprintf("r%d", i/5000) }
	for n := 0; n < maxEvents; n += batch {
		activityFile{community: community(n), from: n, to: n + batch, members: 5000, step: time.Second, idPrefix: "e-"}.write(t, filepath.Join(c.dir, fmt.Sprintf("batch-%d.jsonl", n)))
	}
	stop := make(chan struct{})
	type loadResult struct {
		n    int
		took []time.Duration // each ingest's
		err  error
	}
	load := make(chan loadResult, 1)
	landed := make(chan struct{}, maxEvents/batch) // a batch was ingested
	go func() {
		var r loadResult
		defer func() { load <- r }()
		for r.n < maxEvents {
			select {
			case <-stop:
				return
			default:
			}
			file := filepath.Join(c.dir, fmt.Sprintf("batch-%d.jsonl", r.n))
			start := time.Now()
			res := <-c.background("ingest", "--source", "jsonl", "--community", community(r.n), file)
			r.took = append(r.took, time.Since(start).Round(10*time.Millisecond))
			if res.err != nil || !strings.Contains(res.out, fmt.Sprintf("published %d,", batch)) {
				r.err = fmt.Errorf("ingest of events %d..%d: %v: %s", r.n, r.n+batch-1, res.err, res.out)
				return
			}
			r.n += batch
			landed <- struct{}{}
			select { // a steady flow, not a burst that ends before the restarts
			case <-stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	// after waits until a batch is ingested after a restart: events keep
	// coming through every step.
	after := func(what string) {
		for len(landed) > 0 {
			<-landed
		}
		select {
		case <-landed:
		case r := <-load:
			t.Fatalf("the load stopped after %s, at %d events (ORBITFLOW_ROLLING_EVENTS %d): %v", what, r.n, maxEvents, r.err)
		case <-time.After(time.Minute):
			t.Fatalf("no batch was ingested within a minute after %s", what)
		}
	}

	cjs := clusterJS(t, c.clients, c.token)
	for round := range rounds {
		for i, n := range c.nodes {
			require.NoError(t, n.stop(syscall.SIGTERM), n.log.String())
			n.start()
			for deadline := time.Now().Add(time.Minute); streamCurrent(c.ctx, cjs) < 3; time.Sleep(200 * time.Millisecond) {
				require.True(t, time.Now().Before(deadline), "round %d: NATS node %d never caught up after its restart", round, i)
			}
			after(fmt.Sprintf("NATS node %d restarted", i))
		}
		require.NoError(t, c.ch.stop(syscall.SIGTERM), c.ch.log.String())
		c.ch.start()
		after("ClickHouse restarted")
		for _, s := range stages {
			require.NoError(t, s.stop(syscall.SIGTERM), s.log.String())
			s.start()
			after("--target " + s.target + " restarted")
		}
		t.Logf("round %d of %d: every process restarted", round+1, rounds)
	}
	close(stop)
	res := <-load
	require.NoError(t, res.err)
	require.Greater(t, res.n, 0)
	t.Logf("%d events ingested during the restarts, in %d ingests of %d events; the slowest took %s", res.n, len(res.took), batch, slices.Max(res.took))

	for deadline := time.Now().Add(2 * time.Minute); c.value("SELECT count() FROM activities WHERE community LIKE 'r%'") != fmt.Sprint(res.n); time.Sleep(200 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the sinks never wrote all %d events (%s written); their logs:\n%s\n---\n%s",
			res.n, c.value("SELECT count() FROM activities WHERE community LIKE 'r%'"), stages[0].log.String(), stages[1].log.String())
	}
	in := &instance{t: t, chAddr: c.chAddr}
	for from := 0; from < res.n; from += 5000 {
		ids := make([]string, 0, 5000)
		for i := from; i < min(from+5000, res.n); i++ {
			ids = append(ids, fmt.Sprintf("e-%d", i))
		}
		report := in.exactlyOnce(c.ctx, community(from), ids)
		require.True(t, report.OK(), report.String())
	}
	c.waitValue("SELECT count() FROM members WHERE community LIKE 'r%'", fmt.Sprint(res.n))
	require.Equal(t, "0", c.value(`SELECT count() FROM members_raw AS m FINAL
		INNER JOIN (SELECT community, member_id, sum(weight) AS w, count() AS n FROM activities WHERE community LIKE 'r%' GROUP BY community, member_id) AS x
		USING (community, member_id) WHERE n != 1 OR abs(m.love - x.w) > 1e-9`), "every member scored exactly once")

	for _, s := range stages {
		require.NoError(t, s.stop(syscall.SIGTERM), s.log.String())
	}
	require.NoError(t, c.ch.stop(syscall.SIGTERM), c.ch.log.String())
	for _, n := range c.nodes {
		require.NoError(t, n.stop(syscall.SIGTERM), n.log.String())
	}
}

// rollingContext bounds the rolling restart test: 5 minutes a round.
func rollingContext(t *testing.T, rounds int) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rounds)*5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// clusterEnv is a split-mode deployment on a NATS cluster: three `--target
// nats` processes (streams R3) and the ClickHouse engine in a process.
type clusterEnv struct {
	*splitEnv
	nodes   []*stage
	clients []string // the nodes' client addresses
	token   string
}

func newClusterEnv(t *testing.T, extra string) *clusterEnv {
	dir := t.TempDir()
	const token = "cluster-nats-token-0123456789"
	var clients, routes []string
	for range 3 {
		clients, routes = append(clients, freePort(t)), append(routes, freePort(t))
	}
	nodes := make([]*stage, 3)
	for i := range nodes {
		cfg := filepath.Join(dir, fmt.Sprintf("nats-%d.yaml", i))
		require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`data_dir: %s
nats:
  embedded:
    listen: %q
    token: %q
    cluster: {name: test, node: n%d, listen: %q, routes: [%s]}
  streams: {replicas: 3}
`, filepath.Join(dir, fmt.Sprintf("nats-%d-data", i)), clients[i], token, i, routes[i], strings.Join(routes, ", "))), 0o600))
		nodes[i] = &stage{t: t, target: "nats", config: cfg}
		nodes[i].launch() // together: each waits for a quorum to declare the streams
	}
	for _, n := range nodes {
		n.waitUp()
	}
	chAddr := freePort(t)
	chCfg := filepath.Join(dir, "clickhouse.yaml")
	require.NoError(t, os.WriteFile(chCfg, []byte(fmt.Sprintf("data_dir: %s\nclickhouse:\n  embedded: {listen: %q}\n", filepath.Join(dir, "ch-data"), chAddr)), 0o600))
	ch := &stage{t: t, target: "clickhouse", config: chCfg}
	ch.start()
	urls := make([]string, 3)
	for i, c := range clients {
		urls[i] = `"nats://` + c + `"`
	}
	split := filepath.Join(dir, "split.yaml")
	require.NoError(t, os.WriteFile(split, []byte(fmt.Sprintf(`data_dir: %s
nats:
  mode: external
  external: {urls: [%s], token: %q}
  streams: {replicas: 3}
clickhouse:
  mode: external
  external: {addrs: [%q], protocol: http}
api: {api_keys: ["sha256:%x"]}
sink: {flush_interval: 200ms}
people: {email_salt: "cluster-test-salt-0123456789"}
%s`, filepath.Join(dir, "split-data"), strings.Join(urls, ", "), token, chAddr, sha256.Sum256([]byte(apiKey)), extra)), 0o600))
	e := &splitEnv{t: t, dir: dir, split: split, chAddr: chAddr, ch: ch}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	e.ctx = ctx
	return &clusterEnv{splitEnv: e, nodes: nodes, clients: clients, token: token}
}

// TestNATSClusterOfThreeNodes: three `--target nats` processes form a
// JetStream cluster with the streams replicated on all three; the sink and
// the processors reach it through every node's address; what is ingested
// is written exactly once and scored. The node leading the activity stream
// is SIGKILLed during an ingest: the ingest goes on, what it published is
// written exactly once and scored, and the node rejoins.
func TestNATSClusterOfThreeNodes(t *testing.T) {
	// One processors process here: its leases must outlast the election
	// after the leader dies, which took over 7 s (⅔ of the default 10 s
	// TTL) on a loaded CI machine, so the process exited on a lost lease.
	c := newClusterEnv(t, "ops: {lease_ttl: 30s}\n")
	e, nodes, clients, token, ctx, dir, chAddr, ch := c.splitEnv, c.nodes, c.clients, c.token, c.ctx, c.dir, c.chAddr, c.ch
	sink := e.stage("sink", freePort(t))
	proc := e.stage("processors", freePort(t))

	first := filepath.Join(dir, "first.jsonl")
	writeEvents(t, first, 2000)
	e.cli("ingest", "--source", "jsonl", "--community", "acme", first)
	e.waitValue("SELECT count() FROM activities WHERE community = 'acme'", "2000")

	// Replicated on the three nodes.
	leader := streamLeader(t, ctx, clients, token, "")
	require.Regexp(t, `^n[012]$`, leader)
	require.Equal(t, 3, streamReplicas(t, ctx, clients, token))
	ids := make([]string, 2000)
	for i := range ids {
		ids[i] = fmt.Sprintf("e-%d", i)
	}
	in := &instance{t: t, chAddr: chAddr}
	report := in.exactlyOnce(ctx, "acme", ids)
	require.True(t, report.OK(), report.String())
	e.waitValue("SELECT uniqExact(member_id) FROM members WHERE community = 'acme'", "2000")

	// The activity stream's leader dies while events come: the other two
	// nodes are a quorum, elect a new leader within seconds and take new
	// events; the sink and the processors, connected to any node, go on.
	second := filepath.Join(dir, "second.jsonl")
	writeEvents(t, second, 4000) // 2000 new
	load := e.background("ingest", "--source", "jsonl", "--community", "acme", second)
	killed := nodes[leader[1]-'0']
	require.ErrorContains(t, killed.stop(syscall.SIGKILL), "killed")
	require.NotEqual(t, leader, streamLeader(t, ctx, clients, token, leader))
	res := <-load
	require.NoError(t, res.err, res.out)
	require.Contains(t, res.out, "published 2000", "a stream on two of three nodes takes new events")
	for deadline := time.Now().Add(time.Minute); e.value("SELECT count() FROM activities WHERE community = 'acme'") != "4000"; time.Sleep(200 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the sink never wrote what came after the node died; its log:\n%s", sink.log.String())
	}
	ids = ids[:0]
	for i := range 4000 {
		ids = append(ids, fmt.Sprintf("e-%d", i))
	}
	report = in.exactlyOnce(ctx, "acme", ids)
	require.True(t, report.OK(), report.String())
	for deadline := time.Now().Add(time.Minute); e.value("SELECT uniqExact(member_id) FROM members WHERE community = 'acme'") != "4000"; time.Sleep(200 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the processors never scored what came after the node died; their log:\n%s", proc.log.String())
	}

	// The node comes back and catches up: three replicas again.
	killed.start()
	cjs := clusterJS(t, clients, token)
	for deadline := time.Now().Add(time.Minute); streamCurrent(ctx, cjs) < 3; time.Sleep(200 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the restarted node never caught up with the stream")
	}

	require.NoError(t, proc.stop(syscall.SIGTERM), proc.log.String())
	require.NoError(t, sink.stop(syscall.SIGTERM), sink.log.String())
	require.NoError(t, ch.stop(syscall.SIGTERM), ch.log.String())
	for _, n := range nodes {
		require.NoError(t, n.stop(syscall.SIGTERM), n.log.String())
	}
}

// streamCurrent is how many servers hold the activity stream up to date:
// its leader and the replicas that are current.
func streamCurrent(ctx context.Context, js jetstream.JetStream) int {
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := js.Stream(sctx, "ACTIVITIES")
	if err != nil || st.CachedInfo().Cluster == nil {
		return 0
	}
	n := 1
	for _, r := range st.CachedInfo().Cluster.Replicas {
		if r.Current {
			n++
		}
	}
	return n
}

// streamLeader names the node leading the activity stream, asking any node
// that answers, once it is another than not.
func streamLeader(t *testing.T, ctx context.Context, clients []string, token, not string) string {
	t.Helper()
	js := clusterJS(t, clients, token)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := js.Stream(sctx, "ACTIVITIES")
		cancel()
		if err == nil && st.CachedInfo().Cluster != nil && st.CachedInfo().Cluster.Leader != "" && st.CachedInfo().Cluster.Leader != not {
			return st.CachedInfo().Cluster.Leader
		}
		require.True(t, time.Now().Before(deadline), "no leader of ACTIVITIES: %v", err)
	}
}

// streamReplicas is how many servers hold the activity stream: its leader
// and its current replicas.
func streamReplicas(t *testing.T, ctx context.Context, clients []string, token string) int {
	t.Helper()
	js := clusterJS(t, clients, token)
	st, err := js.Stream(ctx, "ACTIVITIES")
	require.NoError(t, err)
	info := st.CachedInfo()
	require.Equal(t, 3, info.Config.Replicas)
	return 1 + len(info.Cluster.Replicas)
}

// clusterJS reaches the cluster through any of its nodes; closed with the test.
func clusterJS(t *testing.T, clients []string, token string) jetstream.JetStream {
	t.Helper()
	urls := make([]string, len(clients))
	for i, c := range clients {
		urls[i] = "nats://" + c
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.Token(token))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}
