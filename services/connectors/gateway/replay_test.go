package gateway_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/connectors/discourse"
	"github.com/orbitflow/orbitflow/services/connectors/gateway"
	"github.com/orbitflow/orbitflow/services/connectors/github"
	"github.com/orbitflow/orbitflow/services/connectors/slack"
	"github.com/orbitflow/orbitflow/services/connectors/source"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

const (
	realdata     = "../../../../shared/realdata"
	replaySecret = "replay-secret-0123456789abcdef"
)

// platforms serves every signed platform's endpoint over the real
// embedded NATS.
type platforms struct {
	srv *httptest.Server
	js  jetstream.JetStream
}

func newPlatforms(t *testing.T) *platforms {
	t.Helper()
	b := kittest.Bus(t)
	cfg := gateway.DefaultConfig()
	cfg.MaxBodyBytes = 1 << 20
	srcs := []string{github.Source, discourse.Source, slack.Source}
	for _, s := range srcs {
		cfg.Hooks = append(cfg.Hooks, gateway.HookConfig{Source: s, Community: "acme", Secrets: []string{replaySecret}})
	}
	require.NoError(t, cfg.Validate("gateway", srcs))
	g := gateway.New(cfg, gateway.Deps{JS: b.JetStream(), Registry: events.DefaultRegistry(), Webhooks: map[string]source.Webhook{
		github.Source: github.Webhook{}, discourse.Source: discourse.Webhook{}, slack.Source: slack.Webhook{},
	}}, telemetry.Nop())
	h, err := g.Handler()
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &platforms{srv: srv, js: b.JetStream()}
}

// send posts one delivery exactly as given and returns the status and the
// decoded JSON answer.
func (p *platforms) send(t *testing.T, path string, h http.Header, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.srv.URL+path, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header = h.Clone()
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	var m map[string]any
	_ = json.Unmarshal(out, &m)
	return res.StatusCode, m
}

func (p *platforms) msgs(t *testing.T, stream string) uint64 {
	t.Helper()
	s, err := p.js.Stream(context.Background(), stream)
	require.NoError(t, err)
	info, err := s.Info(context.Background())
	require.NoError(t, err)
	return info.State.Msgs
}

func hubSignature(body []byte) string {
	mac := hmac.New(sha256.New, []byte(replaySecret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func readRealdata(t *testing.T, parts ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{realdata}, parts...)...))
	require.NoError(t, err, "the shared realdata folder is required")
	return b
}

// A captured delivery replayed with its valid signature (GitHub's and
// Discourse's signatures carry no time, so the gateway cannot refuse them)
// is stored once: the event ids come from the platform objects and the
// stream drops a repeated Nats-Msg-Id. Beyond the stream's duplicate
// window the copy is collapsed in ClickHouse by the same id
// (activities_raw is a ReplacingMergeTree on event_id).
func TestReplayedSignedDeliveryIsStoredOnce(t *testing.T) {
	p := newPlatforms(t)
	ghBody := readRealdata(t, "github_webhooks", "api.github.com", "issue_comment", "created.payload.json")
	gh := http.Header{}
	gh.Set("Content-Type", "application/json")
	gh.Set(github.HeaderEvent, "issue_comment")
	gh.Set(github.HeaderDelivery, "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	gh.Set(github.HeaderSignature, hubSignature(ghBody))

	var d struct {
		Body    json.RawMessage   `json:"webhook_body"`
		Headers map[string]string `json:"webhook_headers"`
	}
	require.NoError(t, json.Unmarshal(readRealdata(t, "discourse", "fedora_discourse2fedmsg_webhooks", "post_created.json"), &d))
	dc := http.Header{}
	for k, v := range d.Headers {
		dc.Set(k, v)
	}
	dc.Set(discourse.HeaderSignature, hubSignature(d.Body))

	for _, tc := range []struct {
		path string
		h    http.Header
		body []byte
	}{
		{"/hooks/github", gh, ghBody},
		{"/hooks/discourse", dc, d.Body},
	} {
		before := p.msgs(t, subjects.ActivityStream)
		code, out := p.send(t, tc.path, tc.h, tc.body)
		require.Equal(t, http.StatusAccepted, code, "%s: %v", tc.path, out)
		require.EqualValues(t, 1, out["published"], "%s: %v", tc.path, out)
		for range 3 { // an attacker (or the platform) replays it
			code, out = p.send(t, tc.path, tc.h, tc.body)
			require.Equal(t, http.StatusAccepted, code, "%s: %v", tc.path, out)
			require.EqualValues(t, 0, out["published"], "%s: %v", tc.path, out)
			require.EqualValues(t, 1, out["duplicates"], "%s: %v", tc.path, out)
		}
		require.Equal(t, before+1, p.msgs(t, subjects.ActivityStream), "%s: stored once", tc.path)
	}
}

// Slack signs the time with the body: a replay within the 5-minute window
// is a duplicate (stored once), a replay after it is refused.
func TestSlackReplayWithinTheWindowIsStoredOnce(t *testing.T) {
	p := newPlatforms(t)
	now := time.Now().Unix()
	body := []byte(`{"token":"x","team_id":"T1","api_app_id":"A1","type":"event_callback","event_id":"Ev9","event_time":` +
		strconv.FormatInt(now, 10) + `,"event":{"type":"message","channel":"C1","channel_type":"channel","user":"U1","text":"hi","ts":"` +
		strconv.FormatInt(now, 10) + `.000200"}}`)
	sign := func(ts int64) http.Header { return slackSign(replaySecret, ts, string(body)) }
	signed := sign(now - 60)
	code, out := p.send(t, "/hooks/slack", signed, body)
	require.Equal(t, http.StatusAccepted, code, out)
	require.EqualValues(t, 1, out["published"])
	code, out = p.send(t, "/hooks/slack", signed, body)
	require.Equal(t, http.StatusAccepted, code, out)
	require.EqualValues(t, 1, out["duplicates"], "a replay within the window is a duplicate")
	code, out = p.send(t, "/hooks/slack", sign(now-int64(slack.MaxSkew/time.Second)-5), body)
	require.Equal(t, http.StatusUnauthorized, code, out)
	require.Contains(t, out["error"], "stale or replayed")
	require.EqualValues(t, 1, p.msgs(t, subjects.ActivityStream))
}

// Deliveries in an encoding the gateway does not read (compressed, UTF-16,
// Latin-1, GitHub's form encoding), correctly signed, are a 400 naming the
// body, dead-lettered, and never an event.
func TestWrongEncodingsAre400AndNeverAnEvent(t *testing.T) {
	p := newPlatforms(t)
	ghBody := readRealdata(t, "github_webhooks", "api.github.com", "issue_comment", "created.payload.json")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(ghBody)
	require.NoError(t, zw.Close())
	utf16 := []byte{0xff, 0xfe}
	for _, r := range string(ghBody[:200]) {
		utf16 = append(utf16, byte(r), byte(r>>8))
	}
	latin1 := bytes.Replace(ghBody, []byte(`"created"`), []byte("\"cr\xe9\xe9\""), 1)
	form := []byte("payload=" + url.QueryEscape(string(ghBody)))

	for name, tc := range map[string]struct {
		body        []byte
		contentType string
		encoding    string
		reason      string
	}{
		"gzip":          {gz.Bytes(), "application/json", "gzip", "not valid UTF-8"},
		"UTF-16 BOM":    {utf16, "application/json; charset=utf-16", "", "not valid UTF-8 (byte 0)"},
		"Latin-1":       {latin1, "application/json; charset=iso-8859-1", "", "not valid UTF-8"},
		"form-encoded":  {form, "application/x-www-form-urlencoded", "", "malformed JSON"},
		"JSON with NUL": {[]byte("{\"action\":\"created\"\x00}"), "application/json", "", "malformed JSON"},
	} {
		h := http.Header{}
		h.Set("Content-Type", tc.contentType)
		if tc.encoding != "" {
			h.Set("Content-Encoding", tc.encoding)
		}
		h.Set(github.HeaderEvent, "issue_comment")
		h.Set(github.HeaderSignature, hubSignature(tc.body))
		code, out := p.send(t, "/hooks/github", h, tc.body)
		require.Equal(t, http.StatusBadRequest, code, "%s: %v", name, out)
		require.Equal(t, "body", out["field"], "%s: %v", name, out)
		require.Contains(t, out["error"], tc.reason, name)
		require.EqualValues(t, 1, out["dead_lettered"], name)
	}
	require.Zero(t, p.msgs(t, subjects.ActivityStream), "no wrongly encoded delivery became an event")
	require.EqualValues(t, 5, p.msgs(t, subjects.DeadLetterStream), "each is kept with its reason")
}
