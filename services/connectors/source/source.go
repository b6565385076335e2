// Package source holds what every connector shares: the result of
// normalizing one platform item (a webhook delivery, an archive line, an API
// object), stable event ids, and the bot and teammate rules.
//
// A connector package (github, discourse, slack, ...) turns platform items
// into a Result. The ingest path (files, backfills) and the webhook gateway
// then publish Result.Events, count Result.Ignored, and dead-letter
// Result.Unmapped with the reason "unmapped type" so the item can be
// replayed once a mapping exists. Nothing read is dropped silently.
package source

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/orbitflow/orbitflow/schemas/events"
)

// Result is what one platform item normalizes to. Exactly one of Events,
// Ignored and Unmapped is set (Events may hold several activities).
type Result struct {
	// Events are the activities, complete (community, received_at set) and
	// valid per the registry.
	Events []events.Event
	// Ignored says why the item carries no community activity, e.g.
	// "github ping: webhook configuration check". Counted, not an error.
	Ignored string
	// Unmapped names the platform kind that has no mapping yet, e.g.
	// "github:sponsorship.created". Dead-lettered with ReasonUnmapped.
	Unmapped string
	// Reply, when set, is the body a webhook must answer with (Slack's
	// url_verification challenge).
	Reply []byte
}

// Webhook is one platform's webhook deliveries: the signature check and the
// normalization. The gateway calls Verify first and Normalize only on an
// authentic delivery. Implementations are stateless and safe for
// concurrent use.
type Webhook interface {
	// Verify checks the delivery's signature with secret (constant-time);
	// any error means 401, and the delivery is never normalized.
	Verify(secret []byte, h http.Header, body []byte, now time.Time) error
	// Normalize turns an authentic delivery into its Result. Each event id
	// is stable for the delivery (a redelivery yields the same ids). An
	// *InputError means malformed input (400, dead-lettered).
	Normalize(env Env, h http.Header, body []byte) (Result, error)
}

// ReasonUnmapped prefixes the dead-letter reason of an unmapped item.
const ReasonUnmapped = "unmapped type"

// Ignore returns a Result that ignores the item for reason.
func Ignore(format string, a ...any) Result { return Result{Ignored: fmt.Sprintf(format, a...)} }

// Unmapped returns a Result for a kind with no mapping yet.
func Unmapped(source, kind string) Result { return Result{Unmapped: source + ":" + kind} }

// One returns a Result holding ev.
func One(ev events.Event) Result { return Result{Events: []events.Event{ev}} }

// InputError is malformed input: which field, what was expected.
type InputError struct {
	Field  string // JSON path or header name, e.g. "comment.user.id", "X-GitHub-Event"
	Reason string
}

func (e *InputError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// Missing is the InputError of a required field that is absent or empty.
func Missing(field string) *InputError { return &InputError{Field: field, Reason: "required"} }

// Env is what normalization needs besides the item itself.
type Env struct {
	// Community every event is put in.
	Community string
	// People flags bots and teammates; nil means no configured accounts.
	People *People
	// Now stamps received_at; nil means time.Now.
	Now func() time.Time
}

// Event starts an event of typ in env's community, with the source taken
// from typ's first segment, received now.
func (env Env) Event(id, typ string, occurred time.Time) events.Event {
	src, _, _ := strings.Cut(typ, ".")
	now := time.Now
	if env.Now != nil {
		now = env.Now
	}
	return events.Event{
		ID:            id,
		SchemaVersion: events.SchemaVersion,
		Community:     env.Community,
		Source:        src,
		Type:          typ,
		OccurredAt:    events.NewTimestamp(occurred),
		ReceivedAt:    events.NewTimestamp(now()),
	}
}

// Actor returns the actor of source with id and names, flagged as a bot
// when login says so (see People.IsBot).
func (env Env) Actor(source, id, username, displayName string) events.Actor {
	return events.Actor{
		Source: source, SourceID: id, Username: username, DisplayName: displayName,
		IsBot: env.People.IsBot(source, username),
	}
}

// Mark sets the teammate attribute on ev when its actor is a listed
// teammate. Call it last, after the actor is set.
func (env Env) Mark(ev *events.Event) {
	if env.People.IsTeammate(ev.Actor.Source, ev.Actor.Username) {
		if ev.Attributes == nil {
			ev.Attributes = map[string]string{}
		}
		ev.Attributes[AttrTeammate] = "true"
	}
}

// AttrTeammate is the attribute set to "true" on activities of teammates.
const AttrTeammate = "teammate"

// People lists accounts by "source:username" (case-insensitive), e.g.
// "github:dependabot", "slack:jane".
type People struct {
	// Bots are automation accounts not recognizable by name.
	Bots []string `yaml:"bots"`
	// Teammates are the community team's own members.
	Teammates []string `yaml:"teammates"`
	// EmailSalt is the deployment's secret key for what is stored of
	// e-mail hashes (HMAC-SHA256 of actor.email_sha256, events.Salt) and
	// for forgotten identities' tombstones: "env:NAME", "file:PATH" or the
	// value, at least 16 bytes. Empty: generated once into
	// <data_dir>/email-salt. Every process of a deployment needs the same.
	EmailSalt string `yaml:"email_salt"`
}

// IsBot reports whether username on source is a bot: GitHub-style "[bot]"
// logins and the configured accounts. Connectors also flag what the
// platform marks itself (Slack bot_id, Discord bot).
func (p *People) IsBot(source, username string) bool {
	if strings.HasSuffix(username, "[bot]") {
		return true
	}
	return p != nil && username != "" && listed(p.Bots, source, username)
}

// IsTeammate reports whether username on source is a listed teammate.
func (p *People) IsTeammate(source, username string) bool {
	return p != nil && username != "" && listed(p.Teammates, source, username)
}

// Validate reports every entry that is not "source:username".
func (p *People) Validate(prefix string) []error {
	var errs []error
	for field, list := range map[string][]string{"bots": p.Bots, "teammates": p.Teammates} {
		for i, s := range list {
			src, name, ok := strings.Cut(s, ":")
			if !ok || src == "" || name == "" {
				errs = append(errs, fmt.Errorf("%s.%s[%d]: want source:username, got %q", prefix, field, i, s))
			}
		}
	}
	return errs
}

// listed reports whether list holds source:username, ignoring case.
func listed(list []string, source, username string) bool {
	k := source + ":" + username
	return slices.ContainsFunc(list, func(s string) bool { return strings.EqualFold(s, k) })
}

// ID builds a stable event id from the source and the parts that identify
// the activity on the platform (object kind, object id, verb), e.g.
// ID("github", "issue_comment", "123") = "github:issue_comment:123". The same
// activity gets the same id whether it arrives by webhook, archive or
// backfill, so the stream and the activities view count it once. An id
// longer than events.MaxIDLen keeps its prefix and ends in a hash.
func ID(source string, parts ...string) string {
	id := source + ":" + strings.Join(parts, ":")
	if len(id) <= events.MaxIDLen {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	h := hex.EncodeToString(sum[:16])
	cut := events.MaxIDLen - len(h) - 1
	for cut > 0 && !utf8.RuneStart(id[cut]) {
		cut--
	}
	return id[:cut] + "~" + h
}

// Clean makes free text from a platform (names, titles, reaction names) fit
// an event field: invalid UTF-8 and control characters become spaces,
// surrounding space is trimmed, and the text is cut at max bytes on a rune
// boundary.
func Clean(s string, max int) string {
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, " ") {
		if r < 0x20 || r == 0x7f {
			r = ' '
		}
		if b.Len()+utf8.RuneLen(r) > max {
			break
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// Clip makes outside text safe and short (64 bytes) for an error message or
// a Result's kind: printable text that fits is kept as it is.
func Clip(s string) string {
	if len(s) <= 64 && Printable(s) {
		return s
	}
	return Clean(s, 64) + "…"
}

// Printable reports whether s is valid UTF-8 without control characters.
func Printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b == 0x7f {
			return false
		}
	}
	return true
}
