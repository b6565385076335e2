package discourse

import (
	"context"
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
	bf "github.com/orbitflow/orbitflow/services/connectors/backfill"
	"github.com/orbitflow/orbitflow/services/connectors/ingest"
	"github.com/orbitflow/orbitflow/services/connectors/source"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
)

func TestMain(m *testing.M) { kittest.Main(m) }

func percevalFile(t testing.TB, name string) []byte {
	t.Helper()
	return readFixture(t, "perceval_tests_data", "discourse", name)
}

func object(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// fakeForum serves a forum made of perceval's recordings: the topic list
// entries of discourse_topics_pinned.json (1149 and 1150 pinned, then
// 1148), perPage a page with more_topics_url on all but the last, and the
// recorded /t/{id}.json of each. perceval anonymised the recordings
// inconsistently, which a forum never is; the fake repairs exactly that:
// topic 1148's post_stream.stream lists positions (1…22) instead of post
// ids, so it becomes the ids of its 20 recorded posts followed by 2500 and
// 2501, the recorded discourse_post.json placed as posts 21 and 22; topics
// 1149 and 1150 repeat 1148's first two posts (same post ids, 1150's naming
// topic 1149), so they get ids of their own (<topic>01, <topic>02).
type fakeForum struct {
	t       testing.TB
	perPage int
	entries []map[string]any          // topic list entries, in listing order
	topics  map[string]map[string]any // "/t/<id>.json" → the topic page
	posts   map[string]map[string]any // post id → post
	// firstChunk, when > 0, serves only that many posts on /t/{id}.json
	// (a forum with a smaller chunk size): the rest come by posts.json.
	firstChunk int
	// faults answer request n (1-based) instead of the forum.
	faults map[int]http.HandlerFunc

	mu       sync.Mutex
	requests []string
}

func newFakeForum(t testing.TB) *fakeForum {
	f := &fakeForum{t: t, perPage: 2, topics: map[string]map[string]any{}, posts: map[string]map[string]any{}}
	list := object(t, percevalFile(t, "discourse_topics_pinned.json"))["topic_list"].(map[string]any)
	for _, e := range list["topics"].([]any) {
		f.entries = append(f.entries, e.(map[string]any))
	}
	require.Len(t, f.entries, 3)
	for _, id := range []int{1148, 1149, 1150} {
		page := object(t, percevalFile(t, fmt.Sprintf("discourse_topic_%d.json", id)))
		ps := page["post_stream"].(map[string]any)
		var stream []any
		for _, p := range ps["posts"].([]any) {
			post := p.(map[string]any)
			if id != 1148 {
				post["id"] = float64(id*100) + post["post_number"].(float64)
				post["topic_id"] = float64(id)
			}
			stream = append(stream, post["id"])
			f.posts[strconv.FormatFloat(post["id"].(float64), 'f', -1, 64)] = post
		}
		if id == 1148 {
			for i, pid := range []float64{2500, 2501} {
				post := object(t, percevalFile(t, "discourse_post.json"))
				post["id"], post["topic_id"], post["post_number"] = pid, float64(1148), float64(21+i)
				post["topic_slug"] = page["slug"]
				f.posts[strconv.FormatFloat(pid, 'f', -1, 64)] = post
				stream = append(stream, pid)
			}
			require.Len(t, stream, 22)
		}
		ps["stream"] = stream
		f.topics[fmt.Sprintf("/t/%d.json", id)] = page
	}
	return f
}

func (f *fakeForum) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func (f *fakeForum) count(req string) int {
	n := 0
	for _, r := range f.seen() {
		if r == req {
			n++
		}
	}
	return n
}

func (f *fakeForum) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.URL.RequestURI())
	n := len(f.requests)
	f.mu.Unlock()
	if fault := f.faults[n]; fault != nil {
		fault(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	notFound := func() {
		http.Error(w, `{"errors":["The requested URL or resource could not be found."],"error_type":"not_found"}`, http.StatusNotFound)
	}
	switch p := r.URL.Path; {
	case p == "/latest.json" || strings.HasPrefix(p, "/c/"):
		page, err := strconv.Atoi(r.URL.Query().Get("page"))
		if err != nil || page < 0 {
			notFound()
			return
		}
		start := min(len(f.entries), page*f.perPage)
		end := min(len(f.entries), start+f.perPage)
		list := map[string]any{"per_page": f.perPage, "topics": f.entries[start:end]}
		if end < len(f.entries) {
			list["more_topics_url"] = fmt.Sprintf("%s?page=%d", strings.TrimSuffix(p, ".json"), page+1)
		}
		w.Write(marshal(f.t, map[string]any{"users": []any{}, "topic_list": list}))
	case strings.HasSuffix(p, "/posts.json"):
		var posts []any
		for _, id := range r.URL.Query()["post_ids[]"] {
			if post, ok := f.posts[id]; ok {
				posts = append(posts, post)
			}
		}
		w.Write(marshal(f.t, map[string]any{"post_stream": map[string]any{"posts": posts}, "id": strings.Split(p, "/")[2]}))
	default:
		page, ok := f.topics[p]
		if !ok {
			notFound()
			return
		}
		if f.firstChunk > 0 {
			ps := page["post_stream"].(map[string]any)
			cut := map[string]any{}
			for k, v := range page {
				cut[k] = v
			}
			cut["post_stream"] = map[string]any{"posts": ps["posts"].([]any)[:f.firstChunk], "stream": ps["stream"]}
			page = cut
		}
		w.Write(marshal(f.t, page))
	}
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

// serve starts h on a local test server and returns a client of it with
// Discourse's API headers and a fake clock (no real sleeping).
func serve(t *testing.T, h http.Handler) (*httptest.Server, *bf.Client, *clock) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	c := bf.New("orbitflow-test",
		bf.WithHTTPClient(srv.Client()),
		bf.WithClock(clk.now, clk.sleep),
		bf.WithAttempts(3, time.Second),
		bf.WithAuth(func(r *http.Request) { r.Header.Set("Api-Key", "k"); r.Header.Set("Api-Username", "system") }))
	return srv, c, clk
}

func openCursor(t *testing.T, dir string) *bf.Cursor {
	t.Helper()
	cur, err := bf.OpenCursor(dir, "discourse-test")
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

// eventIDs checks that every record is a valid event or an ignored item
// and returns the event ids.
func eventIDs(t *testing.T, recs []ingest.Record) []string {
	t.Helper()
	var ids []string
	for _, rec := range recs {
		require.NotNil(t, rec.Raw, "%s: an I/O error: %v", rec.Pos, rec.Err)
		require.NoError(t, rec.Err, rec.Pos)
		if rec.Ignored != "" {
			require.True(t, strings.HasPrefix(rec.Ignored, "discourse post: the opening post"), rec.Ignored)
			continue
		}
		ev := rec.Event
		require.NoError(t, events.DefaultRegistry().Validate(&ev), rec.Pos)
		ids = append(ids, ev.ID)
	}
	return ids
}

// forumIDs are the events of the fake forum's topics.
func forumIDs(topics ...int) []string {
	var ids []string
	for _, topic := range topics {
		ids = append(ids, fmt.Sprintf("discourse:%%s:topic:%d", topic))
		switch topic {
		case 1148:
			for _, p := range []int{19133, 19152, 19162, 19171, 19233, 19682, 19775, 19784, 19848, 19971, 20039,
				20052, 20113, 20120, 20121, 20135, 20136, 20218, 20545, 2500, 2501} {
				ids = append(ids, fmt.Sprintf("discourse:%%s:post:%d", p))
			}
		default:
			ids = append(ids, fmt.Sprintf("discourse:%%s:post:%d02", topic))
		}
	}
	return ids
}

func withHost(ids []string, host string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = fmt.Sprintf(id, host)
	}
	return out
}

func TestBackfillPagesTopicsPostsAndFaults(t *testing.T) {
	rateLimited := func(w http.ResponseWriter, _ *http.Request) {
		// Discourse's own 429: the wait is in the body, not in Retry-After.
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"errors":["You’ve performed this action too many times. Please wait 12 seconds before trying again."],`+
			`"error_type":"rate_limit","extras":{"wait_seconds":12,"time_left":"12 seconds"}}`)
	}
	retryAfter := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusTooManyRequests)
	}
	all := []int{1149, 1150, 1148}
	tests := []struct {
		name       string
		cfg        BackfillConfig
		firstChunk int
		faults     map[int]http.HandlerFunc
		topics     []int
		requests   int
		slept      []time.Duration // nil: checked by check
		check      func(t *testing.T, f *fakeForum, slept []time.Duration)
	}{
		{name: "all topics", topics: all, requests: 2 + 3 + 1},
		{name: "posts beyond the first chunk, 20 a request", firstChunk: 1, topics: all, requests: 2 + 3 + 2 + 1 + 1,
			check: func(t *testing.T, f *fakeForum, _ []time.Duration) {
				var chunks []int
				for _, r := range f.seen() {
					if strings.HasPrefix(r, "/t/1148/posts.json?") {
						chunks = append(chunks, strings.Count(r, "post_ids"))
					}
				}
				require.Equal(t, []int{20, 1}, chunks)
			}},
		{name: "a category", cfg: BackfillConfig{Categories: []string{"support/111"}}, topics: all, requests: 6,
			check: func(t *testing.T, f *fakeForum, _ []time.Duration) {
				require.Equal(t, 1, f.count("/c/support/111.json?page=0"))
				require.Equal(t, 1, f.count("/c/support/111.json?page=1"))
			}},
		{name: "since: pinned topics do not stop the listing", cfg: BackfillConfig{Since: time.Date(2016, 5, 25, 1, 0, 0, 0, time.UTC)},
			topics: []int{1148}, requests: 2 + 1 + 1},
		{name: "429 with extras.wait_seconds", faults: map[int]http.HandlerFunc{2: rateLimited}, topics: all, requests: 7,
			slept: []time.Duration{12 * time.Second}},
		{name: "429 with Retry-After", faults: map[int]http.HandlerFunc{1: retryAfter}, topics: all, requests: 7,
			slept: []time.Duration{5 * time.Second}},
		{name: "5xx then success", faults: map[int]http.HandlerFunc{4: func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "Bad Gateway", http.StatusBadGateway)
		}}, topics: all, requests: 7, check: func(t *testing.T, _ *fakeForum, slept []time.Duration) {
			require.Len(t, slept, 1)
			require.True(t, slept[0] >= 500*time.Millisecond && slept[0] <= time.Second, "jittered backoff, got %s", slept[0])
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forum := newFakeForum(t)
			forum.firstChunk, forum.faults = tt.firstChunk, tt.faults
			srv, c, clk := serve(t, forum)
			cfg := tt.cfg
			cfg.Site = srv.URL
			recs, checkpoints := drain(t, Backfill(t.Context(), c, openCursor(t, t.TempDir()), testEnv(), cfg), 0)
			site, err := ParseSite(srv.URL)
			require.NoError(t, err)
			require.ElementsMatch(t, withHost(forumIDs(tt.topics...), site.Host), eventIDs(t, recs))
			require.Equal(t, len(forumIDs(tt.topics...))+len(tt.topics), len(recs), "and each opening post ignored")
			require.Len(t, forum.seen(), tt.requests, "%v", forum.seen())
			require.GreaterOrEqual(t, checkpoints, len(tt.topics)+1, "one per topic, one closing the pass")
			switch {
			case tt.slept != nil:
				require.Equal(t, tt.slept, clk.slept)
			case tt.check == nil:
				require.Empty(t, clk.slept)
			}
			if tt.check != nil {
				tt.check(t, forum, clk.slept)
			}
		})
	}
}

// TestBackfillGivesTheWebhookEvents: every topic and post the backfill
// fetched, delivered by the webhook instead, is the same event.
func TestBackfillGivesTheWebhookEvents(t *testing.T) {
	forum := newFakeForum(t)
	srv, c, _ := serve(t, forum)
	recs, _ := drain(t, Backfill(t.Context(), c, openCursor(t, t.TempDir()), testEnv(), BackfillConfig{Site: srv.URL}), 0)
	n := 0
	for _, rec := range recs {
		if rec.Ignored != "" {
			continue
		}
		h := http.Header{HeaderInstance: {srv.URL}}
		var body []byte
		switch rec.Event.Type {
		case "discourse.topic.created":
			topic := object(t, rec.Raw)
			topic["created_by"] = topic["details"].(map[string]any)["created_by"]
			delete(topic, "post_stream")
			body = marshal(t, map[string]any{"topic": topic})
			h.Set(HeaderEvent, "topic_created")
		default:
			post := object(t, rec.Raw)
			page := forum.topics[fmt.Sprintf("/t/%.0f.json", post["topic_id"].(float64))]
			post["category_id"], post["topic_title"], post["topic_archetype"] = page["category_id"], page["title"], page["archetype"]
			body = marshal(t, map[string]any{"post": post})
			h.Set(HeaderEvent, "post_created")
		}
		res, err := normalize(t, h, body)
		require.NoError(t, err)
		require.Equal(t, rec.Event, res.Events[0], rec.Pos)
		n++
	}
	require.Equal(t, 26, n)
}

// TestBackfillResumesAfterACrash stops after the first checkpoint (as if
// the process died right after saving it), reopens the cursor and runs
// again: every event comes exactly once and neither the first listing page
// nor the first topic is fetched twice; a later run fetches only what was
// bumped since.
func TestBackfillResumesAfterACrash(t *testing.T) {
	forum := newFakeForum(t)
	srv, c, _ := serve(t, forum)
	site, err := ParseSite(srv.URL)
	require.NoError(t, err)
	dir := t.TempDir()
	cfg := BackfillConfig{Site: srv.URL}

	first, n := drain(t, Backfill(t.Context(), c, openCursor(t, dir), testEnv(), cfg), 1)
	require.Equal(t, 1, n)
	firstIDs := eventIDs(t, first)
	require.Equal(t, withHost(forumIDs(1149), site.Host), firstIDs)

	second, _ := drain(t, Backfill(t.Context(), c, openCursor(t, dir), testEnv(), cfg), 0)
	require.ElementsMatch(t, withHost(forumIDs(1149, 1150, 1148), site.Host), append(firstIDs, eventIDs(t, second)...),
		"each event exactly once")
	require.Equal(t, 1, forum.count("/latest.json?page=0"), "%v", forum.seen())
	require.Equal(t, 1, forum.count("/t/1149.json"))

	cur := openCursor(t, dir)
	require.Equal(t, map[string]string{"discourse.latest.since": "2016-05-25T02:52:49.526Z"}, cur.Values)

	// Nothing bumped since: the listing is read, no topic is fetched.
	before := len(forum.seen())
	third, _ := drain(t, Backfill(t.Context(), c, cur, testEnv(), cfg), 0)
	require.Empty(t, third)
	require.Equal(t, []string{"/latest.json?page=0", "/latest.json?page=1"}, forum.seen()[before:])

	// 1148 gets a post: only it is fetched again.
	forum.entries[2]["bumped_at"] = "2016-06-01T10:00:00.000Z"
	before = len(forum.seen())
	fourth, _ := drain(t, Backfill(t.Context(), c, openCursor(t, dir), testEnv(), cfg), 0)
	require.ElementsMatch(t, withHost(forumIDs(1148), site.Host), eventIDs(t, fourth))
	require.Equal(t, []string{"/latest.json?page=0", "/latest.json?page=1", "/t/1148.json",
		"/t/1148/posts.json?post_ids%5B%5D=2500&post_ids%5B%5D=2501"}, forum.seen()[before:])
	require.Equal(t, "2016-06-01T10:00:00Z", openCursor(t, dir).Values["discourse.latest.since"])
}

// TestBackfillRecordedListings serves perceval's recordings as they are:
// listing pages without more_topics_url are the last page, and the
// anonymised streams (positions, not post ids) ask for posts the forum
// does not have, counted as gone.
func TestBackfillRecordedListings(t *testing.T) {
	tests := []struct {
		file    string
		fetched []string
		records int
	}{
		{"discourse_topics_empty.json", nil, 0},
		{"discourse_topics.json", []string{"/t/1148.json", "/t/1149.json"}, 23 + 4},
		{"discourse_topics_last_posted_at_null.json", []string{"/t/1148.json", "/t/1149.json"}, 23 + 4},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var mu sync.Mutex
			var fetched []string
			srv, c, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.URL.Path == "/latest.json" && r.URL.Query().Get("page") == "0":
					w.Write(percevalFile(t, tt.file))
				case r.URL.Path == "/t/1148.json" || r.URL.Path == "/t/1149.json":
					mu.Lock()
					fetched = append(fetched, r.URL.Path)
					mu.Unlock()
					w.Write(percevalFile(t, "discourse_topic_"+strings.TrimSuffix(r.URL.Path[3:], ".json")+".json"))
				default:
					http.NotFound(w, r)
				}
			}))
			recs, checkpoints := drain(t, Backfill(t.Context(), c, openCursor(t, t.TempDir()), testEnv(), BackfillConfig{Site: srv.URL}), 0)
			require.Equal(t, tt.fetched, fetched)
			require.Equal(t, tt.records, len(recs))
			gone := 0
			for _, rec := range recs {
				require.NotNil(t, rec.Raw)
				require.NoError(t, rec.Err)
				if strings.Contains(rec.Ignored, "deleted or made private") {
					gone++
				}
			}
			if tt.fetched != nil {
				require.Equal(t, 3, gone, "1148's 22 stream entries: two chunks, 1149's: one, all 404")
			}
			require.Equal(t, len(tt.fetched)+1, checkpoints)
		})
	}
}

// TestBackfillErrors: what ends a run, what is only dead-lettered or
// counted.
func TestBackfillErrors(t *testing.T) {
	t.Run("listing fails: the run stops", func(t *testing.T) {
		srv, c, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, `{"errors":["You are not permitted to view the requested resource."],"error_type":"invalid_access"}`, http.StatusForbidden)
		}))
		recs, n := drain(t, Backfill(t.Context(), c, openCursor(t, t.TempDir()), testEnv(), BackfillConfig{Site: srv.URL}), 0)
		require.Zero(t, n)
		require.Len(t, recs, 1)
		require.Nil(t, recs[0].Raw)
		require.ErrorContains(t, recs[0].Err, "HTTP 403")
	})
	t.Run("listing is not JSON: the run stops", func(t *testing.T) {
		srv, c, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "<html>login</html>") }))
		recs, _ := drain(t, Backfill(t.Context(), c, openCursor(t, t.TempDir()), testEnv(), BackfillConfig{Site: srv.URL}), 0)
		require.Len(t, recs, 1)
		require.Nil(t, recs[0].Raw)
		var ie *source.InputError
		require.ErrorAs(t, recs[0].Err, &ie)
	})
	t.Run("a topic gone or broken: counted, the run goes on", func(t *testing.T) {
		forum := newFakeForum(t)
		delete(forum.topics, "/t/1150.json")                                // 404
		forum.topics["/t/1149.json"] = map[string]any{"id": "not a number"} // does not decode
		srv, c, _ := serve(t, forum)
		recs, _ := drain(t, Backfill(t.Context(), c, openCursor(t, t.TempDir()), testEnv(), BackfillConfig{Site: srv.URL}), 0)
		require.True(t, strings.HasPrefix(recs[0].Pos, "discourse 127.0.0.1"))
		var ie *source.InputError
		require.ErrorAs(t, recs[0].Err, &ie, "1149: dead-lettered with its page")
		require.JSONEq(t, `{"id":"not a number"}`, string(recs[0].Raw))
		require.Contains(t, recs[1].Ignored, "deleted or made private", "1150")
		require.NotNil(t, recs[1].Raw)
		require.Equal(t, 2+23, len(recs), "then 1148 in full")
	})
	for name, cfg := range map[string]BackfillConfig{
		"no site":        {},
		"site not a URL": {Site: "forum.example.org"},
		"bad category":   {Site: "https://forum.example.org", Categories: []string{"a/../b"}},
	} {
		t.Run(name, func(t *testing.T) {
			recs, _ := drain(t, Backfill(t.Context(), bf.New("orbitflow-test"), openCursor(t, t.TempDir()), testEnv(), cfg), 0)
			require.Len(t, recs, 1)
			require.Error(t, recs[0].Err)
			require.Nil(t, recs[0].Raw)
		})
	}
}

// FuzzDiscourseTopicPage feeds bodies to the decoders of /t/{id}.json,
// /t/{id}/posts.json and the topic lists: they never panic, a page they
// refuse is an *source.InputError, and each topic or post is a valid
// event, an ignored item or a rejection carrying its bytes.
func FuzzDiscourseTopicPage(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(realdata, "perceval_tests_data", "discourse", "*.json"))
	require.NoError(f, err)
	require.NotEmpty(f, files, "fixtures missing")
	for _, path := range files {
		f.Add(percevalFile(f, filepath.Base(path)))
	}
	var elk []struct {
		Data json.RawMessage `json:"data"`
	}
	require.NoError(f, json.Unmarshal(readFixture(f, "grimoirelab_elk_tests_data", "discourse.json"), &elk))
	require.NotEmpty(f, elk)
	for _, item := range elk {
		f.Add([]byte(item.Data))
	}
	f.Add([]byte(`{"id":3,"created_at":"2020-01-01T00:00:00Z","details":{"created_by":{"id":-1,"username":"system"}},` +
		`"post_stream":{"posts":[{"id":1,"topic_id":3,"post_number":2,"user_id":5,"created_at":"2020-01-01T00:00:00Z"}],"stream":[1,2,-4]}}`))
	site := Site{Base: "https://forum.example.org", Host: "forum.example.org"}
	f.Fuzz(func(t *testing.T, body []byte) {
		requireInput := func(err error) {
			var ie *source.InputError
			require.True(t, errors.As(err, &ie), "%v (%T)", err, err)
		}
		checkRecords := func(recs []ingest.Record) {
			for _, rec := range recs {
				require.NotNil(t, rec.Raw)
				switch {
				case rec.Err != nil:
					requireInput(rec.Err)
				case rec.Ignored != "":
				default:
					ev := rec.Event
					require.NoError(t, events.DefaultRegistry().Validate(&ev))
				}
			}
		}
		tp, err := decodeTopicPage(testEnv(), site, body)
		if err != nil {
			requireInput(err)
		} else {
			require.NotEmpty(t, tp.records)
			checkRecords(tp.records)
			for _, id := range tp.missing {
				require.Positive(t, id)
			}
		}
		recs, err := decodePosts(testEnv(), site, Topic{ID: 3, Title: "t", CategoryID: 1}, body)
		if err != nil {
			requireInput(err)
		}
		checkRecords(recs)
		if _, err := decodeTopicList(body); err != nil {
			requireInput(err)
		}
	})
}
