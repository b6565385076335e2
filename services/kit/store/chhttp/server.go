// Package chhttp serves ClickHouse's HTTP interface on top of the embedded
// engine (services/kit/store/chdb), so clickhouse-go (Protocol: HTTP), curl,
// Grafana and DBeaver work against it unchanged.
//
// What it speaks: GET (read-only) and POST queries (`query=` plus body, one
// text as ClickHouse reads it), `database=`, `default_format=` (else the
// statement's FORMAT clause, else TabSeparated), `param_<name>=` (bound
// server-side), other URL parameters as settings, INSERT … FORMAT X /
// VALUES with the data in the query parameter and/or the body (streamed
// into the engine's binary-safe insert), ClickHouse compressed blocks
// (`compress=1` answers, `decompress=1` inserts, LZ4 or ZSTD), gzip/deflate/br
// request bodies, gzip answers with `enable_http_compression=1`, errors as
// `Code: N. DB::Exception: …` with X-ClickHouse-Exception-Code/-Name
// (404 unknown table/database, 400 bad request, 500 otherwise), /ping, a
// bare GET / and the clickhouse-go handshake.
//
// Every request runs on a pooled engine session as if it were a session of
// its own: its database and settings are undone afterwards, and a session
// that ran SET or USE is replaced. session_id is accepted and ignored (no
// HTTP sessions), several statements in one request are refused as
// ClickHouse does, and external tables (multipart bodies) are not
// supported. INSERT … SELECT … FROM input() with data in the body runs as
// one inline query, which is not binary safe (the engine's stream insert
// does not take INSERT … SELECT).
package chhttp

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/ch-go/compress"

	"github.com/orbitflow/orbitflow/services/kit/store/chdb"
)

// Config configures the server. Zero values take DefaultConfig's.
type Config struct {
	// Addr is host:port; port 0 picks a free one (see Server.Addr).
	Addr string
	// User and Password: when Password is set, every request must present
	// them (X-ClickHouse-User/X-ClickHouse-Key headers, basic auth, or
	// user/password URL parameters). Without a Password any user is let in.
	User     string
	Password string
	// MaxQueryBytes bounds the SQL text of a request (query parameter plus
	// body); insert data after FORMAT X / VALUES is not bounded.
	MaxQueryBytes int64
	// BufferBytes is how much of a result is buffered to answer with a
	// Content-Length; larger results stream chunked.
	BufferBytes int
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request including its body; 0
	// (the default) means none, as insert bodies may stream for long.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing an answer; 0 (the default) means none,
	// as large results stream for long.
	WriteTimeout time.Duration
	// IdleTimeout closes idle keep-alive connections.
	IdleTimeout time.Duration
}

// DefaultConfig listens on ClickHouse's HTTP port on loopback.
func DefaultConfig() Config {
	return Config{
		Addr:              "127.0.0.1:8123",
		User:              "default",
		MaxQueryBytes:     1 << 20,
		BufferBytes:       8 << 20,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute,
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Addr == "" {
		c.Addr = d.Addr
	}
	if c.User == "" {
		c.User = d.User
	}
	if c.MaxQueryBytes == 0 {
		c.MaxQueryBytes = d.MaxQueryBytes
	}
	if c.BufferBytes == 0 {
		c.BufferBytes = d.BufferBytes
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	return c
}

// Validate reports every problem, each with its field's name.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr: want host:port, got %q", c.Addr))
	}
	if c.MaxQueryBytes < 1024 {
		errs = append(errs, fmt.Errorf("max_query_bytes: at least 1024, got %d", c.MaxQueryBytes))
	}
	if c.BufferBytes < 0 {
		errs = append(errs, fmt.Errorf("buffer_bytes: must not be negative, got %d", c.BufferBytes))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"read_header_timeout", c.ReadHeaderTimeout}, {"read_timeout", c.ReadTimeout}, {"write_timeout", c.WriteTimeout}, {"idle_timeout", c.IdleTimeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative, got %s", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

// Server is the HTTP interface. Start listens; Shutdown stops it.
type Server struct {
	cfg    Config
	engine *chdb.Engine
	log    *slog.Logger

	mu      sync.Mutex
	srv     *http.Server
	addr    string
	started bool
	served  chan struct{} // closed when Serve returns
}

// New returns a server on engine; cfg's zero fields take DefaultConfig's.
// A nil logger discards.
func New(engine *chdb.Engine, cfg Config, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg.withDefaults(), engine: engine, log: logger}
}

// Start listens on cfg.Addr and serves on its own goroutine until
// Shutdown; ctx is not kept. It fails if called twice.
func (s *Server) Start(_ context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("chhttp: already started")
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("chhttp: listen %s: %w (another ClickHouse or orbitflow on this port?)", s.cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.srv, s.addr, s.started = srv, ln.Addr().String(), true
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("ClickHouse HTTP interface stopped", "err", err)
		}
	}()
	return nil
}

// Addr returns the bound address ("" before Start).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Shutdown stops accepting requests and waits for running ones until ctx
// ends, then for the serving goroutine. Idempotent; safe without Start.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv, served := s.srv, s.served
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, srv.Close())
	}
	<-served
	return err
}

// Handler returns the HTTP handler, for in-process use. It serves /ping,
// /replicas_status and queries on /.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		_, _ = io.WriteString(w, "Ok.\n")
	}
	mux.HandleFunc("/ping", ok)
	mux.HandleFunc("/replicas_status", ok)
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && !r.URL.Query().Has("query") {
			ok(w, r) // as ClickHouse: a bare GET / is a health check
			return
		}
		s.serveQuery(w, r)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, newError(http.StatusNotFound, 0, "", "There is no handle %s", r.URL.Path))
	})
	return mux
}

type httpError struct {
	status int
	ex     *chdb.Exception
}

func (e *httpError) Error() string { return e.ex.Message }

func newError(status, code int, name, format string, a ...any) *httpError {
	msg := fmt.Sprintf("Code: %d. DB::Exception: %s", code, fmt.Sprintf(format, a...))
	if name != "" {
		msg += ". (" + name + ")"
	}
	return &httpError{status: status, ex: &chdb.Exception{Code: code, Name: name, Message: msg}}
}

func (s *Server) serveQuery(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		s.fail(w, r, newError(http.StatusMethodNotAllowed, 0, "", "HTTP method %s is not allowed; use GET or POST", r.Method))
		return
	}
	if err := s.authenticate(r); err != nil {
		s.fail(w, r, err)
		return
	}
	req, err := s.parse(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if req.data != nil {
		s.insert(w, r, req)
		return
	}
	s.query(w, r, req)
}

func (s *Server) authenticate(r *http.Request) *httpError {
	if s.cfg.Password == "" {
		return nil
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		user, pass = r.Header.Get("X-ClickHouse-User"), r.Header.Get("X-ClickHouse-Key")
	}
	if user == "" {
		user, pass = r.URL.Query().Get("user"), r.URL.Query().Get("password")
	}
	if equal(user, s.cfg.User)&equal(pass, s.cfg.Password) == 1 {
		return nil
	}
	return newError(http.StatusForbidden, 516, "AUTHENTICATION_FAILED", "%s: Authentication failed: password is incorrect, or there is no user with such name", user)
}

// equal compares in constant time, lengths included.
func equal(a, b string) int {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:])
}

// session takes a pooled session and applies the request's database and
// settings; Engine.Release restores both.
func (s *Server) session(ctx context.Context, req *request) (*chdb.Session, *httpError) {
	sess, err := s.engine.AcquireWith(ctx, req.database, req.settings)
	var ex *chdb.Exception
	switch {
	case errors.As(err, &ex):
		return nil, toHTTPError(err) // an unknown database or setting
	case err != nil:
		return nil, newError(http.StatusServiceUnavailable, 202, "TOO_MANY_SIMULTANEOUS_QUERIES", "no engine session: %v", err)
	}
	return sess, nil
}

func (s *Server) query(w http.ResponseWriter, r *http.Request, req *request) {
	if handshake.MatchString(req.query) && strings.EqualFold(req.format, "Native") {
		s.handshake(w, req)
		return
	}
	ctx := r.Context()
	sess, herr := s.session(ctx, req)
	if herr != nil {
		s.fail(w, r, herr)
		return
	}
	defer s.engine.Release(sess)
	if a, err := sess.Classify(req.query); err == nil {
		switch {
		case a.Statements > 1:
			s.fail(w, r, newError(http.StatusBadRequest, 62, "SYNTAX_ERROR", "Syntax error (Multi-statements are not allowed)"))
			return
		case r.Method == http.MethodGet && a.Class != chdb.ReadOnly && a.Class != chdb.Unknown:
			s.fail(w, r, newError(http.StatusBadRequest, 164, "READONLY", "Cannot execute query in readonly mode. For queries over HTTP, method GET implies readonly. You should use method POST for modifying queries"))
			return
		}
	}
	out := &responseWriter{w: w, limit: s.cfg.BufferBytes, compress: req.compress, method: req.method, gzip: req.gzipOut, format: req.format, queryID: req.queryID}
	var err error
	var wrote bool
	if streamable(req.query) {
		wrote, err = sess.QueryStream(ctx, req.query, req.format, req.params, out)
	} else {
		// DDL and other statements run whole (the engine streams SELECTs).
		var res []byte
		if res, err = sess.Query(ctx, req.query, req.format, req.params); err == nil {
			_, err = out.Write(res)
		}
	}
	if err != nil {
		if !wrote && !out.streaming {
			s.fail(w, r, toHTTPError(err))
			return
		}
		// Headers are gone: as ClickHouse, append the exception to the body.
		out.fail(err)
		s.logError(r, toHTTPError(err), "ClickHouse HTTP: query failed mid-stream")
		return
	}
	if err := out.finish(); err != nil {
		s.log.Debug("ClickHouse HTTP: client went away", "err", err)
	}
}

func (s *Server) insert(w http.ResponseWriter, r *http.Request, req *request) {
	ctx := r.Context()
	sess, herr := s.session(ctx, req)
	if herr != nil {
		s.fail(w, r, herr)
		return
	}
	defer s.engine.Release(sess)
	rows, err := sess.Insert(ctx, req.query, req.format, req.params, req.data)
	if err != nil {
		var ex *chdb.Exception
		if !errors.As(err, &ex) {
			sess.MarkDirty() // cut off mid-stream: start the next request afresh
		}
		s.fail(w, r, toHTTPError(err))
		return
	}
	h := w.Header()
	h.Set("X-ClickHouse-Summary", summary(0, rows))
	if req.queryID != "" {
		h.Set("X-ClickHouse-Query-Id", req.queryID)
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

func summary(read, written uint64) string {
	return fmt.Sprintf(`{"read_rows":"%d","read_bytes":"0","written_rows":"%d","written_bytes":"0","total_rows_to_read":"0","result_rows":"%d","result_bytes":"0"}`, read, written, written)
}

func toHTTPError(err error) *httpError {
	var he *httpError
	if errors.As(err, &he) {
		return he
	}
	var ex *chdb.Exception
	if !errors.As(err, &ex) {
		code, name := 1000, "STD_EXCEPTION"
		switch {
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			code, name = 394, "QUERY_WAS_CANCELLED"
		case errors.Is(err, chdb.ErrClosed):
			code, name = 202, "TOO_MANY_SIMULTANEOUS_QUERIES"
		}
		ex = &chdb.Exception{Code: code, Name: name, Message: fmt.Sprintf("Code: %d. DB::Exception: %v. (%s)", code, err, name)}
	}
	status := http.StatusInternalServerError
	switch ex.Code {
	case 60, 81, 390: // UNKNOWN_TABLE, UNKNOWN_DATABASE, CANNOT_GET_CREATE_TABLE_QUERY
		status = http.StatusNotFound
	case 6, 16, 27, 36, 41, 43, 46, 47, 53, 57, 62, 82, 115, 117, 164, 386, 457, 456:
		// parse, type, identifier, argument and setting errors: the request is wrong
		status = http.StatusBadRequest
	case 516:
		status = http.StatusForbidden
	case 202:
		status = http.StatusServiceUnavailable
	}
	return &httpError{status: status, ex: ex}
}

// logError logs one line for a failed request: never credentials, never
// the query's parameters.
func (s *Server) logError(r *http.Request, e *httpError, msg string) {
	level := slog.LevelWarn
	if e.status >= 500 {
		level = slog.LevelError
	}
	s.log.Log(r.Context(), level, msg, "status", e.status, "code", e.ex.Code, "name", e.ex.Name, "err", e.ex.Message, "remote", r.RemoteAddr)
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, e *httpError) {
	s.logError(r, e, "ClickHouse HTTP: request failed")
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("X-ClickHouse-Exception-Code", strconv.Itoa(e.ex.Code))
	if e.ex.Name != "" {
		h.Set("X-ClickHouse-Exception-Name", e.ex.Name)
	}
	body := e.ex.Message + "\n"
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.status)
	_, _ = io.WriteString(w, body)
}

// responseWriter buffers a result up to limit to answer with a
// Content-Length, then switches to chunked streaming. With compress it
// writes ClickHouse compressed blocks; with gzip, a gzip stream.
type responseWriter struct {
	w         http.ResponseWriter
	limit     int
	compress  bool
	method    compress.Method
	gzip      bool
	format    string
	queryID   string
	buf       bytes.Buffer
	streaming bool
	gz        *gzip.Writer
	cw        *compress.Writer
	err       error
}

func (o *responseWriter) headers() {
	h := o.w.Header()
	h.Set("Content-Type", contentType(o.format))
	h.Set("X-ClickHouse-Format", o.format)
	h.Set("X-ClickHouse-Timezone", "UTC")
	h.Set("X-ClickHouse-Server-Display-Name", "orbitflow-embedded")
	h.Set("X-ClickHouse-Summary", summary(0, 0))
	if o.queryID != "" {
		h.Set("X-ClickHouse-Query-Id", o.queryID)
	}
	if o.gzip {
		h.Set("Content-Encoding", "gzip")
	}
}

func (o *responseWriter) Write(p []byte) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	if !o.streaming {
		o.buf.Write(p)
		if o.buf.Len() <= o.limit {
			return len(p), nil
		}
		o.streaming = true
		o.headers()
		o.w.WriteHeader(http.StatusOK)
		data := o.buf.Bytes()
		o.buf = bytes.Buffer{}
		if err := o.emit(data); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if err := o.emit(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// emit writes p to the client, encoded as the request asked.
func (o *responseWriter) emit(p []byte) error {
	var dst io.Writer = o.w
	if o.gzip {
		if o.gz == nil {
			o.gz = gzip.NewWriter(o.w)
		}
		dst = o.gz
	}
	for len(p) > 0 {
		chunk := p
		if o.compress {
			if len(chunk) > 1<<20 {
				chunk = chunk[:1<<20]
			}
			if o.cw == nil {
				o.cw = compress.NewWriter(compress.LevelZero, o.method)
			}
			if err := o.cw.Compress(chunk); err != nil {
				o.err = err
				return err
			}
			if _, err := dst.Write(o.cw.Data); err != nil {
				o.err = err
				return err
			}
		} else if _, err := dst.Write(chunk); err != nil {
			o.err = err
			return err
		}
		p = p[len(chunk):]
	}
	return nil
}

// finish sends a buffered result with its length, or ends the stream.
func (o *responseWriter) finish() error {
	if !o.streaming {
		data := o.buf.Bytes()
		if o.compress || o.gzip {
			var enc bytes.Buffer
			saved := o.w
			o.w = bufferRW{saved, &enc}
			if err := o.emit(data); err != nil {
				return err
			}
			if o.gz != nil {
				if err := o.gz.Close(); err != nil {
					return err
				}
			}
			o.w = saved
			data = enc.Bytes()
		}
		o.headers()
		o.w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		o.w.WriteHeader(http.StatusOK)
		_, err := o.w.Write(data)
		return err
	}
	if o.gz != nil {
		return o.gz.Close()
	}
	return nil
}

// fail appends the exception to a response whose headers are sent.
func (o *responseWriter) fail(err error) {
	ex := toHTTPError(err).ex
	if !o.streaming {
		o.streaming = true
		o.headers()
		o.w.WriteHeader(http.StatusOK)
		_ = o.emit(o.buf.Bytes())
	}
	_ = o.emit([]byte("\n" + ex.Message + "\n"))
	if o.gz != nil {
		_ = o.gz.Close()
	}
}

// bufferRW lets emit encode into a buffer while keeping the real headers.
type bufferRW struct {
	http.ResponseWriter
	buf *bytes.Buffer
}

func (b bufferRW) Write(p []byte) (int, error) { return b.buf.Write(p) }

func contentType(format string) string {
	switch strings.ToLower(format) {
	case "tabseparated", "tsv", "tabseparatedwithnames", "tsvwithnames", "tabseparatedwithnamesandtypes", "tsvwithnamesandtypes", "tabseparatedraw", "tsvraw":
		return "text/tab-separated-values; charset=UTF-8"
	case "csv", "csvwithnames", "csvwithnamesandtypes":
		return "text/csv; charset=UTF-8; header=absent"
	case "json", "jsoncompact", "jsonstrings", "jsoneachrow", "jsoncompacteachrow", "jsonstringseachrow", "ndjson", "jsonlines":
		return "application/json; charset=UTF-8"
	case "pretty", "prettycompact", "prettyspace", "vertical", "markdown":
		return "text/plain; charset=UTF-8"
	default:
		return "application/octet-stream"
	}
}

// handshake answers clickhouse-go's hello query itself. The client decodes
// this one answer at its own protocol revision (block info, serialization
// flags) and every later Native answer at the revision it reports here. We
// report 0, the revision the engine's Native output is written at. This
// depends on the client's internals: the contract test pins it.
func (s *Server) handshake(w http.ResponseWriter, req *request) {
	var b []byte
	uvarint := func(v uint64) {
		for v >= 0x80 {
			b = append(b, byte(v)|0x80)
			v >>= 7
		}
		b = append(b, byte(v))
	}
	str := func(v string) { uvarint(uint64(len(v))); b = append(b, v...) }
	// Block info: field 1 is_overflows=0, field 2 bucket_num=-1, end.
	uvarint(1)
	b = append(b, 0)
	uvarint(2)
	b = append(b, 0xff, 0xff, 0xff, 0xff)
	uvarint(0)
	uvarint(4) // columns
	uvarint(1) // rows
	for _, c := range []struct{ name, typ, val string }{
		{"displayName()", "String", "orbitflow-embedded"},
		{"version()", "String", chdb.LibraryVersion()},
		{"revision()", "UInt32", ""},
		{"timezone()", "String", "UTC"},
	} {
		str(c.name)
		str(c.typ)
		b = append(b, 0) // no custom serialization
		if c.typ == "UInt32" {
			b = append(b, 0, 0, 0, 0)
		} else {
			str(c.val)
		}
	}
	out := &responseWriter{w: w, limit: len(b) + 1, compress: req.compress, method: req.method, gzip: req.gzipOut, format: "Native"}
	_, _ = out.Write(b)
	_ = out.finish()
}
