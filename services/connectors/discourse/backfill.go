package discourse

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"

	bf "github.com/orbitflow/orbitflow/services/connectors/backfill"
	"github.com/orbitflow/orbitflow/services/connectors/ingest"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

// postChunk is how many posts one /t/{id}/posts.json request asks for
// (Discourse's own chunk size).
const postChunk = 20

// BackfillConfig says what Backfill reads.
type BackfillConfig struct {
	// Site is the forum's base URL, e.g. https://forum.example.org.
	Site string
	// Categories are category slugs or ids ("support", "7",
	// "support/7"); empty reads every topic (/latest.json).
	Categories []string
	// Since, when set, skips topics not bumped (last post or edit) since.
	Since time.Time
}

// Backfill reads the forum's topics, most recently bumped first, from
// /latest.json?page=N (or /c/{category}.json?page=N per category; pinned
// topics come first), following topic_list.more_topics_url. Each topic
// bumped since the bound is fetched with /t/{id}.json and the posts its
// post_stream.stream lists beyond the first chunk with
// /t/{id}/posts.json?post_ids[]=… (20 at a time); the topic maps with
// NormalizeTopic and each post with NormalizePost (the topic's category,
// title, slug and archetype copied in), so the ids are the webhook's.
//
// Per listing the cursor keeps the next listing page, the listed topics
// not done yet, and the greatest bumped_at seen; after each topic a
// checkpoint record saves them. When a listing is exhausted (or reaches a
// topic, not pinned, bumped at or before the bound) that bumped_at becomes
// the listing's bound: a later run only lists and fetches topics bumped
// since. A topic bumped while the run goes on may be skipped by it; it is
// bumped after the bound, so the next run fetches it.
//
// The cursor is changed only by the checkpoint records, when ingest.Run
// calls them; the sequence reads it once, when iteration starts. A listing
// page that fails or does not decode ends the sequence with a record whose
// Err is set and Raw nil (ingest.Run stops with it); a topic gone since it
// was listed (HTTP 403, 404, 410) is an ignored record; a topic or post that
// does not decode or map is a record with Err and its JSON (dead-lettered).
// Requests block in c (rate-limit waits, retries) until ctx ends.
// Credentials (Api-Key and Api-Username; a public forum needs none) are
// c's: see backfill.WithAuth. The sequence is single-use per cursor.
func Backfill(ctx context.Context, c *bf.Client, cur *bf.Cursor, env source.Env, cfg BackfillConfig) iter.Seq[ingest.Record] {
	return func(yield func(ingest.Record) bool) {
		r := &forumRun{ctx: ctx, c: c, cur: cur, env: env, yield: yield, done: map[int64]bool{}}
		site, err := ParseSite(cfg.Site)
		if err != nil {
			r.fail("discourse backfill", fmt.Errorf("site: %w", err))
			return
		}
		r.site = site
		lists, err := listings(cfg.Categories)
		if err != nil {
			r.fail("discourse backfill", err)
			return
		}
		var since time.Time
		if !cfg.Since.IsZero() {
			since = cfg.Since.Add(-time.Nanosecond) // Since is inclusive
		}
		for _, l := range lists {
			if !r.listing(l, since) {
				return
			}
		}
	}
}

// listing is one topic list: its cursor key and its path.
type listing struct{ key, path string }

func listings(categories []string) ([]listing, error) {
	if len(categories) == 0 {
		return []listing{{key: "latest", path: "/latest.json"}}, nil
	}
	var out []listing
	for i, c := range categories {
		segs := strings.Split(strings.Trim(c, "/"), "/")
		for j, s := range segs {
			if s == "" || s == "." || s == ".." || !source.Printable(s) || len(s) > 255 {
				return nil, fmt.Errorf("categories[%d]: want a category slug or id (or slug/id), got %q", i, source.Clip(c))
			}
			segs[j] = url.PathEscape(s)
		}
		p := strings.Join(segs, "/")
		out = append(out, listing{key: "c/" + p, path: "/c/" + p + ".json"})
	}
	return out, nil
}

// forumRun is one iteration of Backfill's sequence.
type forumRun struct {
	ctx   context.Context
	c     *bf.Client
	cur   *bf.Cursor
	env   source.Env
	site  Site
	yield func(ingest.Record) bool
	// done are the topics fetched by this run: a topic moving between
	// listing pages while the run goes on is fetched once.
	done map[int64]bool
}

// fail ends the sequence with err: a record without Raw, which ingest.Run
// treats as an I/O error and stops on.
func (r *forumRun) fail(pos string, err error) {
	r.yield(ingest.Record{Err: err, Pos: pos})
}

// pending is a listed topic not fetched yet.
type pending struct {
	ID     int64  `json:"id"`
	Bumped string `json:"bumped_at,omitempty"`
}

// listState is a listing's progress, kept in the cursor under
// "discourse.<listing>.<field>".
type listState struct {
	page    int       // next listing page to request
	pending []pending // listed, not done
	high    time.Time // greatest bumped_at listed in this pass
	last    bool      // the pass has listed its last page
}

func (r *forumRun) key(l listing, field string) string { return "discourse." + l.key + "." + field }

func (r *forumRun) load(l listing) (listState, time.Time, error) {
	var st listState
	var bound time.Time
	v := r.cur.Values
	bad := func(field string) error {
		return fmt.Errorf("cursor %s: %s=%q is corrupt; delete the cursor to start over", r.cur.Path(), r.key(l, field), v[r.key(l, field)])
	}
	var err error
	if s := v[r.key(l, "page")]; s != "" {
		if st.page, err = strconv.Atoi(s); err != nil || st.page < 0 {
			return st, bound, bad("page")
		}
	}
	if s := v[r.key(l, "pending")]; s != "" {
		if json.Unmarshal([]byte(s), &st.pending) != nil {
			return st, bound, bad("pending")
		}
	}
	for field, t := range map[string]*time.Time{"high": &st.high, "since": &bound} {
		if s := v[r.key(l, field)]; s != "" {
			if *t, err = time.Parse(time.RFC3339Nano, s); err != nil {
				return st, bound, bad(field)
			}
		}
	}
	st.last = v[r.key(l, "last")] == "true"
	return st, bound, nil
}

// checkpoint is a record saving st (a copy: the run goes on changing its own).
func (r *forumRun) checkpoint(l listing, st listState) ingest.Record {
	pend, _ := json.Marshal(st.pending) // a slice of plain structs: cannot fail
	return ingest.CheckpointRecord(func() error {
		v := r.cur.Values
		v[r.key(l, "page")] = strconv.Itoa(st.page)
		v[r.key(l, "pending")] = string(pend)
		if !st.high.IsZero() {
			v[r.key(l, "high")] = st.high.UTC().Format(time.RFC3339Nano)
		}
		if st.last {
			v[r.key(l, "last")] = "true"
		} else {
			delete(v, r.key(l, "last"))
		}
		return r.cur.Save()
	})
}

// finished is the checkpoint closing a pass: its greatest bumped_at
// becomes the bound of the next.
func (r *forumRun) finished(l listing, bound time.Time) ingest.Record {
	return ingest.CheckpointRecord(func() error {
		v := r.cur.Values
		for _, f := range []string{"page", "pending", "high", "last"} {
			delete(v, r.key(l, f))
		}
		if !bound.IsZero() {
			v[r.key(l, "since")] = bound.UTC().Format(time.RFC3339Nano)
		}
		return r.cur.Save()
	})
}

// listing runs (or resumes) a pass over one topic list. It reports
// whether the sequence goes on.
func (r *forumRun) listing(l listing, cfgSince time.Time) bool {
	pos := "discourse " + r.site.Host + l.path
	st, bound, err := r.load(l)
	if err != nil {
		r.fail(pos, err)
		return false
	}
	if cfgSince.After(bound) {
		bound = cfgSince
	}
	for {
		for len(st.pending) > 0 {
			t := st.pending[0]
			if !r.done[t.ID] {
				r.done[t.ID] = true
				if !r.topic(t.ID) {
					return false
				}
			}
			st.pending = st.pending[1:]
			if !r.yield(r.checkpoint(l, st)) {
				return false
			}
		}
		if st.last {
			next := bound
			if st.high.After(next) {
				next = st.high
			}
			return r.yield(r.finished(l, next))
		}
		u := r.site.Base + l.path + "?page=" + strconv.Itoa(st.page)
		p, err := r.c.Get(r.ctx, u, "")
		if err != nil {
			r.fail(pos, fmt.Errorf("discourse topic list: %w", err))
			return false
		}
		lp, err := decodeTopicList(p.Body)
		if err != nil {
			r.fail(pos, fmt.Errorf("discourse topic list %s page %d: %w", l.path, st.page, err))
			return false
		}
		st.page++
		st.last = !lp.more || len(lp.topics) == 0
		for _, t := range lp.topics {
			if t.bumped.After(st.high) {
				st.high = t.bumped
			}
			switch {
			case t.bumped.IsZero() || t.bumped.After(bound):
				st.pending = append(st.pending, pending{ID: t.id, Bumped: t.bumpedRaw})
			case !t.pinned:
				// Listed most recently bumped first: the rest is older.
				st.last = true
			}
		}
		if len(st.pending) == 0 && !st.last && !r.yield(r.checkpoint(l, st)) {
			return false
		}
	}
}

// listedTopic is a topic of a listing page.
type listedTopic struct {
	id        int64
	bumped    time.Time // zero when unknown
	bumpedRaw string
	pinned    bool
}

type topicListPage struct {
	topics []listedTopic
	more   bool // topic_list.more_topics_url is set
}

// decodeTopicList decodes a listing page (/latest.json, /c/….json). The
// error is an *source.InputError.
func decodeTopicList(body []byte) (topicListPage, error) {
	var b struct {
		TopicList *struct {
			Topics []struct {
				ID           int64  `json:"id"`
				BumpedAt     string `json:"bumped_at"`
				LastPostedAt string `json:"last_posted_at"`
				CreatedAt    string `json:"created_at"`
				Pinned       bool   `json:"pinned"`
			} `json:"topics"`
			MoreTopicsURL string `json:"more_topics_url"`
		} `json:"topic_list"`
	}
	if err := decode(body, &b); err != nil {
		return topicListPage{}, err
	}
	if b.TopicList == nil {
		return topicListPage{}, source.Missing("topic_list")
	}
	out := topicListPage{more: b.TopicList.MoreTopicsURL != ""}
	for i, t := range b.TopicList.Topics {
		if t.ID <= 0 {
			return topicListPage{}, &source.InputError{Field: fmt.Sprintf("topic_list.topics[%d].id", i), Reason: "want a positive topic id"}
		}
		lt := listedTopic{id: t.ID, pinned: t.Pinned}
		// bumped_at is the last bump; older versions may leave it out.
		for _, s := range []string{t.BumpedAt, t.LastPostedAt, t.CreatedAt} {
			if at, err := time.Parse(time.RFC3339Nano, s); err == nil {
				lt.bumped, lt.bumpedRaw = at, s
				break
			}
		}
		out.topics = append(out.topics, lt)
	}
	return out, nil
}

// topic yields the records of one topic and its posts, then reports
// whether the sequence goes on.
func (r *forumRun) topic(id int64) bool {
	sid := strconv.FormatInt(id, 10)
	pos := "discourse " + r.site.Host + " topic " + sid
	p, err := r.c.Get(r.ctx, r.site.Base+"/t/"+sid+".json", "")
	if gone(err) {
		return r.yield(ingest.Record{Raw: []byte{}, Pos: pos,
			Ignored: "discourse topic: deleted or made private since it was listed (" + status(err) + ")"})
	}
	if err != nil {
		r.fail(pos, fmt.Errorf("discourse topic %d: %w", id, err))
		return false
	}
	tp, err := decodeTopicPage(r.env, r.site, p.Body)
	if err != nil {
		// This topic's page is unusable; the others are not.
		return r.yield(ingest.Record{Raw: p.Body, Pos: pos, Err: err})
	}
	for _, rec := range tp.records {
		if !r.yield(rec) {
			return false
		}
	}
	for start := 0; start < len(tp.missing); start += postChunk {
		ids := tp.missing[start:min(start+postChunk, len(tp.missing))]
		q := url.Values{}
		for _, pid := range ids {
			q.Add("post_ids[]", strconv.FormatInt(pid, 10))
		}
		p, err := r.c.Get(r.ctx, r.site.Base+"/t/"+sid+"/posts.json?"+q.Encode(), "")
		if gone(err) {
			if !r.yield(ingest.Record{Raw: []byte{}, Pos: pos,
				Ignored: "discourse posts: deleted or made private since the topic was read (" + status(err) + ")"}) {
				return false
			}
			continue
		}
		if err != nil {
			r.fail(pos, fmt.Errorf("discourse topic %d posts: %w", id, err))
			return false
		}
		recs, err := decodePosts(r.env, r.site, tp.topic, p.Body)
		if err != nil {
			if !r.yield(ingest.Record{Raw: p.Body, Pos: pos + " posts", Err: err}) {
				return false
			}
			continue
		}
		for _, rec := range recs {
			if !r.yield(rec) {
				return false
			}
		}
	}
	return true
}

// gone reports an HTTP answer saying the item is no longer readable.
func gone(err error) bool {
	var he *bf.HTTPError
	return errors.As(err, &he) && (he.Status == http.StatusNotFound || he.Status == http.StatusForbidden || he.Status == http.StatusGone)
}

// status names the HTTP status of err, for a reason that groups well.
func status(err error) string {
	var he *bf.HTTPError
	if errors.As(err, &he) {
		return "HTTP " + strconv.Itoa(he.Status)
	}
	return "no answer"
}

// topicPage is a decoded /t/{id}.json.
type topicPage struct {
	topic   Topic
	records []ingest.Record // the topic's, then its posts' in page order
	missing []int64         // post ids of the stream not on the page
}

// decodeTopicPage decodes /t/{id}.json and maps the topic and the posts on
// the page. The error (an *source.InputError) means the page is not a
// topic; a topic or post that does not map is a record with Err and its
// JSON.
func decodeTopicPage(env source.Env, site Site, body []byte) (topicPage, error) {
	var t Topic
	if err := decode(body, &t); err != nil {
		return topicPage{}, err
	}
	var b struct {
		Details struct {
			CreatedBy *User `json:"created_by"`
		} `json:"details"`
		PostStream struct {
			Posts  []json.RawMessage `json:"posts"`
			Stream []int64           `json:"stream"`
		} `json:"post_stream"`
	}
	if err := decode(body, &b); err != nil {
		return topicPage{}, err
	}
	if t.ID <= 0 {
		return topicPage{}, &source.InputError{Field: "id", Reason: "want a positive topic id"}
	}
	if t.CreatedBy == nil {
		t.CreatedBy = b.Details.CreatedBy
	}
	out := topicPage{topic: t}
	sid := strconv.FormatInt(t.ID, 10)
	res, err := NormalizeTopic(env, site, t)
	out.records = ingest.FromResult(res, err, body, "discourse "+site.Host+" topic "+sid)
	have := map[int64]bool{}
	out.records = append(out.records, mapPosts(env, site, t, b.PostStream.Posts, have)...)
	for _, id := range b.PostStream.Stream {
		if id > 0 && !have[id] {
			have[id] = true
			out.missing = append(out.missing, id)
		}
	}
	return out, nil
}

// decodePosts decodes /t/{id}/posts.json and maps its posts as posts of t.
func decodePosts(env source.Env, site Site, t Topic, body []byte) ([]ingest.Record, error) {
	var b struct {
		PostStream *struct {
			Posts []json.RawMessage `json:"posts"`
		} `json:"post_stream"`
	}
	if err := decode(body, &b); err != nil {
		return nil, err
	}
	if b.PostStream == nil {
		return nil, source.Missing("post_stream")
	}
	return mapPosts(env, site, t, b.PostStream.Posts, map[int64]bool{}), nil
}

// mapPosts maps the posts of topic t, each once (have collects their ids).
// A REST post lacks its topic's category, title and archetype: they are
// copied from t, as the webhook's post carries them.
func mapPosts(env source.Env, site Site, t Topic, raws []json.RawMessage, have map[int64]bool) []ingest.Record {
	var recs []ingest.Record
	for i, raw := range raws {
		pos := fmt.Sprintf("discourse %s topic %d post_stream.posts[%d]", site.Host, t.ID, i)
		var p Post
		if err := decode(raw, &p); err != nil {
			recs = append(recs, ingest.FromResult(source.Result{}, err, raw, pos)...)
			continue
		}
		if p.ID != 0 {
			if have[p.ID] {
				continue
			}
			have[p.ID] = true
			pos = fmt.Sprintf("discourse %s post %d", site.Host, p.ID)
		}
		if p.CategoryID == 0 {
			p.CategoryID = t.CategoryID
		}
		if p.TopicTitle == "" {
			p.TopicTitle = t.Title
		}
		if p.TopicSlug == "" {
			p.TopicSlug = t.Slug
		}
		if p.TopicArchetype == "" {
			p.TopicArchetype = t.Archetype
		}
		res, err := NormalizePost(env, site, p)
		recs = append(recs, ingest.FromResult(res, err, raw, pos)...)
	}
	return recs
}
