package discord

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

// fakeAPI serves a channel and its history, newest first, the way
// GET /channels/{id}/messages pages it; faults script error answers per
// request number (1-based) of the messages endpoint.
type fakeAPI struct {
	t        *testing.T
	channel  string
	chanType int
	guild    string
	history  [][]byte // newest first
	faults   map[int]func(w http.ResponseWriter)

	mu       sync.Mutex
	requests []string // query of every messages request
}

func (a *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bot tok" || !strings.HasPrefix(r.Header.Get("User-Agent"), "DiscordBot (") {
		http.Error(w, `{"message": "401: Unauthorized", "code": 0}`, http.StatusUnauthorized)
		return
	}
	switch r.URL.Path {
	case "/api/v10/channels/" + a.channel:
		fmt.Fprintf(w, `{"id":%q,"type":%d,"guild_id":%q,"name":"general"}`, a.channel, a.chanType, a.guild)
		return
	case "/api/v10/channels/" + a.channel + "/messages":
	default:
		http.Error(w, `{"message": "Unknown Channel", "code": 10003}`, http.StatusNotFound)
		return
	}
	a.mu.Lock()
	a.requests = append(a.requests, r.URL.RawQuery)
	n := len(a.requests)
	a.mu.Unlock()
	if f := a.faults[n]; f != nil {
		f(w)
		return
	}
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || limit < 1 || limit > 100 {
		http.Error(w, `{"message":"bad limit"}`, http.StatusBadRequest)
		return
	}
	start := 0
	if before := r.URL.Query().Get("before"); before != "" {
		for start < len(a.history) && compareSnowflakes(idOf(a.t, a.history[start]), before) >= 0 {
			start++
		}
	}
	page := a.history[start:min(len(a.history), start+limit)]
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte("["))
	for i, m := range page {
		if i > 0 {
			w.Write([]byte(","))
		}
		w.Write(m)
	}
	w.Write([]byte("]"))
}

func idOf(t *testing.T, m []byte) string {
	t.Helper()
	id, err := rawID(m)
	require.NoError(t, err)
	return id
}

func rawID(m []byte) (string, error) {
	var v struct{ ID string }
	err := json.Unmarshal(m, &v)
	return v.ID, err
}

// restMessage is a recorded MESSAGE_CREATE payload as REST returns it:
// without the gateway-only channel_type and guild_id.
func restMessage(t *testing.T, p payload, set map[string]any) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(p.D, &m))
	delete(m, "channel_type")
	delete(m, "guild_id")
	for k, v := range set {
		m[k] = v
	}
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return b
}

// history is the 3 recorded messages (newest) followed by n older ones
// built from them, in the recorded DM channel.
func history(t *testing.T, n int) (msgs [][]byte, recorded []payload) {
	t.Helper()
	for _, p := range loadPayloads(t) {
		if p.Event == "MESSAGE_CREATE" {
			recorded = append(recorded, p)
		}
	}
	require.Len(t, recorded, 3)
	for i := len(recorded) - 1; i >= 0; i-- {
		msgs = append(msgs, restMessage(t, recorded[i], nil))
	}
	oldest := time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)
	for i := range n {
		at := oldest.Add(-time.Duration(i) * time.Minute)
		id := uint64(at.UnixMilli()-Epoch)<<22 | uint64(i%4096)
		msgs = append(msgs, restMessage(t, recorded[i%3], map[string]any{
			"id": strconv.FormatUint(id, 10), "timestamp": at.Format(time.RFC3339Nano),
		}))
	}
	return msgs, recorded
}

type collected struct {
	mu   sync.Mutex
	ids  []string
	evs  map[string]events.Event
	fail func(n int) error
}

func (c *collected) handle(_ context.Context, res source.Result, raw []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		if err := c.fail(len(c.ids)); err != nil {
			return err
		}
	}
	if c.evs == nil {
		c.evs = map[string]events.Event{}
	}
	if len(res.Events) != 1 {
		return fmt.Errorf("want one event, got %+v", res)
	}
	ev := res.Events[0]
	if err := events.DefaultRegistry().Validate(&ev); err != nil {
		return err
	}
	if id, err := rawID(raw); err != nil || ev.ID != "discord:message:"+id {
		return fmt.Errorf("event %s for message %s", ev.ID, raw)
	}
	c.ids = append(c.ids, ev.ID)
	c.evs[ev.ID] = ev
	return nil
}

func fastRetries() BackfillOption { return WithRetries(3, time.Millisecond) }

// TestBackfillPagesRateLimitsRetriesAndMatchesTheGateway pages 250
// messages (100, 100, 50) through a 429 with retry_after, a 429 with only
// Retry-After, an exhausted bucket and a 500; every message comes once,
// newest first, and the recorded ones get exactly the event the gateway
// path gives them.
func TestBackfillPagesRateLimitsRetriesAndMatchesTheGateway(t *testing.T) {
	msgs, recorded := history(t, 247)
	api := &fakeAPI{t: t, channel: dmChannel, chanType: channelDM, history: msgs, faults: map[int]func(http.ResponseWriter){
		1: func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "3600") // the body's retry_after wins
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"message":"You are being rate limited.","retry_after":0.01,"global":false}`))
		},
		2: func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
		},
		4: func(w http.ResponseWriter) {
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset-After", "0.01")
			http.Error(w, "upstream", http.StatusBadGateway)
		},
		5: func(w http.ResponseWriter) { http.Error(w, "oops", http.StatusInternalServerError) },
	}}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)

	var got collected
	cur, err := Backfill(context.Background(), srv.Client(), srv.URL+"/api/v10", "tok", dmChannel, Cursor{}, testEnv(), got.handle, fastRetries())
	require.NoError(t, err)
	require.Equal(t, Cursor{After: "1467362561736577025"}, cur, "the next run starts after the newest message")

	require.Len(t, got.ids, 250)
	for i, m := range msgs {
		require.Equal(t, "discord:message:"+idOf(t, m), got.ids[i], "newest first, each once")
	}
	for _, p := range recorded {
		gw, err := Normalize(testEnv(), "MESSAGE_CREATE", p.D)
		require.NoError(t, err)
		require.Equal(t, gw.Events[0], got.evs[gw.Events[0].ID], "backfill and gateway agree on %s", p.ID)
	}
	require.Equal(t, []string{
		"limit=100", "limit=100", "limit=100", // 429, 429, page 1
		"before=" + idOf(t, msgs[99]) + "&limit=100", "before=" + idOf(t, msgs[99]) + "&limit=100", // 502, 500
		"before=" + idOf(t, msgs[99]) + "&limit=100",  // page 2
		"before=" + idOf(t, msgs[199]) + "&limit=100", // page 3 (50): the end
	}, api.requests)
}

func TestBackfillStopsAtTheAfterCursor(t *testing.T) {
	msgs, _ := history(t, 247)
	api := &fakeAPI{t: t, channel: dmChannel, chanType: channelDM, history: msgs}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)

	var got collected
	after := idOf(t, msgs[150])
	cur, err := Backfill(context.Background(), srv.Client(), srv.URL+"/api/v10", "tok", dmChannel, Cursor{After: after}, testEnv(), got.handle, fastRetries())
	require.NoError(t, err)
	require.Len(t, got.ids, 150, "only what is newer than after")
	require.Equal(t, Cursor{After: idOf(t, msgs[0])}, cur)
	require.Len(t, api.requests, 2)

	// Nothing new: the cursor stays.
	got = collected{}
	cur, err = Backfill(context.Background(), srv.Client(), srv.URL+"/api/v10", "tok", dmChannel, cur, testEnv(), got.handle, fastRetries())
	require.NoError(t, err)
	require.Empty(t, got.ids)
	require.Equal(t, Cursor{After: idOf(t, msgs[0])}, cur)
}

// TestBackfillHandlerErrorResumesWithoutLoss: a failed handler stops the
// run with a cursor; running again from it delivers the rest.
func TestBackfillHandlerErrorResumesWithoutLoss(t *testing.T) {
	msgs, _ := history(t, 147)
	api := &fakeAPI{t: t, channel: dmChannel, chanType: channelDM, history: msgs}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)

	var got collected
	got.fail = func(n int) error {
		if n == 120 {
			return errors.New("stream unavailable")
		}
		return nil
	}
	cur, err := Backfill(context.Background(), srv.Client(), srv.URL+"/api/v10", "tok", dmChannel, Cursor{}, testEnv(), got.handle, fastRetries())
	require.ErrorContains(t, err, "stream unavailable")
	require.Equal(t, Cursor{Before: idOf(t, msgs[119]), Newest: idOf(t, msgs[0])}, cur, "continue after the last accepted message")

	got.fail = nil
	cur, err = Backfill(context.Background(), srv.Client(), srv.URL+"/api/v10", "tok", dmChannel, cur, testEnv(), got.handle, fastRetries())
	require.NoError(t, err)
	require.Len(t, got.ids, 150, "no gap, no repeat")
	for i, m := range msgs {
		require.Equal(t, "discord:message:"+idOf(t, m), got.ids[i])
	}
	require.Equal(t, Cursor{After: idOf(t, msgs[0])}, cur, "the newest message of the whole run")
}

func TestBackfillThreadChannel(t *testing.T) {
	const threadID = "1467363183181303818"
	msgs, _ := history(t, 0)
	for i, m := range msgs {
		var v map[string]any
		require.NoError(t, json.Unmarshal(m, &v))
		v["channel_id"] = threadID
		msgs[i], _ = json.Marshal(v)
	}
	api := &fakeAPI{t: t, channel: threadID, chanType: channelPublicThread, guild: guildID, history: msgs}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	var got collected
	_, err := Backfill(context.Background(), srv.Client(), srv.URL+"/api/v10", "tok", threadID, Cursor{}, testEnv(), got.handle, fastRetries())
	require.NoError(t, err)
	require.Len(t, got.ids, 3)
	for _, ev := range got.evs {
		require.Equal(t, "discord:thread:"+threadID, ev.ThreadID)
		require.Equal(t, threadID, ev.Channel)
		require.Equal(t, map[string]string{"guild_id": guildID}, ev.Attributes)
		require.True(t, strings.HasPrefix(ev.URL, "https://discord.com/channels/"+guildID+"/"+threadID+"/"), ev.URL)
	}
}

func TestBackfillErrors(t *testing.T) {
	msgs, _ := history(t, 0)
	bad := append([][]byte{[]byte(`{"id":"1467362561736577099","channel_id":"750023285147697282","timestamp":"2026-02-01T03:40:00Z"}`)}, msgs...)
	always := func(status int) map[int]func(http.ResponseWriter) {
		f := map[int]func(http.ResponseWriter){}
		for i := 1; i < 10; i++ {
			f[i] = func(w http.ResponseWriter) { http.Error(w, `{"message":"down"}`, status) }
		}
		return f
	}
	cases := []struct {
		name    string
		api     *fakeAPI
		token   string
		channel string
		opts    []BackfillOption
		check   func(t *testing.T, err error, got *collected)
	}{
		{"unauthorized is permanent", &fakeAPI{channel: dmChannel}, "wrong", dmChannel, nil, func(t *testing.T, err error, _ *collected) {
			var he *HTTPError
			require.True(t, errors.As(err, &he), "%v", err)
			require.Equal(t, http.StatusUnauthorized, he.StatusCode)
			require.Equal(t, "401: Unauthorized", he.Message)
		}},
		{"unknown channel", &fakeAPI{channel: dmChannel}, "tok", "42", nil, func(t *testing.T, err error, _ *collected) {
			require.ErrorContains(t, err, "404 Not Found: Unknown Channel")
		}},
		{"5xx past the retries", &fakeAPI{channel: dmChannel, faults: always(http.StatusServiceUnavailable)}, "tok", dmChannel, nil,
			func(t *testing.T, err error, _ *collected) {
				var he *HTTPError
				require.True(t, errors.As(err, &he), "%v", err)
				require.Equal(t, http.StatusServiceUnavailable, he.StatusCode)
			}},
		{"malformed message without reject", &fakeAPI{channel: dmChannel, chanType: channelDM, history: bad}, "tok", dmChannel, nil,
			func(t *testing.T, err error, got *collected) {
				var ie *source.InputError
				require.True(t, errors.As(err, &ie), "%v", err)
				require.Equal(t, "author", ie.Field)
				require.Empty(t, got.ids)
			}},
		{"malformed message rejected", &fakeAPI{channel: dmChannel, chanType: channelDM, history: bad}, "tok", dmChannel,
			[]BackfillOption{WithBackfillReject(func(_ context.Context, raw []byte, err error) error {
				if !strings.Contains(string(raw), "1467362561736577099") || !strings.Contains(err.Error(), "author") {
					return fmt.Errorf("unexpected reject %s: %v", raw, err)
				}
				return nil
			})},
			func(t *testing.T, err error, got *collected) {
				require.NoError(t, err)
				require.Len(t, got.ids, 3)
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.api.t = t
			srv := httptest.NewServer(tc.api)
			t.Cleanup(srv.Close)
			var got collected
			_, err := Backfill(context.Background(), srv.Client(), srv.URL+"/api/v10", tc.token, tc.channel, Cursor{}, testEnv(), got.handle,
				append([]BackfillOption{fastRetries()}, tc.opts...)...)
			tc.check(t, err, &got)
		})
	}
}

func TestBackfillChecksItsArguments(t *testing.T) {
	h := func(context.Context, source.Result, []byte) error { return nil }
	_, err := Backfill(context.Background(), nil, "", "", dmChannel, Cursor{}, testEnv(), h)
	require.ErrorContains(t, err, "token: required")
	_, err = Backfill(context.Background(), nil, "", "tok", "general", Cursor{}, testEnv(), h)
	require.ErrorContains(t, err, "channel: want a snowflake")
	_, err = Backfill(context.Background(), nil, "", "tok", dmChannel, Cursor{After: "x"}, testEnv(), h)
	require.ErrorContains(t, err, "cursor.after")
}

func TestRetryAfter(t *testing.T) {
	h := http.Header{}
	require.Equal(t, 250*time.Millisecond, retryAfter(h, []byte(`{"retry_after":0.25}`)))
	h.Set("Retry-After", "2")
	require.Equal(t, 2*time.Second, retryAfter(h, []byte(`not json`)))
	require.Equal(t, 2*time.Second, retryAfter(h, []byte(`{"retry_after":-1}`)), "a nonsense body falls back to the header")
	require.Equal(t, time.Second, retryAfter(http.Header{}, nil))
}
