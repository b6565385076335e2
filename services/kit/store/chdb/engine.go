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

// Exception is an error raised by the engine.
type Exception struct {
	Code    int
	Name    string // e.g. UNKNOWN_TABLE
	Message string // the full text, "Code: 60. DB::Exception: ..."
}

func (e *Exception) Error() string { return e.Message }

var exceptionRe = regexp.MustCompile(`(?s)Code: (\d+)\. .*?\(([A-Z][A-Z0-9_]+)\)`)

// parseException turns the engine's error text into an *Exception.
func parseException(msg string) *Exception {
	msg = strings.TrimSpace(msg)
	ex := &Exception{Code: 1000, Name: "STD_EXCEPTION", Message: msg}
	if m := exceptionRe.FindStringSubmatch(msg); m != nil {
		ex.Code, _ = strconv.Atoi(m[1])
		ex.Name = m[2]
	} else if strings.HasPrefix(msg, "Code: ") {
		if n, err := strconv.Atoi(strings.SplitN(msg[6:], ".", 2)[0]); err == nil {
			ex.Code = n
		}
	}
	if !strings.HasPrefix(msg, "Code:") {
		ex.Message = fmt.Sprintf("Code: %d. DB::Exception: %s", ex.Code, msg)
	}
	return ex
}

var (
	openMu   sync.Mutex
	openPath string
)

// Engine is the embedded engine on one storage path, with a pool of
// sessions (connections) so queries run in parallel. A connection kept
// outside the pool keeps the engine booted for the Engine's lifetime.
type Engine struct {
	path   string
	anchor *uintptr
	pool   chan *Session
	size   int

	mu     sync.Mutex
	closed bool
	all    []*Session
}

// Option configures Open.
type Option func(*options)

type options struct {
	library  string
	sessions int
}

// WithLibrary sets the library path (default DefaultLibraryPath()).
func WithLibrary(path string) Option { return func(o *options) { o.library = path } }

// WithSessions sets the pool size (default 4).
func WithSessions(n int) Option { return func(o *options) { o.sessions = max(1, n) } }

// Open boots the engine on path (created if missing). Only one path may be
// open per process: a second Open fails until the first Engine is closed.
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
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("chdb: %w", err)
	}
	openMu.Lock()
	defer openMu.Unlock()
	if openPath != "" {
		return nil, fmt.Errorf("chdb: the engine is already open on %s; one storage path per process (isolate by database instead)", openPath)
	}
	e := &Engine{path: abs, pool: make(chan *Session, o.sessions), size: o.sessions}
	if e.anchor, err = connect(abs); err != nil {
		return nil, err
	}
	for i := 0; i < o.sessions; i++ {
		s, err := e.newSession()
		if err != nil {
			e.closeAll()
			return nil, err
		}
		e.pool <- s
	}
	openPath = abs
	return e, nil
}

func connect(path string) (*uintptr, error) {
	args := []string{"clickhouse", "--path=" + path}
	cargs := make([][]byte, len(args))
	argv := make([]*byte, len(args)+1)
	for i, a := range args {
		cargs[i] = append([]byte(a), 0)
		argv[i] = &cargs[i][0]
	}
	c := loaded.connect(int32(len(args)), &argv[0])
	runtime.KeepAlive(cargs)
	if c == nil || *c == 0 {
		return nil, fmt.Errorf("chdb: could not open the engine on %s (another process using it? check the directory's permissions)", path)
	}
	return c, nil
}

func (e *Engine) newSession() (*Session, error) {
	c, err := connect(e.path)
	if err != nil {
		return nil, err
	}
	s := &Session{e: e, connp: c, conn: *c}
	e.mu.Lock()
	e.all = append(e.all, s)
	e.mu.Unlock()
	return s, nil
}

// Path returns the storage path.
func (e *Engine) Path() string { return e.path }

// ErrClosed is returned after Close.
var ErrClosed = errors.New("chdb: engine closed")

// Acquire takes a session from the pool, waiting while all are busy. The
// caller must Release it.
func (e *Engine) Acquire(ctx context.Context) (*Session, error) {
	select {
	case s, ok := <-e.pool:
		if !ok {
			return nil, ErrClosed
		}
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Release returns s to the pool. A session whose state could not be reset
// is replaced by a fresh one.
func (e *Engine) Release(s *Session) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	if s.dirty {
		loaded.closeConn(s.connp)
		for i, x := range e.all {
			if x == s {
				e.all = append(e.all[:i], e.all[i+1:]...)
				break
			}
		}
		e.mu.Unlock()
		fresh, err := e.newSession()
		e.mu.Lock()
		if err != nil {
			e.size--
			return
		}
		s = fresh
	}
	e.pool <- s
}

// Query runs sql on a pooled session and returns the whole result.
func (e *Engine) Query(ctx context.Context, sql, format string) ([]byte, error) {
	s, err := e.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer e.Release(s)
	return s.Query(sql, format, nil)
}

// Close shuts the engine down, waiting for every session to come back.
// Idempotent.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	size := e.size
	e.mu.Unlock()
	for i := 0; i < size; i++ {
		<-e.pool
	}
	e.closeAll()
	return nil
}

func (e *Engine) closeAll() {
	e.mu.Lock()
	e.closed = true
	for _, s := range e.all {
		loaded.closeConn(s.connp)
	}
	e.all = nil
	e.mu.Unlock()
	// The anchor goes last: closing the last connection shuts the engine down.
	if e.anchor != nil {
		loaded.closeConn(e.anchor)
		e.anchor = nil
	}
	openMu.Lock()
	if openPath == e.path {
		openPath = ""
	}
	openMu.Unlock()
}

// Session is one connection. It runs one statement at a time; it is not
// safe for concurrent use.
type Session struct {
	e     *Engine
	connp *uintptr
	conn  uintptr
	dirty bool // state changed and not reset: replace on release
}

// MarkDirty makes Release replace the session instead of reusing it.
func (s *Session) MarkDirty() { s.dirty = true }

// params flattens a parameter map into C arrays, in a stable order.
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
		k0, v0 := k+"\x00", v+"\x00" // NUL-terminated too, for safety
		c.keep = append(c.keep, k0, v0)
		c.names = append(c.names, unsafe.StringData(k0))
		c.values = append(c.values, unsafe.StringData(v0))
		c.nameLens = append(c.nameLens, uintptr(len(k)))
		c.valueLens = append(c.valueLens, uintptr(len(v)))
	}
	return c
}

// result copies out and frees a result handle.
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

// Query runs one statement and returns its whole output in format.
// Parameters bind {name:Type} placeholders server-side.
func (s *Session) Query(sql, format string, params map[string]string) ([]byte, error) {
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

// Exec runs a statement and discards its output.
func (s *Session) Exec(sql string) error {
	_, err := s.Query(sql, "TabSeparated", nil)
	return err
}

// QueryStream runs one statement and writes its output to w chunk by chunk,
// so results larger than memory never buffer whole. It stops early (and
// cancels the query) when ctx ends or w fails. wrote reports whether any
// byte reached w (after that an error can no longer become an HTTP status).
func (s *Session) QueryStream(ctx context.Context, sql, format string, params map[string]string, w io.Writer) (wrote bool, err error) {
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
		if ctx.Err() != nil {
			loaded.streamCancel(s.conn, h)
			return wrote, ctx.Err()
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

// Insert runs an INSERT statement (without FORMAT and data, e.g.
// "INSERT INTO t (a, b)") reading format-encoded data from r in chunks
// through the stream-insert functions (binary safe). It returns the rows
// written.
func (s *Session) Insert(ctx context.Context, sql, format string, r io.Reader) (uint64, error) {
	st := loaded.insertN(s.conn, ptr(sql), uintptr(len(sql)), ptr(format), uintptr(len(format)))
	runtime.KeepAlive(sql)
	runtime.KeepAlive(format)
	if st == 0 {
		return 0, errors.New("chdb: the engine returned no insert stream")
	}
	defer loaded.insertDestroy(st)
	if msg := goString(loaded.insertError(st)); msg != "" {
		return 0, parseException(msg)
	}
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			loaded.insertCancel(st)
			return 0, err
		}
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			ok := loaded.insertAppend(st, &buf[0], uintptr(n))
			runtime.KeepAlive(buf)
			if ok != 0 {
				msg := goString(loaded.insertError(st))
				loaded.insertCancel(st)
				if msg == "" {
					msg = "insert stream refused data"
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
