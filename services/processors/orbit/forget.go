package orbit

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/processors/scoring"
)

// forgetStage names the scoring processor in forget_log.
const forgetStage = "scoring"

// processorErasure is what the scoring processor erases for a forgotten
// member ({keys}: its member ids, identity keys and username references):
// every row it wrote that names the member. Community figures (gravity,
// level movement) keep their counts.
var processorErasure = []string{
	`ALTER TABLE members_raw DELETE WHERE community = {c:String}
		AND (member_id IN (SELECT key FROM {keys}) OR merged_into IN (SELECT key FROM {keys}))`,
	`ALTER TABLE member_edges_raw DELETE WHERE community = {c:String}
		AND (member_a IN (SELECT key FROM {keys}) OR member_b IN (SELECT key FROM {keys}))`,
	`ALTER TABLE level_changes DELETE WHERE community = {c:String} AND member_id IN (SELECT key FROM {keys})`,
	`ALTER TABLE role_changes DELETE WHERE community = {c:String} AND member_id IN (SELECT key FROM {keys})`,
	`ALTER TABLE member_graph DELETE WHERE community = {c:String} AND member_id IN (SELECT key FROM {keys})`,
	`ALTER TABLE member_identities DELETE WHERE community = {c:String}
		AND (identity IN (SELECT key FROM {keys}) OR member_id IN (SELECT key FROM {keys}))`,
	`ALTER TABLE identity_changes DELETE WHERE community = {c:String}
		AND (hasAny(members, (SELECT groupArray(key) FROM {keys})) OR hasAny(identities, (SELECT groupArray(key) FROM {keys})))`,
	`ALTER TABLE merge_suggestions DELETE WHERE community = {c:String}
		AND (member_a IN (SELECT key FROM {keys}) OR member_b IN (SELECT key FROM {keys}))`,
	`ALTER TABLE signals DELETE WHERE community = {c:String}
		AND (member_id IN (SELECT key FROM {keys}) OR identity IN (SELECT key FROM {keys}))`,
}

// forget applies a forget command in stream order: it finds the members
// of the identities whose tombstones the command carries, drops them from
// the state (scores, edges, identities, names, segments, suggestions) and
// from the rows waiting to be written, keeps the tombstones of every key
// and username reference of theirs (so later events of them are dropped,
// and the checkpoint keeps them), then erases their rows. The erasure is
// retried until it succeeds; an error means shutdown came first (the next
// start replays the command from the last checkpoint).
func (p *Processor) forget(ctx context.Context, cmd *events.IdentityCommand, seq uint64) error {
	name := cmd.Community
	c := p.communities[name]
	if c == nil {
		c = newCommunity(p.sc, p.cfg.Partitions)
		p.communities[name] = c
	}
	want := map[string]bool{}
	for _, ts := range cmd.Tombstones {
		want[ts] = true
		c.forgotten[ts] = struct{}{}
	}
	var members []string
	for _, k := range c.ids.Keys() {
		if want[p.deps.Salt.Tombstone(name, k)] {
			if m := c.ids.MemberOf(k); !slices.Contains(members, m) {
				members = append(members, m)
			}
		}
	}
	if c.pending {
		p.drain(name, c)
	}
	keys := map[string]bool{}
	for _, m := range members {
		keys[m] = true
		for _, k := range c.ids.Identities(m) {
			keys[k] = true
		}
		for _, r := range c.ids.Forget(m) {
			keys[r] = true
		}
	}
	tombstones := slices.Clone(cmd.Tombstones)
	for k := range keys {
		ts := p.deps.Salt.Tombstone(name, k)
		c.forgotten[ts] = struct{}{}
		if !want[ts] {
			tombstones = append(tombstones, ts)
		}
	}
	p.dropOutputs(name, keys)
	c.scorer.Erase(members, c.scorer.Newest(), seq)
	c.pending = true
	p.drain(name, c) // the neighbours' reach, without the member's edges
	for _, m := range members {
		delete(c.names, m)
		for k := range c.suggested {
			if keys[k[0]] || keys[k[1]] {
				delete(c.suggested, k)
			}
		}
	}
	for _, byKind := range c.segments {
		for _, st := range byKind {
			for k := range keys {
				delete(st.Members, k)
			}
		}
	}
	c.suggest = true
	backoff := 200 * time.Millisecond
	for {
		err := p.eraseRows(ctx, cmd, slices.Sorted(maps.Keys(keys)), len(members), tombstones)
		if err == nil || ctx.Err() != nil {
			if err == nil {
				p.log.Info("forgot members", "community", name, "command", cmd.ID, "members", len(members), "seq", seq)
			}
			return err
		}
		p.log.Warn("erasing a forgotten member's rows failed; retrying", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// dropOutputs removes every pending row that names one of keys (member
// ids, identity keys, username references) of community.
func (p *Processor) dropOutputs(name string, keys map[string]bool) {
	o := &p.out
	maps.DeleteFunc(o.members, func(k memberKey, _ struct{}) bool { return k.community == name && keys[k.member] })
	maps.DeleteFunc(o.idents, func(k memberKey, _ struct{}) bool { return k.community == name && keys[k.member] })
	maps.DeleteFunc(o.edges, func(k edgeKey, _ struct{}) bool { return k.community == name && (keys[k.a] || keys[k.b]) })
	o.levels = slices.DeleteFunc(o.levels, func(r levelRow) bool { return r.community == name && keys[r.change.Member] })
	o.roles = slices.DeleteFunc(o.roles, func(r roleRow) bool { return r.community == name && keys[r.change.Member] })
	o.identities = slices.DeleteFunc(o.identities, func(r identityRow) bool {
		return r.community == name && (slices.ContainsFunc(r.change.Members, func(m string) bool { return keys[m] }) ||
			slices.ContainsFunc(r.identities, func(m string) bool { return keys[m] }))
	})
	o.signals = slices.DeleteFunc(o.signals, func(r signalRow) bool {
		return r.sig.Community == name && (keys[r.sig.Member.ID] || keys[r.sig.Member.Identity])
	})
	o.suggestions = slices.DeleteFunc(o.suggestions, func(r suggestionRow) bool {
		return r.community == name && (keys[r.s.A] || keys[r.s.B])
	})
	for i := range o.graph {
		if o.graph[i].community == name {
			o.graph[i].measures = slices.DeleteFunc(o.graph[i].measures, func(m scoring.GraphMeasure) bool { return keys[m.Member] })
		}
	}
}

// eraseRows erases the processor's rows of keys, reloads the dictionaries
// that map identities to members, and records the tombstones and the
// erasure. Idempotent.
func (p *Processor) eraseRows(ctx context.Context, cmd *events.IdentityCommand, keys []string, members int, tombstones []string) error {
	ctx = clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{"c": cmd.Community}))
	if len(keys) > 0 {
		e, err := store.NewErasure(ctx, p.deps.CH, cmd.Community, keys)
		if err != nil {
			return fmt.Errorf("forget: %w", err)
		}
		defer func() { _ = e.Close(context.WithoutCancel(ctx)) }()
		for _, q := range processorErasure {
			if err := e.Mutate(ctx, q); err != nil {
				return fmt.Errorf("forget: %w", err)
			}
		}
		// The health views map identities through these; without a reload
		// they would name the member for up to ten seconds more.
		for _, d := range []string{"member_identity_dict", "identity_member_dict"} {
			if err := p.deps.CH.Exec(ctx, "SYSTEM RELOAD DICTIONARY "+d); err != nil {
				return fmt.Errorf("forget: reload %s: %w", d, err)
			}
		}
	}
	now := time.Now().UTC()
	rows := make([][]any, 0, len(tombstones))
	for _, ts := range tombstones {
		rows = append(rows, []any{cmd.Community, ts, cmd.ID, now})
	}
	if err := store.Insert(ctx, p.deps.CH, "forgotten_identities", "community, tombstone, command_id, forgotten_at", rows); err != nil {
		return fmt.Errorf("forget: %w", err)
	}
	return store.Insert(ctx, p.deps.CH, "forget_log", "community, command_id, stage, members, identities, activities, applied_at",
		[][]any{{cmd.Community, cmd.ID, forgetStage, uint32(members), uint32(len(keys)), uint64(0), now}})
}

// isForgotten reports whether key (an identity key or username
// reference) of community c was forgotten.
func (p *Processor) isForgotten(name string, c *community, key string) bool {
	if len(c.forgotten) == 0 {
		return false
	}
	_, ok := c.forgotten[p.deps.Salt.Tombstone(name, key)]
	return ok
}
