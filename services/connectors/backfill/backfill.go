// Package backfill is what the API backfills share: an HTTP client that
// pages through a platform's REST API politely (rate limits, retries,
// conditional requests) and a cursor saved after each page, so a backfill
// stopped by a crash resumes where it left off instead of starting over.
//
// Rate limits: a response with Retry-After (429, 503, or a 403 secondary
// limit) is retried after that long; X-RateLimit-Remaining: 0 with
// X-RateLimit-Reset (GitHub: epoch seconds) or X-RateLimit-Reset-After
// (Discord: seconds) makes the next request wait for the reset. 5xx
// responses and transport errors are retried with jittered exponential
// backoff, MaxAttempts times in all.
package backfill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Client fetches pages. The zero value is not usable: use New.
type Client struct {
	http *http.Client
	log  *slog.Logger
	// Auth sets credentials on each request (a bearer token, a bot token,
	// Discourse's Api-Key and Api-Username headers).
	auth      func(*http.Request)
	userAgent string
	maxBody   int64
	attempts  int
	backoff   time.Duration
	sleep     func(context.Context, time.Duration) error
	now       func() time.Time

	mu        sync.Mutex
	notBefore time.Time // rate limit exhausted: wait until then
}

// Option configures a Client.
type Option func(*Client)

// WithAuth sets the function that adds credentials to each request.
func WithAuth(f func(*http.Request)) Option { return func(c *Client) { c.auth = f } }

// WithHTTPClient replaces http.DefaultClient.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithLogger sets where waits and retries are reported.
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithAttempts bounds the attempts per request (default 6) and sets the
// first retry's backoff (default 1s, doubling up to a minute).
func WithAttempts(n int, backoff time.Duration) Option {
	return func(c *Client) { c.attempts, c.backoff = n, backoff }
}

// WithClock replaces time.Now and the sleeping between attempts (tests).
func WithClock(now func() time.Time, sleep func(context.Context, time.Duration) error) Option {
	return func(c *Client) { c.now, c.sleep = now, sleep }
}

// WithMaxBody bounds a response body (default 32 MiB).
func WithMaxBody(n int64) Option { return func(c *Client) { c.maxBody = n } }

// New returns a client identifying itself as userAgent.
func New(userAgent string, opts ...Option) *Client {
	c := &Client{
		http: http.DefaultClient, log: slog.New(slog.DiscardHandler), auth: func(*http.Request) {},
		userAgent: userAgent, maxBody: 32 << 20, attempts: 6, backoff: time.Second, sleep: sleepCtx, now: time.Now,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Page is one response.
type Page struct {
	URL    string
	Status int
	Header http.Header
	Body   []byte
	// Next is the Link rel="next" URL; "" on the last page.
	Next string
	// NotModified is true for a 304 to a conditional request: nothing new.
	NotModified bool
}

// HTTPError is a response that is neither a success nor retried (4xx), or
// the last of the attempts.
type HTTPError struct {
	URL    string
	Status int
	Body   string // the start of the body, for the message
}

func (e *HTTPError) Error() string {
	hint := ""
	switch e.Status {
	case http.StatusUnauthorized, http.StatusForbidden:
		hint = " (check the token and its scopes)"
	case http.StatusNotFound:
		hint = " (check the repository, channel or site name; private ones need a token with access)"
	}
	return fmt.Sprintf("GET %s: HTTP %d%s: %s", e.URL, e.Status, hint, e.Body)
}

// Get fetches url. etag, when set, makes the request conditional
// (If-None-Match); a 304 returns NotModified. It waits out rate limits and
// retries 5xx and transport errors; ctx ends the waits.
func (c *Client) Get(ctx context.Context, url, etag string) (Page, error) {
	return c.GetWithHeaders(ctx, url, etag, nil)
}

// GetWithHeaders is Get with extra request headers, set after the
// client's own, so they replace them (e.g. an Accept asking GitHub for a
// custom media type such as application/vnd.github.star+json).
func (c *Client) GetWithHeaders(ctx context.Context, url, etag string, h http.Header) (Page, error) {
	var last error
	backoff := c.backoff
	for attempt := 1; attempt <= c.attempts; attempt++ {
		if err := c.waitLimit(ctx); err != nil {
			return Page{}, err
		}
		p, retryIn, err := c.once(ctx, url, etag, h)
		if err == nil {
			return p, nil
		}
		var he *HTTPError
		if errors.As(err, &he) && retryIn == 0 {
			return Page{}, err // 4xx: retrying cannot help
		}
		if ctx.Err() != nil {
			return Page{}, ctx.Err()
		}
		last = err
		if attempt == c.attempts {
			break
		}
		if retryIn < 0 { // no hint from the server: back off
			retryIn = jitter(backoff)
			backoff = min(2*backoff, time.Minute)
		}
		c.log.Warn("backfill request failed; retrying", "url", url, "attempt", attempt, "retry_in", retryIn, "err", err)
		if err := c.sleep(ctx, retryIn); err != nil {
			return Page{}, err
		}
	}
	return Page{}, fmt.Errorf("giving up after %d attempts: %w", c.attempts, last)
}

// once makes one request. retryIn is 0 for a final answer, >0 when the
// server said when to retry, <0 for a retryable failure without a hint.
func (c *Client) once(ctx context.Context, url, etag string, h http.Header) (Page, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Page{}, 0, err
	}
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Accept", "application/json")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	for k, vs := range h {
		req.Header[http.CanonicalHeaderKey(k)] = vs
	}
	c.auth(req)
	res, err := c.http.Do(req)
	if err != nil {
		return Page{}, -1, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, c.maxBody+1))
	if err != nil {
		return Page{}, -1, fmt.Errorf("GET %s: reading the body: %w", url, err)
	}
	if int64(len(body)) > c.maxBody {
		return Page{}, 0, fmt.Errorf("GET %s: body over %d bytes", url, c.maxBody)
	}
	c.noteLimit(res.Header)
	p := Page{URL: url, Status: res.StatusCode, Header: res.Header, Body: body, Next: NextLink(res.Header)}
	switch {
	case res.StatusCode == http.StatusNotModified:
		p.NotModified = true
		return p, 0, nil
	case res.StatusCode >= 200 && res.StatusCode < 300:
		return p, 0, nil
	}
	herr := &HTTPError{URL: url, Status: res.StatusCode, Body: snippet(body)}
	if d, ok := c.retryAfter(res, body); ok {
		return Page{}, d, herr
	}
	if res.StatusCode >= 500 || res.StatusCode == http.StatusTooManyRequests {
		return Page{}, -1, herr
	}
	return Page{}, 0, herr
}

// retryAfter reads how long the server asked to wait: Retry-After
// (seconds or an HTTP date), Discord's JSON retry_after, Discourse's
// extras.wait_seconds, or an exhausted GitHub limit on a 403/429.
func (c *Client) retryAfter(res *http.Response, body []byte) (time.Duration, bool) {
	if res.StatusCode != http.StatusTooManyRequests && res.StatusCode != http.StatusServiceUnavailable &&
		res.StatusCode != http.StatusForbidden {
		return 0, false
	}
	if v := res.Header.Get("Retry-After"); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
			return max(seconds(s), time.Second), true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(c.now()), time.Second), true
		}
	}
	var hint struct {
		RetryAfter float64 `json:"retry_after"`
		Extras     struct {
			WaitSeconds float64 `json:"wait_seconds"`
		} `json:"extras"`
	}
	if json.Unmarshal(body, &hint) == nil {
		if s := max(hint.RetryAfter, hint.Extras.WaitSeconds); s > 0 {
			return max(seconds(s), time.Second), true
		}
	}
	if res.Header.Get("X-RateLimit-Remaining") == "0" {
		// noteLimit has set notBefore; waitLimit sleeps until then.
		return time.Millisecond, true
	}
	return 0, false
}

// noteLimit remembers an exhausted rate limit from the response headers.
func (c *Client) noteLimit(h http.Header) {
	if h.Get("X-RateLimit-Remaining") != "0" {
		return
	}
	var until time.Time
	if v, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil && v > 1e9 {
		until = time.Unix(v, 0).Add(time.Second) // epoch seconds (GitHub)
	} else if s, err := strconv.ParseFloat(h.Get("X-RateLimit-Reset-After"), 64); err == nil && s >= 0 {
		until = c.now().Add(seconds(s)) // seconds from now (Discord)
	} else {
		until = c.now().Add(time.Minute)
	}
	c.mu.Lock()
	if until.After(c.notBefore) {
		c.notBefore = until
	}
	c.mu.Unlock()
}

func (c *Client) waitLimit(ctx context.Context) error {
	c.mu.Lock()
	d := c.notBefore.Sub(c.now())
	c.mu.Unlock()
	if d <= 0 {
		return nil
	}
	c.log.Info("rate limit reached; waiting for the reset", "wait", d.Round(time.Second))
	return c.sleep(ctx, d)
}

var linkNext = regexp.MustCompile(`<([^>]+)>\s*;\s*rel="?next"?`)

// NextLink returns the rel="next" URL of a Link header, or "".
func NextLink(h http.Header) string {
	for _, v := range h.Values("Link") {
		for _, part := range strings.Split(v, ",") {
			if m := linkNext.FindStringSubmatch(part); m != nil {
				return m[1]
			}
		}
	}
	return ""
}

func seconds(s float64) time.Duration {
	return time.Duration(math.Min(s, 24*3600) * float64(time.Second))
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Cursor is a backfill's progress, saved as JSON in a file after each
// page is durably published: Save atomically replaces the file, so a crash
// leaves either the old or the new cursor, never half of one.
type Cursor struct {
	path string
	// Values are the backfill's own keys: the next URL of each listing,
	// the newest timestamp seen, ETags of finished listings.
	Values map[string]string `json:"values"`
	// Done marks finished listings, by name.
	Done map[string]bool `json:"done"`
	// Updated is when the cursor was last saved.
	Updated time.Time `json:"updated"`
}

// OpenCursor loads the cursor of name under dir (created if missing).
// name identifies the backfill, e.g. "github-acme-widgets".
func OpenCursor(dir, name string) (*Cursor, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return nil, fmt.Errorf("backfill: cursor name %q: want a file name", name)
	}
	c := &Cursor{path: filepath.Join(dir, name+".json"), Values: map[string]string{}, Done: map[string]bool{}}
	data, err := os.ReadFile(c.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return c, nil
	case err != nil:
		return nil, fmt.Errorf("backfill: read cursor: %w", err)
	}
	if err := json.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("backfill: cursor %s is corrupt (%v); delete it to start over", c.path, err)
	}
	if c.Values == nil {
		c.Values = map[string]string{}
	}
	if c.Done == nil {
		c.Done = map[string]bool{}
	}
	return c, nil
}

// Path is the cursor's file.
func (c *Cursor) Path() string { return c.path }

// Save writes the cursor durably (write, fsync, rename).
func (c *Cursor) Save() error {
	c.Updated = time.Now().UTC()
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return fmt.Errorf("backfill: save cursor: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), filepath.Base(c.path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("backfill: save cursor: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("backfill: save cursor: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("backfill: save cursor: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("backfill: save cursor: %w", err)
	}
	if err := os.Rename(tmp.Name(), c.path); err != nil {
		return fmt.Errorf("backfill: save cursor: %w", err)
	}
	return nil
}
