package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

func TestCheckExactlyOnceReportsLostDuplicatedAndUnexpected(t *testing.T) {
	ctx := context.Background()
	ch := kittest.ClickHouseConn(t)
	_, err := store.Migrate(ctx, ch, telemetry.Nop().Logger)
	require.NoError(t, err)
	b, err := ch.PrepareBatch(ctx, "INSERT INTO activities_raw (event_id, community, source, type, occurred_at, identity)")
	require.NoError(t, err)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, r := range []struct {
		id string
		at time.Time
	}{{"a", at}, {"b", at}, {"b", at}, {"c", at}, {"c", at.AddDate(0, 1, 0)}, {"x", at}} {
		// b twice in one block (collapsed as the part is written), c in
		// two months (two parts): the view (FINAL) shows each once; the
		// raw table keeps c's extra copy until a merge.
		require.NoError(t, b.Append(r.id, "k", "github", "custom.x", r.at, "github:1"))
	}
	require.NoError(t, b.Send())

	r, err := store.CheckExactlyOnce(ctx, ch, "k", []string{"a", "b", "c", "d"})
	require.NoError(t, err)
	require.False(t, r.OK())
	require.Equal(t, []string{"d"}, r.Lost)
	require.Empty(t, r.Duplicated)
	require.Equal(t, []string{"x"}, r.Unexpected)
	require.Equal(t, 4, r.Read)
	require.Equal(t, 1, r.RawExtra)
	require.Contains(t, r.String(), "lost 1 [d]")

	r, err = store.CheckExactlyOnce(ctx, ch, "k", []string{"a", "b", "c", "x"})
	require.NoError(t, err)
	require.True(t, r.OK(), r.String())
}
