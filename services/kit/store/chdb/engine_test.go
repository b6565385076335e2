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
	"go.uber.org/goleak"
)

var engine *Engine

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "panic":
		panicChild()
		return
	case "lifecycle":
		lifecycleChild()
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
	_ = engine.Close()
	_ = os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// childEnv makes the test binary run one of the child programs below.
const childEnv = "ORBITFLOW_CHDB_TEST_CHILD"

var ctx = context.Background()

func session(t *testing.T) *Session {
	t.Helper()
	s, err := engine.Acquire(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { engine.Release(s) })
	return s
}

func TestQueryAndTypedErrors(t *testing.T) {
	s := session(t)
	out, err := s.Query(ctx, "SELECT 1 + 1", "TabSeparated", nil)
	require.NoError(t, err)
	require.Equal(t, "2\n", string(out))

	_, err = s.Query(ctx, "SELECT * FROM no_such_table_here", "TabSeparated", nil)
	var ex *Exception
	require.True(t, errors.As(err, &ex), "got %T %v", err, err)
	require.Equal(t, 60, ex.Code)
	require.Equal(t, "UNKNOWN_TABLE", ex.Name)
	require.True(t, strings.HasPrefix(ex.Message, "Code: 60."))

	_, err = s.Query(ctx, "SELEC 1", "TabSeparated", nil)
	require.True(t, errors.As(err, &ex))
	require.Equal(t, 62, ex.Code)
}

func TestParametersAreBoundNotInterpolated(t *testing.T) {
	s := session(t)
	out, err := s.Query(ctx, "SELECT {x:String} AS v, {n:UInt32} + 1", "TabSeparated", map[string]string{"x": "'; DROP TABLE t; --", "n": "41"})
	require.NoError(t, err)
	require.Equal(t, "'; DROP TABLE t; --\t42\n", strings.ReplaceAll(string(out), `\'`, `'`))
}

func TestStreamInsertIsBinarySafe(t *testing.T) {
	s := session(t)
	require.NoError(t, s.Exec(ctx, "CREATE DATABASE IF NOT EXISTS bin_test"))
	require.NoError(t, s.Exec(ctx, "CREATE TABLE bin_test.t (id UInt32, b String) ENGINE = MergeTree ORDER BY id"))
	var buf bytes.Buffer
	payloads := []string{"\n\nleading blank lines", "  leading spaces", "a\n\nb", "\x00\x01\n\n\xff", ""}
	for i, p := range payloads {
		_ = binary.Write(&buf, binary.LittleEndian, uint32(i))
		buf.WriteByte(byte(len(p))) // LEB128 length; all < 128
		buf.WriteString(p)
	}
	rows, err := s.Insert(ctx, "INSERT INTO bin_test.t (id, b)", "RowBinary", nil, &buf)
	require.NoError(t, err)
	require.EqualValues(t, len(payloads), rows)
	out, err := s.Query(ctx, "SELECT b FROM bin_test.t ORDER BY id", "RowBinary", nil)
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
	out, err := s.Query(ctx, "SELECT 7", "TabSeparated", nil)
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
	cmd.Env = append(os.Environ(), childEnv+"=panic")
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

func TestExceptionNameIsTheLastParenthesisedWord(t *testing.T) {
	s := session(t)
	_, err := s.Query(ctx, "SELECT throwIf(1, 'boom (FOO) bar')", "TabSeparated", nil)
	var ex *Exception
	require.True(t, errors.As(err, &ex), "got %T %v", err, err)
	require.Equal(t, 395, ex.Code)
	require.Equal(t, "FUNCTION_THROW_IF_VALUE_IS_NON_ZERO", ex.Name)

	_, err = s.Query(ctx, "SELECT * FROM no_such_db_here.t", "TabSeparated", nil)
	require.True(t, errors.As(err, &ex))
	require.Equal(t, 81, ex.Code)
	require.Equal(t, "UNKNOWN_DATABASE", ex.Name)
}

// pooled runs f on every pooled session in turn (all acquired at once, so
// each is a different connection).
func pooled(t *testing.T, f func(s *Session)) {
	t.Helper()
	var all []*Session
	for i := 0; i < cap(engine.idle); i++ {
		s, err := engine.Acquire(ctx)
		require.NoError(t, err)
		all = append(all, s)
	}
	for _, s := range all {
		f(s)
		engine.Release(s)
	}
}

func setting(t *testing.T, s *Session, name string) string {
	t.Helper()
	out, err := s.Query(ctx, "SELECT getSetting("+QuoteString(name)+")", "TabSeparated", nil)
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}

func TestSettingsAndDatabaseAreRestoredOnRelease(t *testing.T) {
	var before []string
	pooled(t, func(s *Session) {
		before = append(before, setting(t, s, "max_threads")+"/"+setting(t, s, "implicit_select"))
	})
	s, err := engine.Acquire(ctx)
	require.NoError(t, err)
	require.NoError(t, s.Exec(ctx, "CREATE DATABASE IF NOT EXISTS restore_test"))
	require.NoError(t, s.Use(ctx, "restore_test"))
	require.NoError(t, s.Set(ctx, Setting{"max_threads", "1"}, Setting{"implicit_select", "0"}))
	require.NoError(t, s.Set(ctx, Setting{"max_threads", "3"})) // the first saved value wins
	require.Equal(t, "3", setting(t, s, "max_threads"))
	out, err := s.Query(ctx, "SELECT currentDatabase()", "TabSeparated", nil)
	require.NoError(t, err)
	require.Equal(t, "restore_test\n", string(out))
	engine.Release(s)

	var after []string
	pooled(t, func(s *Session) {
		require.False(t, s.dirty, "restored, not replaced")
		after = append(after, setting(t, s, "max_threads")+"/"+setting(t, s, "implicit_select"))
		out, err := s.Query(ctx, "SELECT currentDatabase()", "TabSeparated", nil)
		require.NoError(t, err)
		require.Equal(t, "default\n", string(out))
	})
	require.ElementsMatch(t, before, after)
}

func TestInvalidSettingIsATypedError(t *testing.T) {
	s := session(t)
	var ex *Exception
	require.True(t, errors.As(s.Set(ctx, Setting{"no_such_setting_x", "1"}), &ex))
	require.Equal(t, 115, ex.Code)
	require.True(t, errors.As(s.Set(ctx, Setting{"max_threads; DROP", "1"}), &ex))
	require.Equal(t, 115, ex.Code)
}

func TestSetInAQueryDoesNotLeakIntoTheNextSession(t *testing.T) {
	for _, q := range []string{"SET max_threads = 1", "SELECT 1; SET max_threads = 1", "USE system"} {
		s, err := engine.Acquire(ctx)
		require.NoError(t, err)
		_, err = s.Query(ctx, q, "TabSeparated", nil)
		require.NoError(t, err)
		require.True(t, s.dirty, "%q changes session state: the session is replaced", q)
		engine.Release(s)
		pooled(t, func(s *Session) {
			require.NotEqual(t, "1", setting(t, s, "max_threads"), q)
			out, err := s.Query(ctx, "SELECT currentDatabase()", "TabSeparated", nil)
			require.NoError(t, err)
			require.Equal(t, "default\n", string(out), q)
		})
	}
}

func TestClassify(t *testing.T) {
	s := session(t)
	for _, tc := range []struct {
		sql   string
		want  Class
		count int
	}{
		{"SELECT 1", ReadOnly, 1},
		{"INSERT INTO t VALUES (1)", Mutating, 1},
		{"SET max_threads = 1", Control, 1},
		{"USE default", Control, 1},
		{"SELECT 1; SELECT 2", ReadOnly, 2},
		{"SELEC 1", Unknown, 0},
	} {
		a, err := s.Classify(tc.sql)
		require.NoError(t, err, tc.sql)
		require.Equal(t, tc.want, a.Class, tc.sql)
		require.Equal(t, tc.count, a.Statements, tc.sql)
	}
}

func TestInsertWithParamsAndCancel(t *testing.T) {
	s := session(t)
	require.NoError(t, s.Exec(ctx, "CREATE TABLE IF NOT EXISTS default.ins_params (id UInt32, tag String) ENGINE = Memory"))
	rows, err := s.Insert(ctx, "INSERT INTO {db:Identifier}.{tbl:Identifier}", "TSV",
		map[string]string{"db": "default", "tbl": "ins_params"}, strings.NewReader("1\tx\\ty\n2\tx\\ty\n"))
	require.NoError(t, err)
	require.EqualValues(t, 2, rows)
	out, err := s.Query(ctx, "SELECT id, tag FROM default.ins_params ORDER BY id", "TSV", nil)
	require.NoError(t, err)
	require.Equal(t, "1\tx\\ty\n2\tx\\ty\n", string(out))

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.Insert(cctx, "INSERT INTO default.ins_params", "TSV", nil, strings.NewReader("3\tz\n"))
	require.ErrorIs(t, err, context.Canceled)
	var sink bytes.Buffer
	_, err = s.QueryStream(cctx, "SELECT 1", "TSV", nil, &sink)
	require.ErrorIs(t, err, context.Canceled)
	require.NoError(t, s.Exec(ctx, "DROP TABLE default.ins_params"))
}

// lifeDirEnv names the directory lifecycleChild works in.
const lifeDirEnv = "ORBITFLOW_CHDB_LIFE_DIR"

// lifecycleChild opens, closes and reopens engines; it exits 0 when every
// check holds and prints what failed otherwise.
func lifecycleChild() {
	check := func(ok bool, what string) {
		if !ok {
			fmt.Fprintln(os.Stderr, "lifecycle:", what)
			os.Exit(5)
		}
	}
	// The parent's temporary directory: it removes it (this process
	// leaves by os.Exit, which runs no deferred cleanup).
	dir := os.Getenv(lifeDirEnv)
	check(dir != "", lifeDirEnv+" is set")
	e, err := Open(dir+"/a", WithSessions(2))
	check(err == nil, fmt.Sprint("open: ", err))
	_, err = Open(dir + "/a")
	check(err != nil, "a second Open of the same path is refused")
	_, err = Open(dir + "/b")
	check(err != nil && strings.Contains(err.Error(), "one storage path per process"), "a second path is refused")

	s, err := e.Acquire(ctx)
	check(err == nil, "acquire")
	closed := make(chan struct{})
	go func() { _ = e.Close(); close(closed) }()
	select {
	case <-closed:
		check(false, "Close returned while a session was out")
	case <-time.After(200 * time.Millisecond):
	}
	_, err = e.Acquire(ctx)
	check(errors.Is(err, ErrClosed), fmt.Sprint("Acquire while closing: ", err))
	e.Release(s)
	<-closed
	check(e.Close() == nil, "Close is idempotent")
	_, err = e.Acquire(ctx)
	check(errors.Is(err, ErrClosed), "Acquire after Close")

	e2, err := Open(dir + "/b")
	check(err == nil, fmt.Sprint("Open another path after Close: ", err))
	out, err := e2.Query(ctx, "SELECT 40 + 2", "TSV")
	check(err == nil && string(out) == "42\n", fmt.Sprint("query after reopen: ", string(out), err))
	check(e2.Close() == nil, "close")
	os.Exit(0)
}

func TestEngineLifecycle(t *testing.T) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=lifecycle", lifeDirEnv+"="+t.TempDir())
	out, err := cmd.CombinedOutput()
	require.NoError(t, cctx.Err(), "the child hung")
	require.NoError(t, err, "%s", out)
}

// TestRepeatedRequestsRunNoExtraStatements: a session serving requests for
// the same database and settings changes nothing between them; it used to
// read system.settings, SET, USE and undo it all around every request
// (~4 ms of engine time each, most of the embedded HTTP interface's cost).
func TestRepeatedRequestsRunNoExtraStatements(t *testing.T) {
	s0, err := engine.Acquire(ctx)
	require.NoError(t, err)
	require.NoError(t, s0.Exec(ctx, "CREATE DATABASE IF NOT EXISTS sticky_test"))
	engine.Release(s0)
	want := []Setting{{"max_threads", "1"}, {"max_execution_time", "30"}}
	all := func(f func(s *Session)) { // every pooled session at once
		var ss []*Session
		for range cap(engine.idle) {
			s, err := engine.AcquireWith(ctx, "sticky_test", want)
			require.NoError(t, err)
			ss = append(ss, s)
		}
		for _, s := range ss {
			f(s)
			engine.Release(s)
		}
	}
	ran := map[*Session]int{}
	all(func(s *Session) { ran[s] = s.statements })
	all(func(s *Session) {
		require.Contains(t, ran, s)
		require.Equal(t, ran[s], s.statements, "the same database and settings again: no statement")
		require.Equal(t, "1", setting(t, s, "max_threads"))
	})

	// Fewer settings: the others go back to their defaults, in one SET.
	var defaults []string
	pooled(t, func(s *Session) { defaults = append(defaults, setting(t, s, "max_threads")) })
	s, err := engine.AcquireWith(ctx, "sticky_test", []Setting{{"max_execution_time", "30"}})
	require.NoError(t, err)
	require.Contains(t, defaults, setting(t, s, "max_threads"))
	require.Equal(t, "30", setting(t, s, "max_execution_time"))
	engine.Release(s)

	// Acquire: the default database and settings, whatever came before.
	pooled(t, func(s *Session) {
		require.Contains(t, defaults, setting(t, s, "max_threads"))
		require.NotEqual(t, "30", setting(t, s, "max_execution_time"))
		out, err := s.Query(ctx, "SELECT currentDatabase()", "TabSeparated", nil)
		require.NoError(t, err)
		require.Equal(t, "default\n", string(out))
	})
}
