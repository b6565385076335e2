package discord

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/orbitflow/orbitflow/services/connectors/source"
)

// DefaultAPIURL is Discord's REST API, version 10.
const DefaultAPIURL = "https://discord.com/api/v10"

// pageSize is the most messages Discord returns per page.
const pageSize = 100

// maxBody bounds one REST response: a page is 100 messages.
const maxBody = 32 << 20

// Cursor bounds a backfill by message ids (snowflakes); both bounds are
// exclusive and optional.
type Cursor struct {
	// Before starts the backfill with the messages older than this id;
	// "" starts with the newest message.
	Before string
	// After stops the backfill at the first message not newer than this
	// id; "" goes back to the channel's first message.
	After string
	// Newest is set on the cursor of an interrupted run: the newest
	// message it handled, which the run that finishes it returns as After.
	Newest string
}

// HTTPError is a REST response that retrying does not fix (or that kept
// failing past the retries).
type HTTPError struct {
	Method, Path string
	StatusCode   int
	// Message is Discord's error message, or the start of the body.
	Message string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("discord REST %s %s: %d %s: %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// BackfillOption tunes Backfill.
type BackfillOption func(*backfillOptions)

type backfillOptions struct {
	reject      RejectFunc
	retries     int
	retryWait   time.Duration
	maxWait     time.Duration
	rateRetries int
}

// WithBackfillReject sets where messages that do not normalize go. Without
// it such a message stops the backfill with its *source.InputError.
func WithBackfillReject(f RejectFunc) BackfillOption {
	return func(o *backfillOptions) { o.reject = f }
}

// WithRetries sets how often a failed request (5xx, network error) is
// retried and the first wait, doubled (jittered) up to 30s; default 5, 1s.
func WithRetries(n int, first time.Duration) BackfillOption {
	return func(o *backfillOptions) { o.retries, o.retryWait = n, first }
}

// Backfill pages the history of channel channelID from baseURL (default
// DefaultAPIURL) with the bot token, newest first, 100 messages a page
// (GET /channels/{id}/messages?limit=100&before=...), within cur. Every
// message goes through the MESSAGE_CREATE mapping (same ids as the
// gateway), then to h, one at a time, newest first; raw is the message
// object. It waits out rate limits (429 retry_after or Retry-After, and an
// exhausted X-RateLimit-Remaining for X-RateLimit-Reset-After) and retries
// 5xx and network errors with backoff. Blocks until done, ctx ends, or a
// request or h fails.
//
// On success the returned cursor is {After: the newest message id seen}
// (or cur.After when none was), for the next incremental run. On failure it
// is {Before: the oldest message h accepted, After: cur.After, Newest: the
// newest handled}, to continue the interrupted run; no message is lost either
// way, and a message is handed to h again only when h failed on it.
func Backfill(ctx context.Context, hc *http.Client, baseURL, token, channelID string, cur Cursor, env source.Env, h Handler, opts ...BackfillOption) (Cursor, error) {
	o := backfillOptions{retries: 5, retryWait: time.Second, maxWait: 30 * time.Second, rateRetries: 20}
	for _, opt := range opts {
		opt(&o)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	if baseURL == "" {
		baseURL = DefaultAPIURL
	}
	if token == "" {
		return cur, errors.New("discord backfill: token: required")
	}
	if err := snowflake("channel", channelID); err != nil {
		return cur, fmt.Errorf("discord backfill: %w", err)
	}
	for _, c := range [][2]string{{"cursor.before", cur.Before}, {"cursor.after", cur.After}, {"cursor.newest", cur.Newest}} {
		if c[1] != "" {
			if err := snowflake(c[0], c[1]); err != nil {
				return cur, fmt.Errorf("discord backfill: %w", err)
			}
		}
	}
	r := &rest{hc: hc, base: strings.TrimSuffix(baseURL, "/"), token: token, o: o}

	// A REST message carries neither its guild nor its channel's type:
	// the channel gives both (thread messages get their thread id).
	var ch struct {
		Type    int    `json:"type"`
		GuildID string `json:"guild_id"`
	}
	if err := r.get(ctx, "/channels/"+channelID, nil, &ch); err != nil {
		return cur, err
	}
	hint := channelHint{guildID: ch.GuildID, channelType: &ch.Type}

	newest := cur.After
	if cur.Newest != "" && (newest == "" || compareSnowflakes(cur.Newest, newest) > 0) {
		newest = cur.Newest
	}
	failed := func(err error) (Cursor, error) {
		cur.Newest = newest
		return cur, err
	}
	for {
		q := url.Values{"limit": {strconv.Itoa(pageSize)}}
		if cur.Before != "" {
			q.Set("before", cur.Before)
		}
		var page []json.RawMessage
		if err := r.get(ctx, "/channels/"+channelID+"/messages", q, &page); err != nil {
			return failed(err)
		}
		for _, raw := range page {
			var m struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(raw, &m); err != nil || snowflake("id", m.ID) != nil {
				return failed(fmt.Errorf("discord backfill: channel %s: a message without a snowflake id before %q", channelID, cur.Before))
			}
			if cur.After != "" && compareSnowflakes(m.ID, cur.After) <= 0 {
				return Cursor{After: newest}, nil
			}
			res, nerr := normalizeMessage(env, raw, hint)
			var herr error
			switch {
			case nerr == nil:
				herr = h(ctx, res, raw)
			case o.reject != nil:
				herr = o.reject(ctx, raw, nerr)
			default:
				herr = fmt.Errorf("message %s: %w", m.ID, nerr)
			}
			if herr != nil {
				return failed(fmt.Errorf("discord backfill: channel %s: %w", channelID, herr))
			}
			cur.Before = m.ID // handled: the next page, or a retry, continues past it
			if newest == "" || compareSnowflakes(m.ID, newest) > 0 {
				newest = m.ID
			}
		}
		if len(page) < pageSize {
			return Cursor{After: newest}, nil
		}
	}
}

// rest issues REST requests with retries and rate-limit waits. Not safe
// for concurrent use.
type rest struct {
	hc    *http.Client
	base  string
	token string
	o     backfillOptions
	// resetAt is when the bucket of the last response refills, when that
	// response said none was left.
	resetAt time.Time
}

// get decodes the JSON answer of GET path?q into out.
func (r *rest) get(ctx context.Context, path string, q url.Values, out any) error {
	u := r.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	failures, limited := 0, 0
	for {
		if err := sleep(ctx, time.Until(r.resetAt)); err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return fmt.Errorf("discord backfill: %w", err)
		}
		req.Header.Set("Authorization", "Bot "+r.token)
		req.Header.Set("User-Agent", userAgent)
		req.Header.Set("Accept", "application/json")
		resp, err := r.hc.Do(req)
		var body []byte
		if err == nil {
			body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody))
			_ = resp.Body.Close()
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if failures++; failures > r.o.retries {
				return fmt.Errorf("discord backfill: GET %s: %w", path, err)
			}
			if err := sleep(ctx, jitter(r.o.retryWait, r.o.maxWait, failures-1)); err != nil {
				return err
			}
			continue
		}
		r.noteBucket(resp.Header)
		switch {
		case resp.StatusCode == http.StatusOK:
			if err := json.Unmarshal(body, out); err != nil {
				return &source.InputError{Field: path, Reason: "malformed JSON: " + err.Error()}
			}
			return nil
		case resp.StatusCode == http.StatusTooManyRequests:
			if limited++; limited > r.o.rateRetries {
				return httpError(path, resp.StatusCode, body)
			}
			if err := sleep(ctx, retryAfter(resp.Header, body)); err != nil {
				return err
			}
		case resp.StatusCode >= 500:
			if failures++; failures > r.o.retries {
				return httpError(path, resp.StatusCode, body)
			}
			if err := sleep(ctx, jitter(r.o.retryWait, r.o.maxWait, failures-1)); err != nil {
				return err
			}
		default:
			return httpError(path, resp.StatusCode, body)
		}
	}
}

// noteBucket remembers an exhausted rate-limit bucket.
func (r *rest) noteBucket(h http.Header) {
	if h.Get("X-RateLimit-Remaining") != "0" {
		return
	}
	if d, ok := seconds(h.Get("X-RateLimit-Reset-After")); ok {
		r.resetAt = time.Now().Add(d)
	}
}

// retryAfter is the wait a 429 asks for: retry_after of the JSON body
// (seconds, fractional), else the Retry-After header, else one second.
func retryAfter(h http.Header, body []byte) time.Duration {
	var b struct {
		RetryAfter *float64 `json:"retry_after"`
	}
	if json.Unmarshal(body, &b) == nil && b.RetryAfter != nil {
		if d, ok := secondsF(*b.RetryAfter); ok {
			return d
		}
	}
	if d, ok := seconds(h.Get("Retry-After")); ok {
		return d
	}
	return time.Second
}

func seconds(s string) (time.Duration, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, false
	}
	return secondsF(f)
}

// secondsF converts seconds to a duration, refusing negative, NaN and
// absurd values (more than a day).
func secondsF(f float64) (time.Duration, bool) {
	if math.IsNaN(f) || f < 0 || f > 86400 {
		return 0, false
	}
	return time.Duration(f * float64(time.Second)), true
}

func httpError(path string, status int, body []byte) error {
	var b struct {
		Message string `json:"message"`
	}
	msg := ""
	if json.Unmarshal(body, &b) == nil && b.Message != "" {
		msg = b.Message
	} else {
		msg = clean(string(body[:min(len(body), 200)]), 200)
	}
	return &HTTPError{Method: http.MethodGet, Path: path, StatusCode: status, Message: msg}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
