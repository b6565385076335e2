// Package events defines activity event schema v1: the one normalized shape
// every source connector produces and every consumer reads. The published
// contract is event.schema.json (JSON Schema); this package is its Go form,
// with the decoder, the encoder and the validation that reports every
// problem with its field path. README.md documents fields and limits.
package events

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// SchemaVersion is the version of the event schema this package implements.
const SchemaVersion = 1

// Limits. Every string and list is bounded; an event past a bound is
// rejected with the field and the bound, never truncated silently.
const (
	MaxIDLen        = 256      // id, thread_id, parent_id
	MaxTokenLen     = 64       // community, source, actor.source, target source
	MaxTypeLen      = 128      // type
	MaxSourceIDLen  = 256      // actor.source_id, targets[].source_id
	MaxNameLen      = 256      // username, display_name, channel
	MaxTextLen      = 1024     // title
	MaxURLLen       = 2048     // url
	MaxTargets      = 64       // targets
	MaxAttributes   = 32       // attributes entries
	MaxAttrKeyLen   = 64       // attribute key
	MaxAttrValueLen = 1024     // attribute value
	MaxEventBytes   = 64 << 10 // the encoded event, and the input Decode accepts
	// MaxFutureSkew is how far occurred_at may lie after received_at (or
	// now, when received_at is absent): clocks drift, calendars do not.
	MaxFutureSkew = 24 * time.Hour
	// TimestampLayout is the one layout Encode writes.
	TimestampLayout = "2006-01-02T15:04:05.000Z"
)

// CustomTypePrefix starts the namespace of user-defined types:
// custom.<token>[.<token>...], accepted without a registry entry.
const CustomTypePrefix = "custom."

// Event is one normalized activity.
type Event struct {
	// ID is stable per source event (e.g. "github:<delivery id>"); the
	// activity stream deduplicates on it.
	ID            string `json:"id"`
	SchemaVersion int    `json:"schema_version"`
	// Community and Source are subject-safe tokens: they become the NATS
	// subject activities.<community>.<source>.
	Community string `json:"community"`
	Source    string `json:"source"`
	// Type is a canonical type from the registry, or custom.*.
	Type       string    `json:"type"`
	OccurredAt Timestamp `json:"occurred_at"`
	// ReceivedAt is set on receipt when absent.
	ReceivedAt Timestamp         `json:"received_at"`
	Actor      Actor             `json:"actor"`
	Channel    string            `json:"channel,omitempty"`
	ThreadID   string            `json:"thread_id,omitempty"`
	ParentID   string            `json:"parent_id,omitempty"`
	Targets    []Target          `json:"targets,omitempty"`
	URL        string            `json:"url,omitempty"`
	Title      string            `json:"title,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// Actor is who did the activity.
type Actor struct {
	Source      string `json:"source"`    // platform of the identity (usually the event's source)
	SourceID    string `json:"source_id"` // platform user id
	Username    string `json:"username,omitempty"`
	DisplayName string `json:"display_name,omitempty"`
	// EmailSHA256 is the lowercase hex SHA-256 of the trimmed, lowercased
	// address (HashEmail); never the address.
	EmailSHA256 string `json:"email_sha256,omitempty"`
	// EmailDomainSHA256 is the lowercase hex SHA-256 of the address's
	// lowercased domain (HashEmailDomain): what links a member to a
	// customer account whose domains were imported (hashed the same way,
	// HashDomain), without the address. Optional.
	EmailDomainSHA256 string `json:"email_domain_sha256,omitempty"`
	IsBot             bool   `json:"is_bot,omitempty"`
}

// Target is a member the activity is directed at; targets make the edges
// of the reach graph.
type Target struct {
	Source   string `json:"source"`
	SourceID string `json:"source_id"`
	Username string `json:"username,omitempty"`
	Kind     string `json:"kind"` // one of TargetKinds (KindReply, KindMention, ...)
}

// Identity returns "<source>:<source_id>", the actor's identity key.
func (a Actor) Identity() string { return a.Source + ":" + a.SourceID }

// Identity returns "<source>:<source_id>", the target's identity key.
func (t Target) Identity() string { return t.Source + ":" + t.SourceID }

// HashEmail returns the value for Actor.EmailSHA256: the hex SHA-256 of the
// trimmed, lowercased address.
func HashEmail(addr string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(addr))))
	return hex.EncodeToString(sum[:])
}

// EmailDomain returns the domain of an e-mail address as HashEmailDomain
// hashes it: the part after the last "@", trimmed, lowercased, without a
// trailing dot; "" when addr has no "@" or nothing after it.
func EmailDomain(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return normalizeDomain(addr[i+1:])
}

// HashDomain returns the hex SHA-256 of a domain trimmed, lowercased and
// without a trailing dot ("Example.COM." and "example.com" hash alike);
// "" for an empty domain. Account imports hash their domains with it.
func HashDomain(domain string) string {
	d := normalizeDomain(domain)
	if d == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(d))
	return hex.EncodeToString(sum[:])
}

// HashEmailDomain returns the value for Actor.EmailDomainSHA256:
// HashDomain of the address's domain (EmailDomain), "" when the address
// has none. Connectors that see an address set it beside EmailSHA256.
func HashEmailDomain(addr string) string { return HashDomain(EmailDomain(addr)) }

func normalizeDomain(d string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
}

// Normalize fills ReceivedAt (now, UTC, ms) when zero and SchemaVersion when
// 0, and brings both timestamps to UTC millisecond precision. It does not
// validate.
func (e *Event) Normalize(now time.Time) {
	if e.SchemaVersion == 0 {
		e.SchemaVersion = SchemaVersion
	}
	if e.ReceivedAt.IsZero() {
		e.ReceivedAt = NewTimestamp(now)
	}
	e.OccurredAt = NewTimestamp(e.OccurredAt.Time)
	e.ReceivedAt = NewTimestamp(e.ReceivedAt.Time)
}

// Timestamp is a UTC instant with millisecond precision. In JSON it is an
// RFC 3339 string; decoding accepts any offset and normalizes to UTC,
// truncated to the millisecond; encoding always writes
// "2006-01-02T15:04:05.000Z". The zero value means absent.
type Timestamp struct{ time.Time }

// NewTimestamp returns t in UTC truncated to the millisecond (zero stays zero).
func NewTimestamp(t time.Time) Timestamp {
	if t.IsZero() {
		return Timestamp{}
	}
	return Timestamp{t.UTC().Truncate(time.Millisecond)}
}

// MarshalJSON writes the fixed layout, or null when zero.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	b := make([]byte, 0, len(TimestampLayout)+2)
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, TimestampLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON reads an RFC 3339 string (or null: absent).
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = Timestamp{}
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return errTimestamp
	}
	v, err := time.Parse(time.RFC3339Nano, string(b[1:len(b)-1]))
	if err != nil {
		return errTimestamp
	}
	// An offset can carry 9999-12-31T23:00:00-02:00 past year 9999 in UTC,
	// where the fixed layout cannot write it back.
	if y := v.UTC().Year(); y < 0 || y > 9999 {
		return errTimestamp
	}
	*t = NewTimestamp(v)
	return nil
}

type timestampError struct{}

func (timestampError) Error() string {
	return "want an RFC 3339 timestamp string such as 2026-01-02T15:04:05.000Z (years 0000-9999 in UTC)"
}

var errTimestamp error = timestampError{}
