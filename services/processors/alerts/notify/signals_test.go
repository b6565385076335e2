package notify_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/alerts"
	"github.com/orbitflow/orbitflow/services/processors/alerts/notify"
)

func testSignal() alerts.Signal {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	return alerts.Signal{ID: alerts.SignalID("acme", "sales", "e1"), Kind: alerts.KindSignal, Rule: "sales", Community: "acme", At: at,
		Member: alerts.SignalMember{ID: "github:1", Identity: "github:1", DisplayName: "Ada", Level: 2, LevelName: "Contributing II",
			Step: 8, Roles: []string{"champion"}, Organization: "Initech"},
		Activity: alerts.SignalActivity{EventID: "e1", Source: "github", Type: "github.issue.opened", Channel: "acme/widgets",
			Title: "SSO pricing?", URL: "https://github.com/acme/widgets/issues/1", OccurredAt: at},
		Keywords: []string{"pricing", "SSO"},
		Reasons:  []string{`title has ["pricing", "SSO"]`, "level 2 (Contributing II) is one of [1, 2]", "not a teammate or a bot, and not opted out of signals"},
		Targets:  []string{"crm"}}
}

func TestSignalDeliveredToAWebhookSignedAsAlerts(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	var got []alerts.Signal
	var kinds []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := notify.Verify([]byte(testSecret), r.Header, body, time.Minute, time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var s alerts.Signal
		if err := json.Unmarshal(body, &s); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, s)
		kinds = append(kinds, r.Header.Get(alerts.HeaderKind)+" "+r.Header.Get(alerts.HeaderDelivery))
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	crm := newSender(t, "crm", notify.Target{Type: notify.TypeWebhook, URL: srv.URL, Secret: testSecret, Timeout: 5 * time.Second})
	e.start(map[string]notify.Sender{"crm": crm}, 3)
	s := testSignal()
	d := alerts.Delivery{ID: s.ID + "/crm", Target: "crm", Kind: alerts.KindSignal, Signal: &s}
	e.publish(d)
	e.publish(d) // a second publish with the same id: the stream drops it
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 1 }, 15*time.Second, 10*time.Millisecond)
	e.waitSettled()
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []alerts.Signal{s}, got)
	require.Equal(t, []string{"signal " + s.ID + "/crm"}, kinds)
	require.Zero(t, e.deadLetters())
}

func TestSignalWebhookBodyIsTheSignalAndAForgedOneFailsVerify(t *testing.T) {
	var body []byte
	var header http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		header = r.Header.Clone()
	}))
	t.Cleanup(srv.Close)
	snd := newSender(t, "crm", notify.Target{Type: notify.TypeWebhook, URL: srv.URL, Secret: testSecret})
	s := testSignal()
	require.NoError(t, snd.Send(t.Context(), alerts.Delivery{ID: s.ID + "/crm", Target: "crm", Kind: alerts.KindSignal, Signal: &s}))
	require.NoError(t, notify.Verify([]byte(testSecret), header, body, time.Minute, time.Now()))
	require.Error(t, notify.Verify([]byte("another secret"), header, body, time.Minute, time.Now()))
	forged := []byte(strings.Replace(string(body), "Initech", "Globex", 1))
	require.Error(t, notify.Verify([]byte(testSecret), header, forged, time.Minute, time.Now()))
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m))
	require.Equal(t, "signal", m["kind"])
	require.Equal(t, "sales", m["rule"])
	require.Equal(t, []any{"pricing", "SSO"}, m["keywords"])
	require.Equal(t, "Initech", m["member"].(map[string]any)["organization"])
	require.Equal(t, "e1", m["activity"].(map[string]any)["event_id"])

	// A signal delivery without its signal is refused for good.
	err := snd.Send(t.Context(), alerts.Delivery{ID: "x/crm", Target: "crm", Kind: alerts.KindSignal})
	require.ErrorIs(t, err, notify.ErrPermanent)
}

func TestSignalToSlackTellsWhy(t *testing.T) {
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { body, _ = io.ReadAll(r.Body) }))
	t.Cleanup(srv.Close)
	snd := newSender(t, "chat", notify.Target{Type: notify.TypeSlack, URL: srv.URL})
	s := testSignal()
	require.NoError(t, snd.Send(t.Context(), alerts.Delivery{ID: s.ID + "/chat", Target: "chat", Kind: alerts.KindSignal, Signal: &s}))
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Text struct{ Text string } `json:"text"`
		} `json:"blocks"`
	}
	require.NoError(t, json.Unmarshal(body, &msg))
	require.Equal(t, `[signal] sales: Ada — "SSO pricing?"`, msg.Text)
	require.Len(t, msg.Blocks, 2)
	require.Equal(t, "Ada (github:1, Contributing II) github.issue.opened in github / acme/widgets at 2026-12-01 10:00 UTC.\n"+
		"Organization: Initech.\nRoles: champion.\nWhy:\n- title has [\"pricing\", \"SSO\"]\n- level 2 (Contributing II) is one of [1, 2]\n"+
		"- not a teammate or a bot, and not opted out of signals\nhttps://github.com/acme/widgets/issues/1\n", msg.Blocks[1].Text.Text)
}
