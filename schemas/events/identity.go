package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Identity command kinds.
const (
	IdentityMerge   = "merge"   // the identities' members are one person
	IdentityUnmerge = "unmerge" // the identity is not the rest of its member
	// IdentityForget erases the members of the identities whose
	// tombstones (Salt.Tombstone) the command carries: their rows, their
	// scores, and every later event of those identities.
	IdentityForget = "forget"
)

// MaxTombstones bounds the tombstones of one forget command.
const MaxTombstones = 1024

// IdentityCommand is a decision about identities, published on
// subjects.Identity(community): the scoring processor applies it in stream
// order and rebuilds the members it affects from their activities.
type IdentityCommand struct {
	// ID makes the command idempotent (the Nats-Msg-Id).
	ID        string `json:"id"`
	Community string `json:"community"`
	Kind      string `json:"kind"`
	// Identities are identity keys ("github:583231"): two for a merge (a
	// member id is its first identity's key), one for an unmerge.
	Identities []string `json:"identities"`
	// Tombstones are the keyed hashes (Salt.Tombstone) of a forget's
	// identity keys and username references: the command, which stays in
	// the stream, names no one.
	Tombstones  []string  `json:"tombstones,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	RequestedBy string    `json:"requested_by,omitempty"`
	At          Timestamp `json:"at"`
}

// Validate reports every problem with its field.
func (c *IdentityCommand) Validate() error {
	var errs []error
	if c.ID == "" || len(c.ID) > 256 {
		errs = append(errs, errors.New("id: required, at most 256 bytes"))
	}
	if !isToken(c.Community) {
		errs = append(errs, fmt.Errorf("community: want a token (a-z, 0-9, _ and -), got %q", c.Community))
	}
	want := 0
	switch c.Kind {
	case IdentityMerge:
		want = 2
	case IdentityUnmerge:
		want = 1
	case IdentityForget:
		if len(c.Identities) > 0 {
			errs = append(errs, errors.New("identities: a forget names no identity, only tombstones (Salt.Tombstone of each key)"))
		}
		if len(c.Tombstones) == 0 || len(c.Tombstones) > MaxTombstones {
			errs = append(errs, fmt.Errorf("tombstones: a forget takes 1..%d, got %d", MaxTombstones, len(c.Tombstones)))
		}
	default:
		errs = append(errs, fmt.Errorf("kind: want %s, %s or %s, got %q", IdentityMerge, IdentityUnmerge, IdentityForget, c.Kind))
	}
	for i, t := range c.Tombstones {
		if !isHexSHA256(t) {
			errs = append(errs, fmt.Errorf("tombstones[%d]: want 64 lowercase hex digits (Salt.Tombstone), got %q", i, t))
		}
	}
	if c.Kind != IdentityForget && len(c.Tombstones) > 0 {
		errs = append(errs, fmt.Errorf("tombstones: only a %s carries them", IdentityForget))
	}
	if want > 0 && len(c.Identities) != want {
		errs = append(errs, fmt.Errorf("identities: a %s takes %d, got %d", c.Kind, want, len(c.Identities)))
	}
	for i, id := range c.Identities {
		if src, rest, ok := strings.Cut(id, ":"); !ok || !isToken(src) || rest == "" {
			errs = append(errs, fmt.Errorf("identities[%d]: want source:source_id (e.g. github:583231), got %q", i, id))
		}
	}
	if len(c.Identities) == 2 && c.Identities[0] == c.Identities[1] {
		errs = append(errs, errors.New("identities: the same identity twice"))
	}
	if c.At.IsZero() {
		errs = append(errs, errors.New("at: required"))
	}
	return errors.Join(errs...)
}

// DecodeIdentityCommand decodes and validates a command.
func DecodeIdentityCommand(data []byte) (*IdentityCommand, error) {
	var c IdentityCommand
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("identity command: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("identity command: %w", err)
	}
	return &c, nil
}
