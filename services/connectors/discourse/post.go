package discourse

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/segmentio/encoding/json"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

// User is a Discourse user as payloads embed it (like.user, reply_to_user,
// created_by, the user of user_created). ReplyToUser has no ID.
type User struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	// Email is sent to admin-scoped webhooks only; it is hashed, never kept.
	Email     string `json:"email"`
	CreatedAt string `json:"created_at"`
}

// Post is a Discourse post as the webhook (post_created, the post of
// post_liked, accepted_solution) and the REST API (/t/{id}.json
// post_stream.posts, /posts/{id}.json) serialize it. The REST post of a
// topic has no category_id, topic_title, topic_archetype: a backfill copies
// them from the topic before calling NormalizePost.
type Post struct {
	ID         int64 `json:"id"`
	TopicID    int64 `json:"topic_id"`
	PostNumber int64 `json:"post_number"` // 1 is the topic's opening post
	// PostType: 1 regular, 2 moderator action, 3 small action (status
	// notice), 4 whisper (staff only).
	PostType  int    `json:"post_type"`
	UserID    int64  `json:"user_id"`
	Username  string `json:"username"`
	Name      string `json:"name"`
	CreatedAt string `json:"created_at"`
	DeletedAt string `json:"deleted_at"`
	// ReplyToPostNumber is the post number answered; 0 (null) answers the
	// topic.
	ReplyToPostNumber int64  `json:"reply_to_post_number"`
	ReplyToUser       *User  `json:"reply_to_user"`
	Raw               string `json:"raw"`    // markdown; absent from post_created and REST topics
	Cooked            string `json:"cooked"` // rendered HTML
	CategoryID        int64  `json:"category_id"`
	CategorySlug      string `json:"category_slug"`
	TopicSlug         string `json:"topic_slug"`
	TopicTitle        string `json:"topic_title"`
	TopicArchetype    string `json:"topic_archetype"` // "regular" or "private_message"
}

// Topic is a Discourse topic as the webhook (topic_created) and the REST
// API (/t/{id}.json, where the author is details.created_by: a backfill
// copies it into CreatedBy) serialize it.
type Topic struct {
	ID         int64  `json:"id"`
	Title      string `json:"title"`
	Slug       string `json:"slug"`
	CategoryID int64  `json:"category_id"`
	Archetype  string `json:"archetype"`
	CreatedAt  string `json:"created_at"`
	DeletedAt  string `json:"deleted_at"`
	UserID     int64  `json:"user_id"`
	CreatedBy  *User  `json:"created_by"`
	// Tags are names in most versions, {"name": ...} objects in some.
	Tags []json.RawMessage `json:"tags"`
}

const (
	archetypePM = "private_message"
	whyPM       = "a private message, not visible to the community"
)

// UserKey is the target SourceID of a member known by username only:
// "@" + the lowercased username (Discourse usernames are unique without
// regard to case and never contain "@", so no key equals a numeric id).
func UserKey(username string) string { return "@" + strings.ToLower(username) }

// NormalizeTopic maps a topic to discourse.topic.created, id
// "discourse:<host>:topic:<id>". Private messages and deleted topics are
// ignored. Errors name the topic's fields ("id", "created_at").
func NormalizeTopic(env source.Env, site Site, t Topic) (source.Result, error) {
	return normalizeTopic(env, site, t, "")
}

// NormalizePost maps a post to discourse.post.created, id
// "discourse:<host>:post:<id>". The opening post (post_number 1) is ignored:
// it is the topic, counted by NormalizeTopic. Private messages, deleted
// posts, whispers and moderator notices are ignored too. Errors name the
// post's fields ("user_id", "created_at").
func NormalizePost(env source.Env, site Site, p Post) (source.Result, error) {
	return normalizePost(env, site, p, "")
}

func normalizeTopic(env source.Env, site Site, t Topic, prefix string) (source.Result, error) {
	if t.ID == 0 {
		return source.Result{}, source.Missing(prefix + "id")
	}
	switch {
	case t.Archetype == archetypePM:
		return source.Ignore("discourse topic: %s", whyPM), nil
	case t.DeletedAt != "":
		return source.Ignore("discourse topic: deleted"), nil
	}
	// created_by is the webhook's; user_id alone is the REST topic list's.
	author, idField := User{ID: t.UserID}, prefix+"user_id"
	if t.CreatedBy != nil && t.CreatedBy.ID != 0 {
		author, idField = *t.CreatedBy, prefix+"created_by.id"
	}
	if err := checkUser(idField, prefix+"created_by.username", author.ID, author.Username); err != nil {
		return source.Result{}, err
	}
	at, err := required(prefix+"created_at", t.CreatedAt, env)
	if err != nil {
		return source.Result{}, err
	}
	id := site.id("topic", strconv.FormatInt(t.ID, 10))
	ev := env.Event(id, "discourse.topic.created", at)
	ev.Actor = actor(env, author.ID, author.Username, author.Name)
	ev.ThreadID = id
	ev.URL = site.topicURL(t.Slug, t.ID, 0)
	ev.Title = source.Clean(t.Title, events.MaxTextLen)
	if t.CategoryID != 0 {
		ev.Channel = strconv.FormatInt(t.CategoryID, 10)
	}
	if tags := tagList(t.Tags); tags != "" {
		ev.Attributes = map[string]string{"tags": tags}
	}
	return finish(env, ev)
}

func normalizePost(env source.Env, site Site, p Post, prefix string) (source.Result, error) {
	if err := p.check(prefix); err != nil {
		return source.Result{}, err
	}
	switch {
	case p.TopicArchetype == archetypePM:
		return source.Ignore("discourse post: %s", whyPM), nil
	case p.DeletedAt != "":
		return source.Ignore("discourse post: deleted"), nil
	case p.PostType == 4:
		return source.Ignore("discourse post: a staff whisper, not visible to the community"), nil
	case p.PostType == 2 || p.PostType == 3:
		return source.Ignore("discourse post: a moderator or status notice, not member activity"), nil
	case p.PostNumber == 1:
		return source.Ignore("discourse post: the opening post of a topic, counted by topic_created"), nil
	}
	at, err := required(prefix+"created_at", p.CreatedAt, env)
	if err != nil {
		return source.Result{}, err
	}
	ev := env.Event(site.id("post", strconv.FormatInt(p.ID, 10)), "discourse.post.created", at)
	ev.Actor = actor(env, p.UserID, p.Username, p.Name)
	p.place(site, &ev)
	// The answered post is known by number only: its event id (by post id)
	// can be built when it is the topic, the rest keep the number.
	if p.ReplyToPostNumber <= 1 {
		ev.ParentID = site.id("topic", strconv.FormatInt(p.TopicID, 10))
	} else {
		ev.Attributes = map[string]string{"reply_to_post_number": strconv.FormatInt(p.ReplyToPostNumber, 10)}
	}
	seen := map[string]bool{strings.ToLower(p.Username): true} // no edge to oneself
	if r := p.ReplyToUser; r != nil && r.Username != "" && usernameOK(r.Username) && !seen[strings.ToLower(r.Username)] {
		seen[strings.ToLower(r.Username)] = true
		ev.Targets = append(ev.Targets, events.Target{Source: Source, SourceID: UserKey(r.Username), Username: r.Username, Kind: events.KindReply})
	}
	for _, u := range mentions(p.Raw, p.Cooked) {
		if len(ev.Targets) == events.MaxTargets {
			break
		}
		if !seen[strings.ToLower(u)] {
			seen[strings.ToLower(u)] = true
			ev.Targets = append(ev.Targets, events.Target{Source: Source, SourceID: UserKey(u), Username: u, Kind: events.KindMention})
		}
	}
	return finish(env, ev)
}

// check checks what every use of a post needs: its ids and author.
func (p Post) check(prefix string) error {
	switch {
	case p.ID == 0:
		return source.Missing(prefix + "id")
	case p.TopicID == 0:
		return source.Missing(prefix + "topic_id")
	case p.PostNumber == 0:
		return source.Missing(prefix + "post_number")
	case p.PostNumber < 0:
		return &source.InputError{Field: prefix + "post_number", Reason: "want a positive number"}
	case p.UserID == 0:
		return source.Missing(prefix + "user_id")
	}
	return checkUser(prefix+"user_id", prefix+"username", p.UserID, p.Username)
}

// place sets the topic, category, URL and title of an event about p.
func (p Post) place(site Site, ev *events.Event) {
	ev.ThreadID = site.id("topic", strconv.FormatInt(p.TopicID, 10))
	ev.URL = site.topicURL(p.TopicSlug, p.TopicID, p.PostNumber)
	ev.Title = source.Clean(p.TopicTitle, events.MaxTextLen)
	if p.CategoryID != 0 {
		ev.Channel = strconv.FormatInt(p.CategoryID, 10)
	}
}

// postEventID is the id of the event that counted p: the topic's for the
// opening post, the post's otherwise.
func (s Site) postEventID(p Post) string {
	if p.PostNumber == 1 {
		return s.id("topic", strconv.FormatInt(p.TopicID, 10))
	}
	return s.id("post", strconv.FormatInt(p.ID, 10))
}

// required parses a required timestamp.
func required(field, s string, env source.Env) (t time.Time, err error) {
	if s == "" {
		return t, source.Missing(field)
	}
	return parseTime(field, s, env)
}

var (
	// rawMention is @username in markdown, not inside a word or an address.
	rawMention = regexp.MustCompile(`(?:^|[^\p{L}\p{N}_@./-])@([\p{L}\p{N}_][\p{L}\p{N}_.-]*)`)
	// cookedMention is the link Discourse renders for a user mention
	// (groups get class "mention-group" and are left out).
	cookedMention = regexp.MustCompile(`<a class="mention" href="[^"]*/u(?:sers)?/([^"/?#]+)"`)
)

// mentions lists the usernames @-mentioned in a post: from the rendered
// HTML when there is one (it excludes code and group mentions), else from
// the markdown.
func mentions(raw, cooked string) []string {
	var names []string
	if cooked != "" {
		for _, m := range cookedMention.FindAllStringSubmatch(cooked, -1) {
			if u, err := url.PathUnescape(m[1]); err == nil && usernameOK(u) {
				names = append(names, u)
			}
		}
		return names
	}
	for _, m := range rawMention.FindAllStringSubmatch(raw, -1) {
		if u := strings.TrimRight(m[1], ".-"); usernameOK(u) {
			names = append(names, u)
		}
	}
	return names
}

// usernameOK reports whether u can be a Discourse username (at most 60
// characters, the largest max_username_length) fit for a target.
func usernameOK(u string) bool {
	return u != "" && utf8.RuneCountInString(u) <= 60 && source.Printable(u) && !strings.ContainsAny(u, "@ ")
}

// tagList joins tag names with "," within an attribute value's bound.
func tagList(tags []json.RawMessage) string {
	var b strings.Builder
	for _, raw := range tags {
		var name string
		if json.Unmarshal(raw, &name) != nil {
			var obj struct {
				Name string `json:"name"`
			}
			if json.Unmarshal(raw, &obj) != nil {
				continue
			}
			name = obj.Name
		}
		name = source.Clean(strings.ReplaceAll(name, ",", " "), 100)
		if name == "" || b.Len()+len(name)+1 > events.MaxAttrValueLen {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(name)
	}
	return b.String()
}
