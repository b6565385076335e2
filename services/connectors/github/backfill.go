package github

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/backfill"
	"github.com/orbitflow/orbitflow/services/connectors/ingest"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

// DefaultBaseURL is the REST API root of github.com.
const DefaultBaseURL = "https://api.github.com"

// AcceptStarred is the media type that makes the stargazers listing carry
// starred_at.
const AcceptStarred = "application/vnd.github.star+json"

// BackfillConfig selects what to backfill. A cursor belongs to one
// configuration: the saved next-page URLs carry BaseURL and Since, so a
// changed configuration needs its own cursor name.
type BackfillConfig struct {
	// BaseURL is the REST API root; default DefaultBaseURL (GitHub
	// Enterprise Server: https://HOST/api/v3).
	BaseURL string
	// Repos are "owner/name".
	Repos []string
	// Org adds every repository of an organization (listed via
	// /orgs/{org}/repos, paged) after Repos; a repository named twice is
	// backfilled once.
	Org string
	// Since, when set, limits the backfill to activity updated since then:
	// the issues, issue comment and review comment listings ask GitHub for
	// it (since=); pull requests, reviews and stars, whose listings cannot,
	// are read in full and those older are counted as ignored.
	Since time.Time
}

// Backfill yields the activity of the configured repositories read from
// the GitHub REST API through c, as records for ingest.Run. Per
// repository, in this order, each listing paged by 100 along its Link
// rel="next":
//
//	GET /repos/{o}/{r}                        the repository id (ids, threads)
//	GET /repos/{o}/{r}/issues                 github.issue.opened
//	GET /repos/{o}/{r}/issues/comments        github.issue.commented
//	GET /repos/{o}/{r}/pulls                  github.pull_request.opened, .merged
//	  GET /repos/{o}/{r}/pulls/{n}/reviews    github.pull_request.reviewed
//	GET /repos/{o}/{r}/pulls/comments         github.pull_request.review_commented
//	GET /repos/{o}/{r}/stargazers             github.star.created
//
// Every object goes through the webhook mapping, so an activity gets the
// id its webhook delivery (and its GH Archive line) gives it and the
// stream stores it once however it arrived.
//
// What the lists cannot show is left out, never guessed: who closed or
// reopened an issue or pull request, and when it was reopened, are not in
// them (closed_by is only on a single issue, at one request per issue), so
// no issue.closed, issue.reopened, pull_request.closed or .reopened
// events; the assignees at opening are not known either (the lists show
// the current ones), so opened events carry no assign targets; merged_by
// is not in GitHub's pull request list, so merged events have the
// merged_by attribute only when an object carries it. Pushes, forks, releases, refs, wiki edits, discussions and
// members are not backfilled.
//
// Requests: the issues listing includes pull requests but not their pull
// request id (the id webhook events use) nor merged_at, so pull requests
// come from the pulls listing and the issues listing's pull request items
// are counted as ignored; its issues are remembered (number, id, title,
// author) for the comments, and an issue or pull request a comment names
// that no listing of this run showed is fetched once (GET
// /issues/{n} or /pulls/{n}). Reviews have no repository-wide listing:
// they cost one request (or more, by 100) per pull request, made only for
// the pull requests the pulls listing shows updated since the last run
// (all of them the first time) and since Since. Reviews are read right
// after each page of pull requests, before that page's checkpoint.
//
// Progress: after each page the sequence yields a checkpoint record
// (ingest.CheckpointRecord) that saves the listing's next URL in cur once
// everything before it is acknowledged, so a crash resumes at the first
// page not durably published; records of a page cut short are yielded
// again on resume, with the same ids. A finished listing is marked
// cur.Done with its last page's URL and ETag: a later run asks for that
// page again with If-None-Match, and GitHub's 304 (free of rate limit)
// means nothing new; new and updated items (the listings are sorted by
// update, oldest first) are on that page or the next. The repository
// lookups and the organization's repository pages are conditional too.
//
// An HTTP failure the client gave up on ends the sequence with a record
// carrying the error and no Raw bytes (ingest.Run stops on it); running
// the same backfill again resumes. ctx ends waits and requests. The
// sequence reads and writes cur while it runs and is not safe for
// concurrent use; consume it on one goroutine.
func Backfill(ctx context.Context, c *backfill.Client, cur *backfill.Cursor, env source.Env, cfg BackfillConfig) iter.Seq[ingest.Record] {
	return func(yield func(ingest.Record) bool) {
		b := &backfiller{ctx: ctx, c: c, cur: cur, env: env, cfg: cfg, yield: yield}
		repos, ok := b.repos()
		if !ok {
			return
		}
		for _, ref := range repos {
			if !b.repo(ref) {
				return
			}
		}
	}
}

// Cursor keys, under "<owner/name>:": the listing names hold the next
// page's URL (the last page's once Done); suffixes hold more.
const (
	keyETag    = "#etag"    // the last page's ETag of a finished listing
	keyUpdated = "#updated" // pulls: the newest updated_at read
)

var (
	ownerRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$`) // GHE allows _ (managed users)
	nameRe  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
)

// validRepo reports whether s is "owner/name" safe to put in a URL path.
func validRepo(s string) bool {
	owner, name, ok := strings.Cut(s, "/")
	return ok && ownerRe.MatchString(owner) && nameRe.MatchString(name) && name != "." && name != ".."
}

type backfiller struct {
	ctx   context.Context
	c     *backfill.Client
	cur   *backfill.Cursor
	env   source.Env
	cfg   BackfillConfig
	base  string
	yield func(ingest.Record) bool
}

// repoRef is one repository to backfill.
type repoRef struct {
	path string // "owner/name" as the API paths use it
	id   int64  // 0 until looked up
	name string // full_name as GitHub spells it
}

// fail ends the sequence with err, which happened at pos.
func (b *backfiller) fail(pos string, err error) bool {
	var he *backfill.HTTPError
	hint := "run the same backfill again to resume (finished pages are not fetched again)"
	if errors.As(err, &he) && (he.Status == http.StatusNotFound || he.Status == http.StatusGone) {
		hint = "check the repository or organization name and the token's access, then run the same backfill again to resume"
	}
	b.yield(ingest.Record{Pos: pos, Err: fmt.Errorf("github backfill: %w; %s", err, hint)})
	return false
}

// configError ends the sequence with a configuration problem.
func (b *backfiller) configError(format string, a ...any) bool {
	b.yield(ingest.Record{Pos: "config", Err: fmt.Errorf("github backfill: "+format, a...)})
	return false
}

// repos validates the configuration and lists the repositories.
func (b *backfiller) repos() ([]repoRef, bool) {
	b.base = strings.TrimRight(b.cfg.BaseURL, "/")
	if b.base == "" {
		b.base = DefaultBaseURL
	}
	if u, err := url.Parse(b.base); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, b.configError("base URL %q: want an absolute http(s) URL such as %s", b.cfg.BaseURL, DefaultBaseURL)
	}
	if len(b.cfg.Repos) == 0 && b.cfg.Org == "" {
		return nil, b.configError("no repositories: set repos (owner/name) or org")
	}
	var refs []repoRef
	seen := map[string]bool{}
	for i, r := range b.cfg.Repos {
		if !validRepo(r) {
			return nil, b.configError("repos[%d] %q: want owner/name", i, r)
		}
		if k := strings.ToLower(r); !seen[k] {
			seen[k] = true
			refs = append(refs, repoRef{path: r})
		}
	}
	if b.cfg.Org == "" {
		return refs, true
	}
	if !ownerRe.MatchString(b.cfg.Org) {
		return nil, b.configError("org %q: want an organization login", b.cfg.Org)
	}
	orgRepos, ok := b.orgRepos()
	if !ok {
		return nil, false
	}
	for _, r := range orgRepos {
		if k := strings.ToLower(r.path); !seen[k] {
			seen[k] = true
			refs = append(refs, r)
		}
	}
	return refs, true
}

// orgRepos lists the organization's repositories. Each page is asked for
// conditionally; the cursor remembers what it held ("next URL" and then
// "id full_name" lines) for a 304.
func (b *backfiller) orgRepos() ([]repoRef, bool) {
	q := url.Values{"type": {"all"}, "sort": {"created"}, "direction": {"asc"}, "per_page": {"100"}}
	next := b.base + "/orgs/" + b.cfg.Org + "/repos?" + q.Encode()
	var refs []repoRef
	for next != "" {
		v, ok := b.remembered("org:"+strings.ToLower(b.cfg.Org)+":"+next, next, func(p backfill.Page) (string, error) {
			var list []struct {
				ID       int64  `json:"id"`
				FullName string `json:"full_name"`
			}
			if err := json.Unmarshal(p.Body, &list); err != nil {
				return "", fmt.Errorf("organization repositories: malformed JSON: %w", err)
			}
			var sb strings.Builder
			sb.WriteString(p.Next)
			for i, r := range list {
				if r.ID <= 0 || !validRepo(r.FullName) {
					return "", fmt.Errorf("organization repositories [%d]: want an id and a full_name owner/name", i)
				}
				fmt.Fprintf(&sb, "\n%d %s", r.ID, r.FullName)
			}
			return sb.String(), nil
		})
		if !ok {
			return nil, false
		}
		lines := strings.Split(v, "\n")
		next = lines[0]
		for _, l := range lines[1:] {
			id, name, _ := strings.Cut(l, " ")
			n, _ := strconv.ParseInt(id, 10, 64)
			refs = append(refs, repoRef{path: name, id: n, name: name})
		}
	}
	return refs, true
}

// remembered fetches u conditionally and returns what extract derives from
// the body, or, on a 304, what it derived last time (kept in the cursor
// under key; saved with the next checkpoint).
func (b *backfiller) remembered(key, u string, extract func(backfill.Page) (string, error)) (string, bool) {
	val, etag := b.cur.Values[key], b.cur.Values[key+keyETag]
	if val == "" {
		etag = ""
	}
	p, err := b.c.Get(b.ctx, u, etag)
	if err != nil {
		return "", b.fail(u, err)
	}
	if p.NotModified {
		return val, true
	}
	v, err := extract(p)
	if err != nil {
		return "", b.fail(u, err)
	}
	b.cur.Values[key] = v
	if tag := p.Header.Get("ETag"); tag != "" && v != "" {
		b.cur.Values[key+keyETag] = tag
	} else {
		delete(b.cur.Values, key+keyETag)
	}
	return v, true
}

// repoRun is the backfill of one repository.
type repoRun struct {
	*backfiller
	ref  repoRef
	repo *repository
	key  string // cursor key prefix: "owner/name:"
	api  string // base + "/repos/owner/name"
	// issues and pulls remember, by number, what comments need of the
	// issue or pull request they are on (body and assignees dropped).
	issues map[int64]*issue
	pulls  map[int64]*pullRequest
}

func (b *backfiller) newRepoRun(ref repoRef) *repoRun {
	return &repoRun{
		backfiller: b, ref: ref,
		key:    strings.ToLower(ref.path) + ":",
		api:    b.base + "/repos/" + ref.path,
		issues: map[int64]*issue{},
		pulls:  map[int64]*pullRequest{},
	}
}

func (b *backfiller) repo(ref repoRef) bool {
	r := b.newRepoRun(ref)
	if ref.id == 0 {
		v, ok := b.remembered(r.key+"repo", r.api, func(p backfill.Page) (string, error) {
			var rp repository
			if err := json.Unmarshal(p.Body, &rp); err != nil {
				return "", fmt.Errorf("repository: malformed JSON: %w", err)
			}
			if rp.ID <= 0 || rp.FullName == "" {
				return "", errors.New("repository: want an id and a full_name")
			}
			return strconv.FormatInt(rp.ID, 10) + " " + rp.FullName, nil
		})
		if !ok {
			return false
		}
		id, name, _ := strings.Cut(v, " ")
		r.ref.id, _ = strconv.ParseInt(id, 10, 64)
		r.ref.name = name
	}
	r.repo = &repository{ID: r.ref.id, FullName: r.ref.name}

	since := ""
	if !b.cfg.Since.IsZero() {
		since = b.cfg.Since.UTC().Format(time.RFC3339)
	}
	list := func(extra url.Values) string {
		q := url.Values{"sort": {"updated"}, "direction": {"asc"}, "per_page": {"100"}}
		for k, v := range extra {
			q[k] = v
		}
		return "?" + q.Encode()
	}
	withSince := url.Values{}
	if since != "" {
		withSince.Set("since", since)
	}
	issuesQ := url.Values{"state": {"all"}}
	if since != "" {
		issuesQ.Set("since", since)
	}
	hwm, _ := time.Parse(time.RFC3339, b.cur.Values[r.key+"pulls"+keyUpdated])

	return r.listing("issues", r.api+"/issues"+list(issuesQ), nil, func(u string, body []byte) bool {
		return r.emit(r.issuesPage(u, body))
	}) && r.listing("issue_comments", r.api+"/issues/comments"+list(withSince), nil, func(u string, body []byte) bool {
		return r.resolve(body, "issue_url", "/issues/", r.fetchIssue) && r.emit(r.commentsPage(u, body))
	}) && r.listing("pulls", r.api+"/pulls"+list(url.Values{"state": {"all"}}), nil, func(u string, body []byte) bool {
		recs, reviewed := r.pullsPage(u, body, hwm)
		if !r.emit(recs) {
			return false
		}
		for _, pr := range reviewed {
			if !r.reviews(pr) {
				return false
			}
		}
		return true
	}) && r.listing("review_comments", r.api+"/pulls/comments"+list(withSince), nil, func(u string, body []byte) bool {
		return r.resolve(body, "pull_request_url", "/pulls/", r.fetchPull) && r.emit(r.reviewCommentsPage(u, body))
	}) && r.listing("stargazers", r.api+"/stargazers?per_page=100", http.Header{"Accept": {AcceptStarred}}, func(u string, body []byte) bool {
		return r.emit(r.starsPage(u, body))
	}) && r.yield(ingest.CheckpointRecord(r.cur.Save)) // the repository lookup's ETag
}

func (r *repoRun) emit(recs []ingest.Record) bool {
	for _, rec := range recs {
		if !r.yield(rec) {
			return false
		}
	}
	return true
}

// listing pages through one listing from where the cursor left it; onPage
// yields a page's records. After each page it yields the checkpoint that
// records the way on.
func (r *repoRun) listing(name, first string, h http.Header, onPage func(u string, body []byte) bool) bool {
	key := r.key + name
	u, etag := first, ""
	if saved := r.cur.Values[key]; saved != "" {
		u = saved
	}
	if r.cur.Done[key] {
		etag = r.cur.Values[key+keyETag]
	}
	for {
		p, err := r.c.GetWithHeaders(r.ctx, u, etag, h)
		if err != nil {
			return r.fail(u, err)
		}
		if p.NotModified {
			return true // nothing new since the last page was read
		}
		if !onPage(u, p.Body) {
			return false
		}
		next, this, tag := p.Next, u, p.Header.Get("ETag")
		var save func() error
		if next != "" {
			save = func() error {
				r.cur.Values[key] = next
				delete(r.cur.Values, key+keyETag)
				delete(r.cur.Done, key)
				return r.cur.Save()
			}
		} else {
			save = func() error {
				r.cur.Values[key] = this
				if tag != "" {
					r.cur.Values[key+keyETag] = tag
				} else {
					delete(r.cur.Values, key+keyETag)
				}
				r.cur.Done[key] = true
				return r.cur.Save()
			}
		}
		if name == "pulls" {
			// The newest update read, so a later run fetches reviews only
			// for pull requests updated since.
			upd := maxUpdated(p.Body)
			inner := save
			save = func() error {
				if old, _ := time.Parse(time.RFC3339, r.cur.Values[key+keyUpdated]); upd.After(old) {
					r.cur.Values[key+keyUpdated] = upd.UTC().Format(time.RFC3339)
				}
				return inner()
			}
		}
		if !r.yield(ingest.CheckpointRecord(save)) {
			return false
		}
		if next == "" {
			return true
		}
		u, etag = next, ""
	}
}

// maxUpdated is the newest updated_at of a page; zero when unreadable.
func maxUpdated(body []byte) time.Time {
	var items []struct {
		UpdatedAt time.Time `json:"updated_at"`
	}
	var m time.Time
	if json.Unmarshal(body, &items) == nil {
		for _, it := range items {
			if it.UpdatedAt.After(m) {
				m = it.UpdatedAt
			}
		}
	}
	return m
}

// resolve fetches the issues or pull requests that comments of body name
// in field (an API URL ending in seg+number) and no listing showed.
func (r *repoRun) resolve(body []byte, field, seg string, fetch func(n int64) bool) bool {
	var items []map[string]json.RawMessage
	if json.Unmarshal(body, &items) != nil {
		return true // the page is rejected as bad input when mapped
	}
	for _, it := range items {
		var s string
		if json.Unmarshal(it[field], &s) != nil {
			continue
		}
		if n, ok := numberAfter(s, seg); ok && !fetch(n) {
			return false
		}
	}
	return true
}

// numberAfter reads the number that ends an API URL after seg, e.g. 12 of
// ".../issues/12" with seg "/issues/".
func numberAfter(s, seg string) (int64, bool) {
	i := strings.LastIndex(s, seg)
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(s[i+len(seg):], 10, 64)
	return n, err == nil && n > 0
}

// fetchIssue remembers issue n, fetched unless known. A deleted one (404,
// 410) or an unreadable one is remembered by its number only.
func (r *repoRun) fetchIssue(n int64) bool {
	if _, ok := r.issues[n]; ok {
		return true
	}
	body, ok := r.fetchOne(r.api + "/issues/" + itoa(n))
	if !ok {
		return false
	}
	var is issue
	if body == nil || json.Unmarshal(body, &is) != nil || is.Number != n {
		is = issue{Number: n}
	}
	r.issues[n] = slim(&is)
	return true
}

// fetchPull is fetchIssue for pull request n.
func (r *repoRun) fetchPull(n int64) bool {
	if _, ok := r.pulls[n]; ok {
		return true
	}
	body, ok := r.fetchOne(r.api + "/pulls/" + itoa(n))
	if !ok {
		return false
	}
	var pr pullRequest
	if body == nil || json.Unmarshal(body, &pr) != nil || pr.Number != n {
		pr = pullRequest{Number: n}
	}
	r.pulls[n] = slimPR(&pr)
	return true
}

// fetchOne gets one object; nil body when it is gone.
func (r *repoRun) fetchOne(u string) ([]byte, bool) {
	p, err := r.c.Get(r.ctx, u, "")
	var he *backfill.HTTPError
	switch {
	case errors.As(err, &he) && (he.Status == http.StatusNotFound || he.Status == http.StatusGone):
		return nil, true
	case err != nil:
		return nil, r.fail(u, err)
	}
	return p.Body, true
}

// reviews yields the reviews of pr, all pages (no checkpoint of their
// own: the pull request page's checkpoint follows them).
func (r *repoRun) reviews(pr *pullRequest) bool {
	u := r.api + "/pulls/" + itoa(pr.Number) + "/reviews?per_page=100"
	for u != "" {
		p, err := r.c.Get(r.ctx, u, "")
		if err != nil {
			return r.fail(u, err)
		}
		if !r.emit(r.reviewsPage(u, p.Body, pr)) {
			return false
		}
		u = p.Next
	}
	return true
}

// The page mappers below turn one page body into records without any
// request: what an item needs of another object comes from the
// remembered issues and pull requests (by number only when unknown).

// pageItems splits a listing page into its items; a body that is not a
// JSON array is one rejected record.
func pageItems(u string, body []byte) ([]json.RawMessage, []ingest.Record) {
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil {
		raw := body[:min(len(body), events.MaxEventBytes)]
		return nil, ingest.FromResult(source.Result{}, &source.InputError{Field: "page", Reason: "want a JSON array: " + err.Error()}, raw, u)
	}
	return items, nil
}

func pos(u string, i int) string { return u + "#" + strconv.Itoa(i) }

// decodeItem decodes one listing item into v.
func decodeItem(raw json.RawMessage, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return &source.InputError{Field: "item", Reason: "malformed JSON: " + err.Error()}
	}
	return nil
}

func (r *repoRun) normalize(name, action string, p *payload) (source.Result, error) {
	p.Action = action
	p.Repository = r.repo
	it := item{env: r.env, name: name, p: p}
	return it.normalize()
}

// before reports whether t is older than the configured Since.
func (r *repoRun) before(t time.Time) bool {
	return !r.cfg.Since.IsZero() && !t.IsZero() && t.Before(r.cfg.Since)
}

func (r *repoRun) ignoredOld(what string) source.Result {
	return source.Ignore("github backfill: %s before since %s", what, r.cfg.Since.UTC().Format(time.RFC3339))
}

// slim keeps what comments need of an issue.
func slim(is *issue) *issue {
	c := *is
	c.Body, c.Assignee, c.Assignees = nil, nil, nil
	return &c
}

func slimPR(pr *pullRequest) *pullRequest {
	c := *pr
	c.Body, c.Assignee, c.Assignees = nil, nil, nil
	return &c
}

// issuesPage maps issues to github.issue.opened, with the webhook's id.
// Pull requests in the listing are remembered and ignored (the pulls
// listing maps them).
func (r *repoRun) issuesPage(u string, body []byte) []ingest.Record {
	items, recs := pageItems(u, body)
	for i, raw := range items {
		res, err := r.issue(raw)
		recs = append(recs, ingest.FromResult(res, err, raw, pos(u, i))...)
	}
	return recs
}

func (r *repoRun) issue(raw json.RawMessage) (source.Result, error) {
	var is issue
	if err := decodeItem(raw, &is); err != nil {
		return source.Result{}, err
	}
	if is.Number > 0 {
		r.issues[is.Number] = slim(&is)
	}
	if is.PullRequest != nil {
		return source.Ignore("github backfill: pull request in the issues listing (mapped from the pulls listing)"), nil
	}
	// The list shows the current assignees, not those at opening.
	is.Assignee, is.Assignees = nil, nil
	return r.normalize("issues", "opened", &payload{Issue: &is})
}

// restComment is an issue or review comment of a REST listing, which
// names its issue or pull request by API URL.
type restComment struct {
	comment
	IssueURL       string `json:"issue_url"`
	PullRequestURL string `json:"pull_request_url"`
}

func (r *repoRun) commentsPage(u string, body []byte) []ingest.Record {
	items, recs := pageItems(u, body)
	for i, raw := range items {
		res, err := r.issueComment(raw)
		recs = append(recs, ingest.FromResult(res, err, raw, pos(u, i))...)
	}
	return recs
}

func (r *repoRun) issueComment(raw json.RawMessage) (source.Result, error) {
	var c restComment
	if err := decodeItem(raw, &c); err != nil {
		return source.Result{}, err
	}
	n, ok := numberAfter(c.IssueURL, "/issues/")
	if !ok {
		return source.Result{}, &source.InputError{Field: "issue_url", Reason: "want an API URL ending in /issues/{number}"}
	}
	is := r.issues[n]
	if is == nil {
		is = &issue{Number: n}
	}
	return r.normalize("issue_comment", "created", &payload{Comment: &c.comment, Issue: is})
}

// pullsPage maps pull requests to github.pull_request.opened and, when
// merged, .merged; it returns those whose reviews to read: updated at or
// after hwm (the newest update of the last run) and not before Since.
func (r *repoRun) pullsPage(u string, body []byte, hwm time.Time) ([]ingest.Record, []*pullRequest) {
	items, recs := pageItems(u, body)
	var reviewed []*pullRequest
	for i, raw := range items {
		res, pr, err := r.pull(raw)
		recs = append(recs, ingest.FromResult(res, err, raw, pos(u, i))...)
		if err == nil && pr != nil && pr.Number > 0 && !r.before(pr.UpdatedAt) && !pr.UpdatedAt.Before(hwm) {
			reviewed = append(reviewed, pr)
		}
	}
	return recs, reviewed
}

func (r *repoRun) pull(raw json.RawMessage) (source.Result, *pullRequest, error) {
	var pr pullRequest
	if err := decodeItem(raw, &pr); err != nil {
		return source.Result{}, nil, err
	}
	if pr.Number > 0 {
		r.pulls[pr.Number] = slimPR(&pr)
	}
	if r.before(pr.UpdatedAt) {
		return r.ignoredOld("pull request updated"), nil, nil
	}
	pr.Assignee, pr.Assignees = nil, nil // current ones, not those at opening
	opened, err := r.normalize("pull_request", "opened", &payload{PR: &pr})
	if err != nil {
		return source.Result{}, nil, err
	}
	if pr.Merged || !pr.MergedAt.IsZero() {
		merged, err := r.normalize("pull_request", "closed", &payload{PR: &pr})
		if err != nil {
			return source.Result{}, nil, err
		}
		opened.Events = append(opened.Events, merged.Events...)
	}
	return opened, &pr, nil
}

func (r *repoRun) reviewsPage(u string, body []byte, pr *pullRequest) []ingest.Record {
	items, recs := pageItems(u, body)
	for i, raw := range items {
		res, err := r.review(raw, pr)
		recs = append(recs, ingest.FromResult(res, err, raw, pos(u, i))...)
	}
	return recs
}

func (r *repoRun) review(raw json.RawMessage, pr *pullRequest) (source.Result, error) {
	var rv review
	if err := decodeItem(raw, &rv); err != nil {
		return source.Result{}, err
	}
	if r.before(rv.SubmittedAt) {
		return r.ignoredOld("review submitted"), nil
	}
	return r.normalize("pull_request_review", "submitted", &payload{Review: &rv, PR: pr})
}

func (r *repoRun) reviewCommentsPage(u string, body []byte) []ingest.Record {
	items, recs := pageItems(u, body)
	for i, raw := range items {
		res, err := r.reviewComment(raw)
		recs = append(recs, ingest.FromResult(res, err, raw, pos(u, i))...)
	}
	return recs
}

func (r *repoRun) reviewComment(raw json.RawMessage) (source.Result, error) {
	var c restComment
	if err := decodeItem(raw, &c); err != nil {
		return source.Result{}, err
	}
	n, ok := numberAfter(c.PullRequestURL, "/pulls/")
	if !ok {
		return source.Result{}, &source.InputError{Field: "pull_request_url", Reason: "want an API URL ending in /pulls/{number}"}
	}
	pr := r.pulls[n]
	if pr == nil {
		pr = &pullRequest{Number: n}
	}
	return r.normalize("pull_request_review_comment", "created", &payload{Comment: &c.comment, PR: pr})
}

// stargazer is an item of the stargazers listing asked for with
// AcceptStarred.
type stargazer struct {
	StarredAt time.Time `json:"starred_at"`
	User      *user     `json:"user"`
}

func (r *repoRun) starsPage(u string, body []byte) []ingest.Record {
	items, recs := pageItems(u, body)
	for i, raw := range items {
		res, err := r.star(raw)
		recs = append(recs, ingest.FromResult(res, err, raw, pos(u, i))...)
	}
	return recs
}

func (r *repoRun) star(raw json.RawMessage) (source.Result, error) {
	var s stargazer
	if err := decodeItem(raw, &s); err != nil {
		return source.Result{}, err
	}
	switch {
	case s.User == nil:
		return source.Result{}, &source.InputError{Field: "user", Reason: "required (the listing must be asked for with Accept: " + AcceptStarred + ")"}
	case s.StarredAt.IsZero():
		return source.Result{}, source.Missing("starred_at")
	case r.before(s.StarredAt):
		return r.ignoredOld("starred"), nil
	}
	return r.normalize("star", "created", &payload{Sender: s.User, StarredAt: s.StarredAt})
}
