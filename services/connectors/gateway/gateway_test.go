package gateway_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/connectors/gateway"
	"github.com/orbitflow/orbitflow/services/connectors/generic"
	"github.com/orbitflow/orbitflow/services/connectors/slack"
	"github.com/orbitflow/orbitflow/services/connectors/source"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

const (
	key    = "key-0123456789abcdef"
	oldKey = "old-0123456789abcdef"
	event  = `{"id":"shop:order:1","source":"product","type":"custom.order.placed","occurred_at":"2026-01-01T00:00:00Z","actor":{"source":"product","source_id":"u1"}}`
)

type env struct {
	t   testing.TB
	b   *bus.Bus
	js  jetstream.JetStream
	srv *httptest.Server
	cfg gateway.Config
}

func newEnv(t testing.TB, mutate ...func(*gateway.Config)) *env {
	b := kittest.Bus(t)
	cfg := gateway.DefaultConfig()
	cfg.PublishTimeout = 500 * time.Millisecond
	cfg.MaxBodyBytes = 4096
	cfg.Hooks = []gateway.HookConfig{{Source: generic.Source, Community: "acme", Secrets: []string{oldKey, key}}}
	for _, m := range mutate {
		m(&cfg)
	}
	require.NoError(t, cfg.Validate("gateway", []string{generic.Source}))
	g := gateway.New(cfg, gateway.Deps{JS: b.JetStream(), Registry: events.DefaultRegistry(),
		Webhooks: map[string]source.Webhook{generic.Source: generic.Webhook{}}}, telemetry.Nop())
	h, err := g.Handler()
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, b: b, js: b.JetStream(), srv: srv, cfg: cfg}
}

type answer struct {
	code int
	hdr  http.Header
	body map[string]any
}

func (e *env) post(path, auth, body string) answer {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(body))
	require.NoError(e.t, err)
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	var m map[string]any
	require.NoError(e.t, json.NewDecoder(res.Body).Decode(&m))
	return answer{res.StatusCode, res.Header, m}
}

func (e *env) msgs(stream string) uint64 {
	e.t.Helper()
	s, err := e.js.Stream(context.Background(), stream)
	require.NoError(e.t, err)
	info, err := s.Info(context.Background())
	require.NoError(e.t, err)
	return info.State.Msgs
}

// lastDeadLetter returns the newest dead letter's reason and stage.
func (e *env) lastDeadLetter() (reason, stage string, payload []byte) {
	e.t.Helper()
	s, err := e.js.Stream(context.Background(), subjects.DeadLetterStream)
	require.NoError(e.t, err)
	m, err := s.GetLastMsgForSubject(context.Background(), subjects.DeadLetterPrefix+".>")
	require.NoError(e.t, err)
	return m.Header.Get(subjects.HeaderReason), m.Header.Get(subjects.HeaderStage), m.Data
}

func TestDeliveryIsPublishedOnceAndRetriesAreDuplicates(t *testing.T) {
	e := newEnv(t)
	a := e.post("/hooks/generic", key, event)
	require.Equal(t, http.StatusAccepted, a.code, a.body)
	require.EqualValues(t, 1, a.body["published"])
	a = e.post("/hooks/generic", oldKey, event) // the platform retries; a rotated-out key still works
	require.Equal(t, http.StatusAccepted, a.code, a.body)
	require.EqualValues(t, 0, a.body["published"])
	require.EqualValues(t, 1, a.body["duplicates"])
	require.EqualValues(t, 1, e.msgs(subjects.ActivityStream))

	s, err := e.js.Stream(context.Background(), subjects.ActivityStream)
	require.NoError(t, err)
	m, err := s.GetLastMsgForSubject(context.Background(), subjects.Activity("acme", "product"))
	require.NoError(t, err)
	ev, err := events.Decode(m.Data)
	require.NoError(t, err)
	require.Equal(t, "acme", ev.Community)
	require.Equal(t, "shop:order:1", m.Header.Get(jetstream.MsgIDHeader))
}

func TestUnauthenticatedDeliveryIsRejectedAndNeverAnEvent(t *testing.T) {
	e := newEnv(t)
	for _, auth := range []string{"", "key-0123456789abcdeX"} {
		a := e.post("/hooks/generic", auth, event)
		require.Equal(t, http.StatusUnauthorized, a.code)
		require.Contains(t, a.body["error"], "Authorization")
	}
	require.Zero(t, e.msgs(subjects.ActivityStream))
	require.Zero(t, e.msgs(subjects.DeadLetterStream), "unauthenticated input is not stored at all")
}

func TestMalformedDeliveryIs400AndDeadLettered(t *testing.T) {
	e := newEnv(t)
	body := `{"id":"x","actor":{"source_id":7}}`
	a := e.post("/hooks/generic", key, body)
	require.Equal(t, http.StatusBadRequest, a.code)
	require.Equal(t, "actor.source_id", a.body["field"])
	require.Contains(t, a.body["error"], "want a string")
	reason, stage, payload := e.lastDeadLetter()
	require.Equal(t, subjects.StageGateway, stage)
	require.Contains(t, reason, "malformed: actor.source_id")
	require.Equal(t, body, string(payload))
}

func TestInvalidEventIsDeadLetteredWithTheReason(t *testing.T) {
	e := newEnv(t)
	bad := strings.Replace(event, "custom.order.placed", "product.order.placed", 1)
	bad2 := strings.Replace(bad, "shop:order:1", "shop:order:2", 1)
	body := "[" + event + "," + bad + "," + bad2 + "]"
	a := e.post("/hooks/generic", key, body)
	require.Equal(t, http.StatusAccepted, a.code, a.body)
	require.EqualValues(t, 1, a.body["published"])
	require.EqualValues(t, 2, a.body["dead_lettered"])
	require.Contains(t, a.body["rejected"].([]any)[0], "type: unknown type")
	reason, _, _ := e.lastDeadLetter()
	require.Contains(t, reason, "unknown type")
	require.EqualValues(t, 2, e.msgs(subjects.DeadLetterStream), "each invalid event of one delivery has its dead letter")
	a = e.post("/hooks/generic", key, body) // the platform redelivers
	require.Equal(t, http.StatusAccepted, a.code, a.body)
	require.EqualValues(t, 2, e.msgs(subjects.DeadLetterStream), "a redelivery is not dead-lettered twice")
}

func TestBoundsAndMethods(t *testing.T) {
	e := newEnv(t)
	a := e.post("/hooks/generic", key, "["+strings.Repeat(event+",", 40)+event+"]")
	require.Equal(t, http.StatusRequestEntityTooLarge, a.code)
	require.Contains(t, a.body["error"], "body over 4096 bytes")

	res, err := http.Get(e.srv.URL + "/hooks/generic")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, res.StatusCode)
	require.Equal(t, "POST", res.Header.Get("Allow"))

	res, err = http.Post(e.srv.URL+"/hooks/other", "application/json", bytes.NewReader([]byte(event)))
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusNotFound, res.StatusCode)
}

func TestStreamUnavailableIs503WithRetryAfterThenTheRetryLands(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	require.NoError(t, e.js.DeleteStream(ctx, subjects.ActivityStream))
	a := e.post("/hooks/generic", key, event)
	require.Equal(t, http.StatusServiceUnavailable, a.code, a.body)
	require.Equal(t, "5", a.hdr.Get("Retry-After"))

	require.NoError(t, bus.EnsureStreams(ctx, e.js, kittest.BusConfig().Streams.Limits()))
	a = e.post("/hooks/generic", key, event)
	require.Equal(t, http.StatusAccepted, a.code, a.body)
	// The first attempt's publish may still have landed once the stream
	// was back (the client retries it): then the retry is its duplicate.
	// Either way the event is in the stream once.
	n := 0.0
	for _, k := range []string{"published", "duplicates"} {
		if v, ok := a.body[k].(float64); ok {
			n += v
		}
	}
	require.EqualValues(t, 1, n, a.body)
	require.EqualValues(t, 1, e.msgs(subjects.ActivityStream))
}

func TestConfigValidation(t *testing.T) {
	t.Setenv("GW_SECRET", "from-the-environment-123")
	cfg := gateway.DefaultConfig()
	cfg.Hooks = []gateway.HookConfig{
		{Source: "generic", Community: "acme", Secrets: []string{"env:GW_SECRET"}},
		{Source: "github", Community: "", Secrets: []string{"short"}},
		{Source: "generic", Community: "b", Secrets: []string{"env:GW_UNSET_SECRET"}},
		{Source: "generic", Community: "c", Path: "no-slash"},
	}
	err := cfg.Validate("gateway", []string{"generic"})
	require.Error(t, err)
	for _, want := range []string{
		`gateway.hooks[1].source: want one of generic, got "github"`,
		"gateway.hooks[1].community: required",
		"gateway.hooks[1].secrets[0]: must be at least 16 characters",
		`gateway.hooks[2].path: "/hooks/generic" is also hooks[0]'s path`,
		"gateway.hooks[2].secrets[0]: environment variable GW_UNSET_SECRET is not set",
		`gateway.hooks[3].path: want an absolute URL path, got "no-slash"`,
		"gateway.hooks[3].secrets: required",
	} {
		require.ErrorContains(t, err, want)
	}
	require.NotContains(t, err.Error(), "from-the-environment", "a secret leaked into an error")
}

func TestMain(m *testing.M) { kittest.Main(m) }

// BenchmarkGateway posts distinct authenticated deliveries over loopback
// from parallel keep-alive clients; each is published and acknowledged by the
// stream before its 202.
func BenchmarkGateway(b *testing.B) {
	e := newEnv(b, func(c *gateway.Config) { c.PublishTimeout = 30 * time.Second })
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var n atomic.Int64
	b.SetParallelism(16) // 32 clients on 2 cores
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := strings.Replace(event, "shop:order:1", fmt.Sprintf("shop:order:%d", n.Add(1)), 1)
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/hooks/generic", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			res, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusAccepted {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
	client.CloseIdleConnections()
	require.EqualValues(b, b.N, e.msgs(subjects.ActivityStream), "every acknowledged delivery is in the stream")
}

func slackSign(secret string, ts int64, body string) http.Header {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%d:%s", ts, body)
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	h.Set("Content-Type", "application/json")
	return h
}

// A real platform through the gateway: Slack's endpoint check answers the
// challenge, a signed message is published, a replayed old one is refused.
func TestSlackThroughTheGateway(t *testing.T) {
	const secret = "slack-signing-secret-0123"
	b := kittest.Bus(t)
	cfg := gateway.DefaultConfig()
	cfg.Hooks = []gateway.HookConfig{{Source: slack.Source, Community: "acme", Secrets: []string{secret}}}
	require.NoError(t, cfg.Validate("gateway", []string{slack.Source}))
	g := gateway.New(cfg, gateway.Deps{JS: b.JetStream(), Registry: events.DefaultRegistry(),
		Webhooks: map[string]source.Webhook{slack.Source: slack.Webhook{}}}, telemetry.Nop())
	h, err := g.Handler()
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()
	send := func(hdr http.Header, body string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hooks/slack", strings.NewReader(body))
		req.Header = hdr
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return res, string(out)
	}
	now := time.Now().Unix()
	challenge := `{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`
	res, body := send(slackSign(secret, now, challenge), challenge)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", body)
	require.Contains(t, res.Header.Get("Content-Type"), "text/plain")

	msg := fmt.Sprintf(`{"token":"x","team_id":"T1","api_app_id":"A1","type":"event_callback","event_id":"Ev1","event_time":%d,`+
		`"event":{"type":"message","channel":"C1","channel_type":"channel","user":"U1","text":"hi <@U2>","ts":"%d.000100","event_ts":"%d.000100"}}`, now, now, now)
	res, body = send(slackSign(secret, now, msg), msg)
	require.Equal(t, http.StatusAccepted, res.StatusCode, body)
	require.Contains(t, body, `"published":1`)

	res, _ = send(slackSign(secret, now-3600, msg), msg)
	require.Equal(t, http.StatusUnauthorized, res.StatusCode, "a replayed delivery an hour old")
	res, _ = send(slackSign("another-secret-0123456789", now, msg), msg)
	require.Equal(t, http.StatusUnauthorized, res.StatusCode)
}
