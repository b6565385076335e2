// Package signals reads the community-qualified signals the scoring
// processor recorded (table signals, schemas/clickhouse 0025; the rules
// and their evaluation are services/processors/signals).
package signals

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/orbitflow/orbitflow/schemas/alerts"
)

// MaxRows bounds what one List returns.
const MaxRows = 10_000

// Query selects signals: one community, an optional rule, the
// activities that occurred in [From, To), at most Limit (1..10000), newest
// first.
type Query struct {
	Community string
	Rule      string // "" for every rule
	From, To  time.Time
	Limit     int
}

// List returns the community's signals with their evidence, newest first
// (the API, the CLI and the weekly report use it). Parameters are sent
// apart from the SQL.
func List(ctx context.Context, ch driver.Conn, q Query) ([]alerts.Signal, error) {
	if q.Limit <= 0 || q.Limit > MaxRows {
		q.Limit = MaxRows
	}
	where := "community = {community:String} AND occurred_at >= {from:DateTime64(3)} AND occurred_at < {to:DateTime64(3)}"
	p := clickhouse.Parameters{"community": q.Community, "from": chTime(q.From), "to": chTime(q.To),
		"limit": fmt.Sprint(q.Limit)}
	if q.Rule != "" {
		where += " AND rule = {rule:String}"
		p["rule"] = q.Rule
	}
	rows, err := ch.Query(clickhouse.Context(ctx, clickhouse.WithParameters(p)), `SELECT signal_id, rule, description, community,
		occurred_at, member_id, identity, display_name, orbit_level, orbit_step, roles, organization, event_id, source, type,
		channel, title, url, keywords, reasons, targets
		FROM signals FINAL WHERE `+where+` ORDER BY occurred_at DESC, signal_id LIMIT {limit:UInt32}`)
	if err != nil {
		return nil, fmt.Errorf("signals: %w", err)
	}
	defer rows.Close()
	out := []alerts.Signal{}
	for rows.Next() {
		s := alerts.Signal{Kind: alerts.KindSignal}
		if err := rows.Scan(&s.ID, &s.Rule, &s.Description, &s.Community, &s.At, &s.Member.ID, &s.Member.Identity,
			&s.Member.DisplayName, &s.Member.Level, &s.Member.Step, &s.Member.Roles, &s.Member.Organization,
			&s.Activity.EventID, &s.Activity.Source, &s.Activity.Type, &s.Activity.Channel, &s.Activity.Title, &s.Activity.URL,
			&s.Keywords, &s.Reasons, &s.Targets); err != nil {
			return nil, fmt.Errorf("signals: %w", err)
		}
		s.At = s.At.UTC()
		s.Activity.OccurredAt = s.At
		s.Member.LevelName = stepName(s.Member.Step)
		out = append(out, s)
	}
	return out, rows.Err()
}

func chTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000") }

// stepName is the v3 name of an orbit step, e.g. "Contributing II" (as
// scoring.StepName, which this module does not import).
func stepName(step uint8) string {
	if step == 0 || step > 12 {
		return "out of orbit"
	}
	levels := [...]string{"Exploring", "Participating", "Contributing", "Leading"}
	return levels[(step-1)/3] + " " + [...]string{"III", "II", "I"}[(step-1)%3]
}
