package alerts

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Delivery kinds (HeaderKind, Delivery.Kind).
const (
	KindAlert  = "alert"
	KindSignal = "signal"
)

// HeaderKind tells a webhook receiver what the body is: KindAlert (a
// Notification) or KindSignal (a Signal).
const HeaderKind = "X-Orbitflow-Kind"

// Signal is one community-qualified signal: an activity that a signal rule
// matched, with the evidence of why. It is a row of the signals table and,
// for webhook targets, the JSON body of the delivery (signed like an
// alert notification). Every field is deterministic: the same rule and
// activity give the same signal on every replay.
type Signal struct {
	// ID is SignalID(community, rule, activity id): receivers deduplicate
	// on it (or on the delivery id).
	ID          string `json:"id"`
	Kind        string `json:"kind"` // always KindSignal
	Rule        string `json:"rule"`
	Description string `json:"description,omitempty"`
	Community   string `json:"community"`
	// At is when the activity occurred.
	At       time.Time      `json:"at"`
	Member   SignalMember   `json:"member"`
	Activity SignalActivity `json:"activity"`
	Keywords []string       `json:"keywords,omitempty"` // the rule's keywords found in the title, in rule order
	Reasons  []string       `json:"reasons"`            // every condition of the rule and what met it, one line each
	URL      string         `json:"url,omitempty"`      // the member in Orbitflow, when external_url is set
	Targets  []string       `json:"targets,omitempty"`  // where it is delivered
}

// SignalMember is the member behind a signal as the scoring state held it
// right after the activity was applied.
type SignalMember struct {
	ID          string   `json:"id"`       // member id
	Identity    string   `json:"identity"` // the actor's identity key, source:source_id
	DisplayName string   `json:"display_name,omitempty"`
	Level       uint8    `json:"level"`      // 1 Leading .. 4 Exploring, 0 out of orbit
	LevelName   string   `json:"level_name"` // e.g. "Contributing II"
	Step        uint8    `json:"step"`       // 1..12
	Roles       []string `json:"roles"`
	// Organization is the activity's "organization" attribute ("" when
	// the platform does not say).
	Organization string `json:"organization,omitempty"`
}

// SignalActivity is the activity that fired a signal.
type SignalActivity struct {
	EventID    string    `json:"event_id"`
	Source     string    `json:"source"`
	Type       string    `json:"type"`
	Channel    string    `json:"channel,omitempty"`
	Title      string    `json:"title,omitempty"`
	URL        string    `json:"url,omitempty"`
	OccurredAt time.Time `json:"occurred_at"`
}

// SignalID is the deterministic id of the signal rule fires for activity
// eventID of community: 32 hex digits.
func SignalID(community, rule, eventID string) string {
	sum := sha256.Sum256([]byte(community + "\x00" + rule + "\x00" + eventID))
	return hex.EncodeToString(sum[:16])
}

// OptOutBucket is the NATS key-value bucket of the members who opted out
// of signals (the API and the command line write it; the scoring
// processor watches it). Keys are OptOutKey, values OptOut as JSON.
const OptOutBucket = "orbitflow-signal-optouts"

// OptOut is one member who opted out of signals in one community. Member
// is a member id or any identity key of the member ("github:583231"; a
// member id is its first identity's key): opting out one identity opts out
// the whole member.
type OptOut struct {
	Community string    `json:"community"`
	Member    string    `json:"member"`
	By        string    `json:"by,omitempty"`
	Comment   string    `json:"comment,omitempty"`
	At        time.Time `json:"at"`
	// Config: the opt-out is in the configuration (signals.opt_out), not
	// the bucket; it cannot be removed through the API.
	Config bool `json:"config,omitempty"`
}

// OptOutKey is the bucket key of member's opt-out in community: the
// community and the member in unpadded base64url (identity keys hold
// characters bucket keys may not).
func OptOutKey(community, member string) string {
	return community + "." + base64.RawURLEncoding.EncodeToString([]byte(member))
}

// ValidOptOutMember checks an opt-out's member: 1..256 printable bytes,
// no spaces.
func ValidOptOutMember(m string) error {
	if m == "" || len(m) > 256 || strings.IndexFunc(m, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) >= 0 {
		return fmt.Errorf("want a member id or identity key like github:583231 (1..256 printable bytes, no spaces), got %q", m)
	}
	return nil
}
