package store

import (
	"context"
	"fmt"
	"sort"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// ExactlyOnce is a Jepsen-style account of one community's activities
// against the ids that were published: each published id must be read
// back once, through the `activities` view (what analysts see).
type ExactlyOnce struct {
	Published  int
	Read       int      // rows in the view
	Lost       []string // published, not there (sorted, at most Examples)
	Duplicated []string // there more than once
	Unexpected []string // there, never published
	// The full counts (the slices hold examples only).
	LostN, DuplicatedN, UnexpectedN int
	// RawExtra is copies in activities_raw beyond one per id: redelivered
	// batches waiting for a merge. The view never shows them; a number
	// here is not an error.
	RawExtra int
}

// Examples bounds each list of ids an ExactlyOnce report keeps.
const Examples = 20

// OK reports whether every id was read back exactly once and nothing else.
func (r ExactlyOnce) OK() bool { return r.LostN == 0 && r.DuplicatedN == 0 && r.UnexpectedN == 0 }

func (r ExactlyOnce) String() string {
	return fmt.Sprintf("published %d, read %d: lost %d %v, duplicated %d %v, unexpected %d %v (raw copies awaiting a merge: %d)",
		r.Published, r.Read, r.LostN, r.Lost, r.DuplicatedN, r.Duplicated, r.UnexpectedN, r.Unexpected, r.RawExtra)
}

// CheckExactlyOnce reads every event id of community from the
// activities view (streamed, one row per distinct id with its copies)
// and compares them with published.
func CheckExactlyOnce(ctx context.Context, conn driver.Conn, community string, published []string) (ExactlyOnce, error) {
	r := ExactlyOnce{Published: len(published)}
	want := make(map[string]bool, len(published))
	for _, id := range published {
		want[id] = false
	}
	ctx = clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{"community": community}))
	rows, err := conn.Query(ctx, `SELECT event_id, count() FROM activities WHERE community = {community:String} GROUP BY event_id`)
	if err != nil {
		return r, fmt.Errorf("store: read back %s: %w", community, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n uint64
		if err := rows.Scan(&id, &n); err != nil {
			return r, err
		}
		r.Read += int(n)
		seen, ok := want[id]
		switch {
		case !ok:
			r.UnexpectedN++
			r.Unexpected = appendExample(r.Unexpected, id)
		case seen:
			// a published id listed twice by the caller: count once
		default:
			want[id] = true
		}
		if n > 1 {
			r.DuplicatedN++
			r.Duplicated = appendExample(r.Duplicated, id)
		}
	}
	if err := rows.Err(); err != nil {
		return r, err
	}
	for id, seen := range want {
		if !seen {
			r.LostN++
			r.Lost = append(r.Lost, id)
		}
	}
	sort.Strings(r.Lost)
	if len(r.Lost) > Examples {
		r.Lost = r.Lost[:Examples]
	}
	sort.Strings(r.Duplicated)
	sort.Strings(r.Unexpected)
	var extra int64
	if err := conn.QueryRow(ctx, `SELECT toInt64(count()) - toInt64(uniqExact(event_id)) FROM activities_raw WHERE community = {community:String}`).Scan(&extra); err != nil {
		return r, fmt.Errorf("store: raw copies of %s: %w", community, err)
	}
	r.RawExtra = int(extra)
	return r, nil
}

func appendExample(xs []string, id string) []string {
	if len(xs) < Examples {
		return append(xs, id)
	}
	return xs
}
