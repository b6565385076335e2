package kittest_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/kit/kittest"
)

func TestMain(m *testing.M) { kittest.Main(m) }

func databaseExists(t *testing.T, name string) bool {
	t.Helper()
	out, err := kittest.Engine(t).Query(context.Background(), "SELECT count() FROM system.databases WHERE name = '"+name+"'", "TSV")
	require.NoError(t, err)
	return string(out) == "1\n"
}

func TestClickHouseGivesEachTestItsOwnDatabase(t *testing.T) {
	var first, second string
	t.Run("first/with odd chars=1", func(t *testing.T) {
		addr, db := kittest.ClickHouse(t)
		require.NotEmpty(t, addr)
		require.Regexp(t, `^[A-Za-z_][A-Za-z0-9_]{0,63}$`, db)
		require.True(t, databaseExists(t, db))
		first = db
	})
	t.Run("second", func(t *testing.T) {
		conn := kittest.ClickHouseConn(t)
		var db string
		require.NoError(t, conn.QueryRow(context.Background(), "SELECT currentDatabase()").Scan(&db))
		require.True(t, databaseExists(t, db))
		second = db
	})
	require.NotEqual(t, first, second)
	require.False(t, databaseExists(t, first), "dropped when the test ended")
	require.False(t, databaseExists(t, second), "dropped when the test ended")
}

func TestClickHouseAnswersCurl(t *testing.T) {
	addr, _ := kittest.ClickHouse(t)
	resp, err := http.Get("http://" + addr + "/ping")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}
