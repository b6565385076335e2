package chhttp_test

// Contract tests: clickhouse-go (pinned version), curl-style requests and
// raw inserts against the HTTP interface over the real embedded engine.

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/kit/kittest"
)

func conn(t *testing.T, compression clickhouse.CompressionMethod) (driver.Conn, string, string) {
	t.Helper()
	addr, db := kittest.ClickHouse(t)
	opts := &clickhouse.Options{Addr: []string{addr}, Protocol: clickhouse.HTTP, Auth: clickhouse.Auth{Database: db}}
	if compression != clickhouse.CompressionNone {
		opts.Compression = &clickhouse.Compression{Method: compression}
	}
	c, err := clickhouse.Open(opts)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.Ping(context.Background()))
	return c, addr, db
}

const ddl = `CREATE TABLE every_type (
	s String, lc LowCardinality(String), ts DateTime64(3, 'UTC'), arr Array(String),
	f32 Float32, f64 Float64, b Bool, u8 UInt8, u32 UInt32, u64 UInt64, i64 Int64,
	m Map(String, String), ns Nullable(String)
) ENGINE = MergeTree ORDER BY u64`

type row struct {
	S   string
	LC  string
	TS  time.Time
	Arr []string
	F32 float32
	F64 float64
	B   bool
	U8  uint8
	U32 uint32
	U64 uint64
	I64 int64
	M   map[string]string
	NS  *string
}

func rows(n int) []row {
	out := make([]row, n)
	for i := range out {
		var ns *string
		if i%2 == 0 {
			v := fmt.Sprintf("n%d", i)
			ns = &v
		}
		out[i] = row{
			S: fmt.Sprintf("s%d\n\nwith blank lines", i), LC: []string{"github", "slack"}[i%2],
			TS:  time.Date(2026, 1, 2, 3, 4, 5, int(time.Duration(i%1000)*time.Millisecond), time.UTC),
			Arr: []string{"a", fmt.Sprint(i)}, F32: float32(i) / 4, F64: float64(i) / 3, B: i%3 == 0,
			U8: uint8(i), U32: uint32(i * 7), U64: uint64(i), I64: -int64(i), M: map[string]string{"k": fmt.Sprint(i)}, NS: ns,
		}
	}
	return out
}

func insertRows(t *testing.T, c driver.Conn, rs []row) {
	t.Helper()
	b, err := c.PrepareBatch(context.Background(), "INSERT INTO every_type")
	require.NoError(t, err)
	defer b.Close()
	for _, r := range rs {
		require.NoError(t, b.Append(r.S, r.LC, r.TS, r.Arr, r.F32, r.F64, r.B, r.U8, r.U32, r.U64, r.I64, r.M, r.NS))
	}
	require.NoError(t, b.Send())
}

func TestClickHouseGoContract(t *testing.T) {
	for _, method := range []clickhouse.CompressionMethod{clickhouse.CompressionNone, clickhouse.CompressionLZ4, clickhouse.CompressionGZIP} {
		t.Run(method.String(), func(t *testing.T) {
			c, _, _ := conn(t, method)
			ctx := context.Background()
			require.NoError(t, c.Exec(ctx, ddl))
			want := rows(1000)
			insertRows(t, c, want)

			got, err := c.Query(ctx, "SELECT * FROM every_type ORDER BY u64")
			require.NoError(t, err)
			i := 0
			for got.Next() {
				var r row
				require.NoError(t, got.Scan(&r.S, &r.LC, &r.TS, &r.Arr, &r.F32, &r.F64, &r.B, &r.U8, &r.U32, &r.U64, &r.I64, &r.M, &r.NS))
				r.TS = r.TS.UTC()
				require.Equal(t, want[i], r, "row %d", i)
				i++
			}
			require.NoError(t, got.Err())
			require.Equal(t, len(want), i)

			var n uint64
			require.NoError(t, c.QueryRow(ctx, "SELECT count() FROM every_type WHERE lc = {src:String} AND u64 < {lim:UInt64}",
				clickhouse.Named("src", "slack"), clickhouse.Named("lim", "100")).Scan(&n))
			require.EqualValues(t, 50, n, "named parameters bind server-side")

			var limited uint64
			sctx := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"max_threads": 1}))
			require.NoError(t, c.QueryRow(sctx, "SELECT toUInt64(getSetting('max_threads'))").Scan(&limited))
			require.EqualValues(t, 1, limited, "settings apply to the request …")
			require.NoError(t, c.QueryRow(ctx, "SELECT toUInt64(getSetting('max_threads'))").Scan(&limited))
			require.NotEqualValues(t, 1, limited, "… and do not leak into the next")

			err = c.Exec(ctx, "SELECT * FROM no_such_table")
			var ex *clickhouse.Exception
			require.True(t, errors.As(err, &ex), "want *clickhouse.Exception, got %T: %v", err, err)
			require.EqualValues(t, 60, ex.Code)
		})
	}
}

func TestDatabaseSQL(t *testing.T) {
	addr, db := kittest.ClickHouse(t)
	sqlDB := clickhouse.OpenDB(&clickhouse.Options{Addr: []string{addr}, Protocol: clickhouse.HTTP, Auth: clickhouse.Auth{Database: db}})
	defer sqlDB.Close()
	var v string
	require.NoError(t, sqlDB.QueryRow("SELECT currentDatabase()").Scan(&v))
	require.Equal(t, db, v)
	_, err := sqlDB.Exec("CREATE TABLE t (x UInt32) ENGINE = Memory")
	require.NoError(t, err)
	var missing sql.NullString
	require.Error(t, sqlDB.QueryRow("SELECT x FROM nope").Scan(&missing))
}

func TestConcurrentWriters(t *testing.T) {
	c, _, _ := conn(t, clickhouse.CompressionNone)
	require.NoError(t, c.Exec(context.Background(), ddl))
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			insertRows(t, c, rows(500))
		}()
	}
	wg.Wait()
	var n uint64
	require.NoError(t, c.QueryRow(context.Background(), "SELECT count() FROM every_type").Scan(&n))
	require.EqualValues(t, 4000, n)
}

func httpDo(t *testing.T, method, u string, body io.Reader, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(b)
}

func TestCurlStyle(t *testing.T) {
	addr, db := kittest.ClickHouse(t)
	base := "http://" + addr + "/"
	status, _, body := httpDo(t, "GET", base+"?query=SELECT+1", nil, nil)
	require.Equal(t, 200, status)
	require.Equal(t, "1\n", body)

	status, _, body = httpDo(t, "GET", base+"ping", nil, nil)
	require.Equal(t, 200, status)
	require.Equal(t, "Ok.\n", body)

	status, hdr, body := httpDo(t, "POST", base+"?database="+db, strings.NewReader("SELECT number FROM numbers(3) FORMAT JSONEachRow"), nil)
	require.Equal(t, 200, status, body)
	require.Equal(t, "{\"number\":0}\n{\"number\":1}\n{\"number\":2}\n", body)
	require.Contains(t, hdr.Get("Content-Type"), "application/json")

	status, hdr, body = httpDo(t, "GET", base+"?query="+url.QueryEscape("SELECT * FROM nope"), nil, nil)
	require.Equal(t, 404, status)
	require.Equal(t, "60", hdr.Get("X-ClickHouse-Exception-Code"))
	require.True(t, strings.HasPrefix(body, "Code: 60."), body)

	status, _, _ = httpDo(t, "GET", base+"?query="+url.QueryEscape("SELEC 1"), nil, nil)
	require.Equal(t, 400, status)

	status, _, body = httpDo(t, "GET", base+"?query="+url.QueryEscape("CREATE TABLE x (a UInt8) ENGINE = Memory"), nil, nil)
	require.Equal(t, 400, status, "GET is read-only")
	require.Contains(t, body, "READONLY")

	status, _, body = httpDo(t, "GET", base+"?query="+url.QueryEscape("SELECT {v:UInt8} * 2")+"&param_v=21", nil, nil)
	require.Equal(t, 200, status, body)
	require.Equal(t, "42\n", body)

	// A large result streams (more than the buffered limit).
	status, _, body = httpDo(t, "GET", base+"?query="+url.QueryEscape("SELECT number FROM numbers(2000000)"), nil, nil)
	require.Equal(t, 200, status)
	require.Equal(t, 2000000, strings.Count(body, "\n"))

	// gzip answers on request.
	req, _ := http.NewRequest("GET", base+"?enable_http_compression=1&query=SELECT+'zipped'", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	require.NoError(t, err)
	require.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
	zr, err := gzip.NewReader(resp.Body)
	require.NoError(t, err)
	b, _ := io.ReadAll(zr)
	resp.Body.Close()
	require.Equal(t, "zipped\n", string(b))
}

func TestRawInsertIsBinarySafe(t *testing.T) {
	addr, db := kittest.ClickHouse(t)
	base := "http://" + addr + "/?database=" + db
	status, _, body := httpDo(t, "POST", base, strings.NewReader("CREATE TABLE bin (id UInt32, b String) ENGINE = MergeTree ORDER BY id"), nil)
	require.Equal(t, 200, status, body)

	payloads := []string{"\n\nstarts blank", "   leading spaces", "mid\n\ndle", "\x00\xff\n\n", ""}
	var data bytes.Buffer
	for i, p := range payloads {
		data.Write([]byte{byte(i), 0, 0, 0, byte(len(p))})
		data.WriteString(p)
	}
	// Statement in the query parameter, data in the body.
	status, hdr, body := httpDo(t, "POST", base+"&query="+url.QueryEscape("INSERT INTO bin FORMAT RowBinary"), bytes.NewReader(data.Bytes()), nil)
	require.Equal(t, 200, status, body)
	require.Contains(t, hdr.Get("X-ClickHouse-Summary"), `"written_rows":"5"`)

	// Statement and data both in the body, gzip-encoded.
	var zbuf bytes.Buffer
	zw := gzip.NewWriter(&zbuf)
	_, _ = zw.Write([]byte("INSERT INTO bin FORMAT TSV\n10\t\\n\\nx\n11\ty\n"))
	require.NoError(t, zw.Close())
	status, _, body = httpDo(t, "POST", base, &zbuf, map[string]string{"Content-Encoding": "gzip"})
	require.Equal(t, 200, status, body)

	// Inline VALUES.
	status, _, body = httpDo(t, "POST", base, strings.NewReader("INSERT INTO bin VALUES (20, 'v')"), nil)
	require.Equal(t, 200, status, body)

	status, _, body = httpDo(t, "POST", base, strings.NewReader("SELECT id, hex(b) FROM bin ORDER BY id"), nil)
	require.Equal(t, 200, status, body)
	var want strings.Builder
	for i, p := range payloads {
		fmt.Fprintf(&want, "%d\t%X\n", i, p)
	}
	fmt.Fprintf(&want, "10\t%X\n11\t%X\n20\t%X\n", "\n\nx", "y", "v")
	require.Equal(t, want.String(), body, "every row arrived byte-exact")
}

func TestPasswordIsRequiredWhenSet(t *testing.T) {
	// Covered through a dedicated server on the shared engine.
	srv := newPasswordServer(t)
	status, hdr, _ := httpDo(t, "GET", "http://"+srv+"/?query=SELECT+1", nil, nil)
	require.Equal(t, 403, status)
	require.Equal(t, "516", hdr.Get("X-ClickHouse-Exception-Code"))
	status, _, body := httpDo(t, "GET", "http://"+srv+"/?query=SELECT+1", nil, map[string]string{"X-ClickHouse-User": "analyst", "X-ClickHouse-Key": "s3cret-pass"})
	require.Equal(t, 200, status)
	require.Equal(t, "1\n", body)
	c, err := clickhouse.Open(&clickhouse.Options{Addr: []string{srv}, Protocol: clickhouse.HTTP, Auth: clickhouse.Auth{Username: "analyst", Password: "s3cret-pass"}})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Ping(context.Background()))
}
