package chhttp_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store/chhttp"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// The handshake answer depends on clickhouse-go's internals (it decodes
// the hello at its own revision, later answers at the one we report): this
// pins the client version the contract was verified with.
func TestHandshakeContractPinsClientVersion(t *testing.T) {
	version := fmt.Sprintf("%d.%d.%d", clickhouse.ClientVersionMajor, clickhouse.ClientVersionMinor, clickhouse.ClientVersionPatch)
	require.Equal(t, "2.50.0", version, "clickhouse-go changed: re-verify the handshake (revision 0) and Native decoding, then update this pin")

	addr, _ := kittest.ClickHouse(t)
	status, hdr, body := httpDo(t, "POST", "http://"+addr+"/?client_protocol_version=54460&default_format=Native",
		strings.NewReader("SELECT displayName(), version(), revision(), timezone()"), nil)
	require.Equal(t, 200, status)
	require.Equal(t, "Native", hdr.Get("X-ClickHouse-Format"))
	require.Equal(t, fmt.Sprint(len(body)), hdr.Get("Content-Length"))
	// The revision() column is a UInt32 zero right after its name, type and
	// the no-custom-serialization byte.
	i := strings.Index(body, "\x0arevision()\x06UInt32\x00")
	require.GreaterOrEqual(t, i, 0, "%q", body)
	rev := binary.LittleEndian.Uint32([]byte(body[i+len("\x0arevision()\x06UInt32\x00"):]))
	require.Zero(t, rev, "revision 0: later Native answers decode as the engine writes them")

	c, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, Protocol: clickhouse.HTTP})
	require.NoError(t, err)
	defer c.Close()
	v, err := c.ServerVersion()
	require.NoError(t, err)
	require.Zero(t, v.Revision)
	require.Equal(t, "UTC", v.Timezone.String())
}

func TestBinaryDataThroughClickHouseGo(t *testing.T) {
	c := kittest.ClickHouseConn(t)
	ctx := context.Background()
	require.NoError(t, c.Exec(ctx, "CREATE TABLE bin (id UInt32, b String, arr Array(String)) ENGINE = MergeTree ORDER BY id"))
	payloads := []string{"\n\nleading blank lines", "   leading spaces", "\t\ttabs", "mid\n\ndle", "\x00\xff\n\n\r\n", "", "FORMAT RowBinary\n\n"}
	batch, err := c.PrepareBatch(ctx, "INSERT INTO bin")
	require.NoError(t, err)
	defer batch.Close()
	for i, p := range payloads {
		require.NoError(t, batch.Append(uint32(i), p, []string{p, "\n\n"}))
	}
	require.NoError(t, batch.Send())
	rows, err := c.Query(ctx, "SELECT b, arr FROM bin ORDER BY id")
	require.NoError(t, err)
	var got []string
	for rows.Next() {
		var b string
		var arr []string
		require.NoError(t, rows.Scan(&b, &arr))
		require.Equal(t, []string{b, "\n\n"}, arr)
		got = append(got, b)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, payloads, got, "every row arrived byte-exact")
}

func TestCurlFormatsAndConcatenation(t *testing.T) {
	addr, db := kittest.ClickHouse(t)
	base := "http://" + addr + "/?database=" + db

	status, hdr, body := httpDo(t, "GET", base+"&query="+url.QueryEscape("SELECT 1 AS one, 'a' AS s FORMAT JSON"), nil, nil)
	require.Equal(t, 200, status, body)
	require.Equal(t, "JSON", hdr.Get("X-ClickHouse-Format"))
	require.Contains(t, hdr.Get("Content-Type"), "application/json")
	var doc struct {
		Data []map[string]any `json:"data"`
		Rows int              `json:"rows"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &doc), body)
	require.Equal(t, 1, doc.Rows)
	require.Equal(t, "a", doc.Data[0]["s"])

	// default_format applies when the query has no FORMAT clause.
	status, _, body = httpDo(t, "GET", base+"&default_format=CSV&query="+url.QueryEscape("SELECT 'x', 2"), nil, nil)
	require.Equal(t, 200, status)
	require.Equal(t, "\"x\",2\n", body)

	// The query parameter and the body make one text.
	status, _, body = httpDo(t, "POST", base+"&query="+url.QueryEscape("SELECT number FROM numbers(5)"), strings.NewReader("WHERE number > 2"), nil)
	require.Equal(t, 200, status, body)
	require.Equal(t, "3\n4\n", body)

	// A bare count is a bare number; an empty result is an empty body.
	require.Equal(t, 200, mustPost(t, base, "CREATE TABLE t (x UInt64) ENGINE = MergeTree ORDER BY x"))
	status, hdr, body = httpDo(t, "GET", base+"&query="+url.QueryEscape("SELECT * FROM t"), nil, nil)
	require.Equal(t, 200, status)
	require.Equal(t, "", body)
	require.Equal(t, "0", hdr.Get("Content-Length"))

	// Insert data may start in the query parameter and continue in the body.
	status, hdr, body = httpDo(t, "POST", base+"&query="+url.QueryEscape("INSERT INTO t FORMAT TSV\n1\n2\n"), strings.NewReader("3\n4\n"), nil)
	require.Equal(t, 200, status, body)
	require.Contains(t, hdr.Get("X-ClickHouse-Summary"), `"written_rows":"4"`)
	// … or the statement is in the query parameter, its data clause in the body.
	status, _, body = httpDo(t, "POST", base+"&query="+url.QueryEscape("INSERT INTO t"), strings.NewReader("FORMAT TSV\n5\n"), nil)
	require.Equal(t, 200, status, body)
	status, _, body = httpDo(t, "GET", base+"&query="+url.QueryEscape("SELECT count() FROM t"), nil, nil)
	require.Equal(t, 200, status)
	require.Equal(t, "5\n", body)

	// GET / is a health check; other paths are not handled.
	status, _, body = httpDo(t, "GET", "http://"+addr+"/", nil, nil)
	require.Equal(t, 200, status)
	require.Equal(t, "Ok.\n", body)
	status, _, _ = httpDo(t, "GET", "http://"+addr+"/nope", nil, nil)
	require.Equal(t, 404, status)

	// Errors: 404 for an unknown database, 400 for several statements.
	status, hdr, _ = httpDo(t, "GET", "http://"+addr+"/?database=no_such_db_x&query=SELECT+1", nil, nil)
	require.Equal(t, 404, status)
	require.Equal(t, "81", hdr.Get("X-ClickHouse-Exception-Code"))
	require.Equal(t, "UNKNOWN_DATABASE", hdr.Get("X-ClickHouse-Exception-Name"))
	status, hdr, body = httpDo(t, "POST", base, strings.NewReader("SELECT 1; SELECT 2"), nil)
	require.Equal(t, 400, status, body)
	require.Equal(t, "62", hdr.Get("X-ClickHouse-Exception-Code"))
}

func mustPost(t *testing.T, u, sql string) int {
	t.Helper()
	status, _, body := httpDo(t, "POST", u, strings.NewReader(sql), nil)
	require.Equal(t, 200, status, body)
	return status
}

func TestSessionStateDoesNotLeakBetweenRequests(t *testing.T) {
	addr, db := kittest.ClickHouse(t)
	base := "http://" + addr + "/?"
	// A SET or USE statement, a setting in the URL, a database: none of it
	// reaches the next request on any pooled session.
	for _, u := range []string{
		base + "query=" + url.QueryEscape("SET max_threads = 1"),
		base + "query=" + url.QueryEscape("USE "+db),
		base + "max_threads=1&database=" + db + "&query=" + url.QueryEscape("SELECT 1"),
	} {
		status, _, body := httpDo(t, "POST", u, nil, nil)
		require.Equal(t, 200, status, body)
	}
	for i := 0; i < 20; i++ {
		status, _, body := httpDo(t, "GET", base+"query="+url.QueryEscape("SELECT currentDatabase(), getSetting('max_threads') != 1"), nil, nil)
		require.Equal(t, 200, status)
		require.Equal(t, "default\t1\n", body)
	}
	status, hdr, _ := httpDo(t, "GET", base+"no_such_setting_xyz=1&query=SELECT+1", nil, nil)
	require.Equal(t, 400, status)
	require.Equal(t, "115", hdr.Get("X-ClickHouse-Exception-Code"))
}

func TestZSTDCompression(t *testing.T) {
	addr, db := kittest.ClickHouse(t)
	c, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, Protocol: clickhouse.HTTP, Auth: clickhouse.Auth{Database: db},
		Compression: &clickhouse.Compression{Method: clickhouse.CompressionZSTD}})
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()
	require.NoError(t, c.Exec(ctx, "CREATE TABLE z (s String) ENGINE = Memory"))
	b, err := c.PrepareBatch(ctx, "INSERT INTO z")
	require.NoError(t, err)
	for i := 0; i < 1000; i++ {
		require.NoError(t, b.Append(strings.Repeat("z", i%50)))
	}
	require.NoError(t, b.Send())
	var n uint64
	require.NoError(t, c.QueryRow(ctx, "SELECT sum(length(s)) FROM z").Scan(&n))
	require.EqualValues(t, 24500, n)
}

func TestMaxQueryBytesBoundsSQLNotInsertData(t *testing.T) {
	addr := newServer(t, chhttp.Config{MaxQueryBytes: 2048})
	_, db := kittest.ClickHouse(t)
	base := "http://" + addr + "/?database=" + db
	status, hdr, _ := httpDo(t, "POST", base, strings.NewReader("SELECT '"+strings.Repeat("x", 4096)+"'"), nil)
	require.Equal(t, 413, status)
	require.Equal(t, "396", hdr.Get("X-ClickHouse-Exception-Code"))
	require.Equal(t, 200, mustPost(t, base, "CREATE TABLE big (s String) ENGINE = Memory"))
	data := bytes.Repeat([]byte(strings.Repeat("y", 100)+"\n"), 10000)
	status, _, body := httpDo(t, "POST", base+"&query="+url.QueryEscape("INSERT INTO big FORMAT TSV"), bytes.NewReader(data), nil)
	require.Equal(t, 200, status, body)
	status, _, body = httpDo(t, "POST", base, bytes.NewReader(append([]byte("INSERT INTO big FORMAT TSV\n"), data...)), nil)
	require.Equal(t, 200, status, body)
	status, _, body = httpDo(t, "GET", base+"&query=SELECT+count()+FROM+big", nil, nil)
	require.Equal(t, 200, status)
	require.Equal(t, "20000\n", body)
}

func TestConfigAndLifecycle(t *testing.T) {
	require.NoError(t, chhttp.Config{}.Validate(), "zero values take the defaults")
	err := chhttp.Config{Addr: "nope", MaxQueryBytes: 10, ReadTimeout: -time.Second}.Validate()
	require.ErrorContains(t, err, "addr")
	require.ErrorContains(t, err, "max_query_bytes")
	require.ErrorContains(t, err, "read_timeout")

	s := chhttp.New(kittest.Engine(t), chhttp.Config{Addr: "127.0.0.1:0"}, telemetry.Nop().Logger)
	require.NoError(t, s.Shutdown(context.Background()), "safe without Start")
	require.NoError(t, s.Start(context.Background()))
	require.Error(t, s.Start(context.Background()), "started twice")
	require.NotEmpty(t, s.Addr())
	require.NoError(t, s.Shutdown(context.Background()))
	require.NoError(t, s.Shutdown(context.Background()), "idempotent")
}

func TestTypedErrorsThroughClickHouseGo(t *testing.T) {
	c := kittest.ClickHouseConn(t)
	for sql, code := range map[string]int32{
		"SELECT * FROM no_such_table": 60,
		"SELECT * FROM nodb_x.t":      81,
		"SELEC 1":                     62,
	} {
		err := c.Exec(context.Background(), sql)
		var ex *clickhouse.Exception
		require.True(t, errors.As(err, &ex), "%s: want *clickhouse.Exception, got %T: %v", sql, err, err)
		require.Equal(t, code, ex.Code, sql)
	}
}
