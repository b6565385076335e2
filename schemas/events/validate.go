package events

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Problem is one thing wrong with an event.
type Problem struct {
	Path   string // field path: "actor.source_id", "targets[2].kind", `attributes["k"]`
	Reason string
}

// ValidationError lists every problem of an event.
type ValidationError struct{ Problems []Problem }

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Path + ": " + p.Reason
	}
	return strings.Join(parts, "; ")
}

var (
	subjectToken = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	hexSHA256    = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

type checker struct{ problems []Problem }

func (c *checker) add(path, format string, a ...any) {
	c.problems = append(c.problems, Problem{Path: path, Reason: fmt.Sprintf(format, a...)})
}

// text checks a bounded, valid UTF-8 string without control characters
// other than tab/newline (those are allowed only where multiline is true).
func (c *checker) text(path, s string, limit int, required, multiline bool) {
	switch {
	case s == "" && required:
		c.add(path, "required")
	case len(s) > limit:
		c.add(path, "longer than %d bytes (%d)", limit, len(s))
	case !utf8.ValidString(s):
		c.add(path, "not valid UTF-8")
	default:
		for _, r := range s {
			if r < 0x20 && !(multiline && (r == '\n' || r == '\t')) || r == 0x7f {
				c.add(path, "contains control character %U", r)
				return
			}
		}
	}
}

func (c *checker) token(path, s string, required bool) {
	if s == "" {
		if required {
			c.add(path, "required")
		}
		return
	}
	if !subjectToken.MatchString(s) {
		c.add(path, "want a lowercase token [a-z0-9][a-z0-9_-]{0,63}, got %q", clip(s))
	}
}

// Validate checks e against schema v1 and the registry and returns nil or a
// *ValidationError listing every problem.
func (r *Registry) Validate(e *Event) error {
	return r.validateAt(e, time.Now())
}

func (r *Registry) validateAt(e *Event, now time.Time) error {
	var c checker
	c.text("id", e.ID, MaxIDLen, true, false)
	if e.SchemaVersion != SchemaVersion {
		c.add("schema_version", "want %d, got %d", SchemaVersion, e.SchemaVersion)
	}
	c.token("community", e.Community, true)
	c.token("source", e.Source, true)
	switch {
	case e.Type == "":
		c.add("type", "required")
	case len(e.Type) > MaxTypeLen:
		c.add("type", "longer than %d bytes", MaxTypeLen)
	default:
		if _, ok := r.Lookup(e.Type); !ok {
			if strings.HasPrefix(e.Type, customTypePrefix) {
				c.add("type", "custom types are custom.<name>[.<name>...] with lowercase [a-z0-9_] names, got %q", clip(e.Type))
			} else {
				c.add("type", "unknown type")
			}
		}
	}
	ref := now
	if !e.ReceivedAt.IsZero() {
		ref = e.ReceivedAt.Time
	}
	switch {
	case e.OccurredAt.IsZero():
		c.add("occurred_at", "required")
	case e.OccurredAt.Before(time.Unix(0, 0)):
		c.add("occurred_at", "before 1970-01-01")
	case e.OccurredAt.After(ref.Add(MaxFutureSkew)):
		c.add("occurred_at", "more than %s after received_at (%s)", MaxFutureSkew, ref.UTC().Format(TimestampLayout))
	}
	if !e.ReceivedAt.IsZero() && e.ReceivedAt.Before(time.Unix(0, 0)) {
		c.add("received_at", "before 1970-01-01")
	}
	c.token("actor.source", e.Actor.Source, true)
	c.text("actor.source_id", e.Actor.SourceID, MaxSourceIDLen, true, false)
	c.text("actor.username", e.Actor.Username, MaxNameLen, false, false)
	c.text("actor.display_name", e.Actor.DisplayName, MaxNameLen, false, false)
	if e.Actor.EmailSHA256 != "" && !hexSHA256.MatchString(e.Actor.EmailSHA256) {
		c.add("actor.email_sha256", "want 64 lowercase hex digits (events.HashEmail of the address), never the address itself")
	}
	c.text("channel", e.Channel, MaxNameLen, false, false)
	c.text("thread_id", e.ThreadID, MaxIDLen, false, false)
	c.text("parent_id", e.ParentID, MaxIDLen, false, false)
	if len(e.Targets) > MaxTargets {
		c.add("targets", "more than %d targets (%d)", MaxTargets, len(e.Targets))
	}
	for i, t := range e.Targets {
		if i == MaxTargets {
			break
		}
		p := "targets[" + strconv.Itoa(i) + "]"
		c.token(p+".source", t.Source, true)
		c.text(p+".source_id", t.SourceID, MaxSourceIDLen, true, false)
		c.text(p+".username", t.Username, MaxNameLen, false, false)
		if !slices.Contains(TargetKinds, t.Kind) {
			c.add(p+".kind", "want one of %s, got %q", strings.Join(TargetKinds, ", "), clip(t.Kind))
		}
	}
	if e.URL != "" {
		c.text("url", e.URL, MaxURLLen, false, false)
		if u, err := url.Parse(e.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			c.add("url", "want an absolute http(s) URL")
		}
	}
	c.text("title", e.Title, MaxTextLen, false, true)
	if len(e.Attributes) > MaxAttributes {
		c.add("attributes", "more than %d entries (%d)", MaxAttributes, len(e.Attributes))
	}
	keys := make([]string, 0, len(e.Attributes))
	for k := range e.Attributes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p := "attributes[" + strconv.Quote(clip(k)) + "]"
		if k == "" {
			c.add(p, "empty key")
		}
		c.text(p+" key", k, MaxAttrKeyLen, false, false)
		c.text(p, e.Attributes[k], MaxAttrValueLen, false, true)
	}
	if len(c.problems) > 0 {
		return &ValidationError{Problems: c.problems}
	}
	return nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
