package backfill_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/connectors/backfill"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
)

func TestMain(m *testing.M) { kittest.Main(m) }

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

// script serves the responses in order, one per request, recording requests.
type script struct {
	mu    sync.Mutex
	steps []func(w http.ResponseWriter, r *http.Request)
	seen  []*http.Request
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.seen = append(s.seen, r)
	if len(s.steps) == 0 {
		s.mu.Unlock()
		http.Error(w, "script exhausted", http.StatusTeapot)
		return
	}
	step := s.steps[0]
	s.steps = s.steps[1:]
	s.mu.Unlock()
	step(w, r)
}

func status(code int, headers map[string]string, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		for k, v := range headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}
}

func setup(t *testing.T, steps ...func(http.ResponseWriter, *http.Request)) (*httptest.Server, *script, *clock, *backfill.Client) {
	s := &script{steps: steps}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	c := backfill.New("orbitflow-test", backfill.WithClock(clk.now, clk.sleep), backfill.WithAttempts(3, time.Second),
		backfill.WithAuth(func(r *http.Request) { r.Header.Set("Authorization", "Bearer tok") }))
	return srv, s, clk, c
}

func TestPaginationFollowsTheLinkHeader(t *testing.T) {
	var srv *httptest.Server
	srv, _, _, c := setup(t,
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", fmt.Sprintf(`<%s/items?page=2>; rel="next", <%s/items?page=3>; rel="last"`, srv.URL, srv.URL))
			_, _ = w.Write([]byte(`[1]`))
		},
		status(200, nil, `[2]`),
	)
	p, err := c.Get(context.Background(), srv.URL+"/items", "")
	require.NoError(t, err)
	require.Equal(t, `[1]`, string(p.Body))
	require.Equal(t, srv.URL+"/items?page=2", p.Next)
	p, err = c.Get(context.Background(), p.Next, "")
	require.NoError(t, err)
	require.Equal(t, "", p.Next, "last page")
}

func TestRetriesAndRateLimits(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first func(http.ResponseWriter, *http.Request)
		wait  time.Duration // the first sleep
	}{
		{"retry-after seconds", status(429, map[string]string{"Retry-After": "7"}, ""), 7 * time.Second},
		{"discord json retry_after", status(429, nil, `{"message":"You are being rate limited.","retry_after":2.5,"global":false}`), 2500 * time.Millisecond},
		{"discourse wait_seconds", status(429, nil, `{"errors":["slow down"],"extras":{"wait_seconds":12}}`), 12 * time.Second},
		{"github secondary limit", status(403, map[string]string{"Retry-After": "60"}, `{"message":"secondary rate limit"}`), time.Minute},
		{"github primary limit on 403", status(403, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1700000100"}, `{"message":"API rate limit exceeded"}`), time.Millisecond},
		{"slack 503", status(503, map[string]string{"Retry-After": "3"}, ""), 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, s, clk, c := setup(t, tc.first, status(200, nil, `ok`))
			p, err := c.Get(context.Background(), srv.URL+"/x", "")
			require.NoError(t, err)
			require.Equal(t, "ok", string(p.Body))
			require.Len(t, s.seen, 2)
			require.NotEmpty(t, clk.slept)
			require.Equal(t, tc.wait, clk.slept[0])
			require.Equal(t, "Bearer tok", s.seen[1].Header.Get("Authorization"))
		})
	}
}

func TestExhaustedLimitWaitsForTheResetBeforeTheNextRequest(t *testing.T) {
	reset := strconv.FormatInt(time.Unix(1_700_000_000, 0).Add(90*time.Second).Unix(), 10)
	srv, _, clk, c := setup(t,
		status(200, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}, `[1]`),
		status(200, nil, `[2]`))
	_, err := c.Get(context.Background(), srv.URL+"/a", "")
	require.NoError(t, err)
	require.Empty(t, clk.slept, "the page that used the last request is returned at once")
	_, err = c.Get(context.Background(), srv.URL+"/b", "")
	require.NoError(t, err)
	require.Equal(t, []time.Duration{91 * time.Second}, clk.slept, "waits until the reset (+1s)")
}

func TestServerErrorsBackOffThenGiveUp(t *testing.T) {
	srv, s, clk, c := setup(t, status(502, nil, "bad gateway"), status(500, nil, ""), status(502, nil, "still bad"))
	_, err := c.Get(context.Background(), srv.URL+"/x", "")
	require.ErrorContains(t, err, "giving up after 3 attempts")
	require.ErrorContains(t, err, "HTTP 502")
	require.Len(t, s.seen, 3)
	require.Len(t, clk.slept, 2)
	require.GreaterOrEqual(t, clk.slept[1], clk.slept[0], "backoff grows")
	for _, d := range clk.slept {
		require.Greater(t, d, time.Duration(0))
	}
}

func TestClientErrorsAreNotRetried(t *testing.T) {
	srv, s, _, c := setup(t, status(404, nil, `{"message":"Not Found"}`))
	_, err := c.Get(context.Background(), srv.URL+"/repos/x/y", "")
	var he *backfill.HTTPError
	require.ErrorAs(t, err, &he)
	require.Equal(t, 404, he.Status)
	require.ErrorContains(t, err, "check the repository")
	require.Len(t, s.seen, 1)
}

func TestConditionalRequest(t *testing.T) {
	srv, s, _, c := setup(t, status(304, map[string]string{"ETag": `"abc"`}, ""))
	p, err := c.Get(context.Background(), srv.URL+"/x", `"abc"`)
	require.NoError(t, err)
	require.True(t, p.NotModified)
	require.Equal(t, `"abc"`, s.seen[0].Header.Get("If-None-Match"))
}

func TestCursorSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	c, err := backfill.OpenCursor(dir, "github-acme-widgets")
	require.NoError(t, err)
	require.Empty(t, c.Values)
	c.Values["issues.next"] = "https://api.github.com/x?page=3"
	c.Done["stargazers"] = true
	require.NoError(t, c.Save())

	again, err := backfill.OpenCursor(dir, "github-acme-widgets")
	require.NoError(t, err)
	require.Equal(t, "https://api.github.com/x?page=3", again.Values["issues.next"])
	require.True(t, again.Done["stargazers"])
	left, err := filepath.Glob(filepath.Join(dir, "*.tmp"))
	require.NoError(t, err)
	require.Empty(t, left, "no temporary file left behind")

	require.NoError(t, os.WriteFile(again.Path(), []byte("{half"), 0o600))
	_, err = backfill.OpenCursor(dir, "github-acme-widgets")
	require.ErrorContains(t, err, "is corrupt")
	require.ErrorContains(t, err, "delete it to start over")

	_, err = backfill.OpenCursor(dir, "../escape")
	require.ErrorContains(t, err, "want a file name")
}

func FuzzNextLink(f *testing.F) {
	for _, s := range []string{`<https://api.github.com/x?page=2>; rel="next", <https://api.github.com/x?page=9>; rel="last"`,
		`<a>; rel=next`, `<>; rel="next"`, `rel="next"`, `<a>, <b>; rel="prev"`, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		h := http.Header{}
		h.Set("Link", v)
		next := backfill.NextLink(h)
		if next != "" && !strings.Contains(v, "<"+next+">") {
			t.Fatalf("NextLink(%q) = %q, not a <url> of the header", v, next)
		}
	})
}

func TestGetWithHeadersReplacesTheDefaults(t *testing.T) {
	srv, s, _, c := setup(t, status(200, nil, `[]`), status(200, nil, `[]`))
	_, err := c.GetWithHeaders(context.Background(), srv.URL+"/stargazers", `"e1"`,
		http.Header{"Accept": {"application/vnd.github.star+json"}, "X-Extra": {"1"}})
	require.NoError(t, err)
	_, err = c.Get(context.Background(), srv.URL+"/stargazers", "")
	require.NoError(t, err)
	require.Len(t, s.seen, 2)
	require.Equal(t, []string{"application/vnd.github.star+json"}, s.seen[0].Header.Values("Accept"))
	require.Equal(t, "1", s.seen[0].Header.Get("X-Extra"))
	require.Equal(t, `"e1"`, s.seen[0].Header.Get("If-None-Match"))
	require.Equal(t, "Bearer tok", s.seen[0].Header.Get("Authorization"), "credentials still set")
	require.Equal(t, "application/json", s.seen[1].Header.Get("Accept"), "Get keeps the default")
}
