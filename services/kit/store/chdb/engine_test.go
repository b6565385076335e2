package chdb

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var engine *Engine

func TestMain(m *testing.M) {
	if os.Getenv("CHDB_PANIC_CHILD") == "1" {
		panicChild()
		return
	}
	dir, err := os.MkdirTemp("", "chdb-test-")
	if err != nil {
		panic(err)
	}
	engine, err = Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1) // fail, never skip, when the engine is missing
	}
	code := m.Run()
	engine.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

func session(t *testing.T) *Session {
	t.Helper()
	s, err := engine.Acquire(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { engine.Release(s) })
	return s
}

func TestQueryAndTypedErrors(t *testing.T) {
	s := session(t)
	out, err := s.Query("SELECT 1 + 1", "TabSeparated", nil)
	require.NoError(t, err)
	require.Equal(t, "2\n", string(out))

	_, err = s.Query("SELECT * FROM no_such_table_here", "TabSeparated", nil)
	var ex *Exception
	require.True(t, errors.As(err, &ex), "got %T %v", err, err)
	require.Equal(t, 60, ex.Code)
	require.Equal(t, "UNKNOWN_TABLE", ex.Name)
	require.True(t, strings.HasPrefix(ex.Message, "Code: 60."))

	_, err = s.Query("SELEC 1", "TabSeparated", nil)
	require.True(t, errors.As(err, &ex))
	require.Equal(t, 62, ex.Code)
}

func TestParametersAreBoundNotInterpolated(t *testing.T) {
	s := session(t)
	out, err := s.Query("SELECT {x:String} AS v, {n:UInt32} + 1", "TabSeparated", map[string]string{"x": "'; DROP TABLE t; --", "n": "41"})
	require.NoError(t, err)
	require.Equal(t, "'; DROP TABLE t; --\t42\n", strings.ReplaceAll(string(out), `\'`, `'`))
}

func TestStreamInsertIsBinarySafe(t *testing.T) {
	s := session(t)
	require.NoError(t, s.Exec("CREATE DATABASE IF NOT EXISTS bin_test"))
	require.NoError(t, s.Exec("CREATE TABLE bin_test.t (id UInt32, b String) ENGINE = MergeTree ORDER BY id"))
	var buf bytes.Buffer
	payloads := []string{"\n\nleading blank lines", "  leading spaces", "a\n\nb", "\x00\x01\n\n\xff", ""}
	for i, p := range payloads {
		_ = binary.Write(&buf, binary.LittleEndian, uint32(i))
		buf.WriteByte(byte(len(p))) // LEB128 length; all < 128
		buf.WriteString(p)
	}
	rows, err := s.Insert(context.Background(), "INSERT INTO bin_test.t (id, b)", "RowBinary", &buf)
	require.NoError(t, err)
	require.EqualValues(t, len(payloads), rows)
	out, err := s.Query("SELECT b FROM bin_test.t ORDER BY id", "RowBinary", nil)
	require.NoError(t, err)
	var got []string
	for len(out) > 0 {
		n := int(out[0])
		got = append(got, string(out[1:1+n]))
		out = out[1+n:]
	}
	require.Equal(t, payloads, got, "every row arrived byte-exact")
}

func TestQueryStreamLargeResult(t *testing.T) {
	s := session(t)
	var buf bytes.Buffer
	wrote, err := s.QueryStream(context.Background(), "SELECT number FROM numbers(300000)", "TabSeparated", nil, &buf)
	require.NoError(t, err)
	require.True(t, wrote)
	require.Equal(t, 300000, strings.Count(buf.String(), "\n"))

	_, err = s.QueryStream(context.Background(), "SELECT * FROM nope_nope", "TabSeparated", nil, &buf)
	require.Error(t, err)
	out, err := s.Query("SELECT 7", "TabSeparated", nil)
	require.NoError(t, err, "the session works after a failed stream")
	require.Equal(t, "7\n", string(out))
}

func TestParallelQueries(t *testing.T) {
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func(i int) {
			out, err := engine.Query(context.Background(), fmt.Sprintf("SELECT sum(number) FROM numbers(%d)", 1000+i), "TabSeparated")
			if err == nil && len(out) == 0 {
				err = errors.New("empty")
			}
			errs <- err
		}(i)
	}
	for i := 0; i < 8; i++ {
		require.NoError(t, <-errs)
	}
}

func TestSecondPathIsRefused(t *testing.T) {
	_, err := Open(t.TempDir())
	require.ErrorContains(t, err, "one storage path per process")
}

func TestDefaultLibraryPathPrecedence(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/cache")
	t.Setenv("ORBITFLOW_CHDB_LIB", "")
	t.Setenv("ORBITFLOW_CHDB_DIR", "")
	require.Equal(t, "/cache/orbitflow/chdb/"+Version+"/libchdb.so", DefaultLibraryPath())
	t.Setenv("ORBITFLOW_CHDB_DIR", "/d")
	require.Equal(t, "/d/libchdb.so", DefaultLibraryPath())
	t.Setenv("ORBITFLOW_CHDB_LIB", "/x/libchdb.so")
	require.Equal(t, "/x/libchdb.so", DefaultLibraryPath())
}

// panicChild loads the engine, runs a query, then dereferences nil.
func panicChild() {
	dir, _ := os.MkdirTemp("", "chdb-panic-")
	e, err := Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	if _, err := e.Query(context.Background(), "SELECT 1", "TabSeparated"); err != nil {
		os.Exit(4)
	}
	var p *int
	fmt.Println(*p)
}

func TestGoPanicStillPanicsAfterEngineLoad(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CHDB_PANIC_CHILD=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "the child hung instead of panicking (signal handlers not disabled?)")
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "want a non-zero exit, got %v", err)
	require.Equal(t, 2, exit.ExitCode(), "a Go panic exits with status 2; stderr:\n%s", stderr.String())
	require.Contains(t, stderr.String(), "nil pointer dereference")
}

func TestParseException(t *testing.T) {
	ex := parseException("Code: 60. DB::Exception: Unknown table expression identifier 'x'. (UNKNOWN_TABLE)")
	require.Equal(t, 60, ex.Code)
	require.Equal(t, "UNKNOWN_TABLE", ex.Name)
	ex = parseException("something odd")
	require.Equal(t, 1000, ex.Code)
	require.True(t, strings.HasPrefix(ex.Message, "Code: 1000. DB::Exception: something odd"))
}
