// Package accounts is the customer base Orbitflow measures the community
// against: customer accounts imported from a CSV or JSON Lines file, the
// members linked to them (by e-mail domain hash or an explicit mapping),
// and the reach metrics — the share of accounts with an active member per
// segment and plan, active members per account, and the accounts whose
// community activity dropped. The tables and views are in
// schemas/clickhouse/0026_accounts.sql; the CLI (`orbitflow accounts`),
// the API (/api/v1/accounts/import, /api/v1/communities/{c}/accounts) and
// the weekly report call this package.
//
// Addresses are never needed: an account's domains are hashed with
// events.HashDomain, the connectors send events.HashEmailDomain of the
// actor's address, and the two meet on the hash. Free-mail domains
// (events.FreeMailDomains) are refused as account domains.
package accounts

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/orbitflow/orbitflow/schemas/events"
)

// Account is one customer account.
type Account struct {
	ID      string   `json:"account_id"`
	Name    string   `json:"name"`
	Domains []string `json:"domains"`
	Segment string   `json:"segment,omitempty"`
	Plan    string   `json:"plan,omitempty"`
	Persona string   `json:"persona,omitempty"`
	// Line is where the account is in the imported file (1-based).
	Line int `json:"-"`
}

// Limits of an import.
const (
	MaxAccounts   = 100_000  // rows in one file
	MaxFileBytes  = 32 << 20 // bytes of one file (the API's request bound)
	MaxIDLen      = 128
	MaxNameLen    = 256
	MaxDomains    = 64 // domains of one account
	MaxLabelLen   = 64 // segment, plan
	MaxPersonaLen = 128
)

// Formats of an import file.
const (
	FormatCSV   = "csv"
	FormatJSONL = "jsonl"
)

// Problem is one thing wrong with an import file: the line, the field and
// what was expected.
type Problem struct {
	Line   int    `json:"line"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func (p Problem) String() string {
	if p.Field == "" {
		return fmt.Sprintf("line %d: %s", p.Line, p.Reason)
	}
	return fmt.Sprintf("line %d: %s: %s", p.Line, p.Field, p.Reason)
}

// FileError is a refused import file: every problem found (up to
// maxProblems), in line order. Nothing of the file is imported.
type FileError struct {
	Problems []Problem `json:"problems"`
	// More counts the problems beyond those listed.
	More int `json:"more,omitempty"`
}

const maxProblems = 100

func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString("the file is refused, nothing was imported:")
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	if e.More > 0 {
		fmt.Fprintf(&b, "\n  … and %d more", e.More)
	}
	return b.String()
}

type problems struct{ e FileError }

func (ps *problems) add(line int, field, format string, a ...any) {
	if len(ps.e.Problems) >= maxProblems {
		ps.e.More++
		return
	}
	ps.e.Problems = append(ps.e.Problems, Problem{Line: line, Field: field, Reason: fmt.Sprintf(format, a...)})
}

func (ps *problems) err() error {
	if len(ps.e.Problems) == 0 {
		return nil
	}
	slices.SortStableFunc(ps.e.Problems, func(a, b Problem) int { return a.Line - b.Line })
	e := ps.e
	return &e
}

// FormatOf guesses a file's format from its name or a Content-Type:
// .csv and text/csv are CSV; .jsonl, .ndjson, application/x-ndjson and
// application/jsonl are JSON Lines; "" otherwise.
func FormatOf(nameOrType string) string {
	s := strings.ToLower(strings.TrimSpace(nameOrType))
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	switch {
	case strings.HasSuffix(s, ".csv") || s == "text/csv":
		return FormatCSV
	case strings.HasSuffix(s, ".jsonl") || strings.HasSuffix(s, ".ndjson") || s == "application/x-ndjson" ||
		s == "application/jsonl" || s == "application/x-jsonlines" || s == "application/jsonlines":
		return FormatJSONL
	}
	return ""
}

// Parse reads and validates a whole import file. Any problem refuses the
// file: the error is a *FileError listing every problem with its line
// and field; no account is returned then.
//
// CSV: a header row naming the columns (any order): account_id and name
// are required; domains (separated by ";" — or spaces), segment, plan and
// persona are optional. JSON Lines: one object per line with the same
// keys, domains as an array of strings; unknown keys are refused; blank
// lines are skipped.
func Parse(r io.Reader, format string) ([]Account, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("accounts: read the file: %w", err)
	}
	if len(data) > MaxFileBytes {
		return nil, &FileError{Problems: []Problem{{Line: 0, Reason: fmt.Sprintf("larger than %d bytes", MaxFileBytes)}}}
	}
	if !utf8.Valid(data) {
		return nil, &FileError{Problems: []Problem{{Line: invalidLine(data), Reason: "not valid UTF-8"}}}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a spreadsheet's byte order mark
	var ps problems
	var accts []Account
	switch format {
	case FormatCSV:
		accts = parseCSV(data, &ps)
	case FormatJSONL:
		accts = parseJSONL(data, &ps)
	default:
		return nil, fmt.Errorf("accounts: format: want csv or jsonl, got %q", format)
	}
	if len(accts) == 0 && len(ps.e.Problems) == 0 {
		ps.add(1, "", "no accounts in the file")
	}
	if len(accts) > MaxAccounts {
		ps.add(accts[MaxAccounts].Line, "", "more than %d accounts in one file", MaxAccounts)
	}
	checkUnique(accts, &ps)
	if err := ps.err(); err != nil {
		return nil, err
	}
	return accts, nil
}

var columns = []string{"account_id", "name", "domains", "segment", "plan", "persona"}

func parseCSV(data []byte, ps *problems) []Account {
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			ps.add(1, "", "empty file: want a header row (account_id,name,domains,segment,plan,persona)")
		} else {
			ps.add(1, "", "header: %s", csvReason(err))
		}
		return nil
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		switch {
		case !slices.Contains(columns, h):
			ps.add(1, "header", "unknown column %q: want some of %s", clip(h), strings.Join(columns, ", "))
		case col[h] != 0:
			ps.add(1, "header", "column %q named twice", h)
		default:
			col[h] = i + 1
		}
	}
	for _, req := range []string{"account_id", "name"} {
		if col[req] == 0 {
			ps.add(1, "header", "missing the required column %s", req)
		}
	}
	if len(ps.e.Problems) > 0 {
		return nil
	}
	var out []Account
	for {
		line, _ := cr.FieldPos(0)
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.StartLine
			}
			ps.add(line, "", "%s", csvReason(err))
			return out
		}
		line, _ = cr.FieldPos(0)
		if len(rec) != len(header) {
			ps.add(line, "", "%d fields, want %d as in the header", len(rec), len(header))
			continue
		}
		get := func(name string) string {
			if i := col[name]; i > 0 {
				return strings.TrimSpace(rec[i-1])
			}
			return ""
		}
		a := Account{ID: get("account_id"), Name: get("name"), Segment: get("segment"), Plan: get("plan"), Persona: get("persona"), Line: line}
		if d := get("domains"); d != "" {
			a.Domains = strings.FieldsFunc(d, func(r rune) bool { return r == ';' || r == ',' || unicode.IsSpace(r) })
		}
		if validate(&a, ps) {
			out = append(out, a)
		}
		if len(out) > MaxAccounts {
			break
		}
	}
	return out
}

func csvReason(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return "malformed CSV: " + pe.Err.Error()
	}
	return "malformed CSV: " + err.Error()
}

// jsonAccount is a JSON Lines row.
type jsonAccount struct {
	ID      *string  `json:"account_id"`
	Name    *string  `json:"name"`
	Domains []string `json:"domains"`
	Segment string   `json:"segment"`
	Plan    string   `json:"plan"`
	Persona string   `json:"persona"`
}

func parseJSONL(data []byte, ps *problems) []Account {
	var out []Account
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), MaxFileBytes+1)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var j jsonAccount
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		err := dec.Decode(&j)
		if err == nil && dec.More() {
			err = errors.New("more than one JSON value on the line")
		}
		if err != nil {
			field := ""
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				want := map[string]string{"[]string": "an array of strings", "string": "a string"}[te.Type.String()]
				field = te.Field
				err = fmt.Errorf("want %s, got JSON %s", cmpOr(want, te.Type.String()), te.Value)
			} else if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
				field, err = strings.Trim(f, `"`), fmt.Errorf("unknown field: want some of %s", strings.Join(columns, ", "))
			}
			ps.add(line, field, "%v", err)
			continue
		}
		a := Account{Domains: j.Domains, Segment: j.Segment, Plan: j.Plan, Persona: j.Persona, Line: line}
		if j.ID != nil {
			a.ID = *j.ID
		}
		if j.Name != nil {
			a.Name = *j.Name
		}
		if validate(&a, ps) {
			out = append(out, a)
		}
		if len(out) > MaxAccounts {
			break
		}
	}
	return out
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@/+-]*$`)

// ValidID reports whether id is a well-formed account id: 1..MaxIDLen of
// A-Z, a-z, 0-9 and . _ : @ / + -, starting with a letter or digit.
func ValidID(id string) bool { return id != "" && len(id) <= MaxIDLen && idPattern.MatchString(id) }

// validate checks and normalizes one account (domains lowercased, without
// duplicates); false with the problems added when it does not hold.
func validate(a *Account, ps *problems) bool {
	n := len(ps.e.Problems) + ps.e.More
	switch {
	case a.ID == "":
		ps.add(a.Line, "account_id", "required")
	case !ValidID(a.ID):
		ps.add(a.Line, "account_id", "want 1..%d of A-Z, a-z, 0-9 and . _ : @ / + - (starting with a letter or digit), got %q", MaxIDLen, clip(a.ID))
	}
	switch {
	case strings.TrimSpace(a.Name) == "":
		ps.add(a.Line, "name", "required")
	default:
		text(a.Line, "name", a.Name, MaxNameLen, ps)
	}
	text(a.Line, "segment", a.Segment, MaxLabelLen, ps)
	text(a.Line, "plan", a.Plan, MaxLabelLen, ps)
	text(a.Line, "persona", a.Persona, MaxPersonaLen, ps)
	if len(a.Domains) > MaxDomains {
		ps.add(a.Line, "domains", "more than %d domains (%d)", MaxDomains, len(a.Domains))
	}
	var doms []string
	for i, d := range a.Domains {
		field := "domains"
		if len(a.Domains) > 1 {
			field = "domains[" + strconv.Itoa(i) + "]"
		}
		norm := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
		switch {
		case !isDomain(norm):
			ps.add(a.Line, field, "want a domain name such as example.com (letters, digits, hyphens, at least one dot; not an e-mail address or URL), got %q", clip(d))
		case events.IsFreeMailDomain(norm):
			ps.add(a.Line, field, "%s is a free-mail provider (events.FreeMailDomains): its addresses name people, not an organization, so it cannot link members to an account; remove it", norm)
		case !slices.Contains(doms, norm):
			doms = append(doms, norm)
		}
	}
	a.Domains = doms
	if a.Domains == nil {
		a.Domains = []string{}
	}
	return len(ps.e.Problems)+ps.e.More == n
}

func text(line int, field, v string, limit int, ps *problems) {
	switch {
	case len(v) > limit:
		ps.add(line, field, "at most %d bytes, got %d", limit, len(v))
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		ps.add(line, field, "text without control characters")
	}
}

// isDomain reports whether d is a lowercase host name with at least two
// labels: labels of a-z, 0-9 and inner hyphens, at most 63 bytes each,
// 253 in all, the last not all digits.
func isDomain(d string) bool {
	if len(d) < 3 || len(d) > 253 {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if b := l[i]; !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-') {
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	return strings.IndexFunc(last, func(r rune) bool { return r < '0' || r > '9' }) >= 0
}

// checkUnique refuses an account listed twice and a domain given to two
// accounts of the file.
func checkUnique(accts []Account, ps *problems) {
	ids := map[string]int{}
	doms := map[string]Account{}
	for _, a := range accts {
		if l, dup := ids[a.ID]; dup {
			ps.add(a.Line, "account_id", "%q is also on line %d: each account once per file", a.ID, l)
			continue
		}
		ids[a.ID] = a.Line
		for _, d := range a.Domains {
			if o, dup := doms[d]; dup {
				ps.add(a.Line, "domains", "%s is also a domain of account %q (line %d): a domain belongs to one account", d, o.ID, o.Line)
				continue
			}
			doms[d] = a
		}
	}
}

func invalidLine(data []byte) int {
	line := 1
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n == 1 {
			return line
		}
		if data[i] == '\n' {
			line++
		}
		i += n
	}
	return line
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func clip(s string) string {
	if len(s) <= 64 {
		return s
	}
	i := 64
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
