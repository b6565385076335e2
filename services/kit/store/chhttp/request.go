package chhttp

import (
	"bufio"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"sort"
	"strings"

	"github.com/ClickHouse/ch-go/compress"
	"github.com/andybalholm/brotli"

	"github.com/orbitflow/orbitflow/services/kit/store/chdb"
)

// clientParams are URL parameters that are not settings: the HTTP
// interface's own, or client-side ones the embedded engine ignores
// (sessions are per request here: session_id is accepted and ignored).
var clientParams = map[string]bool{
	"query": true, "database": true, "default_format": true, "user": true, "password": true,
	"compress": true, "decompress": true, "client_protocol_version": true, "query_id": true,
	"session_id": true, "session_timeout": true, "session_check": true, "quota_key": true,
	"enable_http_compression": true, "http_zlib_compression_level": true, "buffer_size": true,
	"wait_end_of_query": true, "send_progress_in_http_headers": true, "http_headers_progress_interval_ms": true,
	"network_compression_method": true, "network_zstd_compression_level": true,
	"add_http_cors_header": true, "role": true, "default_session_timeout": true, "stacktrace": true,
	"http_native_compression_disable_checksumming_on_decompress": true,
}

// handshake is what clickhouse-go asks on every new connection.
var handshake = regexp.MustCompile(`(?is)^\s*SELECT\s+displayName\(\),\s*version\(\),\s*revision\(\),\s*timezone\(\)\s*$`)

// request is a parsed ClickHouse HTTP request.
type request struct {
	query    string    // SQL text; for inserts the statement without FORMAT and data
	data     io.Reader // insert data, nil for other statements
	database string
	format   string // output format, or the insert data's format
	params   map[string]string
	settings []chdb.Setting
	compress bool            // answer in ClickHouse compressed blocks
	method   compress.Method // their codec
	gzipOut  bool
	queryID  string
}

// headLimit is how much of a POST body is examined for an INSERT's
// FORMAT / VALUES clause when the statement is in the body.
const headLimit = 64 << 10

func (s *Server) parse(r *http.Request) (*request, *httpError) {
	q := r.URL.Query()
	req := &request{
		database: q.Get("database"),
		format:   q.Get("default_format"),
		params:   map[string]string{},
		compress: q.Get("compress") == "1",
		method:   compress.LZ4,
		gzipOut:  q.Get("enable_http_compression") == "1" && acceptsGzip(r.Header.Get("Accept-Encoding")),
		queryID:  q.Get("query_id"),
	}
	if strings.EqualFold(q.Get("network_compression_method"), "zstd") {
		req.method = compress.ZSTD
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
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "multipart/form-data" {
		return nil, newError(http.StatusBadRequest, 48, "NOT_IMPLEMENTED", "external tables (multipart/form-data) are not supported by the embedded engine")
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := q.Get(k)
		switch {
		case strings.HasPrefix(k, "param_"):
			req.params[strings.TrimPrefix(k, "param_")] = v
		case clientParams[k]:
		default:
			req.settings = append(req.settings, chdb.Setting{Name: k, Value: v})
		}
	}
	query := q.Get("query")
	if int64(len(query)) > s.cfg.MaxQueryBytes {
		return nil, newError(http.StatusRequestEntityTooLarge, 396, "TOO_LARGE_QUERY", "query is %d bytes, more than %d", len(query), s.cfg.MaxQueryBytes)
	}
	if r.Method == http.MethodGet {
		if strings.TrimSpace(query) == "" {
			return nil, newError(http.StatusBadRequest, 62, "SYNTAX_ERROR", "Empty query")
		}
		req.query = query
		req.format = outputFormat(query, req.format)
		return req, nil
	}
	body, err := decodeBody(r, q.Get("decompress") == "1")
	if err != nil {
		return nil, newError(http.StatusBadRequest, 271, "CANNOT_DECOMPRESS", "%v", err)
	}
	// INSERT … FORMAT X / VALUES in the query parameter: the data is what
	// follows there, then the whole body.
	if firstWord(query) == "INSERT" {
		if stmt, format, rest, ok := splitInsert(query); ok {
			req.query, req.format = stmt, format
			req.data = io.MultiReader(strings.NewReader(rest), body)
			return req, nil
		}
	}
	// Otherwise the text is the query parameter, a newline and the body, as
	// ClickHouse reads it; only an INSERT's head is read before streaming
	// the rest into the engine.
	text := body
	if query != "" {
		text = io.MultiReader(strings.NewReader(query+"\n"), body)
	}
	br := bufio.NewReaderSize(text, len(query)+1+headLimit)
	head, _ := br.Peek(len(query) + 1 + headLimit)
	if firstWord(string(head)) == "INSERT" {
		if stmt, format, rest, ok := splitInsert(string(head)); ok {
			_, _ = br.Discard(len(head) - len(rest))
			req.query, req.format, req.data = stmt, format, br
			return req, nil
		}
	}
	b, err := io.ReadAll(io.LimitReader(br, s.cfg.MaxQueryBytes+2))
	if err != nil {
		return nil, newError(http.StatusBadRequest, 0, "", "Cannot read the request body: %v", err)
	}
	text2 := strings.TrimSuffix(string(b), "\n")
	if query != "" && len(b) == len(query)+1 {
		text2 = query // the body was empty
	}
	if int64(len(text2)) > s.cfg.MaxQueryBytes {
		return nil, newError(http.StatusRequestEntityTooLarge, 396, "TOO_LARGE_QUERY", "query is more than %d bytes", s.cfg.MaxQueryBytes)
	}
	if strings.TrimSpace(text2) == "" {
		return nil, newError(http.StatusBadRequest, 62, "SYNTAX_ERROR", "Empty query")
	}
	req.query = text2
	req.format = outputFormat(text2, req.format)
	return req, nil
}

func acceptsGzip(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		enc, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(enc, "gzip") {
			return true
		}
	}
	return false
}

// trailingFormat finds a statement's own FORMAT clause.
var trailingFormat = regexp.MustCompile(`(?is)\bFORMAT\s+([A-Za-z0-9_]+)\s*;?\s*$`)

// outputFormat is the statement's FORMAT clause, else def (the request's
// default_format or TabSeparated). The engine honours the clause either
// way; this is for the answer's headers.
func outputFormat(query, def string) string {
	if m := trailingFormat.FindStringSubmatch(query); m != nil {
		return m[1]
	}
	return def
}

// splitInsert cuts "INSERT INTO t [(cols)] [SETTINGS …] FORMAT X<sep>data"
// or "… VALUES data" into the statement, the data's format and the data
// that follows in the same text. It scans ClickHouse tokens, skipping
// quoted strings, identifiers, comments and parentheses, so a column or a
// value named format or values does not count. ok is false for an INSERT
// … SELECT and for text with no data clause. Exactly one separator after
// the format name (a space or tab, then an optional newline, or a newline)
// is consumed, so the data's own leading whitespace and blank lines stay.
func splitInsert(text string) (stmt, format, rest string, ok bool) {
	depth := 0
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			i = skipQuoted(text, i)
		case c == '-' && strings.HasPrefix(text[i:], "--"), c == '#':
			if j := strings.IndexByte(text[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				return "", "", "", false
			}
		case c == '/' && strings.HasPrefix(text[i:], "/*"):
			j := strings.Index(text[i+2:], "*/")
			if j < 0 {
				return "", "", "", false
			}
			i += j + 4
		case c == '(':
			depth++
			i++
		case c == ')':
			depth--
			i++
		case isWordByte(c):
			j := i
			for j < len(text) && isWordByte(text[j]) {
				j++
			}
			word := text[i:j]
			if depth == 0 {
				switch strings.ToUpper(word) {
				case "SELECT", "WITH":
					return "", "", "", false
				case "VALUES":
					return strings.TrimSpace(text[:i]), "Values", text[j:], true
				case "FORMAT":
					k := j
					for k < len(text) && isSpace(text[k]) {
						k++
					}
					n := k
					for n < len(text) && isWordByte(text[n]) {
						n++
					}
					if n == k {
						return "", "", "", false
					}
					return strings.TrimSpace(text[:i]), text[k:n], skipSeparator(text[n:]), true
				}
			}
			i = j
		default:
			i++
		}
	}
	return "", "", "", false
}

// skipSeparator drops one separator before inline data: a space or tab,
// then an optional (CR)LF; or a (CR)LF.
func skipSeparator(s string) string {
	if s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	if strings.HasPrefix(s, "\r\n") {
		return s[2:]
	}
	return strings.TrimPrefix(s, "\n")
}

// skipQuoted returns the index after the quoted token starting at i
// (backslash escapes and doubled quotes), or len(text) if unterminated.
func skipQuoted(text string, i int) int {
	q := text[i]
	for j := i + 1; j < len(text); j++ {
		switch text[j] {
		case '\\':
			j++
		case q:
			if j+1 < len(text) && text[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(text)
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// streamable reports whether the engine can stream the statement's result.
func streamable(query string) bool {
	switch firstWord(query) {
	case "SELECT", "WITH":
		return true
	}
	return false
}

// firstWord returns the statement's first keyword, upper-cased, skipping
// whitespace, comments and opening parentheses.
func firstWord(query string) string {
	q := strings.TrimLeft(query, " \t\r\n\f(")
	for strings.HasPrefix(q, "--") || strings.HasPrefix(q, "/*") || strings.HasPrefix(q, "#") {
		end := "\n"
		if strings.HasPrefix(q, "/*") {
			end = "*/"
		}
		i := strings.Index(q, end)
		if i < 0 {
			return ""
		}
		q = strings.TrimLeft(q[i+len(end):], " \t\r\n\f(")
	}
	end := 0
	for end < len(q) && isWordByte(q[end]) {
		end++
	}
	return strings.ToUpper(q[:end])
}

// decodeBody undoes Content-Encoding and, with decompress=1, ClickHouse's
// compressed blocks.
func decodeBody(r *http.Request, chCompressed bool) (io.Reader, error) {
	var body io.Reader = r.Body
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip", "x-gzip":
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
