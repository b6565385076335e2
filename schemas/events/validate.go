package events

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Target kinds: how a target was reached. The list is closed.
const (
	KindReply   = "reply"   // answered the target's post, comment, message or ticket
	KindMention = "mention" // @-mentioned the target
	KindReview  = "review"  // reviewed the target's pull request
	KindAssign  = "assign"  // assigned the target to an issue, ticket or task
	KindReact   = "react"   // reacted to or liked the target's message
	KindThank   = "thank"   // thanked the target (kudos, accepted answer)
)

// TargetKinds lists every valid Target.Kind. Do not modify it.
var TargetKinds = []string{KindReply, KindMention, KindReview, KindAssign, KindReact, KindThank}

// Problem is one thing wrong with an event.
type Problem struct {
	Path   string // field path: "actor.source_id", "targets[2].kind", `attributes["k"]`
	Reason string
}

// ValidationError lists every problem of an event, in field order.
type ValidationError struct{ Problems []Problem }

// Error joins the problems as "path: reason; path: reason".
func (e *ValidationError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Path)
		b.WriteString(": ")
		b.WriteString(p.Reason)
	}
	return b.String()
}

// TokenPattern is what community, source, actor.source and targets[].source
// must match: they become NATS subject tokens (activities.<community>.<source>).
const TokenPattern = `^[a-z0-9][a-z0-9_-]{0,63}$`

// HexSHA256Pattern is what actor.email_sha256 and actor.email_domain_sha256
// must match.
const HexSHA256Pattern = `^[0-9a-f]{64}$`

var epoch = time.Unix(0, 0)

// isToken reports whether s matches TokenPattern. Hand-written: this runs for
// several fields of every event, and the regexp was a third of Validate.
func isToken(s string) bool {
	if len(s) == 0 || len(s) > MaxTokenLen || !isLowerAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if b := s[i]; !isLowerAlnum(b) && b != '_' && b != '-' {
			return false
		}
	}
	return true
}

// isHexSHA256 reports whether s matches HexSHA256Pattern.
func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; !('0' <= b && b <= '9' || 'a' <= b && b <= 'f') {
			return false
		}
	}
	return true
}

func isLowerAlnum(b byte) bool { return 'a' <= b && b <= 'z' || '0' <= b && b <= '9' }

// Validate checks e against schema v1 and the registry. It returns nil or a
// *ValidationError listing every problem with its path. The future bound of
// occurred_at is taken from received_at, or from the clock when that is
// absent. Validate does not change e and is safe for concurrent use.
func (r *Registry) Validate(e *Event) error {
	return r.validateAt(e, time.Now())
}

func (r *Registry) validateAt(e *Event, now time.Time) error {
	var c checker
	c.text("id", e.ID, MaxIDLen, true, false)
	if e.SchemaVersion != SchemaVersion {
		c.add("schema_version", "want %d, got %d", SchemaVersion, e.SchemaVersion)
	}
	c.token("community", e.Community)
	c.token("source", e.Source)
	switch {
	case e.Type == "":
		c.add("type", "required")
	case len(e.Type) > MaxTypeLen:
		c.add("type", "longer than %d bytes (%d)", MaxTypeLen, len(e.Type))
	default:
		if _, ok := r.Lookup(e.Type); !ok {
			c.add("type", "unknown type")
		}
	}
	ref := now
	if !e.ReceivedAt.IsZero() {
		ref = e.ReceivedAt.Time
		if e.ReceivedAt.Before(epoch) {
			c.add("received_at", "before 1970-01-01T00:00:00Z")
		}
	}
	switch {
	case e.OccurredAt.IsZero():
		c.add("occurred_at", "required")
	case e.OccurredAt.Before(epoch):
		c.add("occurred_at", "before 1970-01-01T00:00:00Z")
	case e.OccurredAt.After(ref.Add(MaxFutureSkew)):
		c.add("occurred_at", "more than %s after received_at (%s)", MaxFutureSkew, ref.UTC().Format(TimestampLayout))
	}
	c.token("actor.source", e.Actor.Source)
	c.text("actor.source_id", e.Actor.SourceID, MaxSourceIDLen, true, false)
	c.text("actor.username", e.Actor.Username, MaxNameLen, false, false)
	c.text("actor.display_name", e.Actor.DisplayName, MaxNameLen, false, false)
	if e.Actor.EmailSHA256 != "" && !isHexSHA256(e.Actor.EmailSHA256) {
		c.add("actor.email_sha256", "want 64 lowercase hex digits (events.HashEmail of the address), never the address")
	}
	if e.Actor.EmailDomainSHA256 != "" && !isHexSHA256(e.Actor.EmailDomainSHA256) {
		c.add("actor.email_domain_sha256", "want 64 lowercase hex digits (events.HashEmailDomain of the address), never the domain")
	}
	c.text("channel", e.Channel, MaxNameLen, false, false)
	c.text("thread_id", e.ThreadID, MaxIDLen, false, false)
	c.text("parent_id", e.ParentID, MaxIDLen, false, false)
	if len(e.Targets) > MaxTargets {
		c.add("targets", "more than %d targets (%d)", MaxTargets, len(e.Targets))
	}
	for i, t := range e.Targets[:min(len(e.Targets), MaxTargets)] {
		if isToken(t.Source) && textOK(t.SourceID, MaxSourceIDLen, true, false) &&
			textOK(t.Username, MaxNameLen, false, false) && slices.Contains(TargetKinds, t.Kind) {
			continue // the common case: no path strings built
		}
		p := "targets[" + strconv.Itoa(i) + "]"
		c.token(p+".source", t.Source)
		c.text(p+".source_id", t.SourceID, MaxSourceIDLen, true, false)
		c.text(p+".username", t.Username, MaxNameLen, false, false)
		if !slices.Contains(TargetKinds, t.Kind) {
			c.add(p+".kind", "want one of %s, got %q", strings.Join(TargetKinds, ", "), clip(t.Kind))
		}
	}
	if e.URL != "" && c.text("url", e.URL, MaxURLLen, false, false) {
		if u, err := url.Parse(e.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			c.add("url", "want an absolute http(s) URL")
		}
	}
	c.text("title", e.Title, MaxTextLen, false, true)
	if len(e.Attributes) > MaxAttributes {
		c.add("attributes", "more than %d entries (%d)", MaxAttributes, len(e.Attributes))
	}
	if !attributesOK(e.Attributes) {
		// Sorted, so that the problems come in a stable order.
		keys := make([]string, 0, len(e.Attributes))
		for k := range e.Attributes {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := "attributes[" + strconv.Quote(clip(k)) + "]"
			switch {
			case k == "":
				c.add(p, "empty key")
			case len(k) > MaxAttrKeyLen:
				c.add(p, "key longer than %d bytes (%d)", MaxAttrKeyLen, len(k))
			case !utf8.ValidString(k):
				c.add(p, "key not valid UTF-8")
			case hasControl(k, false):
				c.add(p, "key contains a control character")
			}
			c.text(p, e.Attributes[k], MaxAttrValueLen, false, true)
		}
	}
	// The field bounds allow more than MaxEventBytes in total; encode only
	// when a cheap upper bound (every byte escaped as \u00XX) says it may not fit.
	if len(c.problems) == 0 && sizeBound(e) > MaxEventBytes {
		if b, err := Encode(e); err != nil {
			c.add("(event)", "does not encode: %v", err)
		} else if len(b) > MaxEventBytes {
			c.add("(event)", "encodes to %d bytes, more than the %d allowed", len(b), MaxEventBytes)
		}
	}
	if len(c.problems) > 0 {
		return &ValidationError{Problems: c.problems}
	}
	return nil
}

type checker struct{ problems []Problem }

func (c *checker) add(path, format string, a ...any) {
	c.problems = append(c.problems, Problem{Path: path, Reason: fmt.Sprintf(format, a...)})
}

// text checks a bounded, valid UTF-8 string without control characters
// (tab and newline are allowed where multiline). It reports whether s passed.
func (c *checker) text(path, s string, limit int, required, multiline bool) bool {
	switch {
	case s == "":
		if required {
			c.add(path, "required")
			return false
		}
	case len(s) > limit:
		c.add(path, "longer than %d bytes (%d)", limit, len(s))
	case !utf8.ValidString(s):
		c.add(path, "not valid UTF-8")
	case hasControl(s, multiline):
		c.add(path, "contains a control character")
	default:
		return true
	}
	return s == ""
}

// textOK reports whether text would accept s.
func textOK(s string, limit int, required, multiline bool) bool {
	if s == "" {
		return !required
	}
	return len(s) <= limit && utf8.ValidString(s) && !hasControl(s, multiline)
}

// attributesOK reports whether the attribute loop would find no problem.
func attributesOK(attrs map[string]string) bool {
	for k, v := range attrs {
		if !textOK(k, MaxAttrKeyLen, true, false) || !textOK(v, MaxAttrValueLen, false, true) {
			return false
		}
	}
	return true
}

func (c *checker) token(path, s string) {
	switch {
	case s == "":
		c.add(path, "required")
	case !isToken(s):
		c.add(path, "want a lowercase token matching %s, got %q", TokenPattern, clip(s))
	}
}

func hasControl(s string, multiline bool) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if (b < 0x20 && !(multiline && (b == '\n' || b == '\t'))) || b == 0x7f {
			return true
		}
	}
	return false
}

// sizeBound is an upper bound of the encoded size of e.
func sizeBound(e *Event) int {
	n := len(e.ID) + len(e.Community) + len(e.Source) + len(e.Type) + len(e.Actor.Source) + len(e.Actor.SourceID) +
		len(e.Actor.Username) + len(e.Actor.DisplayName) + len(e.Actor.EmailSHA256) + len(e.Actor.EmailDomainSHA256) + len(e.Channel) +
		len(e.ThreadID) + len(e.ParentID) + len(e.URL) + len(e.Title)
	for _, t := range e.Targets {
		n += len(t.Source) + len(t.SourceID) + len(t.Username) + len(t.Kind) + 64
	}
	for k, v := range e.Attributes {
		n += len(k) + len(v) + 8
	}
	return 6*n + 512 // escapes, field names, timestamps, punctuation
}

func clip(s string) string {
	if len(s) > 64 {
		cut := 64
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return s[:cut] + "…"
	}
	return s
}
