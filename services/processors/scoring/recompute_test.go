package scoring

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

func TestMain(m *testing.M) { kittest.Main(m) }

// loveSQL is the batch recompute of love documented in
// schemas/clickhouse/README.md, with the default constants.
func loveSQL(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../../../schemas/clickhouse/README.md")
	require.NoError(t, err)
	const start, end = "<!-- love-recompute -->\n```sql\n", "```"
	s := string(readme)
	i := strings.Index(s, start)
	require.GreaterOrEqual(t, i, 0, "the README documents the love recompute between %q and %q", start, end)
	s = s[i+len(start):]
	return s[:strings.Index(s, end)]
}

// The love the scorer keeps in the stream agrees, for every member, with an
// independent recompute in SQL from the activities table.
func TestBatchRecomputeAgreesWithTheScorer(t *testing.T) {
	ctx := context.Background()
	conn := kittest.ClickHouseConn(t)
	_, err := store.Migrate(ctx, conn, telemetry.Nop().Logger)
	require.NoError(t, err)

	acts := synthetic(50_000, 2_000)
	for i := range acts {
		acts[i].Bot = i%97 == 0 // some bot activity, excluded on both sides
	}
	// Every member has a second identity on slack (merged): a fifth of the
	// activities come from it; member_identities maps both to the member.
	s := NewScorer(DefaultConfig())
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO activities_raw (event_id, community, source, type, occurred_at, member_id, identity, weight, is_bot, received_at)")
	require.NoError(t, err)
	idents, err := conn.PrepareBatch(ctx, "INSERT INTO member_identities (community, identity, member_id, source, username, stream_seq)")
	require.NoError(t, err)
	seen := map[string]bool{}
	for i, a := range acts {
		s.Apply(a)
		at := time.UnixMilli(a.At).UTC()
		identity, source := a.Member, "github"
		if i%5 == 0 {
			identity, source = "slack:U"+strings.TrimPrefix(a.Member, "github:"), "slack"
		}
		require.NoError(t, batch.Append(fmt.Sprintf("e%d", i), "acme", source, "github.issue.opened", at, identity, identity, float32(a.Weight), a.Bot, at))
		if !seen[identity] {
			seen[identity] = true
			require.NoError(t, idents.Append("acme", identity, a.Member, source, "", uint64(i)))
		}
	}
	require.NoError(t, batch.Send())
	require.NoError(t, idents.Send())

	asOf := acts[len(acts)-1].At + 7*24*3600*1000
	qctx := ch.Context(ctx, ch.WithParameters(ch.Parameters{
		"community": "acme",
		"as_of":     time.UnixMilli(asOf).UTC().Format("2006-01-02 15:04:05.000"),
		"factor":    "0.9",
		"period_ms": fmt.Sprint((30 * 24 * time.Hour).Milliseconds()),
	}))
	rows, err := conn.Query(qctx, loveSQL(t))
	require.NoError(t, err)
	defer rows.Close()
	n := 0
	for rows.Next() {
		var member string
		var love float64
		require.NoError(t, rows.Scan(&member, &love))
		m := s.Lookup(member)
		require.NotNil(t, m, member)
		got := s.LoveAt(m, asOf)
		require.LessOrEqual(t, math.Abs(got-love), 1e-9*math.Max(1, math.Abs(love)), "member %s: stream %v, SQL %v", member, got, love)
		n++
	}
	require.NoError(t, rows.Err())
	scored := 0
	s.Each(func(_ string, m *Member) bool {
		if m.Love.Value != 0 {
			scored++
		}
		return true
	})
	require.Equal(t, scored, n, "the same members on both sides")
	require.Greater(t, n, 1000)
}
