package slack

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/backfill"
	"github.com/orbitflow/orbitflow/services/connectors/ingest"
	"github.com/orbitflow/orbitflow/services/connectors/source"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
)

func TestMain(m *testing.M) { kittest.Main(m) }

// The recorded channel (perceval's conversations.info fixture names it).
const (
	fixtureChannel = "C011DUKE8"
	fixtureTeam    = "T0FIXTURE"
	botToken       = "xoxb-test-token"
	threadParent   = "1427135835.000070" // "hey acs" in slack_history.json
)

// perceval reads a recorded Web API response.
func perceval(t testing.TB, name string) []byte {
	t.Helper()
	return readFixture(t, "perceval_tests_data", "slack", name)
}

// recordedMessages is the channel's history as perceval recorded it, newest
// first: slack_history.json followed by its older page
// slack_history_next.json.
func recordedMessages(t testing.TB) []json.RawMessage {
	t.Helper()
	var out []json.RawMessage
	for _, name := range []string{"slack_history.json", "slack_history_next.json"} {
		var p struct {
			Messages []json.RawMessage `json:"messages"`
		}
		require.NoError(t, json.Unmarshal(perceval(t, name), &p))
		require.NotEmpty(t, p.Messages, name)
		out = append(out, p.Messages...)
	}
	require.Len(t, out, 9)
	return out
}

// with returns msg with fields set.
func with(t testing.TB, msg json.RawMessage, fields map[string]any) json.RawMessage {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(msg, &m))
	for k, v := range fields {
		m[k] = v
	}
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return b
}

// fakeSlack serves conversations.history and conversations.replies over
// recorded messages, paging them pageSize at a time with opaque cursors,
// honouring oldest and latest (exclusive) like Slack. The perceval
// recordings hold no thread, so "hey acs" becomes the parent of a thread
// of three replies made of recorded users: a reply, a thread_broadcast
// (which Slack also lists in the channel history) and another reply.
type fakeSlack struct {
	t          testing.TB
	team       string
	pageSize   int                          // of the history
	threadPage int                          // of the replies
	history    map[string][]json.RawMessage // channel → messages, newest first
	threads    map[string][]json.RawMessage // ts → parent and replies, oldest first
	// faults answer request n (1-based, all methods) instead of the API.
	faults map[int]http.HandlerFunc

	mu       sync.Mutex
	requests []string // "method?query" of every request
}

func newFakeSlack(t testing.TB) *fakeSlack {
	msgs := recordedMessages(t)
	i := slices.IndexFunc(msgs, func(m json.RawMessage) bool { return tsOf(t, m) == threadParent })
	require.GreaterOrEqual(t, i, 0)
	msgs[i] = with(t, msgs[i], map[string]any{"thread_ts": threadParent, "reply_count": 3, "reply_users": []string{"U0001", "U0003"}})
	replies := []json.RawMessage{
		msgs[i],
		json.RawMessage(`{"type":"message","user":"U0001","text":"<@U0002> vale","ts":"1427135900.000072","thread_ts":"` + threadParent + `","parent_user_id":"U0002"}`),
		json.RawMessage(`{"type":"message","subtype":"thread_broadcast","user":"U0003","text":"también aquí","ts":"1427135950.000073","thread_ts":"` + threadParent + `","root":{"user":"U0002","ts":"` + threadParent + `"}}`),
		json.RawMessage(`{"type":"message","user":"U0002","text":"gracias","ts":"1427136000.000074","thread_ts":"` + threadParent + `","parent_user_id":"U0002"}`),
	}
	// The broadcast is in the channel's history too, between the join
	// (1427799888) and "tengo el móvil" (1427135890).
	j := slices.IndexFunc(msgs, func(m json.RawMessage) bool { return tsOf(t, m) == "1427135890.000071" })
	msgs = slices.Insert(msgs, j, replies[2])
	return &fakeSlack{t: t, team: fixtureTeam, pageSize: 4, threadPage: 2,
		history: map[string][]json.RawMessage{fixtureChannel: msgs},
		threads: map[string][]json.RawMessage{threadParent: replies}}
}

func tsOf(t testing.TB, m json.RawMessage) string {
	t.Helper()
	var v struct {
		TS string `json:"ts"`
	}
	require.NoError(t, json.Unmarshal(m, &v))
	return v.TS
}

func (f *fakeSlack) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func (f *fakeSlack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.URL.Path[1:]+"?"+r.URL.RawQuery)
	n := len(f.requests)
	f.mu.Unlock()
	if fault := f.faults[n]; fault != nil {
		fault(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") != "Bearer "+botToken {
		fmt.Fprint(w, `{"ok":false,"error":"not_authed"}`)
		return
	}
	q := r.URL.Query()
	var msgs []json.RawMessage
	size := f.pageSize
	switch r.URL.Path {
	case "/auth.test":
		fmt.Fprintf(w, `{"ok":true,"url":"https://fixture.slack.com/","team":"Fixture","user":"bot","team_id":%q,"user_id":"U0BOT"}`, f.team)
		return
	case "/conversations.history":
		all, ok := f.history[q.Get("channel")]
		if !ok {
			w.Write(perceval(f.t, "slack_error.json")) // channel_not_found
			return
		}
		for _, m := range all {
			ts := tsOf(f.t, m)
			if o := q.Get("oldest"); o != "" && compareTS(ts, o) <= 0 {
				continue
			}
			if l := q.Get("latest"); l != "" && compareTS(ts, l) >= 0 {
				continue
			}
			msgs = append(msgs, m)
		}
	case "/conversations.replies":
		thread, ok := f.threads[q.Get("ts")]
		if !ok || q.Get("channel") != fixtureChannel {
			fmt.Fprint(w, `{"ok":false,"error":"thread_not_found"}`)
			return
		}
		msgs, size = thread, f.threadPage
	default:
		fmt.Fprint(w, `{"ok":false,"error":"unknown_method"}`)
		return
	}
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit < 1 || limit > 200 {
		f.t.Errorf("limit %q: Slack advises at most 200 a page", q.Get("limit"))
		fmt.Fprint(w, `{"ok":false,"error":"invalid_limit"}`)
		return
	}
	start := 0
	if c := q.Get("cursor"); c != "" {
		b, err := base64.StdEncoding.DecodeString(c)
		if err == nil {
			start, err = strconv.Atoi(string(b))
		}
		if err != nil || start < 0 || start > len(msgs) {
			fmt.Fprint(w, `{"ok":false,"error":"invalid_cursor"}`)
			return
		}
	}
	end := min(len(msgs), start+min(limit, size))
	page := map[string]any{"ok": true, "messages": msgs[start:end], "has_more": end < len(msgs)}
	if end < len(msgs) {
		page["response_metadata"] = map[string]string{"next_cursor": base64.StdEncoding.EncodeToString([]byte(strconv.Itoa(end)))}
	}
	b, err := json.Marshal(page)
	require.NoError(f.t, err)
	w.Write(b)
}

// clock is a fake clock: sleeping advances it and records the wait.
type clock struct {
	mu    sync.Mutex
	t     time.Time
	slept []time.Duration
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	c.t = c.t.Add(d)
	return nil
}

// serve starts h on a local test server and returns a client of it with the
// bot token and a fake clock (no real sleeping).
func serve(t *testing.T, h http.Handler) (*httptest.Server, *backfill.Client, *clock) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	c := backfill.New("orbitflow-test",
		backfill.WithHTTPClient(srv.Client()),
		backfill.WithClock(clk.now, clk.sleep),
		backfill.WithAttempts(3, time.Second),
		backfill.WithAuth(func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+botToken) }))
	return srv, c, clk
}

func openCursor(t *testing.T, dir string) *backfill.Cursor {
	t.Helper()
	cur, err := backfill.OpenCursor(dir, "slack-test")
	require.NoError(t, err)
	return cur
}

// drain consumes seq like ingest.Run: it calls each checkpoint (stopping
// after stopAfter of them when stopAfter > 0, like a crash right after
// that save) and returns the other records.
func drain(t *testing.T, seq iter.Seq[ingest.Record], stopAfter int) (recs []ingest.Record, checkpoints int) {
	t.Helper()
	for rec := range seq {
		if rec.Checkpoint != nil {
			require.NoError(t, rec.Checkpoint())
			if checkpoints++; checkpoints == stopAfter {
				break
			}
			continue
		}
		recs = append(recs, rec)
	}
	return recs, checkpoints
}

// eventIDs checks that every record is a valid event, an ignored item or
// (when allowed) a rejection with its raw message, and returns the ids.
func eventIDs(t *testing.T, recs []ingest.Record) []string {
	t.Helper()
	var ids []string
	for _, rec := range recs {
		require.NotNil(t, rec.Raw, "%s: an I/O error: %v", rec.Pos, rec.Err)
		require.NoError(t, rec.Err, rec.Pos)
		if rec.Ignored != "" {
			continue
		}
		ev := rec.Event
		require.NoError(t, events.DefaultRegistry().Validate(&ev), rec.Pos)
		ids = append(ids, ev.ID)
	}
	return ids
}

// wantIDs are the events of the fake channel: the recorded messages that
// carry activity, the broadcast and the two thread replies.
func wantIDs(team string) []string {
	var ids []string
	for _, ts := range []string{
		"1486969200.000136",                      // bot_message
		"1427135950.000073",                      // thread_broadcast (history)
		"1427135890.000071", "1427135835.000070", // "hey acs", the thread parent
		"1427135900.000072", "1427136000.000074", // its replies
		"1427135740.000069", "1427135733.000068",
		"1427135689.000067", "1427135634.000066",
	} {
		ids = append(ids, source.ID(Source, team, fixtureChannel, ts))
	}
	return ids
}

func TestBackfillPagesThreadsAndFaults(t *testing.T) {
	retryAfter := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"ok":false,"error":"ratelimited"}`)
	}
	unavailable := func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "upstream connect error", http.StatusBadGateway)
	}
	tests := []struct {
		name   string
		team   string // "" asks auth.test
		faults map[int]http.HandlerFunc
		// slept checks the fake clock's waits.
		slept func(t *testing.T, d []time.Duration)
	}{
		{name: "clean", team: "T1", slept: func(t *testing.T, d []time.Duration) { require.Empty(t, d) }},
		{name: "team from auth.test", slept: func(t *testing.T, d []time.Duration) { require.Empty(t, d) }},
		{name: "429 with Retry-After on the second page", team: "T1", faults: map[int]http.HandlerFunc{2: retryAfter},
			slept: func(t *testing.T, d []time.Duration) { require.Equal(t, []time.Duration{7 * time.Second}, d) }},
		{name: "429 on the replies", team: "T1", faults: map[int]http.HandlerFunc{3: retryAfter},
			slept: func(t *testing.T, d []time.Duration) { require.Equal(t, []time.Duration{7 * time.Second}, d) }},
		{name: "5xx then success", team: "T1", faults: map[int]http.HandlerFunc{1: unavailable},
			slept: func(t *testing.T, d []time.Duration) {
				require.Len(t, d, 1)
				require.True(t, d[0] >= 500*time.Millisecond && d[0] <= time.Second, "jittered backoff, got %s", d[0])
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeSlack(t)
			api.faults = tt.faults
			srv, c, clk := serve(t, api)
			cfg := BackfillConfig{BaseURL: srv.URL, Team: tt.team, Channels: []string{fixtureChannel}}
			recs, checkpoints := drain(t, Backfill(t.Context(), c, openCursor(t, t.TempDir()), testEnv(), cfg), 0)
			team := tt.team
			if team == "" {
				team = fixtureTeam
			}
			ids := eventIDs(t, recs)
			require.ElementsMatch(t, wantIDs(team), ids)
			require.Len(t, recs, 12, "10 events, the file_comment and channel_join notices ignored")
			require.Equal(t, 3, checkpoints, "one per history page")
			tt.slept(t, clk.slept)

			var history, replies, auth int
			for _, r := range api.seen() {
				switch {
				case r == "auth.test?":
					auth++
				case strings.HasPrefix(r, "conversations.history?"):
					history++
				case strings.HasPrefix(r, "conversations.replies?"):
					replies++
				}
			}
			if tt.team == "" {
				require.Equal(t, 1, auth)
			}
			require.Equal(t, 3+2+len(tt.faults), history+replies, "3 history pages, 2 replies pages, and the retried requests: %v", api.seen())
		})
	}
}

// TestBackfillGivesTheWebhookEvents: every message the backfill fetched,
// delivered by the Events API instead, is the same event.
func TestBackfillGivesTheWebhookEvents(t *testing.T) {
	srv, c, _ := serve(t, newFakeSlack(t))
	cfg := BackfillConfig{BaseURL: srv.URL, Team: "T1", Channels: []string{fixtureChannel}}
	recs, _ := drain(t, Backfill(t.Context(), c, openCursor(t, t.TempDir()), testEnv(), cfg), 0)
	n := 0
	for _, rec := range recs {
		if rec.Ignored != "" {
			continue
		}
		inner := with(t, rec.Raw, map[string]any{"channel": fixtureChannel, "channel_type": "channel"})
		hook := one(t, callbackBody(string(inner)))
		require.Equal(t, rec.Event, hook, rec.Pos)
		n++
	}
	require.Equal(t, 10, n)
}

// TestBackfillResumesAfterACrash stops after the first checkpoint (as if
// the process died right after saving it), reopens the cursor and runs
// again: every event comes exactly once, the first page is fetched once,
// and a third run only asks for messages newer than the newest seen.
func TestBackfillResumesAfterACrash(t *testing.T) {
	api := newFakeSlack(t)
	srv, c, _ := serve(t, api)
	dir := t.TempDir()
	cfg := BackfillConfig{BaseURL: srv.URL, Team: "T1", Channels: []string{fixtureChannel}}

	first, n := drain(t, Backfill(t.Context(), c, openCursor(t, dir), testEnv(), cfg), 1)
	require.Equal(t, 1, n)
	firstIDs := eventIDs(t, first)
	require.Len(t, firstIDs, 2, "the first page: a bot message and the broadcast")

	second, _ := drain(t, Backfill(t.Context(), c, openCursor(t, dir), testEnv(), cfg), 0)
	all := append(firstIDs, eventIDs(t, second)...)
	require.ElementsMatch(t, wantIDs("T1"), all, "each event exactly once")

	firstPage := 0
	for _, r := range api.seen() {
		if r == "conversations.history?channel="+fixtureChannel+"&limit=200" {
			firstPage++
		}
	}
	require.Equal(t, 1, firstPage, "the first page is not fetched again: %v", api.seen())

	// A later run: only what is newer than the newest message.
	cur := openCursor(t, dir)
	require.Equal(t, "1486999900.000000", cur.Values[keyOldest(fixtureChannel)])
	require.Empty(t, cur.Values[keyNext(fixtureChannel)])
	api.history[fixtureChannel] = slices.Insert(api.history[fixtureChannel], 0,
		json.RawMessage(`{"type":"message","user":"U0003","text":"nuevo","ts":"1487000000.000001"}`))
	before := len(api.seen())
	third, _ := drain(t, Backfill(t.Context(), c, cur, testEnv(), cfg), 0)
	require.Equal(t, []string{"slack:T1:" + fixtureChannel + ":1487000000.000001"}, eventIDs(t, third))
	require.Equal(t, []string{"conversations.history?channel=" + fixtureChannel + "&limit=200&oldest=1486999900.000000"}, api.seen()[before:])
}

// TestBackfillServesPercevalPages serves the recorded pages verbatim:
// they page with has_more and latest (Slack's older paging, still
// answered) rather than a next_cursor.
func TestBackfillServesPercevalPages(t *testing.T) {
	var mu sync.Mutex
	var queries []string
	srv, c, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		mu.Unlock()
		q := r.URL.Query()
		switch {
		case r.URL.Path != "/conversations.history" || q.Get("channel") != fixtureChannel:
			w.Write(perceval(t, "slack_error.json"))
		case q.Get("latest") == "":
			w.Write(perceval(t, "slack_history.json"))
		case q.Get("latest") == "1427135733.000068":
			w.Write(perceval(t, "slack_history_next.json"))
		default:
			w.Write(perceval(t, "slack_history_empty.json"))
		}
	}))
	oldest := time.Unix(1427135000, 0)
	cfg := BackfillConfig{BaseURL: srv.URL, Team: "T1", Channels: []string{fixtureChannel}, Oldest: oldest}
	recs, checkpoints := drain(t, Backfill(t.Context(), c, openCursor(t, t.TempDir()), testEnv(), cfg), 0)
	require.Equal(t, 2, checkpoints)
	require.Len(t, eventIDs(t, recs), 7)
	require.Equal(t, []string{
		"channel=" + fixtureChannel + "&limit=200&oldest=1427135000.000000",
		"channel=" + fixtureChannel + "&latest=1427135733.000068&limit=200&oldest=1427135000.000000",
	}, queries)
}

// TestBackfillSlackErrors: Slack's {"ok":false} answers end the run with
// an error naming the method, the Slack error and what to do.
func TestBackfillSlackErrors(t *testing.T) {
	tests := []struct {
		name string
		body []byte
		want []string // in the message
	}{
		{"channel_not_found (recorded)", perceval(t, "slack_error.json"),
			[]string{"slack conversations.history (channel C011DUKE8): channel_not_found", "check the channel id"}},
		{"not_in_channel", []byte(`{"ok":false,"error":"not_in_channel"}`),
			[]string{"conversations.history", "not_in_channel", "invite"}},
		{"missing_scope", []byte(`{"ok":false,"error":"missing_scope","needed":"groups:history","provided":"channels:history"}`),
			[]string{"conversations.history", "missing_scope", "groups:history", "channels:history"}},
		{"invalid_auth", []byte(`{"ok":false,"error":"invalid_auth"}`),
			[]string{"conversations.history", "invalid_auth", "xoxb", "channels:history", "groups:history"}},
		{"not JSON", []byte(`<html>maintenance</html>`), []string{"conversations.history", "malformed JSON"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(tt.body) }))
			cfg := BackfillConfig{BaseURL: srv.URL, Team: "T1", Channels: []string{fixtureChannel, "C0OTHER"}}
			dir := t.TempDir()
			recs, checkpoints := drain(t, Backfill(t.Context(), c, openCursor(t, dir), testEnv(), cfg), 0)
			require.Zero(t, checkpoints)
			require.Len(t, recs, 1, "the error ends the run")
			require.Nil(t, recs[0].Raw, "an I/O error: ingest.Run stops")
			for _, w := range tt.want {
				require.Contains(t, recs[0].Err.Error(), w)
			}
			require.Empty(t, openCursor(t, dir).Values)
		})
	}
	// The error type is the caller's to inspect.
	srv, c, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"ok":false,"error":"invalid_auth"}`)
	}))
	recs, _ := drain(t, Backfill(t.Context(), c, openCursor(t, t.TempDir()), testEnv(), BackfillConfig{BaseURL: srv.URL, Channels: []string{"C1"}}), 0)
	var ae *APIError
	require.True(t, errors.As(recs[0].Err, &ae))
	require.Equal(t, APIError{Method: "auth.test", Code: "invalid_auth"}, *ae)
}

func TestBackfillConfig(t *testing.T) {
	for name, cfg := range map[string]BackfillConfig{
		"no channels":    {Team: "T1"},
		"direct message": {Team: "T1", Channels: []string{"C1", "D024BE91L"}},
		"empty channel":  {Team: "T1", Channels: []string{""}},
		"bad team":       {Team: "T\n1", Channels: []string{"C1"}},
	} {
		t.Run(name, func(t *testing.T) {
			c := backfill.New("orbitflow-test")
			recs, _ := drain(t, Backfill(t.Context(), c, openCursor(t, t.TempDir()), testEnv(), cfg), 0)
			require.Len(t, recs, 1)
			require.Error(t, recs[0].Err)
			require.Nil(t, recs[0].Raw)
		})
	}
}

// TestDecodeMessagesRecords: a message that does not map is a rejected
// record with its own bytes; the rest of the page goes on.
func TestDecodeMessagesRecords(t *testing.T) {
	body := []byte(`{"ok":true,"has_more":false,"messages":[
		{"type":"message","user":"U1","text":"ok","ts":"1700000000.000100","reply_count":2,"thread_ts":"1700000000.000100"},
		{"type":"message","user":"U1","text":"bad ts","ts":"yesterday"},
		{"type":"message","user":7,"ts":"1700000000.000200"},
		{"type":"message","subtype":"brand_new","ts":"1700000000.000300"}]}`)
	page, err := decodeMessages(testEnv(), "T1", "C1", body, "")
	require.NoError(t, err)
	require.Len(t, page.records, 4)
	require.Equal(t, "slack:T1:C1:1700000000.000100", page.records[0].Event.ID)
	require.Equal(t, []string{"1700000000.000100"}, page.threads)
	var ie *source.InputError
	require.ErrorAs(t, page.records[1].Err, &ie)
	require.Equal(t, "ts", ie.Field)
	require.ErrorAs(t, page.records[2].Err, &ie)
	require.Equal(t, "messages[2].user", ie.Field)
	require.JSONEq(t, `{"type":"message","user":7,"ts":"1700000000.000200"}`, string(page.records[2].Raw))
	require.ErrorContains(t, page.records[3].Err, "unmapped type: slack:message.brand_new")
	require.Equal(t, "1700000000.000300", page.newest)
	require.Equal(t, "1700000000.000100", page.oldest)
}

// FuzzSlackHistoryPage feeds pages to the decoder of conversations.history
// and conversations.replies: it never panics, a page it refuses is an
// *source.InputError or an *APIError, and each message is a valid event,
// an ignored item or a rejection carrying its bytes.
func FuzzSlackHistoryPage(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(realdata, "perceval_tests_data", "slack", "*.json"))
	require.NoError(f, err)
	require.NotEmpty(f, files, "fixtures missing")
	for _, path := range files {
		f.Add(readFixture(f, "perceval_tests_data", "slack", filepath.Base(path)), "")
	}
	f.Add([]byte(`{"ok":true,"has_more":true,"messages":[{"type":"message","user":"U1","ts":"1.1","thread_ts":"1.1","reply_count":1},`+
		`{"type":"message","subtype":"thread_broadcast","user":"U2","ts":"1.2","thread_ts":"1.1","root":{"user":"U1"}}],`+
		`"response_metadata":{"next_cursor":"bmV4dA=="}}`), "1.1")
	f.Add([]byte(`{"ok":false,"error":"missing_scope","needed":"channels:history"}`), "")
	f.Fuzz(func(t *testing.T, body []byte, skip string) {
		page, err := decodeMessages(testEnv(), "T1", "C1", body, skip)
		if err != nil {
			var ie *source.InputError
			var ae *APIError
			require.True(t, errors.As(err, &ie) || errors.As(err, &ae), "%v (%T)", err, err)
			require.Empty(t, page.records)
			return
		}
		for _, rec := range page.records {
			require.NotNil(t, rec.Raw)
			switch {
			case rec.Err != nil:
				var ie *source.InputError
				require.True(t, errors.As(rec.Err, &ie) || strings.HasPrefix(rec.Err.Error(), source.ReasonUnmapped+": slack:"),
					"%v (%T)", rec.Err, rec.Err)
			case rec.Ignored != "":
			default:
				ev := rec.Event
				require.NoError(t, events.DefaultRegistry().Validate(&ev))
			}
		}
		for _, ts := range page.threads {
			require.True(t, validTS(ts))
		}
	})
}
