package gateway_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/connectors/discourse"
	"github.com/orbitflow/orbitflow/services/connectors/gateway"
	"github.com/orbitflow/orbitflow/services/connectors/generic"
	"github.com/orbitflow/orbitflow/services/connectors/github"
	"github.com/orbitflow/orbitflow/services/connectors/slack"
	"github.com/orbitflow/orbitflow/services/connectors/source"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

const fuzzSecret = "fuzz-secret-0123456789abcdef"

// fuzzSign sets what makes a delivery authentic on each platform's
// endpoint (or, with valid false, a well-formed but wrong signature).
func fuzzSign(h http.Header, src string, body []byte, valid bool, now time.Time) {
	secret := []byte(fuzzSecret)
	if !valid {
		secret = []byte("not-the-secret-0123456789")
	}
	mac := hmac.New(sha256.New, secret)
	switch src {
	case generic.Source:
		h.Set("Authorization", "Bearer "+string(secret))
		return
	case slack.Source:
		ts := strconv.FormatInt(now.Unix(), 10)
		mac.Write([]byte("v0:" + ts + ":"))
		mac.Write(body)
		h.Set(slack.HeaderTimestamp, ts)
		h.Set(slack.HeaderSignature, "v0="+hex.EncodeToString(mac.Sum(nil)))
		return
	}
	mac.Write(body)
	sig := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if src == github.Source {
		h.Set(github.HeaderSignature, sig)
	} else {
		h.Set(discourse.HeaderSignature, sig)
	}
}

// FuzzGatewayRequest sends any delivery through the gateway's handler to
// every platform's endpoint over the real embedded NATS: any method, event
// header, content type and body, signed or not. The answer is always one
// of the documented codes (never a panic, never a 5xx while the stream is
// up), every 4xx is JSON with an error, and a delivery that is not
// authentic or is refused never adds to the activity stream.
func FuzzGatewayRequest(f *testing.F) {
	for _, s := range []struct {
		hook   uint8
		event  string
		signed bool
		body   string
	}{
		{0, "", true, event},
		{0, "", true, "[" + event + "," + event + "]"},
		{0, "", false, event},
		{1, "issue_comment", true, `{"action":"created","issue":{"id":1,"number":1,"title":"t","user":{"id":2,"login":"a"}},` +
			`"comment":{"id":3,"body":"hi","created_at":"2026-01-01T00:00:00Z","user":{"id":2,"login":"a"}},"repository":{"id":9,"full_name":"o/r"}}`},
		{1, "ping", true, `{"zen":"x","hook_id":1}`},
		{1, "issues", false, `{}`},
		{2, "post", true, `{"post":{"id":1,"topic_id":2,"post_number":1,"username":"a","created_at":"2026-01-01T00:00:00Z","raw":"hi"}}`},
		{3, "", true, `{"token":"x","challenge":"abc","type":"url_verification"}`},
		{3, "", true, `{"type":"event_callback","team_id":"T1","event_id":"Ev1","event":{"type":"message","channel":"C1","user":"U1","text":"hi","ts":"1767225600.000100"}}`},
		{3, "", true, "payload=%7B%7D"},
		{0, "", true, "\xff\xfe{\x00}"},
	} {
		f.Add(s.hook, uint8(0), s.event, "application/json", s.signed, []byte(s.body))
	}
	hooks := []string{generic.Source, github.Source, discourse.Source, slack.Source}
	b := kittest.Bus(f)
	cfg := gateway.DefaultConfig()
	cfg.MaxBodyBytes = 16 << 10
	cfg.PublishTimeout = 5 * time.Second
	for _, src := range hooks {
		cfg.Hooks = append(cfg.Hooks, gateway.HookConfig{Source: src, Community: "acme", Secrets: []string{fuzzSecret}})
	}
	if err := cfg.Validate("gateway", hooks); err != nil {
		f.Fatal(err)
	}
	g := gateway.New(cfg, gateway.Deps{JS: b.JetStream(), Registry: events.DefaultRegistry(), Webhooks: map[string]source.Webhook{
		generic.Source: generic.Webhook{}, github.Source: github.Webhook{}, discourse.Source: discourse.Webhook{}, slack.Source: slack.Webhook{},
	}}, telemetry.Nop())
	h, err := g.Handler()
	if err != nil {
		f.Fatal(err)
	}
	activities := func(t *testing.T) uint64 {
		s, err := b.JetStream().Stream(context.Background(), subjects.ActivityStream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}
	methods := []string{http.MethodPost, http.MethodPost, http.MethodGet, http.MethodPut}
	f.Fuzz(func(t *testing.T, hook, method uint8, event, contentType string, signed bool, body []byte) {
		src := hooks[int(hook)%len(hooks)]
		m := methods[int(method)%len(methods)]
		req := httptest.NewRequest(m, cfg.Hooks[int(hook)%len(hooks)].URLPath(), bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set(github.HeaderEvent, event)
		req.Header.Set(github.HeaderDelivery, "d-1")
		req.Header.Set(discourse.HeaderEvent, event)
		fuzzSign(req.Header, src, body, signed, time.Now())
		before := activities(t)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)

		switch code := w.Code; code {
		case http.StatusOK: // a handshake
			if src != slack.Source || !signed {
				t.Fatalf("200 from %s (signed %v) for %q: %s", src, signed, body, w.Body)
			}
		case http.StatusAccepted:
			var out map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
				t.Fatalf("202 with a body that is not JSON: %q", w.Body)
			}
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge:
			var out struct{ Error string }
			if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || out.Error == "" {
				t.Fatalf("%d without a JSON error: %q", code, w.Body)
			}
			if n := activities(t); n != before {
				t.Fatalf("%d, yet the activity stream grew from %d to %d", code, before, n)
			}
		default:
			t.Fatalf("%s %s (signed %v) answered %d: %s", m, src, signed, code, w.Body)
		}
		if !signed && m == http.MethodPost && w.Code != http.StatusUnauthorized && w.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("an unsigned delivery to %s was answered %d: %s", src, w.Code, w.Body)
		}
	})
}
