package slack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/orbitflow/orbitflow/services/connectors/backfill"
	"github.com/orbitflow/orbitflow/services/connectors/ingest"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

// DefaultBaseURL is Slack's Web API.
const DefaultBaseURL = "https://slack.com/api"

// pageLimit is the page size asked of conversations.history and
// conversations.replies (Slack's advice: at most 200; it may return fewer).
const pageLimit = 200

// Methods of the Web API the backfill calls.
const (
	methodAuthTest = "auth.test"
	methodHistory  = "conversations.history"
	methodReplies  = "conversations.replies"
)

// BackfillConfig says what Backfill reads.
type BackfillConfig struct {
	// BaseURL is the Web API; default DefaultBaseURL.
	BaseURL string
	// Team is the workspace id (T…) that event ids hold; empty asks
	// auth.test for the token's workspace.
	Team string
	// Channels are the ids (C… public, G… private) of the channels to read.
	// Direct messages (D…) are refused: they are private.
	Channels []string
	// Oldest, when set, skips messages posted before it.
	Oldest time.Time
}

// APIError is a Web API answer {"ok": false, "error": Code}: Slack
// reports failures with HTTP 200. Rate limits come as HTTP 429 instead,
// which the backfill.Client waits out.
type APIError struct {
	Method  string // e.g. "conversations.history"
	Channel string // the channel asked about, "" for auth.test
	Code    string // Slack's error code, e.g. "not_in_channel"
	Needed  string // the scope Slack names on missing_scope
}

func (e *APIError) Error() string {
	where := "slack " + e.Method
	if e.Channel != "" {
		where += " (channel " + e.Channel + ")"
	}
	const scopes = "channels:history (public channels) and groups:history (private channels)"
	var hint string
	switch e.Code {
	case "not_in_channel":
		hint = "the bot is not a member of the channel: invite it (/invite @<your app> in the channel), then run the backfill again"
	case "channel_not_found":
		hint = "no such channel for this token: check the channel id (C… or G…); a private channel needs the bot invited"
	case "missing_scope":
		needed := ""
		if e.Needed != "" {
			needed = " (Slack asks for " + source.Clip(e.Needed) + ")"
		}
		hint = "the token lacks a scope" + needed + ": the backfill needs " + scopes + "; add them to the app and reinstall it"
	case "invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive", "no_permission":
		hint = "the token was refused: use the bot token (xoxb-…) of an app with the scopes " + scopes
	case "thread_not_found":
		hint = "the thread was deleted since it was listed"
	case "invalid_cursor":
		hint = "Slack refused the saved paging cursor: delete the backfill's cursor file to start over"
	}
	msg := where + ": " + source.Clip(e.Code)
	if hint != "" {
		msg += ": " + hint
	}
	return msg
}

// Backfill reads the history of each channel of cfg with conversations.history
// (newest first, 200 a page) and, for each thread parent on a page, its
// replies with conversations.replies, mapping every message with
// NormalizeMessage: the ids are the webhook's ("slack:<team>:<channel>:<ts>").
//
// After each history page and its threads the sequence holds a checkpoint
// record that saves, for that channel, the next page's cursor and the
// newest ts of the pass; when a channel's last page is done its newest ts
// becomes the channel's oldest bound, so a later run only fetches newer
// messages (Slack's oldest is exclusive). Replies posted later to a thread
// whose parent is older than that bound are not fetched again: the
// webhook delivers them.
//
// The cursor is changed only by the checkpoint records, when ingest.Run
// calls them; the sequence reads it once, when iteration starts. HTTP
// failures, Slack errors ({"ok":false}, as an *APIError naming what to fix)
// and pages that do not decode end the sequence with a record whose Err is
// set and Raw nil (ingest.Run stops with it); a message that does not
// normalize is a record with Err and its raw JSON (dead-lettered). Requests
// block in c (rate-limit waits, retries) until ctx ends. Credentials (the
// bot token as "Authorization: Bearer xoxb-…") are c's: see
// backfill.WithAuth. The sequence is single-use per cursor: two running at
// once on one cursor would overwrite each other's progress.
func Backfill(ctx context.Context, c *backfill.Client, cur *backfill.Cursor, env source.Env, cfg BackfillConfig) iter.Seq[ingest.Record] {
	return func(yield func(ingest.Record) bool) {
		r := &slackRun{ctx: ctx, c: c, cur: cur, env: env, yield: yield,
			base: strings.TrimRight(cmp.Or(cfg.BaseURL, DefaultBaseURL), "/")}
		if err := cfg.check(); err != nil {
			r.fail("slack backfill", err)
			return
		}
		team := cfg.Team
		if team == "" {
			var err error
			if team, err = r.authTest(); err != nil {
				r.fail("slack "+methodAuthTest, err)
				return
			}
		}
		oldest := ""
		if !cfg.Oldest.IsZero() {
			oldest = formatTS(cfg.Oldest)
		}
		for _, ch := range cfg.Channels {
			if !r.channel(team, ch, oldest) {
				return
			}
		}
	}
}

// check reports what makes cfg unusable.
func (cfg BackfillConfig) check() error {
	if len(cfg.Channels) == 0 {
		return fmt.Errorf("channels: required (channel ids, e.g. C0123456789)")
	}
	if cfg.Team != "" {
		if err := ident("team", cfg.Team); err != nil {
			return err
		}
	}
	for i, ch := range cfg.Channels {
		if err := ident(fmt.Sprintf("channels[%d]", i), ch); err != nil {
			return err
		}
		if strings.HasPrefix(ch, "D") {
			return fmt.Errorf("channels[%d]: %s is a direct message conversation, which is private: not backfilled", i, ch)
		}
	}
	if _, err := url.Parse(cmp.Or(cfg.BaseURL, DefaultBaseURL)); err != nil {
		return fmt.Errorf("base URL: %w", err)
	}
	return nil
}

// slackRun is one iteration of Backfill's sequence.
type slackRun struct {
	ctx   context.Context
	c     *backfill.Client
	cur   *backfill.Cursor
	env   source.Env
	base  string
	yield func(ingest.Record) bool
}

// fail ends the sequence with err: a record without Raw, which ingest.Run
// treats as an I/O error and stops on.
func (r *slackRun) fail(pos string, err error) {
	r.yield(ingest.Record{Err: err, Pos: pos})
}

// get calls a Web API method and checks Slack's ok flag.
func (r *slackRun) get(method, channel string, q url.Values) ([]byte, error) {
	u := r.base + "/" + method
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	p, err := r.c.Get(r.ctx, u, "")
	if err != nil {
		return nil, err
	}
	if err := checkOK(method, channel, p.Body); err != nil {
		if ae := (*APIError)(nil); errors.As(err, &ae) {
			return nil, err
		}
		where := method
		if channel != "" {
			where += " (channel " + channel + ")"
		}
		return nil, fmt.Errorf("slack %s: %w", where, err)
	}
	return p.Body, nil
}

// checkOK turns {"ok": false} into an *APIError; a body that is not a Web
// API answer is an *source.InputError.
func checkOK(method, channel string, body []byte) error {
	var head struct {
		OK     *bool  `json:"ok"`
		Error  string `json:"error"`
		Needed string `json:"needed"`
	}
	if err := decode(body, &head, ""); err != nil {
		return err
	}
	switch {
	case head.OK == nil:
		return source.Missing("ok")
	case !*head.OK:
		return &APIError{Method: method, Channel: channel, Code: cmp.Or(head.Error, "unknown_error"), Needed: head.Needed}
	}
	return nil
}

func (r *slackRun) authTest() (string, error) {
	body, err := r.get(methodAuthTest, "", nil)
	if err != nil {
		return "", err
	}
	var a struct {
		TeamID string `json:"team_id"`
	}
	if err := decode(body, &a, ""); err != nil {
		return "", err
	}
	if err := ident("team_id", a.TeamID); err != nil {
		return "", err
	}
	return a.TeamID, nil
}

// Cursor keys of a channel: the next history page of the running pass
// (a query: cursor=… or latest=…), the newest ts of that pass, and the
// lower bound (exclusive) left by the last finished pass.
func keyNext(ch string) string   { return "slack." + ch + ".next" }
func keyNewest(ch string) string { return "slack." + ch + ".newest" }
func keyOldest(ch string) string { return "slack." + ch + ".oldest" }

// channel runs (or resumes) a pass over one channel's history. It reports
// whether the sequence goes on.
func (r *slackRun) channel(team, ch, cfgOldest string) bool {
	lower := maxTS(cfgOldest, r.cur.Values[keyOldest(ch)])
	next := r.cur.Values[keyNext(ch)]
	newest := r.cur.Values[keyNewest(ch)]
	pos := "slack channel " + ch
	for {
		q := url.Values{"channel": {ch}, "limit": {strconv.Itoa(pageLimit)}}
		if lower != "" {
			q.Set("oldest", lower)
		}
		if next != "" {
			nq, err := url.ParseQuery(next)
			if err != nil || len(nq) != 1 || nq.Get("cursor") == "" && nq.Get("latest") == "" {
				r.fail(pos, fmt.Errorf("cursor %s: %s=%q is not a page of conversations.history; delete the cursor to start over",
					r.cur.Path(), keyNext(ch), next))
				return false
			}
			for k, v := range nq {
				q[k] = v
			}
		}
		body, err := r.get(methodHistory, ch, q)
		if err != nil {
			r.fail(pos, err)
			return false
		}
		page, err := decodeMessages(r.env, team, ch, body, "")
		if err != nil {
			r.fail(pos, fmt.Errorf("slack %s (channel %s): %w", methodHistory, ch, err))
			return false
		}
		for _, rec := range page.records {
			if !r.yield(rec) {
				return false
			}
		}
		for _, parent := range page.threads {
			if !r.replies(team, ch, parent) {
				return false
			}
		}
		newest = maxTS(newest, page.newest)
		following := ""
		switch {
		case page.cursor != "":
			following = url.Values{"cursor": {page.cursor}}.Encode()
		case page.hasMore && page.oldest != "":
			// Slack's older paging: the next page ends before this one.
			following = url.Values{"latest": {page.oldest}}.Encode()
		case page.hasMore:
			r.fail(pos, fmt.Errorf("slack %s (channel %s): has_more without a next_cursor or a message to page from", methodHistory, ch))
			return false
		}
		if following != "" && following == next {
			r.fail(pos, fmt.Errorf("slack %s (channel %s): the same page again (%s); stopping instead of looping", methodHistory, ch, following))
			return false
		}
		if following == "" {
			// The pass is complete: the next one starts after its newest message.
			done := maxTS(lower, newest)
			return r.yield(ingest.CheckpointRecord(func() error {
				delete(r.cur.Values, keyNext(ch))
				delete(r.cur.Values, keyNewest(ch))
				if done != "" {
					r.cur.Values[keyOldest(ch)] = done
				}
				return r.cur.Save()
			}))
		}
		next = following
		n, nw := next, newest
		if !r.yield(ingest.CheckpointRecord(func() error {
			r.cur.Values[keyNext(ch)] = n
			if nw != "" {
				r.cur.Values[keyNewest(ch)] = nw
			}
			return r.cur.Save()
		})) {
			return false
		}
	}
}

// replies yields the replies of the thread whose parent is at ts (the
// parent itself is in the history already).
func (r *slackRun) replies(team, ch, ts string) bool {
	pos := "slack channel " + ch + " thread " + ts
	q := url.Values{"channel": {ch}, "ts": {ts}, "limit": {strconv.Itoa(pageLimit)}}
	prev := ""
	for {
		body, err := r.get(methodReplies, ch, q)
		if ae := (*APIError)(nil); errors.As(err, &ae) && ae.Code == "thread_not_found" {
			// Deleted since the history page listed it: counted, not an error.
			return r.yield(ingest.Record{Raw: []byte{}, Pos: pos, Ignored: "slack thread: deleted since it was listed"})
		}
		if err != nil {
			r.fail(pos, err)
			return false
		}
		page, err := decodeMessages(r.env, team, ch, body, ts)
		if err != nil {
			r.fail(pos, fmt.Errorf("slack %s (channel %s, thread %s): %w", methodReplies, ch, ts, err))
			return false
		}
		for _, rec := range page.records {
			if !r.yield(rec) {
				return false
			}
		}
		switch {
		case page.cursor != "":
			q.Del("oldest")
			q.Set("cursor", page.cursor)
		case page.hasMore && page.newest != "":
			// Older paging: replies come oldest first, go on after the newest.
			q.Del("cursor")
			q.Set("oldest", page.newest)
		case page.hasMore:
			r.fail(pos, fmt.Errorf("slack %s (channel %s, thread %s): has_more without a next_cursor or a message to page from", methodReplies, ch, ts))
			return false
		default:
			return true
		}
		enc := q.Encode()
		if enc == prev {
			r.fail(pos, fmt.Errorf("slack %s (channel %s, thread %s): the same page again; stopping instead of looping", methodReplies, ch, ts))
			return false
		}
		prev = enc
	}
}

// messagePage is one decoded page of conversations.history or
// conversations.replies.
type messagePage struct {
	// records are the page's messages, mapped, in page order.
	records []ingest.Record
	// threads are the ts of the thread parents (reply_count > 0).
	threads []string
	// newest and oldest are the greatest and least valid ts on the page.
	newest, oldest string
	cursor         string // response_metadata.next_cursor
	hasMore        bool
}

// decodeMessages decodes a page of messages of channel ch and maps each
// with NormalizeMessage. skip, when set, is the thread parent's ts on a
// conversations.replies page: the parent (and thread_broadcast replies,
// which the history holds) are left out. The error is an *APIError for
// {"ok":false} or an *source.InputError for a body that is not a page; a
// message that does not map is a record with Err and the message's JSON.
func decodeMessages(env source.Env, team, ch string, body []byte, skip string) (messagePage, error) {
	method := methodHistory
	if skip != "" {
		method = methodReplies
	}
	if err := checkOK(method, ch, body); err != nil {
		return messagePage{}, err
	}
	var p struct {
		Messages         []json.RawMessage `json:"messages"`
		HasMore          bool              `json:"has_more"`
		ResponseMetadata struct {
			NextCursor string `json:"next_cursor"`
		} `json:"response_metadata"`
	}
	if err := decode(body, &p, ""); err != nil {
		return messagePage{}, err
	}
	page := messagePage{cursor: p.ResponseMetadata.NextCursor, hasMore: p.HasMore}
	if len(page.cursor) > 4096 || !source.Printable(page.cursor) {
		return messagePage{}, &source.InputError{Field: "response_metadata.next_cursor", Reason: "want printable text of at most 4096 bytes"}
	}
	for i, raw := range p.Messages {
		field := fmt.Sprintf("messages[%d]", i)
		var m Message
		var extra struct {
			ReplyCount int64 `json:"reply_count"`
		}
		err := decode(raw, &m, field)
		if err == nil {
			err = decode(raw, &extra, field)
		}
		if err != nil {
			page.records = append(page.records, ingest.FromResult(source.Result{}, err, raw, "slack "+ch+" "+field)...)
			continue
		}
		if validTS(m.TS) {
			page.newest = maxTS(page.newest, m.TS)
			if page.oldest == "" || compareTS(m.TS, page.oldest) < 0 {
				page.oldest = m.TS
			}
		}
		if skip != "" && (m.TS == skip || m.Subtype == "thread_broadcast") {
			continue
		}
		if skip == "" && extra.ReplyCount > 0 && validTS(m.TS) && (m.ThreadTS == "" || m.ThreadTS == m.TS) {
			page.threads = append(page.threads, m.TS)
		}
		res, err := NormalizeMessage(env, team, ch, m)
		pos := "slack " + ch + " " + field
		if m.TS != "" {
			pos = "slack " + ch + " " + source.Clip(m.TS)
		}
		page.records = append(page.records, ingest.FromResult(res, err, raw, pos)...)
	}
	return page, nil
}

// validTS reports whether ts reads as a Slack timestamp.
func validTS(ts string) bool {
	_, _, ok := splitTS(ts)
	return ok
}

// splitTS reads "<seconds>.<microseconds>" (the fraction optional) as two
// numbers, so that timestamps compare without a float's rounding.
func splitTS(ts string) (sec, usec int64, ok bool) {
	secs, frac, hasFrac := strings.Cut(ts, ".")
	if secs == "" || len(secs) > 11 || !digits(secs) || hasFrac && (frac == "" || len(frac) > 6 || !digits(frac)) {
		return 0, 0, false
	}
	sec, _ = strconv.ParseInt(secs, 10, 64)
	usec, _ = strconv.ParseInt((frac + "000000")[:6], 10, 64)
	return sec, usec, true
}

// compareTS orders two valid timestamps.
func compareTS(a, b string) int {
	as, au, _ := splitTS(a)
	bs, bu, _ := splitTS(b)
	return cmp.Or(cmp.Compare(as, bs), cmp.Compare(au, bu))
}

// maxTS is the later of two timestamps; "" and invalid ones lose.
func maxTS(a, b string) string {
	switch {
	case !validTS(a):
		if validTS(b) {
			return b
		}
		return ""
	case !validTS(b):
		return a
	case compareTS(b, a) > 0:
		return b
	}
	return a
}

// formatTS writes t as a Slack timestamp.
func formatTS(t time.Time) string {
	if t.Before(time.Unix(0, 0)) {
		return "0"
	}
	return fmt.Sprintf("%d.%06d", t.Unix(), t.Nanosecond()/1000)
}
