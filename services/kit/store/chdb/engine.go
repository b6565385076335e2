package chdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// Exception is an error raised by the engine, parsed from its text
// ("Code: 60. DB::Exception: … (UNKNOWN_TABLE)").
type Exception struct {
	Code    int
	Name    string // e.g. UNKNOWN_TABLE
	Message string // the full text, "Code: 60. DB::Exception: ..."
}

func (e *Exception) Error() string { return e.Message }

var (
	exceptionCode = regexp.MustCompile(`^Code: (\d+)\.`)
	// The error name is the last parenthesised word of the text; earlier
	// ones may quote the query or a user's message.
	exceptionName = regexp.MustCompile(`\(([A-Z][A-Z0-9_]+)\)\s*$`)
)

// parseException turns the engine's error text into an *Exception.
func parseException(msg string) *Exception {
	msg = strings.TrimSpace(msg)
	ex := &Exception{Code: 1000, Name: "STD_EXCEPTION", Message: msg}
	if m := exceptionCode.FindStringSubmatch(msg); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil {
			ex.Code = n
		}
		ex.Name = ""
	} else {
		ex.Message = fmt.Sprintf("Code: %d. DB::Exception: %s", ex.Code, msg)
	}
	if m := exceptionName.FindStringSubmatch(msg); m != nil {
		ex.Name = m[1]
	}
	return ex
}

// ErrClosed is returned by Acquire once Close has begun.
var ErrClosed = errors.New("chdb: engine closed")

var (
	openMu   sync.Mutex
	openPath string
)

// Engine is the embedded engine on one storage path, with a pool of
// sessions (connections) so queries run in parallel. A connection kept
// outside the pool keeps the engine booted for the Engine's lifetime, so
// replacing pooled sessions never shuts the engine down.
//
// An Engine is safe for concurrent use; a Session is not.
type Engine struct {
	path   string
	args   []string // more arguments of every connection
	anchor *uintptr
	idle   chan *Session // capacity = pool size: sending never blocks
	done   chan struct{} // closed when Close begins

	mu     sync.Mutex
	cond   *sync.Cond // signalled when a session comes back
	closed bool
	out    int // sessions acquired and not released
	all    map[*Session]struct{}
	// defaults are the settings' default values, read once per name.
	defaults map[string]string
}

// Option configures Open.
type Option func(*options)

type options struct {
	library  string
	sessions int
	config   string
}

// WithLibrary sets the library path (default DefaultLibraryPath()). The
// library is loaded once per process: the first Open's path wins.
func WithLibrary(path string) Option { return func(o *options) { o.library = path } }

// WithSessions sets the pool size, the number of statements that run at
// once (default 4, at least 1).
func WithSessions(n int) Option { return func(o *options) { o.sessions = max(1, n) } }

// WithConfigFile boots the engine with a ClickHouse server config file
// (clickhouse-local's --config-file): macros, remote_servers, a test
// Keeper. The config is the process's: Close before opening with another.
func WithConfigFile(path string) Option { return func(o *options) { o.config = path } }

// Open loads the library (once per process) and boots the engine on the
// storage directory path, creating it if missing.
//
// The engine takes one storage path per process: while an Engine is open,
// any other Open fails, on another path or on the same one (share the
// *Engine instead). Open again after Close.
func Open(path string, opts ...Option) (*Engine, error) {
	o := options{sessions: 4}
	for _, f := range opts {
		f(&o)
	}
	if err := Load(o.library); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("chdb: %w", err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("chdb: %w", err)
	}
	openMu.Lock()
	defer openMu.Unlock()
	if openPath != "" {
		return nil, fmt.Errorf("chdb: the engine is already open on %s; one storage path per process (share the Engine, isolate by database)", openPath)
	}
	e := &Engine{
		path: abs,
		idle: make(chan *Session, o.sessions),
		done: make(chan struct{}),
		all:  map[*Session]struct{}{},
	}
	e.cond = sync.NewCond(&e.mu)
	if o.config != "" {
		e.args = append(e.args, "--config-file="+o.config)
	}
	if e.anchor, err = connect(abs, e.args); err != nil {
		return nil, err
	}
	for i := 0; i < o.sessions; i++ {
		s, err := e.newSession()
		if err != nil {
			for s := range e.all {
				loaded.closeConn(s.connp)
			}
			loaded.closeConn(e.anchor)
			return nil, err
		}
		e.all[s] = struct{}{}
		e.idle <- s
	}
	openPath = abs
	return e, nil
}

func connect(path string, extra []string) (*uintptr, error) {
	args := append([]string{"clickhouse", "--path=" + path}, extra...)
	cargs := make([][]byte, len(args))
	argv := make([]*byte, len(args)+1)
	for i, a := range args {
		cargs[i] = append([]byte(a), 0)
		argv[i] = &cargs[i][0]
	}
	c := loaded.connect(int32(len(args)), &argv[0])
	runtime.KeepAlive(cargs)
	runtime.KeepAlive(argv)
	if c == nil || *c == 0 {
		return nil, fmt.Errorf("chdb: could not open the engine on %s (another process using it? check the directory's permissions)", path)
	}
	return c, nil
}

func (e *Engine) newSession() (*Session, error) {
	c, err := connect(e.path, e.args)
	if err != nil {
		return nil, err
	}
	return &Session{e: e, connp: c, conn: *c}, nil
}

// Path returns the absolute storage path.
func (e *Engine) Path() string { return e.path }

// Acquire takes a session from the pool, in the default database with the
// default settings, blocking while all are busy until ctx ends. The caller
// must Release it. It fails with ErrClosed once Close has begun.
func (e *Engine) Acquire(ctx context.Context) (*Session, error) {
	return e.AcquireWith(ctx, "", nil)
}

// AcquireWith is Acquire for a session in database ("": default) with
// exactly settings (every other setting at its default). Only what differs
// from the session's state is changed.
func (e *Engine) AcquireWith(ctx context.Context, database string, settings []Setting) (*Session, error) {
	s, err := e.take(ctx)
	if err != nil {
		return nil, err
	}
	want := make(map[string]string, len(settings))
	for _, kv := range settings {
		want[kv.Name] = kv.Value
	}
	if err := s.restore(ctx, database, want); err != nil {
		e.Release(s)
		return nil, err
	}
	return s, nil
}

func (e *Engine) take(ctx context.Context) (*Session, error) {
	select {
	case <-e.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	case s := <-e.idle:
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.closed {
			e.idle <- s
			return nil, ErrClosed
		}
		e.out++
		s.acquired = true
		return s, nil
	}
}

// Release returns the session to the pool; the next Acquire or
// AcquireWith brings it to the state it asks for. A session whose state
// cannot be restored, or that ran a statement changing session state, is
// closed and replaced by a fresh connection. Releasing nil or twice is a
// no-op.
func (e *Engine) Release(s *Session) {
	if s == nil || !s.acquired {
		return
	}
	s.acquired = false
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if s.dirty && !closed {
		fresh, err := e.newSession()
		loaded.closeConn(s.connp)
		e.mu.Lock()
		delete(e.all, s)
		s = nil
		if err == nil {
			// On error the pool shrinks by one; the anchor keeps the engine up.
			e.all[fresh] = struct{}{}
			s = fresh
		}
		e.mu.Unlock()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.out--
	if s != nil {
		e.idle <- s
	}
	e.cond.Broadcast()
}

// Query runs sql on a pooled session and returns its whole output in
// format. It blocks while the statement runs; ctx bounds the wait for a
// session.
func (e *Engine) Query(ctx context.Context, sql, format string) ([]byte, error) {
	s, err := e.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer e.Release(s)
	return s.Query(ctx, sql, format, nil)
}

// Close shuts the engine down: new Acquires fail at once, and Close blocks
// until every acquired session is released, then closes all connections.
// Idempotent; a second call returns at once.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	close(e.done)
	for e.out > 0 {
		e.cond.Wait()
	}
	for s := range e.all {
		loaded.closeConn(s.connp)
	}
	e.all = nil
	// The anchor goes last: closing the last connection shuts the engine down.
	loaded.closeConn(e.anchor)
	e.anchor = nil
	e.mu.Unlock()
	openMu.Lock()
	if openPath == e.path {
		openPath = ""
	}
	openMu.Unlock()
	return nil
}

// Session is one connection. It runs one statement at a time and is not
// safe for concurrent use. Use and Set change its database and settings;
// the next Acquire finds it in the default state again, AcquireWith in the
// state it asks for (changing only what differs: a pool serving the same
// database and settings runs no extra statement per request).
type Session struct {
	e        *Engine
	connp    *uintptr
	conn     uintptr
	acquired bool
	dirty    bool              // state changed and not restorable: replace on release
	db       string            // the current database ("" = default)
	set      map[string]string // settings applied by Set: name → value
	// statements counts the statements run (tests: what a request costs).
	statements int
}

// MarkDirty makes Release replace the session instead of reusing it.
func (s *Session) MarkDirty() { s.dirty = true }

// Setting is one query-level setting.
type Setting struct{ Name, Value string }

var settingName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// Use makes database the session's current database. Blocking; "" is a
// no-op, as is the database already current.
func (s *Session) Use(ctx context.Context, database string) error {
	if database == "" || database == s.db || database == "default" && s.db == "" {
		return nil
	}
	if err := s.exec(ctx, "USE "+QuoteIdent(database)); err != nil {
		return err
	}
	s.db = database
	return nil
}

// Set applies settings to the session; a later Set adds to an earlier one.
// The next Acquire restores the engine's defaults. Blocking.
func (s *Session) Set(ctx context.Context, settings ...Setting) error {
	want := make(map[string]string, len(settings))
	for _, kv := range settings {
		want[kv.Name] = kv.Value
	}
	return s.apply(ctx, want, false)
}

// apply sets the settings of want that differ from the session's, and with
// exact, reverts the session's settings want does not name to their
// defaults: all in one SET.
func (s *Session) apply(ctx context.Context, want map[string]string, exact bool) error {
	var names []string
	for n, v := range want {
		if !settingName.MatchString(n) {
			return &Exception{Code: 115, Name: "UNKNOWN_SETTING",
				Message: fmt.Sprintf("Code: 115. DB::Exception: Setting name %q is not valid. (UNKNOWN_SETTING)", n)}
		}
		if cur, ok := s.set[n]; !ok || cur != v {
			names = append(names, n)
		}
	}
	var revert []string
	if exact {
		for n := range s.set {
			if _, ok := want[n]; !ok {
				revert = append(revert, n)
			}
		}
	}
	if len(names)+len(revert) == 0 {
		return nil
	}
	// Every name set must be restorable: its default is known.
	defaults, err := s.e.defaultsOf(ctx, s, names)
	if err != nil {
		return err
	}
	if len(defaults) < len(names) {
		s.dirty = true // a custom setting: not restorable, replace on release
	}
	sort.Strings(names)
	sort.Strings(revert)
	var b strings.Builder
	b.WriteString("SET ")
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(n + " = " + QuoteString(want[n]))
	}
	if len(revert) > 0 {
		d, err := s.e.defaultsOf(ctx, s, revert)
		if err != nil {
			return err
		}
		for i, n := range revert {
			if i > 0 || len(names) > 0 {
				b.WriteString(", ")
			}
			b.WriteString(n + " = " + QuoteString(d[n]))
		}
	}
	if err := s.exec(ctx, b.String()); err != nil {
		// The SET is all or nothing, but be safe: the state is unknown.
		s.dirty = true
		return err
	}
	if s.set == nil {
		s.set = map[string]string{}
	}
	for _, n := range names {
		s.set[n] = want[n]
	}
	for _, n := range revert {
		delete(s.set, n)
	}
	return nil
}

// defaultsOf returns the engine's default values of names, reading the
// ones not yet known from system.settings (through s, a session in the
// default profile: the values do not depend on the session). A name the
// engine does not list (a custom setting) is left out.
func (e *Engine) defaultsOf(ctx context.Context, s *Session, names []string) (map[string]string, error) {
	out := make(map[string]string, len(names))
	var missing []string
	e.mu.Lock()
	for _, n := range names {
		if v, ok := e.defaults[n]; ok {
			out[n] = v
		} else {
			missing = append(missing, n)
		}
	}
	e.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	quoted := make([]string, len(missing))
	for i, n := range missing {
		quoted[i] = QuoteString(n)
	}
	// The session has not changed these (it sets only names whose
	// defaults are known): value is the profile's.
	res, err := s.query(ctx, "SELECT name, value FROM system.settings WHERE name IN ("+strings.Join(quoted, ", ")+")", "RowBinary", nil, false)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.defaults == nil {
		e.defaults = map[string]string{}
	}
	for len(res) > 0 {
		var name, value string
		if name, res, err = readString(res); err == nil {
			value, res, err = readString(res)
		}
		if err != nil {
			return nil, err
		}
		e.defaults[name] = value
		out[name] = value
	}
	return out, nil
}

// readString decodes one RowBinary String.
func readString(b []byte) (string, []byte, error) {
	var n, shift uint64
	for i := 0; i < len(b) && i < 10; i++ {
		n |= uint64(b[i]&0x7f) << shift
		shift += 7
		if b[i] < 0x80 {
			b = b[i+1:]
			if n > uint64(len(b)) {
				break
			}
			return string(b[:n]), b[n:], nil
		}
	}
	return "", nil, errors.New("chdb: malformed RowBinary string")
}

// restore brings the session back to the default database and settings;
// on failure the session is marked dirty.
func (s *Session) restore(ctx context.Context, database string, want map[string]string) error {
	if err := s.apply(ctx, want, true); err != nil {
		s.dirty = true
		return err
	}
	if database == "" {
		database = "default"
	}
	if err := s.Use(ctx, database); err != nil {
		s.dirty = true
		return err
	}
	return nil
}

// QuoteIdent quotes a ClickHouse identifier with backticks.
func QuoteIdent(s string) string {
	return "`" + strings.NewReplacer(`\`, `\\`, "`", "\\`").Replace(s) + "`"
}

// QuoteString quotes a ClickHouse string literal.
func QuoteString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\x00", `\0`).Replace(s) + "'"
}

// Class is what a statement does to state that outlives it
// (chdb_query_class).
type Class uint32

// Statement classes, ascending by how restricted the statement is.
const (
	ReadOnly       Class = 0 // SELECT, SHOW, DESCRIBE, EXPLAIN, EXISTS, CHECK
	Mutating       Class = 1 // INSERT, CREATE, ALTER, DROP, …
	MutatingGlobal Class = 2 // UDFs, access management, writes to system
	Control        Class = 3 // USE, SET, SYSTEM, ATTACH, KILL, …: session state or outside the engine
	Unknown        Class = 4 // did not parse
)

// Analysis is what the engine's parser says about a text, without running it.
type Analysis struct {
	Statements int   // executable statements; 0 when the text did not parse
	Class      Class // the maximum over the statements
}

// Classify parses sql with the session's parser and reports what it would
// do; nothing runs and no state changes.
func (s *Session) Classify(sql string) (Analysis, error) {
	a := analysis{structSize: uint32(unsafe.Sizeof(analysis{}))}
	st := loaded.classify(s.conn, ptr(sql), uintptr(len(sql)), nil, 0, &a)
	runtime.KeepAlive(sql)
	if st != 0 {
		return Analysis{}, errors.New("chdb: the engine could not classify the statement")
	}
	return Analysis{Statements: int(a.statementCount), Class: Class(a.queryClass)}, nil
}

// noteState marks the session dirty when sql may change session state
// (SET, USE, several statements), so Release replaces it instead of
// handing that state to the next request.
func (s *Session) noteState(sql string) {
	a, err := s.Classify(sql)
	if err != nil || a.Class == Control || a.Statements > 1 {
		s.dirty = true
	}
}

// cparams flattens a parameter map into C arrays, in a stable order.
type cparams struct {
	names, values       []*byte
	nameLens, valueLens []uintptr
	keep                []string
}

func newParams(p map[string]string) *cparams {
	if len(p) == 0 {
		return nil
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	c := &cparams{}
	for _, k := range keys {
		v := p[k]
		k0, v0 := k+"\x00", v+"\x00" // lengths are explicit; NUL-terminated all the same
		c.keep = append(c.keep, k0, v0)
		c.names = append(c.names, unsafe.StringData(k0))
		c.values = append(c.values, unsafe.StringData(v0))
		c.nameLens = append(c.nameLens, uintptr(len(k)))
		c.valueLens = append(c.valueLens, uintptr(len(v)))
	}
	return c
}

// takeResult copies out and frees a result handle.
func takeResult(res uintptr) ([]byte, uint64, error) {
	if res == 0 {
		return nil, 0, errors.New("chdb: the engine returned no result")
	}
	defer loaded.destroyResult(res)
	if msg := goString(loaded.resultError(res)); msg != "" {
		return nil, 0, parseException(msg)
	}
	n := loaded.resultLength(res)
	var out []byte
	if n > 0 {
		out = make([]byte, n)
		copy(out, unsafe.Slice(loaded.resultBuffer(res), n))
	}
	return out, loaded.resultRowsWritten(res), nil
}

// Query runs sql (one statement, or several separated by semicolons) and
// returns its whole output in format. Parameters bind {name:Type}
// placeholders server-side (never interpolated). It blocks while the
// statement runs: ctx is checked before it starts, a running statement is
// not interrupted (use QueryStream for that).
func (s *Session) Query(ctx context.Context, sql, format string, params map[string]string) ([]byte, error) {
	return s.query(ctx, sql, format, params, true)
}

func (s *Session) query(ctx context.Context, sql, format string, params map[string]string, note bool) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.statements++
	if note {
		s.noteState(sql)
	}
	var res uintptr
	if p := newParams(params); p != nil {
		res = loaded.queryParamsN(s.conn, ptr(sql), uintptr(len(sql)), ptr(format), uintptr(len(format)),
			&p.names[0], &p.nameLens[0], &p.values[0], &p.valueLens[0], uintptr(len(p.names)))
		runtime.KeepAlive(p)
	} else {
		res = loaded.queryN(s.conn, ptr(sql), uintptr(len(sql)), ptr(format), uintptr(len(format)))
	}
	runtime.KeepAlive(sql)
	runtime.KeepAlive(format)
	out, _, err := takeResult(res)
	return out, err
}

// Exec runs a statement and discards its output. Blocking.
func (s *Session) Exec(ctx context.Context, sql string) error {
	_, err := s.Query(ctx, sql, "TabSeparated", nil)
	return err
}

func (s *Session) exec(ctx context.Context, sql string) error {
	_, err := s.query(ctx, sql, "TabSeparated", nil, false)
	return err
}

// QueryStream runs one statement and writes its output to w chunk by chunk
// as the engine produces it, so large results are never buffered whole.
// Between chunks it checks ctx and stops (cancelling the query) when ctx
// ends or w fails; the wait for one chunk is not interruptible. wrote
// reports whether any byte reached w (after that an error can no longer
// become an HTTP status).
func (s *Session) QueryStream(ctx context.Context, sql, format string, params map[string]string, w io.Writer) (wrote bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.noteState(sql)
	var h uintptr
	if p := newParams(params); p != nil {
		h = loaded.streamQueryParamN(s.conn, ptr(sql), uintptr(len(sql)), ptr(format), uintptr(len(format)),
			&p.names[0], &p.nameLens[0], &p.values[0], &p.valueLens[0], uintptr(len(p.names)))
		runtime.KeepAlive(p)
	} else {
		h = loaded.streamQueryN(s.conn, ptr(sql), uintptr(len(sql)), ptr(format), uintptr(len(format)))
	}
	runtime.KeepAlive(sql)
	runtime.KeepAlive(format)
	if h == 0 {
		return false, errors.New("chdb: the engine returned no stream")
	}
	defer loaded.destroyResult(h)
	if msg := goString(loaded.resultError(h)); msg != "" {
		return false, parseException(msg)
	}
	for {
		if err := ctx.Err(); err != nil {
			loaded.streamCancel(s.conn, h)
			return wrote, err
		}
		chunk, _, err := takeResult(loaded.streamFetch(s.conn, h))
		if err != nil {
			return wrote, err
		}
		if len(chunk) == 0 {
			return wrote, nil
		}
		if _, err := w.Write(chunk); err != nil {
			loaded.streamCancel(s.conn, h)
			return true, err
		}
		wrote = true
	}
}

// insertChunk is how much insert data is handed to the engine at a time.
const insertChunk = 1 << 20

// Insert runs an INSERT statement without FORMAT clause and data (e.g.
// "INSERT INTO t (a, b)"), reading data encoded in format from r in chunks
// and passing it through the engine's stream-insert functions, which are
// binary safe (unlike data inline in a query, which ends at the first blank
// line). Parameters bind {name:Type} placeholders in the statement. It
// returns the rows written (including rows cascaded to materialized views).
//
// Blocking; ctx is checked between chunks and cancels the insert (nothing
// is committed); a blocked read from r is not interrupted by ctx.
func (s *Session) Insert(ctx context.Context, sql, format string, params map[string]string, r io.Reader) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var st uintptr
	if p := newParams(params); p != nil {
		st = loaded.insertParamsN(s.conn, ptr(sql), uintptr(len(sql)), ptr(format), uintptr(len(format)),
			&p.names[0], &p.nameLens[0], &p.values[0], &p.valueLens[0], uintptr(len(p.names)))
		runtime.KeepAlive(p)
	} else {
		st = loaded.insertN(s.conn, ptr(sql), uintptr(len(sql)), ptr(format), uintptr(len(format)))
	}
	runtime.KeepAlive(sql)
	runtime.KeepAlive(format)
	if st == 0 {
		return 0, errors.New("chdb: the engine returned no insert stream")
	}
	defer loaded.insertDestroy(st)
	if msg := goString(loaded.insertError(st)); msg != "" {
		return 0, parseException(msg)
	}
	buf := make([]byte, insertChunk)
	for {
		if err := ctx.Err(); err != nil {
			loaded.insertCancel(st)
			return 0, err
		}
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			failed := loaded.insertAppend(st, &buf[0], uintptr(n)) != 0
			runtime.KeepAlive(buf)
			if failed {
				msg := goString(loaded.insertError(st))
				loaded.insertCancel(st)
				if msg == "" {
					msg = "the insert stream refused the data"
				}
				return 0, parseException(msg)
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			loaded.insertCancel(st)
			return 0, fmt.Errorf("chdb: reading insert data: %w", rerr)
		}
	}
	_, rows, err := takeResult(loaded.insertDone(st))
	return rows, err
}
