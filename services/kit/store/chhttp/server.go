// Package chhttp serves ClickHouse's HTTP interface on top of the embedded
// engine (services/kit/store/chdb), so clickhouse-go (Protocol: HTTP), curl,
// Grafana and DBeaver work against it unchanged.
//
// What it speaks: GET and POST queries (`query=` plus body), `database=`,
// `default_format=`, `param_<name>=` (bound server-side), other URL
// parameters as settings, INSERT … FORMAT X with the data in the body
// (streamed into the engine's binary-safe insert), ClickHouse compressed
// blocks (`compress=1` answers, `decompress=1` inserts), gzip/deflate/br
// request bodies, gzip answers with `enable_http_compression=1`, errors as
// `Code: N. DB::Exception: …` with X-ClickHouse-Exception-Code, /ping, and
// the clickhouse-go handshake.
package chhttp

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/ch-go/compress"
	"github.com/andybalholm/brotli"

	"github.com/orbitflow/orbitflow/services/kit/store/chdb"
)

// Config configures the server.
type Config struct {
	// Addr is host:port; port 0 picks a free one (see Server.Addr).
	Addr string
	// User and Password: when Password is set, every request must present
	// them (X-ClickHouse-User/Key headers, basic auth, or user/password
	// URL parameters).
	User     string
	Password string
	// MaxQueryBytes bounds the SQL text of a request (not insert data).
	MaxQueryBytes int64
	// BufferBytes is how much of a result is buffered to answer with a
	// Content-Length; larger results stream chunked.
	BufferBytes int
}

// DefaultConfig listens on ClickHouse's HTTP port on loopback.
func DefaultConfig() Config {
	return Config{Addr: "127.0.0.1:8123", User: "default", MaxQueryBytes: 1 << 20, BufferBytes: 8 << 20}
}

// Validate reports every problem.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr: want host:port, got %q", c.Addr))
	}
	if c.Password != "" && c.User == "" {
		errs = append(errs, errors.New("user: required when a password is set"))
	}
	if c.MaxQueryBytes < 1024 {
		errs = append(errs, fmt.Errorf("max_query_bytes: at least 1024, got %d", c.MaxQueryBytes))
	}
	return errors.Join(errs...)
}

// Server is the HTTP interface. Start listens; Shutdown stops it.
type Server struct {
	cfg    Config
	engine *chdb.Engine
	log    *slog.Logger

	mu   sync.Mutex
	srv  *http.Server
	addr string
}

// New returns a server on engine.
func New(engine *chdb.Engine, cfg Config, log *slog.Logger) *Server {
	d := DefaultConfig()
	if cfg.MaxQueryBytes == 0 {
		cfg.MaxQueryBytes = d.MaxQueryBytes
	}
	if cfg.BufferBytes == 0 {
		cfg.BufferBytes = d.BufferBytes
	}
	if cfg.User == "" {
		cfg.User = d.User
	}
	return &Server{cfg: cfg, engine: engine, log: log}
}

// Start listens on cfg.Addr and serves on its own goroutine.
func (s *Server) Start(_ context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("chhttp: listen %s: %w (another ClickHouse or orbitflow on this port? set clickhouse.embedded.listen)", s.cfg.Addr, err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute}
	s.mu.Lock()
	s.srv, s.addr = srv, ln.Addr().String()
	s.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("ClickHouse HTTP interface stopped", "err", err)
		}
	}()
	return nil
}

// Addr returns the bound address.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Shutdown stops accepting requests and waits for running ones until ctx
// ends. Idempotent; safe without Start.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Shutdown(ctx)
}

// Handler returns the HTTP handler, for in-process use.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ping", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "Ok.\n") })
	mux.HandleFunc("/replicas_status", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "Ok.\n") })
	mux.HandleFunc("/", s.serveQuery)
	return mux
}

// URL parameters that are not settings.
var clientParams = map[string]bool{
	"query": true, "database": true, "default_format": true, "user": true, "password": true,
	"compress": true, "decompress": true, "client_protocol_version": true, "query_id": true,
	"session_id": true, "session_timeout": true, "session_check": true, "quota_key": true,
	"enable_http_compression": true, "http_zlib_compression_level": true, "buffer_size": true,
	"wait_end_of_query": true, "send_progress_in_http_headers": true, "http_headers_progress_interval_ms": true,
	"network_compression_method": true, "network_zstd_compression_level": true, "max_result_bytes": false,
	"add_http_cors_header": true, "role": true, "default_session_timeout": true, "stacktrace": true,
}

var (
	settingName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]{0,127}$`)
	// handshake is what clickhouse-go asks on every new connection.
	handshake = regexp.MustCompile(`(?is)^\s*SELECT\s+displayName\(\),\s*version\(\),\s*revision\(\),\s*timezone\(\)\s*$`)
)

// request is a parsed ClickHouse HTTP request.
type request struct {
	query    string // SQL text (for inserts: the statement without data)
	data     io.Reader
	database string
	format   string
	params   map[string]string
	settings [][2]string
	compress bool
	gzipOut  bool
}

type httpError struct {
	status int
	ex     *chdb.Exception
}

func (e *httpError) Error() string { return e.ex.Message }

func newError(status, code int, name, format string, a ...any) *httpError {
	return &httpError{status: status, ex: &chdb.Exception{Code: code, Name: name, Message: fmt.Sprintf("Code: %d. DB::Exception: %s. (%s)", code, fmt.Sprintf(format, a...), name)}}
}

func (s *Server) serveQuery(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		s.fail(w, newError(http.StatusMethodNotAllowed, 1, "HTTP_METHOD_NOT_ALLOWED", "use GET or POST"))
		return
	}
	if err := s.authenticate(r); err != nil {
		s.fail(w, err)
		return
	}
	req, err := s.parse(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	if req.data != nil {
		s.insert(w, r, req)
		return
	}
	s.select_(w, r, req)
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
	okUser := subtle.ConstantTimeCompare([]byte(user), []byte(s.cfg.User)) == 1
	okPass := subtle.ConstantTimeCompare([]byte(pass), []byte(s.cfg.Password)) == 1
	if okUser && okPass {
		return nil
	}
	s.log.Warn("ClickHouse HTTP: authentication failed", "user", user, "remote", r.RemoteAddr)
	return newError(http.StatusForbidden, 516, "AUTHENTICATION_FAILED", "%s: Authentication failed: password is incorrect, or there is no user with such name", user)
}

var (
	insertRe = regexp.MustCompile(`(?is)^\s*INSERT\s+INTO\s`)
	formatRe = regexp.MustCompile(`(?is)\bFORMAT\s+([A-Za-z0-9_]+)[ \t]?\r?\n?`)
	valuesRe = regexp.MustCompile(`(?is)\bVALUES\b\s*`)
	// trailingFormatRe finds a SELECT's own FORMAT clause (for the headers).
	trailingFormatRe = regexp.MustCompile(`(?is)\bFORMAT\s+([A-Za-z0-9_]+)\s*;?\s*$`)
)

func (s *Server) parse(r *http.Request) (*request, *httpError) {
	q := r.URL.Query()
	req := &request{
		database: q.Get("database"),
		format:   q.Get("default_format"),
		params:   map[string]string{},
		compress: q.Get("compress") == "1",
		gzipOut:  q.Get("enable_http_compression") == "1" && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip"),
	}
	if req.database == "" {
		req.database = r.Header.Get("X-ClickHouse-Database")
	}
	if req.format == "" {
		req.format = r.Header.Get("X-ClickHouse-Format")
	}
	if req.format == "" {
		req.format = "TabSeparated"
	}
	for k, vs := range q {
		switch {
		case strings.HasPrefix(k, "param_"):
			req.params[strings.TrimPrefix(k, "param_")] = vs[0]
		case clientParams[k]:
		case strings.HasSuffix(k, "_format") || strings.HasSuffix(k, "_structure") || strings.HasSuffix(k, "_types"):
			return nil, newError(http.StatusBadRequest, 48, "NOT_IMPLEMENTED", "external tables are not supported by the embedded engine (parameter %s)", k)
		default:
			if !settingName.MatchString(k) {
				return nil, newError(http.StatusBadRequest, 115, "UNKNOWN_SETTING", "setting name %q is not valid", k)
			}
			req.settings = append(req.settings, [2]string{k, vs[0]})
		}
	}
	query := q.Get("query")
	if int64(len(query)) > s.cfg.MaxQueryBytes {
		return nil, newError(http.StatusRequestEntityTooLarge, 396, "TOO_LARGE_QUERY", "query is %d bytes, more than %d", len(query), s.cfg.MaxQueryBytes)
	}
	var body io.Reader = http.NoBody
	if r.Method == http.MethodPost {
		var err error
		if body, err = decodeBody(r, q.Get("decompress") == "1"); err != nil {
			return nil, newError(http.StatusBadRequest, 271, "CANNOT_DECOMPRESS", "%v", err)
		}
	}
	// An INSERT whose data follows in the body (or after FORMAT X in the
	// query parameter).
	if insertRe.MatchString(query) {
		if stmt, format, rest, ok := splitInsert(query); ok {
			req.query, req.format = stmt, format
			req.data = io.MultiReader(strings.NewReader(rest), body)
			return req, nil
		}
		// INSERT … SELECT: an ordinary statement.
	}
	if r.Method == http.MethodPost {
		// The body is the query, or (when the query parameter has none) an
		// INSERT followed by its data: read only the statement's head.
		br := bufio.NewReaderSize(body, 64<<10)
		if query == "" {
			head, _ := br.Peek(64 << 10)
			if insertRe.Match(head) {
				stmt, format, rest, ok := splitInsert(string(head))
				if ok {
					consumed := len(head) - len(rest)
					_, _ = br.Discard(consumed)
					req.query, req.format, req.data = stmt, format, br
					return req, nil
				}
			}
		}
		b, err := io.ReadAll(io.LimitReader(br, s.cfg.MaxQueryBytes+1))
		if err != nil {
			return nil, newError(http.StatusBadRequest, 1, "CANNOT_READ_FROM_SOCKET", "reading the request body: %v", err)
		}
		if int64(len(query)+len(b)) > s.cfg.MaxQueryBytes {
			return nil, newError(http.StatusRequestEntityTooLarge, 396, "TOO_LARGE_QUERY", "query is more than %d bytes", s.cfg.MaxQueryBytes)
		}
		if query != "" && len(b) > 0 {
			query += "\n"
		}
		query += string(b)
	}
	if strings.TrimSpace(query) == "" {
		return nil, newError(http.StatusBadRequest, 62, "SYNTAX_ERROR", "empty query")
	}
	if r.Method == http.MethodGet && !readOnly(query) {
		return nil, newError(http.StatusBadRequest, 164, "READONLY", "cannot execute a modifying query in a GET request (readonly mode); use POST")
	}
	req.query = query
	if m := trailingFormatRe.FindStringSubmatch(query); m != nil {
		req.format = m[1]
	}
	return req, nil
}

// splitInsert cuts "INSERT INTO t (...) FORMAT X<sep>data" into the
// statement, the format and the data that followed in the same text.
func splitInsert(text string) (stmt, format, rest string, ok bool) {
	if m := formatRe.FindStringSubmatchIndex(text); m != nil {
		return strings.TrimSpace(text[:m[0]]), text[m[2]:m[3]], text[m[1]:], true
	}
	if m := valuesRe.FindStringIndex(text); m != nil {
		return strings.TrimSpace(text[:m[0]]), "Values", text[m[1]:], true
	}
	return "", "", "", false
}

func readOnly(query string) bool {
	switch firstWord(query) {
	case "SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN", "CHECK":
		return true
	}
	return false
}

// streamable reports whether the engine can stream the statement's result.
func streamable(query string) bool {
	switch firstWord(query) {
	case "SELECT", "WITH":
		return true
	}
	return false
}

// firstWord returns the statement's first keyword, upper-cased, skipping
// comments and opening parentheses.
func firstWord(query string) string {
	q := strings.TrimLeft(query, " \t\r\n(")
	for strings.HasPrefix(q, "--") || strings.HasPrefix(q, "/*") {
		end := "\n"
		if strings.HasPrefix(q, "/*") {
			end = "*/"
		}
		i := strings.Index(q, end)
		if i < 0 {
			return ""
		}
		q = strings.TrimLeft(q[i+len(end):], " \t\r\n(")
	}
	end := strings.IndexAny(q, " \t\r\n(")
	if end < 0 {
		end = len(q)
	}
	return strings.ToUpper(q[:end])
}

func decodeBody(r *http.Request, chCompressed bool) (io.Reader, error) {
	var body io.Reader = r.Body
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, err
		}
		body = zr
	case "deflate":
		zr, err := zlib.NewReader(body)
		if err != nil {
			return nil, err
		}
		body = zr
	case "br":
		body = brotli.NewReader(body)
	default:
		return nil, fmt.Errorf("unsupported Content-Encoding %q (gzip, deflate, br)", enc)
	}
	if chCompressed {
		body = eofReader{compress.NewReader(body)}
	}
	return body, nil
}

// eofReader turns ch-go's wrapped EOF at a normal end into io.EOF.
type eofReader struct{ r io.Reader }

func (e eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && errors.Is(err, io.EOF) {
		err = io.EOF
	}
	return n, err
}

// session takes a pooled session and applies the request's database and
// settings; the returned func restores it.
func (s *Server) session(ctx context.Context, req *request) (*chdb.Session, func(), *httpError) {
	sess, err := s.engine.Acquire(ctx)
	if err != nil {
		return nil, nil, newError(http.StatusServiceUnavailable, 202, "TOO_MANY_SIMULTANEOUS_QUERIES", "%v", err)
	}
	release := func() { s.engine.Release(sess) }
	if req.database != "" && req.database != "default" {
		if err := sess.Exec("USE " + quoteIdent(req.database)); err != nil {
			release()
			return nil, nil, toHTTPError(err)
		}
		release = func() {
			if err := sess.Exec("USE default"); err != nil {
				sess.MarkDirty()
			}
			s.engine.Release(sess)
		}
	}
	if len(req.settings) > 0 {
		// Settings stick to a session; a session that took some is replaced
		// on release so they cannot leak into another request.
		sess.MarkDirty()
		for _, kv := range req.settings {
			if err := sess.Exec("SET " + kv[0] + " = " + quoteValue(kv[1])); err != nil {
				release()
				return nil, nil, toHTTPError(err)
			}
		}
	}
	return sess, release, nil
}

func quoteIdent(s string) string {
	return "`" + strings.ReplaceAll(strings.ReplaceAll(s, "\\", "\\\\"), "`", "\\`") + "`"
}

// quoteValue renders a setting value: numbers and booleans as they are,
// anything else as a string literal.
func quoteValue(v string) string {
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return v
	}
	switch strings.ToLower(v) {
	case "true", "false":
		return v
	}
	return "'" + strings.ReplaceAll(strings.ReplaceAll(v, "\\", "\\\\"), "'", "\\'") + "'"
}

func (s *Server) select_(w http.ResponseWriter, r *http.Request, req *request) {
	if handshake.MatchString(req.query) && strings.EqualFold(req.format, "Native") {
		s.handshake(w, req)
		return
	}
	query := req.query
	sess, release, herr := s.session(r.Context(), req)
	if herr != nil {
		s.fail(w, herr)
		return
	}
	defer release()
	out := &responseWriter{w: w, limit: s.cfg.BufferBytes, compress: req.compress, gzip: req.gzipOut, format: req.format}
	var err error
	var wrote bool
	if streamable(query) {
		wrote, err = sess.QueryStream(r.Context(), query, req.format, req.params, out)
	} else {
		// DDL and other statements run whole (the engine streams only SELECTs).
		var res []byte
		if res, err = sess.Query(query, req.format, req.params); err == nil {
			_, err = out.Write(res)
		}
	}
	if err != nil {
		if !wrote && !out.streaming {
			s.fail(w, toHTTPError(err))
			return
		}
		// Headers are gone: ClickHouse appends the exception to the body.
		out.fail(err)
		s.log.Warn("ClickHouse HTTP: query failed mid-stream", "err", err)
		return
	}
	if err := out.finish(); err != nil {
		s.log.Debug("ClickHouse HTTP: client went away", "err", err)
	}
}

func (s *Server) insert(w http.ResponseWriter, r *http.Request, req *request) {
	sess, release, herr := s.session(r.Context(), req)
	if herr != nil {
		s.fail(w, herr)
		return
	}
	defer release()
	rows, err := sess.Insert(r.Context(), req.query, req.format, req.data)
	if err != nil {
		var ex *chdb.Exception
		if !errors.As(err, &ex) {
			sess.MarkDirty()
		}
		s.fail(w, toHTTPError(err))
		return
	}
	w.Header().Set("X-ClickHouse-Summary", summary(0, rows))
	w.Header().Set("Content-Length", "0")
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
		ex = &chdb.Exception{Code: 1000, Name: "STD_EXCEPTION", Message: "Code: 1000. DB::Exception: " + err.Error()}
	}
	status := http.StatusInternalServerError
	switch ex.Code {
	case 60, 81, 82: // UNKNOWN_TABLE, UNKNOWN_DATABASE, DATABASE_ALREADY_EXISTS
		status = http.StatusNotFound
		if ex.Code == 82 {
			status = http.StatusBadRequest
		}
	case 62, 6, 16, 27, 36, 41, 43, 46, 47, 53, 57, 115, 117, 164, 386:
		status = http.StatusBadRequest
	case 516:
		status = http.StatusForbidden
	}
	return &httpError{status: status, ex: ex}
}

func (s *Server) fail(w http.ResponseWriter, e *httpError) {
	if e.status >= 500 {
		s.log.Error("ClickHouse HTTP: query failed", "code", e.ex.Code, "err", e.ex.Message)
	}
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
	gzip      bool
	format    string
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
				o.cw = compress.NewWriter(compress.LevelZero, compress.LZ4)
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
	out := &responseWriter{w: w, limit: len(b) + 1, compress: req.compress, gzip: req.gzipOut, format: "Native"}
	_, _ = out.Write(b)
	_ = out.finish()
}
