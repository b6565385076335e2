package github

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/segmentio/encoding/json"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

// item is one payload being normalized.
type item struct {
	env  source.Env
	name string // webhook event name: "issues", "push", ...
	p    *payload
	// at is the archive event's created_at, the fallback occurrence time
	// when the payload object carries none; zero for webhooks, whose
	// fallback is the receipt time.
	at       time.Time
	archive  bool
	delivery string // X-GitHub-Delivery, recorded as an attribute
}

// ignoredEvents are the webhook events that carry no community activity,
// with the reason they are counted as ignored.
var ignoredEvents = map[string]string{
	"branch_protection_rule":         "repository settings change",
	"check_run":                      "CI automation",
	"check_suite":                    "CI automation",
	"code_scanning_alert":            "security alert, not member activity",
	"delete":                         "branch or tag deletion is not counted",
	"dependabot_alert":               "security alert, not member activity",
	"deploy_key":                     "repository settings change",
	"deployment":                     "deployment automation",
	"deployment_review":              "deployment automation",
	"deployment_status":              "deployment automation",
	"github_app_authorization":       "app administration",
	"installation":                   "app administration",
	"installation_repositories":      "app administration",
	"installation_target":            "app administration",
	"label":                          "label maintenance",
	"marketplace_purchase":           "marketplace billing",
	"membership":                     "team administration",
	"merge_group":                    "merge queue automation",
	"meta":                           "webhook administration",
	"milestone":                      "milestone maintenance",
	"org_block":                      "organization moderation",
	"organization":                   "organization administration",
	"package":                        "package publishing automation",
	"page_build":                     "GitHub Pages build automation",
	"ping":                           "webhook configuration check",
	"project":                        "project board maintenance",
	"project_card":                   "project board maintenance",
	"project_column":                 "project board maintenance",
	"projects_v2":                    "project board maintenance",
	"projects_v2_item":               "project board maintenance",
	"public":                         "repository visibility change",
	"pull_request_review_thread":     "review thread resolution state",
	"registry_package":               "package publishing automation",
	"repository":                     "repository administration",
	"repository_dispatch":            "automation trigger",
	"repository_import":              "repository administration",
	"repository_vulnerability_alert": "security alert, not member activity",
	"secret_scanning_alert":          "security alert, not member activity",
	"security_advisory":              "security advisory feed",
	"sponsorship":                    "sponsorship billing",
	"status":                         "commit status automation",
	"team":                           "team administration",
	"team_add":                       "team administration",
	"workflow_dispatch":              "automation trigger",
	"workflow_job":                   "CI automation",
	"workflow_run":                   "CI automation",
	// Events of the old /events API still found in GH Archive.
	"follow":     "following a user is not repository activity",
	"gist":       "gists are not repository activity",
	"download":   "downloads feature retired by GitHub",
	"fork_apply": "fork queue feature retired by GitHub",
}

// normalize maps one payload of event it.name.
func (it *item) normalize() (source.Result, error) {
	var res source.Result
	var err error
	switch it.name {
	case "issues":
		res, err = it.issues()
	case "issue_comment":
		res, err = it.issueComment()
	case "pull_request":
		res, err = it.pullRequest()
	case "pull_request_review":
		res, err = it.review()
	case "pull_request_review_comment":
		res, err = it.reviewComment()
	case "commit_comment":
		res, err = it.commitComment()
	case "push":
		res, err = it.push()
	case "star", "watch":
		res, err = it.star()
	case "fork":
		res, err = it.fork()
	case "create":
		res, err = it.create()
	case "release":
		res, err = it.release()
	case "gollum":
		res, err = it.gollum()
	case "member":
		res, err = it.member()
	case "discussion":
		res, err = it.discussion()
	case "discussion_comment":
		res, err = it.discussionComment()
	default:
		if reason, ok := ignoredEvents[it.name]; ok {
			return source.Ignore("github %s: %s", it.name, reason), nil
		}
		return source.Unmapped(Source, it.name), nil
	}
	if err != nil {
		return source.Result{}, err
	}
	for i := range res.Events {
		ev := &res.Events[i]
		it.env.Mark(ev)
		if err := events.DefaultRegistry().Validate(ev); err != nil {
			return source.Result{}, invalid(err)
		}
	}
	return res, nil
}

// invalid turns a validation failure of a produced event into an
// InputError: the input held a value the schema cannot take (e.g. a
// control character in a login, a timestamp before 1970).
func invalid(err error) error {
	var ve *events.ValidationError
	if errors.As(err, &ve) && len(ve.Problems) > 0 {
		p := ve.Problems[0]
		return &source.InputError{Field: "event " + p.Path, Reason: p.Reason}
	}
	return &source.InputError{Field: "event", Reason: err.Error()}
}

// actionReasons explain common actions that are never activities.
var actionReasons = map[string]string{
	"edited":           "edits are not new activity",
	"deleted":          "deletions are not activity",
	"assigned":         "assignment changes have no activity type (assignees at opening are assign targets)",
	"unassigned":       "assignment changes have no activity type",
	"labeled":          "labeling is triage, not counted",
	"unlabeled":        "labeling is triage, not counted",
	"synchronize":      "new commits on a pull request come as push events",
	"review_requested": "a review request is not a review",
}

// ignoreAction ignores an action of an event that maps other actions.
func (it *item) ignoreAction(counted string) (source.Result, error) {
	if why, ok := actionReasons[it.p.Action]; ok {
		return source.Ignore("github %s.%s: %s", it.name, it.p.Action, why), nil
	}
	return source.Ignore("github %s.%s: not counted (only %s)", it.name, it.p.Action, counted), nil
}

// needRepo checks the repository every activity is in.
func (it *item) needRepo() error {
	r := it.p.Repository
	switch {
	case r == nil || r.ID <= 0:
		return source.Missing(it.field("repository.id", "repo.id"))
	case r.FullName == "":
		return source.Missing(it.field("repository.full_name", "repo.name"))
	}
	return nil
}

// event starts an activity of typ in the payload's repository.
func (it *item) event(id, typ string, occurred time.Time, actor events.Actor) (events.Event, error) {
	if err := it.needRepo(); err != nil {
		return events.Event{}, err
	}
	ev := it.env.Event(id, typ, occurred)
	ev.Actor = actor
	ev.Channel = it.p.Repository.FullName
	if it.delivery != "" {
		it.attr(&ev, "delivery", it.delivery)
	}
	return ev, nil
}

// field names a field as the webhook body or the archive line has it.
func (it *item) field(webhook, archive string) string {
	if it.archive {
		return archive
	}
	return webhook
}

// when returns the first non-zero time of ts, else the archive event's
// time, else now (receipt).
func (it *item) when(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	if !it.at.IsZero() {
		return it.at
	}
	if it.env.Now != nil {
		return it.env.Now()
	}
	return time.Now()
}

// actor returns the actor for u; field names u in errors.
func (it *item) actor(field string, u *user) (events.Actor, error) {
	if u == nil || u.ID <= 0 {
		return events.Actor{}, source.Missing(field + ".id")
	}
	a := it.env.Actor(Source, strconv.FormatInt(u.ID, 10), u.Login, "")
	a.IsBot = a.IsBot || u.Type == "Bot"
	return a, nil
}

// sender is the actor who triggered the delivery (the archive's actor).
func (it *item) sender() (events.Actor, error) {
	return it.actor(it.field("sender", "actor"), it.p.Sender)
}

// author is the actor of a created object: u, or the sender when the
// payload leaves the object's user out.
func (it *item) author(field string, u *user) (events.Actor, error) {
	if u == nil {
		return it.sender()
	}
	return it.actor(field, u)
}

func (it *item) attr(ev *events.Event, k, v string) {
	if v == "" {
		return
	}
	if ev.Attributes == nil {
		ev.Attributes = make(map[string]string, 4)
	}
	ev.Attributes[k] = clean(v, events.MaxAttrValueLen)
}

// labelNames joins the names of an issue's labels with commas (a comma
// inside a name becomes a space): the attribute "labels" of an opened
// issue, which marks question-like issues (services/api/topics).
func labelNames(ls []label) string {
	names := make([]string, 0, len(ls))
	for _, l := range ls {
		if n := strings.Join(strings.Fields(strings.ReplaceAll(l.Name, ",", " ")), " "); n != "" {
			names = append(names, n)
		}
	}
	return strings.Join(names, ",")
}

func (it *item) repoID() string { return strconv.FormatInt(it.p.Repository.ID, 10) }

// thread is the conversation key of issue or pull request number n: both
// share the repository's number space, so comments on a pull request made
// through the issues API thread with it.
func (it *item) thread(n int64) string {
	return source.ID(Source, "issue", it.repoID(), strconv.FormatInt(n, 10))
}

// setURL sets ev.URL when u looks like an absolute web address; anything
// else is left out rather than failing the activity.
func setURL(ev *events.Event, u string) {
	if (strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")) && len(u) <= events.MaxURLLen {
		ev.URL = u
	}
}

// webURL builds a github.com address from path parts that are plain
// repository names, refs or hashes; "" when one is not.
func webURL(parts ...string) string {
	for _, p := range parts {
		if p == "" {
			return ""
		}
		for i := 0; i < len(p); i++ {
			if c := p[i]; !(loginByte(c) || c == '_' || c == '.' || c == '/') {
				return ""
			}
		}
	}
	return "https://github.com/" + strings.Join(parts, "/")
}

// clean makes s fit a title or attribute: valid UTF-8, control
// characters other than tab and newline turned into spaces, at most max
// bytes (cut on a rune boundary).
func clean(s string, max int) string {
	ok := utf8.ValidString(s)
	for i := 0; ok && i < len(s); i++ {
		if b := s[i]; (b < 0x20 && b != '\n' && b != '\t') || b == 0x7f {
			ok = false
		}
	}
	if !ok {
		s = strings.Map(func(r rune) rune {
			if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f {
				return ' '
			}
			return r
		}, strings.ToValidUTF8(s, "\uFFFD"))
	}
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

// targets collects the members an activity is directed at, each once,
// never the actor.
type targets struct {
	it    *item
	actor events.Actor
	list  []events.Target
}

func (it *item) targets(actor events.Actor) *targets { return &targets{it: it, actor: actor} }

// user adds u with kind.
func (t *targets) user(u *user, kind string) {
	if u == nil || u.ID <= 0 || len(t.list) >= events.MaxTargets {
		return
	}
	id := strconv.FormatInt(u.ID, 10)
	if id == t.actor.SourceID {
		return
	}
	for _, o := range t.list {
		if o.SourceID == id || (u.Login != "" && strings.EqualFold(o.Username, u.Login)) {
			return
		}
	}
	t.list = append(t.list, events.Target{Source: Source, SourceID: id, Username: u.Login, Kind: kind})
}

// users adds every user of us with kind.
func (t *targets) users(us []user, kind string) {
	for i := range us {
		t.user(&us[i], kind)
	}
}

// mentions adds the users @-mentioned in body. A login whose numeric id
// the payload gives (the author, assignees, the sender...) gets it; any
// other gets LoginIDPrefix + the lowercased login.
func (t *targets) mentions(body string) {
	for _, login := range mentions(body) {
		if len(t.list) >= events.MaxTargets {
			return
		}
		if strings.EqualFold(login, t.actor.Username) {
			continue
		}
		if u := t.it.known(login); u != nil {
			t.user(u, events.KindMention)
			continue
		}
		id := LoginIDPrefix + strings.ToLower(login)
		dup := false
		for _, o := range t.list {
			if strings.EqualFold(o.Username, login) {
				dup = true
				break
			}
		}
		if !dup {
			t.list = append(t.list, events.Target{Source: Source, SourceID: id, Username: login, Kind: events.KindMention})
		}
	}
}

// known returns the user of the payload with login, or nil.
func (it *item) known(login string) *user {
	p := it.p
	cands := []*user{p.Sender, p.Member}
	if p.Issue != nil {
		cands = append(cands, p.Issue.User, p.Issue.Assignee)
		for i := range p.Issue.Assignees {
			cands = append(cands, &p.Issue.Assignees[i])
		}
	}
	if p.PR != nil {
		cands = append(cands, p.PR.User, p.PR.Assignee, p.PR.MergedBy)
		for i := range p.PR.Assignees {
			cands = append(cands, &p.PR.Assignees[i])
		}
	}
	if p.Comment != nil {
		cands = append(cands, p.Comment.User)
	}
	if p.Review != nil {
		cands = append(cands, p.Review.User)
	}
	if p.Discussion != nil {
		cands = append(cands, p.Discussion.User)
	}
	if p.Answer != nil {
		cands = append(cands, p.Answer.User)
	}
	for _, u := range cands {
		if u != nil && u.ID > 0 && strings.EqualFold(u.Login, login) {
			return u
		}
	}
	return nil
}

func (t *targets) get() []events.Target {
	if len(t.list) == 0 {
		return nil
	}
	return t.list
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// closeID is the id of verb on an issue or pull request. An object can be
// closed, reopened and closed again: a close is told apart by closed_at
// (Unix seconds), which webhooks, archives and the REST API all carry.
func closeID(kind string, id int64, verb string, closedAt time.Time) string {
	if verb == "closed" && !closedAt.IsZero() {
		return source.ID(Source, kind, itoa(id), verb, itoa(closedAt.Unix()))
	}
	return source.ID(Source, kind, itoa(id), verb)
}

func (it *item) issues() (source.Result, error) {
	is := it.p.Issue
	switch it.p.Action {
	case "opened", "closed", "reopened":
	default:
		return it.ignoreAction("opened, closed, reopened")
	}
	if is == nil || is.ID <= 0 {
		return source.Result{}, source.Missing("issue.id")
	}
	var (
		actor events.Actor
		err   error
		at    time.Time
	)
	switch it.p.Action {
	case "opened":
		actor, err = it.author("issue.user", is.User)
		at = it.when(is.CreatedAt)
	case "closed":
		actor, err = it.sender()
		at = it.when(is.ClosedAt)
	default: // reopened: the payload has no reopen time; updated_at is it
		actor, err = it.sender()
		at = it.when(it.at, is.UpdatedAt)
	}
	if err != nil {
		return source.Result{}, err
	}
	ev, err := it.event(closeID("issue", is.ID, it.p.Action, is.ClosedAt), "github.issue."+it.p.Action, at, actor)
	if err != nil {
		return source.Result{}, err
	}
	ev.ThreadID = it.thread(is.Number)
	setURL(&ev, is.HTMLURL)
	ev.Title = clean(is.Title, events.MaxTextLen)
	it.attr(&ev, "number", itoa(is.Number))
	if it.p.Action == "opened" {
		it.attr(&ev, "labels", labelNames(is.Labels))
		t := it.targets(actor)
		t.user(is.Assignee, events.KindAssign)
		t.users(is.Assignees, events.KindAssign)
		t.mentions(bodyText(is.Body))
		ev.Targets = t.get()
	}
	return source.One(ev), nil
}

func (it *item) issueComment() (source.Result, error) {
	if it.p.Action != "created" {
		return it.ignoreAction("created")
	}
	c, is := it.p.Comment, it.p.Issue
	if c == nil || c.ID <= 0 {
		return source.Result{}, source.Missing("comment.id")
	}
	if is == nil {
		return source.Result{}, source.Missing("issue")
	}
	actor, err := it.author("comment.user", c.User)
	if err != nil {
		return source.Result{}, err
	}
	ev, err := it.event(source.ID(Source, "issue_comment", itoa(c.ID)), "github.issue.commented", it.when(c.CreatedAt), actor)
	if err != nil {
		return source.Result{}, err
	}
	ev.ThreadID = it.thread(is.Number)
	if is.PullRequest == nil && is.ID > 0 {
		ev.ParentID = source.ID(Source, "issue", itoa(is.ID), "opened")
	}
	setURL(&ev, c.HTMLURL)
	ev.Title = clean(is.Title, events.MaxTextLen)
	it.attr(&ev, "number", itoa(is.Number))
	if is.PullRequest != nil {
		it.attr(&ev, "pull_request", "true")
	}
	t := it.targets(actor)
	t.user(is.User, events.KindReply)
	t.mentions(bodyText(c.Body))
	ev.Targets = t.get()
	return source.One(ev), nil
}

func (it *item) pullRequest() (source.Result, error) {
	pr := it.p.PR
	switch it.p.Action {
	case "opened", "closed", "reopened":
	default:
		return it.ignoreAction("opened, closed, reopened")
	}
	if pr == nil || pr.ID <= 0 {
		return source.Result{}, source.Missing("pull_request.id")
	}
	var (
		actor events.Actor
		err   error
		at    time.Time
		verb  = it.p.Action
	)
	switch {
	case verb == "opened":
		actor, err = it.author("pull_request.user", pr.User)
		at = it.when(pr.CreatedAt)
	case verb == "closed" && (pr.Merged || !pr.MergedAt.IsZero()):
		// github.pull_request.merged credits the author ("had a pull
		// request merged"); who merged it is the merged_by attribute.
		verb = "merged"
		actor, err = it.author("pull_request.user", pr.User)
		at = it.when(pr.MergedAt, pr.ClosedAt)
	case verb == "closed":
		actor, err = it.sender()
		at = it.when(pr.ClosedAt)
	default:
		actor, err = it.sender()
		at = it.when(it.at, pr.UpdatedAt)
	}
	if err != nil {
		return source.Result{}, err
	}
	ev, err := it.event(closeID("pull_request", pr.ID, verb, pr.ClosedAt), "github.pull_request."+verb, at, actor)
	if err != nil {
		return source.Result{}, err
	}
	ev.ThreadID = it.thread(pr.Number)
	setURL(&ev, pr.HTMLURL)
	ev.Title = clean(pr.Title, events.MaxTextLen)
	it.attr(&ev, "number", itoa(pr.Number))
	switch verb {
	case "opened":
		t := it.targets(actor)
		t.user(pr.Assignee, events.KindAssign)
		t.users(pr.Assignees, events.KindAssign)
		t.mentions(bodyText(pr.Body))
		ev.Targets = t.get()
	case "merged":
		by := pr.MergedBy
		if by == nil {
			by = it.p.Sender
		}
		if by != nil {
			it.attr(&ev, "merged_by", by.Login)
		}
	}
	return source.One(ev), nil
}

func (it *item) review() (source.Result, error) {
	// Webhooks say submitted; the events API (GH Archive) says created.
	if it.p.Action != "submitted" && it.p.Action != "created" {
		return it.ignoreAction("submitted")
	}
	r, pr := it.p.Review, it.p.PR
	if r == nil || r.ID <= 0 {
		return source.Result{}, source.Missing("review.id")
	}
	if pr == nil {
		return source.Result{}, source.Missing("pull_request")
	}
	if strings.EqualFold(r.State, "pending") {
		return source.Ignore("github pull_request_review: pending review not submitted yet"), nil
	}
	actor, err := it.author("review.user", r.User)
	if err != nil {
		return source.Result{}, err
	}
	ev, err := it.event(source.ID(Source, "review", itoa(r.ID)), "github.pull_request.reviewed", it.when(r.SubmittedAt), actor)
	if err != nil {
		return source.Result{}, err
	}
	ev.ThreadID = it.thread(pr.Number)
	if pr.ID > 0 {
		ev.ParentID = source.ID(Source, "pull_request", itoa(pr.ID), "opened")
	}
	setURL(&ev, r.HTMLURL)
	ev.Title = clean(pr.Title, events.MaxTextLen)
	it.attr(&ev, "number", itoa(pr.Number))
	it.attr(&ev, "state", strings.ToLower(r.State))
	t := it.targets(actor)
	t.user(pr.User, events.KindReview)
	t.mentions(bodyText(r.Body))
	ev.Targets = t.get()
	return source.One(ev), nil
}

func (it *item) reviewComment() (source.Result, error) {
	if it.p.Action != "created" {
		return it.ignoreAction("created")
	}
	c, pr := it.p.Comment, it.p.PR
	if c == nil || c.ID <= 0 {
		return source.Result{}, source.Missing("comment.id")
	}
	if pr == nil {
		return source.Result{}, source.Missing("pull_request")
	}
	actor, err := it.author("comment.user", c.User)
	if err != nil {
		return source.Result{}, err
	}
	ev, err := it.event(source.ID(Source, "review_comment", itoa(c.ID)), "github.pull_request.review_commented", it.when(c.CreatedAt), actor)
	if err != nil {
		return source.Result{}, err
	}
	ev.ThreadID = it.thread(pr.Number)
	switch {
	case c.InReplyToID > 0:
		ev.ParentID = source.ID(Source, "review_comment", itoa(c.InReplyToID))
	case c.PullRequestReviewID > 0:
		ev.ParentID = source.ID(Source, "review", itoa(c.PullRequestReviewID))
	case pr.ID > 0:
		ev.ParentID = source.ID(Source, "pull_request", itoa(pr.ID), "opened")
	}
	setURL(&ev, c.HTMLURL)
	ev.Title = clean(pr.Title, events.MaxTextLen)
	it.attr(&ev, "number", itoa(pr.Number))
	t := it.targets(actor)
	t.user(pr.User, events.KindReview)
	t.mentions(bodyText(c.Body))
	ev.Targets = t.get()
	return source.One(ev), nil
}

func (it *item) commitComment() (source.Result, error) {
	// Old archives leave the action out; it can only be created.
	if it.p.Action != "created" && it.p.Action != "" {
		return it.ignoreAction("created")
	}
	c := it.p.Comment
	if c == nil || c.ID <= 0 {
		return source.Result{}, source.Missing("comment.id")
	}
	actor, err := it.author("comment.user", c.User)
	if err != nil {
		return source.Result{}, err
	}
	ev, err := it.event(source.ID(Source, "commit_comment", itoa(c.ID)), "github.commit.commented", it.when(c.CreatedAt), actor)
	if err != nil {
		return source.Result{}, err
	}
	if c.CommitID != "" {
		ev.ThreadID = source.ID(Source, "commit", it.repoID(), c.CommitID)
		it.attr(&ev, "commit", c.CommitID)
	}
	setURL(&ev, c.HTMLURL)
	t := it.targets(actor)
	t.mentions(bodyText(c.Body))
	ev.Targets = t.get()
	return source.One(ev), nil
}

// zeroSHA is the after of a push that deleted its ref.
const zeroSHA = "0000000000000000000000000000000000000000"

func (it *item) push() (source.Result, error) {
	p := it.p
	head := p.Head
	if head == "" {
		head = p.After
	}
	commits := int64(-1) // unknown: the trimmed events API format of late 2025
	switch {
	case p.Size != nil:
		commits = *p.Size
	case len(p.Commits) > 0 && string(p.Commits) != "null":
		var list []struct{}
		if err := json.Unmarshal(p.Commits, &list); err != nil {
			return source.Result{}, &source.InputError{Field: "commits", Reason: "want an array"}
		}
		commits = int64(len(list))
	}
	switch {
	case p.Deleted || head == zeroSHA:
		return source.Ignore("github push: ref deleted, no commits pushed"), nil
	case commits == 0:
		return source.Ignore("github push: no new commits (ref moved to existing commits)"), nil
	case head == "":
		return source.Result{}, source.Missing(it.field("after", "payload.head"))
	}
	actor, err := it.sender()
	if err != nil {
		return source.Result{}, err
	}
	if err := it.needRepo(); err != nil {
		return source.Result{}, err
	}
	if p.Pusher != nil && p.Pusher.Email != "" && (p.Sender == nil || p.Pusher.Name == p.Sender.Login) {
		actor.EmailSHA256 = events.HashEmail(p.Pusher.Email)
		actor.EmailDomainSHA256 = events.HashEmailDomain(p.Pusher.Email)
	}
	var at time.Time
	if p.Repository != nil && !it.archive {
		at = p.Repository.PushedAt.Time
	}
	if p.HeadCommit != nil && at.IsZero() && it.at.IsZero() {
		at = p.HeadCommit.Timestamp
	}
	ev, err := it.event(source.ID(Source, "push", it.repoID(), p.Ref, head), "github.commit.pushed", it.when(at), actor)
	if err != nil {
		return source.Result{}, err
	}
	if p.Compare != "" {
		setURL(&ev, p.Compare)
	} else {
		setURL(&ev, webURL(ev.Channel, "commit", head))
	}
	it.attr(&ev, "ref", p.Ref)
	if commits > 0 {
		it.attr(&ev, "commits", itoa(commits))
	}
	return source.One(ev), nil
}

func (it *item) star() (source.Result, error) {
	switch {
	case it.name == "star" && it.p.Action == "created":
	case it.name == "watch" && it.p.Action == "started":
	case it.name == "star" && it.p.Action == "deleted":
		return source.Ignore("github star.deleted: unstarring is not an activity"), nil
	default:
		return it.ignoreAction("star created, watch started")
	}
	actor, err := it.sender()
	if err != nil {
		return source.Result{}, err
	}
	if err := it.needRepo(); err != nil {
		return source.Result{}, err
	}
	// GitHub delivers both star created and watch started for one star:
	// they share the id, so the stream keeps one.
	ev, err := it.event(source.ID(Source, "star", it.repoID(), actor.SourceID), "github.star.created", it.when(it.p.StarredAt), actor)
	if err != nil {
		return source.Result{}, err
	}
	setURL(&ev, webURL(ev.Channel))
	return source.One(ev), nil
}

func (it *item) fork() (source.Result, error) {
	f := it.p.Forkee
	if f == nil || f.ID <= 0 {
		return source.Result{}, source.Missing("forkee.id")
	}
	actor, err := it.sender()
	if err != nil {
		return source.Result{}, err
	}
	ev, err := it.event(source.ID(Source, "fork", itoa(f.ID)), "github.fork.created", it.when(f.CreatedAt), actor)
	if err != nil {
		return source.Result{}, err
	}
	setURL(&ev, f.HTMLURL)
	it.attr(&ev, "fork", f.FullName)
	return source.One(ev), nil
}

func (it *item) create() (source.Result, error) {
	p := it.p
	switch p.RefType {
	case "branch", "tag":
	case "repository":
		return source.Ignore("github create: repository creation is not a ref"), nil
	case "":
		return source.Result{}, source.Missing("ref_type")
	default:
		return source.Unmapped(Source, "create."+p.RefType), nil
	}
	if p.Ref == "" {
		return source.Result{}, source.Missing("ref")
	}
	actor, err := it.sender()
	if err != nil {
		return source.Result{}, err
	}
	if p.Repository == nil {
		return source.Result{}, source.Missing(it.field("repository.id", "repo.id"))
	}
	ev, err := it.event(source.ID(Source, "ref", it.repoID(), p.RefType, p.Ref, "created"), "github.ref.created", it.when(), actor)
	if err != nil {
		return source.Result{}, err
	}
	it.attr(&ev, "ref_type", p.RefType)
	it.attr(&ev, "ref", p.Ref)
	if p.RefType == "branch" {
		setURL(&ev, webURL(ev.Channel, "tree", p.Ref))
	} else {
		setURL(&ev, webURL(ev.Channel, "releases/tag", p.Ref))
	}
	return source.One(ev), nil
}

func (it *item) release() (source.Result, error) {
	// GitHub also sends created, released and prereleased around a
	// publication: only published counts, once.
	if it.p.Action != "published" {
		return it.ignoreAction("published")
	}
	r := it.p.Release
	if r == nil || r.ID <= 0 {
		return source.Result{}, source.Missing("release.id")
	}
	actor, err := it.author("release.author", r.Author)
	if err != nil {
		return source.Result{}, err
	}
	ev, err := it.event(source.ID(Source, "release", itoa(r.ID), "published"), "github.release.published", it.when(r.PublishedAt, r.CreatedAt), actor)
	if err != nil {
		return source.Result{}, err
	}
	setURL(&ev, r.HTMLURL)
	title := r.Name
	if strings.TrimSpace(title) == "" {
		title = r.TagName
	}
	ev.Title = clean(title, events.MaxTextLen)
	it.attr(&ev, "tag", r.TagName)
	if r.Prerelease {
		it.attr(&ev, "prerelease", "true")
	}
	return source.One(ev), nil
}

func (it *item) gollum() (source.Result, error) {
	pages := it.p.Pages
	if len(pages) == 0 {
		return source.Ignore("github gollum: no wiki pages in the payload"), nil
	}
	actor, err := it.sender()
	if err != nil {
		return source.Result{}, err
	}
	if err := it.needRepo(); err != nil {
		return source.Result{}, err
	}
	// A page revision is named by its sha; the edit of several pages is
	// named by all of them (source.ID hashes a long list).
	parts := make([]string, 0, len(pages)+2)
	parts = append(parts, "wiki", it.repoID())
	for i, pg := range pages {
		switch {
		case pg.SHA != "":
			parts = append(parts, pg.SHA)
		case pg.PageName != "":
			parts = append(parts, pg.PageName)
		default:
			return source.Result{}, source.Missing("pages[" + strconv.Itoa(i) + "].sha")
		}
	}
	ev, err := it.event(source.ID(Source, parts...), "github.wiki.edited", it.when(), actor)
	if err != nil {
		return source.Result{}, err
	}
	setURL(&ev, pages[0].HTMLURL)
	ev.Title = clean(pages[0].Title, events.MaxTextLen)
	it.attr(&ev, "pages", strconv.Itoa(len(pages)))
	return source.One(ev), nil
}

func (it *item) member() (source.Result, error) {
	if it.p.Action != "added" {
		return it.ignoreAction("added")
	}
	// The actor of github.member.added is the member who became a
	// collaborator; who added them is the added_by attribute.
	actor, err := it.actor("member", it.p.Member)
	if err != nil {
		return source.Result{}, err
	}
	if err := it.needRepo(); err != nil {
		return source.Result{}, err
	}
	ev, err := it.event(source.ID(Source, "member", it.repoID(), actor.SourceID, "added"), "github.member.added", it.when(), actor)
	if err != nil {
		return source.Result{}, err
	}
	if it.p.Sender != nil {
		it.attr(&ev, "added_by", it.p.Sender.Login)
	}
	setURL(&ev, webURL(ev.Channel))
	return source.One(ev), nil
}

func (it *item) discussionThread(d *discussion) string {
	return source.ID(Source, "discussion", it.repoID(), itoa(d.Number))
}

func (it *item) discussion() (source.Result, error) {
	switch it.p.Action {
	case "created", "answered":
	default:
		return it.ignoreAction("created, answered")
	}
	d := it.p.Discussion
	if d == nil || d.ID <= 0 {
		return source.Result{}, source.Missing("discussion.id")
	}
	if err := it.needRepo(); err != nil {
		return source.Result{}, err
	}
	if it.p.Action == "created" {
		actor, err := it.author("discussion.user", d.User)
		if err != nil {
			return source.Result{}, err
		}
		ev, err := it.event(source.ID(Source, "discussion", itoa(d.ID), "created"), "github.discussion.created", it.when(d.CreatedAt), actor)
		if err != nil {
			return source.Result{}, err
		}
		ev.ThreadID = it.discussionThread(d)
		setURL(&ev, d.HTMLURL)
		ev.Title = clean(d.Title, events.MaxTextLen)
		it.attr(&ev, "number", itoa(d.Number))
		t := it.targets(actor)
		t.mentions(bodyText(d.Body))
		ev.Targets = t.get()
		return source.One(ev), nil
	}
	// answered: the actor is the author of the chosen answer ("had a
	// discussion answer marked as the answer"); the target is the asker,
	// whose question it answered (kind reply). Who marked it is the
	// chosen_by attribute.
	a := it.p.Answer
	if a == nil || a.ID <= 0 {
		return source.Result{}, source.Missing("answer.id")
	}
	actor, err := it.actor("answer.user", a.User)
	if err != nil {
		return source.Result{}, err
	}
	ev, err := it.event(source.ID(Source, "discussion", itoa(d.ID), "answered", itoa(a.ID)), "github.discussion.answered", it.when(d.AnswerChosenAt), actor)
	if err != nil {
		return source.Result{}, err
	}
	ev.ThreadID = it.discussionThread(d)
	ev.ParentID = source.ID(Source, "discussion", itoa(d.ID), "created")
	if a.HTMLURL != "" {
		setURL(&ev, a.HTMLURL)
	} else {
		setURL(&ev, d.HTMLURL)
	}
	ev.Title = clean(d.Title, events.MaxTextLen)
	it.attr(&ev, "number", itoa(d.Number))
	if it.p.Sender != nil {
		it.attr(&ev, "chosen_by", it.p.Sender.Login)
	}
	t := it.targets(actor)
	t.user(d.User, events.KindReply)
	ev.Targets = t.get()
	return source.One(ev), nil
}

func (it *item) discussionComment() (source.Result, error) {
	if it.p.Action != "created" {
		return it.ignoreAction("created")
	}
	c, d := it.p.Comment, it.p.Discussion
	if c == nil || c.ID <= 0 {
		return source.Result{}, source.Missing("comment.id")
	}
	if d == nil || d.ID <= 0 {
		return source.Result{}, source.Missing("discussion.id")
	}
	if err := it.needRepo(); err != nil {
		return source.Result{}, err
	}
	actor, err := it.author("comment.user", c.User)
	if err != nil {
		return source.Result{}, err
	}
	ev, err := it.event(source.ID(Source, "discussion_comment", itoa(c.ID)), "github.discussion.commented", it.when(c.CreatedAt), actor)
	if err != nil {
		return source.Result{}, err
	}
	ev.ThreadID = it.discussionThread(d)
	if c.ParentID > 0 {
		ev.ParentID = source.ID(Source, "discussion_comment", itoa(c.ParentID))
	} else {
		ev.ParentID = source.ID(Source, "discussion", itoa(d.ID), "created")
	}
	setURL(&ev, c.HTMLURL)
	ev.Title = clean(d.Title, events.MaxTextLen)
	it.attr(&ev, "number", itoa(d.Number))
	t := it.targets(actor)
	t.user(d.User, events.KindReply)
	t.mentions(bodyText(c.Body))
	ev.Targets = t.get()
	return source.One(ev), nil
}
