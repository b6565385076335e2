// Package discourse normalizes Discourse webhook deliveries into activity
// events, with mapping functions (NormalizeTopic, NormalizePost) that a REST
// backfill of /t/{id}.json shares, so both give the same event ids.
//
// Mapping (X-Discourse-Event → activity type):
//
//   - topic_created → discourse.topic.created (actor: the topic's author).
//   - post_created → discourse.post.created, except the topic's first post
//     (post_number 1), which is the topic itself and is ignored, so a topic
//     counts once. reply_to_user is a reply target; @mentions are mention
//     targets.
//   - post_liked → discourse.post.liked (actor: the liker, target: the
//     post's author, kind react).
//   - accepted_solution → discourse.solution.accepted (actor: the author of
//     the accepted answer, as the type registry defines it). The payload
//     names neither the topic's author nor who accepted, so it has no target.
//   - user_created → discourse.user.created.
//   - ping, edits, deletions, recoveries, moderation, groups, tags,
//     categories, badges, notifications → ignored with a reason; other
//     events → Unmapped ("discourse:<event>").
//
// Ids: "discourse:<host>:topic:<topic id>", "discourse:<host>:post:<post
// id>", "discourse:<host>:like:<post id>:<user id>",
// "discourse:<host>:solution:<post id>", "discourse:<host>:user:<user id>",
// where host is the instance's (X-Discourse-Instance). X-Discourse-Event-Id
// is not used: a backfill has no delivery id. ThreadID is the topic's id,
// Channel the category id (topics carry no category slug, posts do: the id
// is what both have).
//
// post_liked and accepted_solution carry no time of the like or the
// acceptance: their occurred_at is the time of receipt (env.Now).
//
// Identities are "discourse:<user id>". Replies and mentions name the
// target by username only (Discourse sends no user id for them); such a
// target's SourceID is UserKey(username), "@<lowercased username>", which
// cannot collide with a numeric id and which the identity step can resolve
// through the usernames that every actor carries.
package discourse

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

// Source is the source token of Discourse events and identities.
const Source = "discourse"

// Headers of a Discourse webhook delivery.
const (
	HeaderEvent     = "X-Discourse-Event"           // post_created, topic_created, ...
	HeaderEventType = "X-Discourse-Event-Type"      // post, topic, like, solved, user, ...
	HeaderEventID   = "X-Discourse-Event-Id"        // per delivery; not used in event ids
	HeaderInstance  = "X-Discourse-Instance"        // the forum's base URL
	HeaderSignature = "X-Discourse-Event-Signature" // "sha256=" + hex HMAC-SHA256 of the body
)

// Webhook is the Discourse webhook. The zero value is ready; it is stateless
// and safe for concurrent use.
type Webhook struct{}

var _ source.Webhook = Webhook{}

// Verify checks HeaderSignature: "sha256=" + hex(HMAC-SHA256(secret,
// body)), compared in constant time. Discourse signs no timestamp, so there
// is no replay window; redeliveries are harmless because event ids are
// stable. now is unused. The error names the check that failed.
func (Webhook) Verify(secret []byte, h http.Header, body []byte, _ time.Time) error {
	if len(secret) == 0 {
		return errors.New("discourse signature: no webhook secret configured")
	}
	sig := h.Get(HeaderSignature)
	if sig == "" {
		return fmt.Errorf("discourse signature: %s header missing", HeaderSignature)
	}
	hexSum, ok := strings.CutPrefix(sig, "sha256=")
	if !ok {
		return fmt.Errorf("discourse signature: %s: want sha256=<hex>", HeaderSignature)
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("discourse signature: %s: want %d hex digits after sha256=", HeaderSignature, 2*sha256.Size)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return errors.New("discourse signature: mismatch (wrong secret or altered body)")
	}
	return nil
}

// Reasons shared by several ignored events.
const (
	whyEdit    = "an edit, the item was counted when created"
	whyRemoval = "a deletion, activity already counted is kept"
	whyRestore = "a restored item, it was counted when created"
	whyStatus  = "a topic status change (moderation), not counted"
	whyAccount = "account bookkeeping, not community activity"
)

// ignoredEvents are the events that carry no community activity.
var ignoredEvents = map[string]string{
	"ping":                          "webhook configuration check",
	"post_edited":                   whyEdit,
	"post_destroyed":                whyRemoval,
	"post_recovered":                whyRestore,
	"topic_edited":                  whyEdit,
	"topic_revised":                 whyEdit,
	"topic_destroyed":               whyRemoval,
	"topic_recovered":               whyRestore,
	"topic_closed_status_updated":   whyStatus,
	"topic_opened_status_updated":   whyStatus,
	"topic_archived_status_updated": whyStatus,
	"topic_pinned_status_updated":   whyStatus,
	"topic_visible_status_updated":  whyStatus,
	"unaccepted_solution":           "an undo, the accepted solution stays counted",
	"user_logged_in":                whyAccount,
	"user_logged_out":               whyAccount,
	"user_confirmed_email":          whyAccount,
	"user_approved":                 whyAccount,
	"user_updated":                  whyAccount,
	"user_destroyed":                whyAccount,
	"user_suspended":                whyAccount,
	"user_unsuspended":              whyAccount,
	"user_added_to_group":           whyAccount,
	"user_removed_from_group":       whyAccount,
}

// ignoredTypes are event types (HeaderEventType) of which no event carries
// community activity.
var ignoredTypes = map[string]string{
	"category":      "category administration, not member activity",
	"tag":           "tag administration, not member activity",
	"group":         "group administration, not member activity",
	"group_user":    "group membership, not member activity",
	"flag":          "moderation, not counted",
	"reviewable":    "moderation queue, not counted",
	"notification":  "a notification to a member, not their activity",
	"user_badge":    "badges are granted by the forum, not member activity",
	"user_promoted": "trust level change by the forum, not member activity",
}

// Normalize maps one delivery by its HeaderEvent.
func (Webhook) Normalize(env source.Env, h http.Header, body []byte) (source.Result, error) {
	event := h.Get(HeaderEvent)
	if event == "" {
		return source.Result{}, source.Missing(HeaderEvent)
	}
	if why, ok := ignoredEvents[event]; ok {
		return source.Ignore("discourse %s: %s", source.Clip(event), why), nil
	}
	if why, ok := ignoredTypes[h.Get(HeaderEventType)]; ok {
		return source.Ignore("discourse %s: %s", source.Clip(event), why), nil
	}
	var mapped func(source.Env, Site, []byte) (source.Result, error)
	switch event {
	case "topic_created":
		mapped = topicCreated
	case "post_created":
		mapped = postCreated
	case "post_liked":
		mapped = postLiked
	case "accepted_solution":
		mapped = acceptedSolution
	case "user_created":
		mapped = userCreated
	default:
		return source.Unmapped(Source, source.Clip(event)), nil
	}
	site, err := ParseSite(h.Get(HeaderInstance))
	if err != nil {
		return source.Result{}, err
	}
	return mapped(env, site, body)
}

// Site is one Discourse instance.
type Site struct {
	// Base is the forum's URL without a trailing slash, e.g.
	// "https://ask.fedoraproject.org"; event URLs start with it.
	Base string
	// Host is the lowercased host[:port] of Base; event ids hold it, so the
	// ids of two forums never collide.
	Host string
}

// ParseSite reads a forum's base URL (HeaderInstance, or the configured
// URL of a backfill). The error is an *source.InputError on HeaderInstance.
func ParseSite(instance string) (Site, error) {
	if instance == "" {
		return Site{}, source.Missing(HeaderInstance)
	}
	u, err := url.Parse(instance)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || len(instance) > 512 || !source.Printable(instance) {
		return Site{}, &source.InputError{Field: HeaderInstance, Reason: fmt.Sprintf("want the forum's http(s) base URL, got %q", source.Clip(instance))}
	}
	host := strings.ToLower(u.Host)
	return Site{Base: u.Scheme + "://" + host + strings.TrimRight(u.EscapedPath(), "/"), Host: host}, nil
}

// id builds the event id of a forum object: discourse:<host>:<parts...>.
func (s Site) id(parts ...string) string {
	return source.ID(Source, append([]string{s.Host}, parts...)...)
}

// topicURL is the URL of a topic, or of one of its posts when postNumber > 0.
func (s Site) topicURL(slug string, topicID, postNumber int64) string {
	u := s.Base + "/t/"
	if slug != "" && len(slug) <= 255 {
		u += url.PathEscape(slug) + "/"
	}
	u += strconv.FormatInt(topicID, 10)
	if postNumber > 0 {
		u += "/" + strconv.FormatInt(postNumber, 10)
	}
	return u
}

func topicCreated(env source.Env, site Site, body []byte) (source.Result, error) {
	var b struct {
		Topic *Topic `json:"topic"`
	}
	if err := decode(body, &b); err != nil {
		return source.Result{}, err
	}
	if b.Topic == nil {
		return source.Result{}, source.Missing("topic")
	}
	return normalizeTopic(env, site, *b.Topic, "topic.")
}

func postCreated(env source.Env, site Site, body []byte) (source.Result, error) {
	var b struct {
		Post *Post `json:"post"`
	}
	if err := decode(body, &b); err != nil {
		return source.Result{}, err
	}
	if b.Post == nil {
		return source.Result{}, source.Missing("post")
	}
	return normalizePost(env, site, *b.Post, "post.")
}

func postLiked(env source.Env, site Site, body []byte) (source.Result, error) {
	var b struct {
		Like *struct {
			Post *Post `json:"post"`
			User *User `json:"user"`
		} `json:"like"`
	}
	if err := decode(body, &b); err != nil {
		return source.Result{}, err
	}
	switch {
	case b.Like == nil:
		return source.Result{}, source.Missing("like")
	case b.Like.Post == nil:
		return source.Result{}, source.Missing("like.post")
	case b.Like.User == nil:
		return source.Result{}, source.Missing("like.user")
	}
	p, liker := *b.Like.Post, *b.Like.User
	if err := p.check("like.post."); err != nil {
		return source.Result{}, err
	}
	if p.TopicArchetype == archetypePM {
		return source.Ignore("discourse post_liked: %s", whyPM), nil
	}
	if err := checkUser("like.user.id", "like.user.username", liker.ID, liker.Username); err != nil {
		return source.Result{}, err
	}
	// The payload has no time of the like: it is taken as received now.
	uid := strconv.FormatInt(liker.ID, 10)
	ev := env.Event(site.id("like", strconv.FormatInt(p.ID, 10), uid), "discourse.post.liked", now(env))
	ev.Actor = actor(env, liker.ID, liker.Username, liker.Name)
	p.place(site, &ev)
	ev.ParentID = site.postEventID(p)
	if p.UserID != liker.ID {
		ev.Targets = []events.Target{{Source: Source, SourceID: strconv.FormatInt(p.UserID, 10), Username: p.Username, Kind: events.KindReact}}
	}
	return finish(env, ev)
}

func acceptedSolution(env source.Env, site Site, body []byte) (source.Result, error) {
	var b struct {
		Solved *Post `json:"solved"`
	}
	if err := decode(body, &b); err != nil {
		return source.Result{}, err
	}
	if b.Solved == nil {
		return source.Result{}, source.Missing("solved")
	}
	p := *b.Solved
	if err := p.check("solved."); err != nil {
		return source.Result{}, err
	}
	// The payload has no time of the acceptance: it is taken as received now.
	ev := env.Event(site.id("solution", strconv.FormatInt(p.ID, 10)), "discourse.solution.accepted", now(env))
	ev.Actor = actor(env, p.UserID, p.Username, p.Name)
	p.place(site, &ev)
	ev.ParentID = site.postEventID(p)
	return finish(env, ev)
}

func userCreated(env source.Env, site Site, body []byte) (source.Result, error) {
	var b struct {
		User *User `json:"user"`
	}
	if err := decode(body, &b); err != nil {
		return source.Result{}, err
	}
	if b.User == nil {
		return source.Result{}, source.Missing("user")
	}
	u := *b.User
	if err := checkUser("user.id", "user.username", u.ID, u.Username); err != nil {
		return source.Result{}, err
	}
	at := now(env)
	if u.CreatedAt != "" {
		t, err := parseTime("user.created_at", u.CreatedAt, env)
		if err != nil {
			return source.Result{}, err
		}
		at = t
	}
	ev := env.Event(site.id("user", strconv.FormatInt(u.ID, 10)), "discourse.user.created", at)
	ev.Actor = actor(env, u.ID, u.Username, u.Name)
	if u.Email != "" {
		ev.Actor.EmailSHA256 = events.HashEmail(u.Email)
		ev.Actor.EmailDomainSHA256 = events.HashEmailDomain(u.Email)
	}
	return finish(env, ev)
}

// actor is the Discourse identity of user id. Discourse's own accounts
// (system, discobot) have negative ids and are bots.
func actor(env source.Env, id int64, username, name string) events.Actor {
	a := env.Actor(Source, strconv.FormatInt(id, 10), username, source.Clean(name, events.MaxNameLen))
	a.IsBot = a.IsBot || id < 0
	return a
}

// finish marks teammates and checks the event against the schema; a
// problem left is reported as bad input, never published.
func finish(env source.Env, ev events.Event) (source.Result, error) {
	env.Mark(&ev)
	if err := events.DefaultRegistry().Validate(&ev); err != nil {
		return source.Result{}, &source.InputError{Reason: "normalized event is invalid: " + err.Error()}
	}
	return source.One(ev), nil
}

// decode unmarshals a body; a failure is an InputError on the JSON path
// the decoder names, or on "body".
func decode(b []byte, v any) error {
	err := json.Unmarshal(b, v)
	if err == nil {
		return nil
	}
	f := "body"
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		f = te.Field
	}
	return &source.InputError{Field: f, Reason: "malformed JSON: " + source.Clip(err.Error())}
}

// checkUser checks the id and username of an identity.
func checkUser(idField, usernameField string, id int64, username string) error {
	if id == 0 {
		return source.Missing(idField)
	}
	if len(username) > events.MaxNameLen || !source.Printable(username) {
		return &source.InputError{Field: usernameField, Reason: "want printable UTF-8 of at most 256 bytes"}
	}
	return nil
}

// parseTime reads a Discourse timestamp (RFC 3339, UTC, milliseconds).
func parseTime(field, s string, env source.Env) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, &source.InputError{Field: field, Reason: fmt.Sprintf("want an RFC 3339 time, got %q", source.Clip(s))}
	}
	if t.Before(time.Unix(0, 0)) || t.After(now(env).Add(events.MaxFutureSkew)) {
		return time.Time{}, &source.InputError{Field: field,
			Reason: fmt.Sprintf("%s is before 1970 or more than %s in the future", t.UTC().Format(time.RFC3339), events.MaxFutureSkew)}
	}
	return t, nil
}

// now is env's clock.
func now(env source.Env) time.Time {
	if env.Now != nil {
		return env.Now()
	}
	return time.Now()
}
