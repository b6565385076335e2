package orbit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/processors/identity"
	"github.com/orbitflow/orbitflow/services/processors/scoring"
)

// identityRow is one identity_changes row.
type identityRow struct {
	community   string
	at          int64
	change      identity.Change
	identities  []string
	requestedBy string
	seq         uint64
}

// applyCommand applies an identity command from the stream: a merge or an
// unmerge, then the rebuild of the members it affects. A command that is
// not valid, or that names an identity never seen, changes nothing: it is
// logged (the CLI validates before publishing).
func (p *Processor) applyCommand(ctx context.Context, data []byte, seq uint64) error {
	cmd, err := events.DecodeIdentityCommand(data)
	if err != nil {
		p.log.Warn("ignoring an identity command", "seq", seq, "err", err)
		return nil
	}
	if cmd.Kind == events.IdentityForget {
		return p.forget(ctx, cmd, seq)
	}
	c := p.communities[cmd.Community]
	if c == nil {
		p.log.Warn("ignoring an identity command: the community has no activities yet", "seq", seq, "community", cmd.Community)
		return nil
	}
	var ch *identity.Change
	switch cmd.Kind {
	case events.IdentityMerge:
		a, okA := identity.ParseKey(cmd.Identities[0])
		b, okB := identity.ParseKey(cmd.Identities[1])
		if !okA || !okB || c.ids.MemberOf(a.Key()) == "" || c.ids.MemberOf(b.Key()) == "" {
			p.log.Warn("ignoring a merge: an identity was never seen", "seq", seq, "identities", cmd.Identities)
			return nil
		}
		ch = c.ids.Link(a, b)
	case events.IdentityUnmerge:
		if ch, err = c.ids.Unmerge(cmd.Identities[0]); err != nil {
			p.log.Warn("ignoring an unmerge", "seq", seq, "err", err)
			return nil
		}
	}
	if ch == nil {
		return nil // already one member
	}
	if cmd.Reason != "" {
		ch.Reason += ": " + cmd.Reason
	}
	return p.rebuild(ctx, cmd.Community, c, ch, cmd.Identities, cmd.RequestedBy, seq)
}

// rebuild forgets and rebuilds the members of an identity change from
// their activities in ClickHouse (those before seq: it waits until the
// sink has written them).
func (p *Processor) rebuild(ctx context.Context, name string, c *community, ch *identity.Change, ids []string, by string, seq uint64) error {
	backoff := 200 * time.Millisecond
	for {
		err := p.tryRebuild(ctx, name, c, ch, ids, by, seq)
		if err == nil || ctx.Err() != nil {
			return err
		}
		p.log.Warn("rebuilding members failed; retrying", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

func (p *Processor) tryRebuild(ctx context.Context, name string, c *community, ch *identity.Change, ids []string, by string, seq uint64) error {
	if c.pending {
		p.drain(name, c)
	}
	r := scoring.Rebuild{Forget: ch.Members, Members: ch.Members, Now: c.scorer.Newest(), Seq: seq,
		Detail: fmt.Sprintf("%s of %s (%s)", ch.Kind, strings.Join(ch.Members, ", "), ch.Reason)}
	if ch.Kind == "merge" {
		r.Members = ch.Members[:1]
	}
	if err := p.waitForSink(ctx, p.lastActivitySeq); err != nil {
		return err
	}
	var refs []string
	for _, m := range r.Members {
		refs = append(refs, c.ids.Refs(m)...)
	}
	threads, err := p.rebuildActivities(ctx, name, c, &r, refs, seq)
	if err != nil {
		return err
	}
	if err := p.rebuildTies(ctx, name, c, &r, threads, seq); err != nil {
		return err
	}
	c.scorer.Rebuild(r)
	c.pending = true
	p.drain(name, c)
	for _, m := range ch.Members {
		p.out.member(name, m)
		for _, id := range c.ids.Identities(m) {
			p.out.idents[memberKey{name, id}] = struct{}{}
		}
	}
	p.out.identities = append(p.out.identities, identityRow{name, c.scorer.Newest(), *ch, ids, by, seq})
	c.suggest = true
	p.log.Debug("identity change applied", "community", name, "kind", ch.Kind, "members", ch.Members,
		"activities", len(r.Activities), "seq", seq)
	return nil
}

// rebuildActivities reads every activity by or at the rebuilt members
// before seq, in stream order, and returns the threads of their own.
func (p *Processor) rebuildActivities(ctx context.Context, name string, c *community, r *scoring.Rebuild, refs []string, seq uint64) ([]string, error) {
	rows, err := p.deps.CH.Query(ctx, `SELECT identity, type, toUnixTimestamp64Milli(occurred_at), target_member_ids, target_kinds,
		thread_id, is_bot, attributes['teammate'] = 'true', source, channel, stream_seq
		FROM activities_raw FINAL WHERE community = ? AND stream_seq < ? AND (identity IN ? OR hasAny(target_member_ids, ?))
		ORDER BY stream_seq`, name, seq, refs, refs)
	if err != nil {
		return nil, fmt.Errorf("rebuild: read activities: %w", err)
	}
	defer rows.Close()
	own := map[string]bool{}
	for _, m := range r.Members {
		own[m] = true
	}
	threads := map[string]bool{}
	for rows.Next() {
		var (
			actor, typ, thread, source, channel string
			at                                  int64
			targets, kinds                      []string
			bot, teammate                       bool
			s                                   uint64
		)
		if err := rows.Scan(&actor, &typ, &at, &targets, &kinds, &thread, &bot, &teammate, &source, &channel, &s); err != nil {
			return nil, fmt.Errorf("rebuild: read activities: %w", err)
		}
		weight, ok := p.deps.Registry.Weight(typ)
		if !ok {
			continue // not scored in the stream either
		}
		member := resolveKey(c.ids, actor)
		a := scoring.Activity{Member: member, At: at, Type: typ, Weight: weight, Bot: bot, Teammate: teammate,
			Source: source, Channel: channel, Seq: s}
		for i, t := range targets {
			a.Targets = append(a.Targets, scoring.Target{Member: resolveKey(c.ids, t), Kind: kinds[i]})
		}
		if own[member] && thread != "" {
			threads[thread] = true
		}
		r.Activities = append(r.Activities, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("rebuild: read activities: %w", err)
	}
	return slices.Sorted(func(yield func(string) bool) {
		for t := range threads {
			if !yield(t) {
				return
			}
		}
	}), nil
}

// rebuildTies reads who was active in the rebuilt members' threads and
// returns the same-day ties, as the stream makes them: participants in
// the order they first came that day, at most max_thread_participants, a
// tie at the later one's first time. One difference: the stream ties no
// activity that arrives after its thread-day has passed (more than a day
// behind the newest), and the rebuild does not know what arrived late,
// so for such activities it may find ties the stream did not make.
func (p *Processor) rebuildTies(ctx context.Context, name string, c *community, r *scoring.Rebuild, threads []string, seq uint64) error {
	if len(threads) == 0 || p.sc.Reach.Indirect == 0 {
		return nil
	}
	rows, err := p.deps.CH.Query(ctx, `SELECT thread_id, toDate(occurred_at) AS day, identity, min(stream_seq) AS first,
		argMin(toUnixTimestamp64Milli(occurred_at), stream_seq), max(is_bot)
		FROM activities_raw FINAL WHERE community = ? AND stream_seq < ? AND thread_id IN ?
		GROUP BY thread_id, day, identity ORDER BY thread_id, day, first`, name, seq, threads)
	if err != nil {
		return fmt.Errorf("rebuild: read threads: %w", err)
	}
	defer rows.Close()
	type part struct {
		member string
		at     int64
	}
	var key string
	var parts []part
	recent := int32(c.scorer.Newest()/(24*3600*1000)) - 1 // the days the stream still ties
	keep := func(thread string, day time.Time) {
		if d := int32(day.Unix() / (24 * 3600)); d >= recent && len(parts) > 0 {
			td := scoring.ThreadDay{Thread: thread, Day: d}
			for _, x := range parts {
				td.Members = append(td.Members, x.member)
			}
			r.Threads = append(r.Threads, td)
		}
	}
	var prevThread string
	var prevDay time.Time
	own := map[string]bool{}
	for _, m := range r.Members {
		own[m] = true
	}
	for rows.Next() {
		var thread, actor string
		var day time.Time
		var first uint64
		var at int64
		var bot bool
		if err := rows.Scan(&thread, &day, &actor, &first, &at, &bot); err != nil {
			return fmt.Errorf("rebuild: read threads: %w", err)
		}
		if k := thread + "/" + day.Format(time.DateOnly); k != key {
			keep(prevThread, prevDay)
			key, parts, prevThread, prevDay = k, parts[:0], thread, day
		}
		if bot && !p.sc.Members.ScoreBots {
			continue
		}
		m := resolveKey(c.ids, actor)
		if slices.ContainsFunc(parts, func(x part) bool { return x.member == m }) || len(parts) >= p.sc.Reach.MaxThreadParticipants {
			continue
		}
		for _, x := range parts {
			if own[m] || own[x.member] {
				r.Indirect = append(r.Indirect, scoring.IndirectTie{A: x.member, B: m, At: at})
			}
		}
		parts = append(parts, part{m, at})
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("rebuild: read threads: %w", err)
	}
	keep(prevThread, prevDay)
	return nil
}

// resolveKey returns the current member of an identity key (or username
// reference) as written in activities.
func resolveKey(ids *identity.Resolver, key string) string {
	id, ok := identity.ParseKey(key)
	if !ok {
		return key
	}
	return ids.Resolve(id.Source, id.SourceID)
}

// waitForSink blocks until the sink has written every activity up to seq
// (its ack floor), so a rebuild reads them all.
func (p *Processor) waitForSink(ctx context.Context, seq uint64) error {
	if seq == 0 {
		return nil
	}
	lastLog := time.Now()
	for {
		cons, err := p.deps.JS.Consumer(ctx, subjects.ActivityStream, subjects.SinkActivities)
		if err == nil {
			var info *jetstream.ConsumerInfo
			if info, err = cons.Info(ctx); err == nil && info.AckFloor.Stream >= seq {
				return nil
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("rebuild: waiting for the sink: %w", ctx.Err())
		}
		if time.Since(lastLog) > 10*time.Second {
			if errors.Is(err, jetstream.ErrConsumerNotFound) {
				err = fmt.Errorf("the sink's consumer %s does not exist: run the sink", subjects.SinkActivities)
			}
			p.log.Warn("an identity change waits for the sink to write the activities it rebuilds from", "seq", seq, "err", err)
			lastLog = time.Now()
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// suggestAll writes the merge suggestions of communities whose identities
// changed: new pairs as active, pairs no longer suggested as inactive.
func (p *Processor) suggestAll() {
	for name, c := range p.communities {
		if !c.suggest {
			continue
		}
		now := map[[2]string]bool{}
		for _, s := range c.ids.Suggestions() {
			k := [2]string{s.A, s.B}
			now[k] = true
			p.out.suggestions = append(p.out.suggestions, suggestionRow{name, s, true, c.scorer.Newest(), p.seq})
		}
		for k := range c.suggested {
			if !now[k] {
				p.out.suggestions = append(p.out.suggestions, suggestionRow{name, identity.Suggestion{A: k[0], B: k[1]}, false, c.scorer.Newest(), p.seq})
			}
		}
		c.suggested, c.suggest = now, false
	}
}

type suggestionRow struct {
	community string
	s         identity.Suggestion
	active    bool
	at        int64
	seq       uint64
}

func (p *Processor) flushIdentities(ctx context.Context) error {
	rows := make([][]any, 0, len(p.out.identities))
	for _, r := range p.out.identities {
		rows = append(rows, []any{r.community, ms(r.at), r.change.Kind, r.change.Members, r.identities, r.change.Reason, r.requestedBy, r.seq})
	}
	if err := p.insert(ctx, "identity_changes", "community, changed_at, kind, members, identities, reason, requested_by, stream_seq", rows); err != nil {
		return err
	}
	rows = rows[:0]
	for _, r := range p.out.suggestions {
		rows = append(rows, []any{r.community, r.s.A, r.s.B, r.s.Evidence, r.s.Confidence, r.active, ms(r.at), r.seq})
	}
	return p.insert(ctx, "merge_suggestions", "community, member_a, member_b, evidence, confidence, active, suggested_at, stream_seq", rows)
}

// flushMemberIdentities writes the member of each identity that was first
// seen or moved since the last flush.
func (p *Processor) flushMemberIdentities(ctx context.Context) error {
	rows := make([][]any, 0, len(p.out.idents))
	for k := range p.out.idents {
		c := p.communities[k.community]
		id, _ := identity.ParseKey(k.member)
		rows = append(rows, []any{k.community, k.member, c.ids.MemberOf(k.member), id.Source, c.ids.Username(k.member), p.out.seq})
	}
	return p.insert(ctx, "member_identities", "community, identity, member_id, source, username, stream_seq", rows)
}
