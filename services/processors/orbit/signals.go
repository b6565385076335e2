package orbit

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orbitflow/orbitflow/schemas/alerts"
	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/processors/signals"
)

// Signals, exactly once per rule and activity:
//
//   - The rules are evaluated right after an activity is queued to the
//     scorer (Lookup settles it), so the member's level and roles are those
//     of that moment, the same on every replay; only the owner of the
//     community's shard evaluates it.
//   - A signal's id derives from the community, the rule and the event id.
//   - At a flush, signals already in the signals table (a replay) are
//     neither delivered nor written again. The others are queued for their
//     targets on the ALERTS stream with the delivery id as message id, then
//     written: a crash between the two queues them again on replay, and the
//     stream drops the copies (its duplicate window is two hours).
//   - A signal on an activity older than SignalDeliverWithin when evaluated
//     (a backfill, a replay from the start) is recorded, not delivered.

// SignalDeliverWithin is the oldest an activity may be, when its signal
// is found, for the signal to be delivered.
const SignalDeliverWithin = 24 * time.Hour

// signalRow is a signal waiting for the next flush.
type signalRow struct {
	sig     alerts.Signal
	deliver bool
	seq     uint64
}

// evaluateSignals runs community's signal rules on ev, just queued to the
// scorer for member.
func (p *Processor) evaluateSignals(c *community, member string, ev *events.Event, seq uint64) {
	rules := p.deps.Signals.Rules().For(ev.Community)
	if len(rules) == 0 {
		return
	}
	a := signals.Activity{EventID: ev.ID, Community: ev.Community, Source: ev.Source, Type: ev.Type, Channel: ev.Channel,
		Title: ev.Title, URL: ev.URL, Organization: ev.Attributes["organization"], OccurredAt: ev.OccurredAt.Time,
		Bot: ev.Actor.IsBot, Teammate: ev.Attributes["teammate"] == "true"}
	var m *signals.Member
	for _, r := range rules {
		kw, ok := r.MatchActivity(a)
		if !ok {
			continue
		}
		if m == nil {
			keys := append([]string{member, ev.Actor.Identity()}, c.ids.Identities(member)...)
			if p.deps.Signals.OptedOut(ev.Community, keys...) {
				p.met.signalsOptedOut.Add(context.Background(), 1)
				return
			}
			sm := c.scorer.Lookup(member) // settles the queue: the state right after ev
			if sm == nil {
				return
			}
			m = &signals.Member{ID: member, Identity: ev.Actor.Identity(), DisplayName: c.names[member], Step: sm.Step,
				Roles: c.scorer.Roles(member), Bot: sm.Bot, Teammate: sm.Teammate}
		}
		if !r.MatchMember(*m, a.Organization) {
			continue
		}
		s := r.Signal(a, *m, kw)
		s.URL = p.deps.Signals.MemberURL(ev.Community, member)
		deliver := len(s.Targets) > 0 && p.now().Sub(a.OccurredAt) <= SignalDeliverWithin
		p.out.signals = append(p.out.signals, signalRow{sig: s, deliver: deliver, seq: seq})
	}
}

func (p *Processor) now() time.Time {
	if p.clock != nil {
		return p.clock()
	}
	return time.Now()
}

// flushSignals delivers and collects the pending signals not yet in the
// signals table. It publishes before the rows are written (see above).
func (p *Processor) flushSignals(ctx context.Context) error {
	pending := p.out.signals
	if len(pending) == 0 {
		return nil
	}
	known, err := p.knownSignals(ctx, pending)
	if err != nil {
		return err
	}
	detected := p.now().UTC()
	var rows [][]any
	for _, r := range pending {
		s := r.sig
		if known[s.ID] {
			continue
		}
		if r.deliver {
			for _, t := range s.Targets {
				if err := p.publishSignal(ctx, s, t); err != nil {
					return err
				}
			}
			p.met.signalsDelivered.Add(ctx, 1)
		}
		rows = append(rows, []any{s.Community, s.ID, s.Rule, s.Description, s.Activity.EventID, s.At, s.Member.ID, s.Member.Identity,
			s.Member.DisplayName, s.Member.Level, s.Member.Step, s.Member.Roles, s.Member.Organization, s.Activity.Source,
			s.Activity.Type, s.Activity.Channel, s.Activity.Title, s.Activity.URL, nonNil(s.Keywords), s.Reasons, nonNil(s.Targets),
			r.deliver, r.seq, detected})
	}
	return p.insert(ctx, "signals", `community, signal_id, rule, description, event_id, occurred_at, member_id, identity,
		display_name, orbit_level, orbit_step, roles, organization, source, type, channel, title, url, keywords, reasons, targets,
		delivered, stream_seq, detected_at`, rows)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// knownSignals returns which of the pending signals the table holds.
func (p *Processor) knownSignals(ctx context.Context, rows []signalRow) (map[string]bool, error) {
	ids := make([]string, 0, len(rows))
	communities := []string{}
	for _, r := range rows {
		ids = append(ids, r.sig.ID)
		if !slices.Contains(communities, r.sig.Community) {
			communities = append(communities, r.sig.Community)
		}
	}
	ctx = clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{
		"ids": arrayParam(ids), "communities": arrayParam(communities)}))
	res, err := p.deps.CH.Query(ctx, `SELECT DISTINCT signal_id FROM signals
		WHERE community IN {communities:Array(String)} AND signal_id IN {ids:Array(String)}`)
	if err != nil {
		return nil, fmt.Errorf("signals: look up recorded signals: %w", err)
	}
	defer res.Close()
	known := map[string]bool{}
	for res.Next() {
		var id string
		if err := res.Scan(&id); err != nil {
			return nil, fmt.Errorf("signals: look up recorded signals: %w", err)
		}
		known[id] = true
	}
	return known, res.Err()
}

// arrayParam is an Array(String) query parameter's value.
func arrayParam(xs []string) string {
	q := make([]string, len(xs))
	esc := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	for i, x := range xs {
		q[i] = "'" + esc.Replace(x) + "'"
	}
	return "[" + strings.Join(q, ",") + "]"
}

// publishSignal queues s for target on the ALERTS stream and waits for the
// stream to have it; the message id (the delivery id) makes a second
// publish a no-op.
func (p *Processor) publishSignal(ctx context.Context, s alerts.Signal, target string) error {
	d := alerts.Delivery{ID: s.ID + "/" + target, Target: target, Kind: alerts.KindSignal, Signal: &s}
	data, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("signals: encode delivery: %w", err)
	}
	if _, err := p.deps.JS.Publish(ctx, subjects.AlertDelivery(target), data, jetstream.WithMsgID(d.ID)); err != nil {
		return fmt.Errorf("signals: queue delivery %s: %w", d.ID, err)
	}
	return nil
}
