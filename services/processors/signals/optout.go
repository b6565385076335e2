package signals

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/orbitflow/orbitflow/schemas/alerts"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/bus"
)

// OptOutBucket is the NATS key-value bucket of the opt-outs
// (alerts.OptOutBucket). The scoring processor watches it: a change
// applies within a second or so.
const OptOutBucket = alerts.OptOutBucket

// OptOut is one member who opted out of signals in one community
// (alerts.OptOut).
type OptOut = alerts.OptOut

// ValidMember checks an opt-out's member (alerts.ValidOptOutMember).
func ValidMember(m string) error { return alerts.ValidOptOutMember(m) }

// OptOuts is the opt-out bucket.
type OptOuts struct {
	kv jetstream.KeyValue
}

// OpenOptOuts creates (or opens) the bucket, with as many replicas as the
// activity stream.
func OpenOptOuts(ctx context.Context, js jetstream.JetStream) (*OptOuts, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: OptOutBucket, History: 1,
		Description: "Orbitflow: members who opted out of signals", Storage: jetstream.FileStorage,
		Replicas: bus.StreamReplicas(ctx, js, subjects.ActivityStream)})
	if err != nil {
		return nil, fmt.Errorf("signals: opt-out bucket: %w", err)
	}
	return &OptOuts{kv: kv}, nil
}

func optKey(community, member string) string { return alerts.OptOutKey(community, member) }

// Add records o (idempotent: a second add replaces the first).
func (s *OptOuts) Add(ctx context.Context, o OptOut) error {
	if !IsName(o.Community) {
		return fmt.Errorf("community: want a community name (a-z, 0-9, _ and -), got %q", o.Community)
	}
	if err := ValidMember(o.Member); err != nil {
		return fmt.Errorf("member: %w", err)
	}
	o.Config = false
	data, err := json.Marshal(o)
	if err != nil {
		return err
	}
	if _, err := s.kv.Put(ctx, optKey(o.Community, o.Member), data); err != nil {
		return fmt.Errorf("signals: record opt-out: %w", err)
	}
	return nil
}

// ErrNotOptedOut is Remove's error for a member who had not opted out.
var ErrNotOptedOut = errors.New("not opted out")

// Remove deletes the opt-out of member in community; ErrNotOptedOut when
// there was none.
func (s *OptOuts) Remove(ctx context.Context, community, member string) error {
	key := optKey(community, member)
	if _, err := s.kv.Get(ctx, key); errors.Is(err, jetstream.ErrKeyNotFound) {
		return ErrNotOptedOut
	} else if err != nil {
		return fmt.Errorf("signals: read opt-out: %w", err)
	}
	if err := s.kv.Delete(ctx, key); err != nil {
		return fmt.Errorf("signals: remove opt-out: %w", err)
	}
	return nil
}

// List returns community's opt-outs in the bucket ("" for every
// community), sorted by community and member.
func (s *OptOuts) List(ctx context.Context, community string) ([]OptOut, error) {
	filter := ">"
	if community != "" {
		filter = community + ".>"
	}
	w, err := s.kv.Watch(ctx, filter, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("signals: list opt-outs: %w", err)
	}
	defer func() { _ = w.Stop() }()
	out := []OptOut{}
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("signals: list opt-outs: %w", ctx.Err())
		case e := <-w.Updates():
			if e == nil { // the initial values are all in
				sortOptOuts(out)
				return out, nil
			}
			if o, ok := decodeOptOut(e); ok {
				out = append(out, o)
			}
		}
	}
}

func decodeOptOut(e jetstream.KeyValueEntry) (OptOut, bool) {
	var o OptOut
	if e.Operation() != jetstream.KeyValuePut || json.Unmarshal(e.Value(), &o) != nil || o.Community == "" || o.Member == "" {
		return OptOut{}, false
	}
	return o, true
}

func sortOptOuts(out []OptOut) {
	slices.SortFunc(out, func(a, b OptOut) int {
		if c := strings.Compare(a.Community, b.Community); c != 0 {
			return c
		}
		return strings.Compare(a.Member, b.Member)
	})
}
