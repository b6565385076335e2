// Package csvimport imports activity kept in spreadsheets and exports:
// event attendance (meetups, conferences, webinars), support tickets, and
// any activity written as the v1 event schema in columns. Files are CSV
// (comma separated, RFC 4180 quoting, UTF-8, a leading byte-order mark is
// ignored) or, for events and support, JSON Lines with the same field names.
//
// # Header
//
// A CSV file starts with a header row. Column names are case-insensitive
// and trimmed. An unknown column, a duplicate column or a missing required
// column is an error naming the column that stops the import (a
// *HeaderError; the record carries no Raw bytes, so ingest.Run stops on
// it): no row can be read without its header. In JSON Lines each line is
// an object with the same keys (any case); values are strings, numbers or
// booleans (written as their JSON text) or null (empty).
//
// # Events format (FormatEvents), source "events"
//
//	event_id      required  the event's id in the exporting system
//	event_name              title
//	event_url               url (absolute http/https)
//	date          required  RFC 3339 (2026-03-01T18:00:00+01:00) or YYYY-MM-DD (midnight UTC)
//	member_id               the member's id in the exporting system
//	username                the member's handle
//	display_name            the member's name
//	email                   stored as actor.email_sha256 = events.HashEmail(email), never in clear
//	                        (and actor.email_domain_sha256 = events.HashEmailDomain(email))
//	role          required  registered | attended | spoke | organized (any case)
//	channel                 event series, meetup group, venue...
//
// Type events.event.<role>. One of member_id and email is required; the
// actor's source_id is member_id, else the email hash. Event id
// source.ID("events", event_id, <member_id or email hash>, role), thread_id
// source.ID("events", event_id) (co-attendees share a thread), attribute
// event_id.
//
// # Support format (FormatSupport), source "support"
//
//	ticket_id     required  the ticket's id in the help desk
//	subject                 title
//	url                     url (absolute http/https)
//	action        required  opened | commented | solved (aliases: replied = commented, resolved = solved)
//	occurred_at   required  RFC 3339 or YYYY-MM-DD
//	member_id, username, display_name, email, channel   as for events
//
// Types support.ticket.opened, .replied (commented) and .resolved
// (solved). Event ids: source.ID("support", ticket_id, "opened") for
// opened, source.ID("support", ticket_id, action, <member>, <occurred_at
// in events.TimestampLayout>) otherwise; thread_id source.ID("support",
// ticket_id); attribute ticket_id. A comment or solution targets the
// ticket's opener (kind reply, parent_id = the opened event) when an
// earlier row of the same call opened the ticket; the reader remembers the
// openers of the last MaxTracked tickets.
//
// # Generic format (FormatGeneric), source as each row says
//
// Columns are the v1 JSON field names, nested ones dotted: id, source,
// type, occurred_at, actor.source, actor.source_id (required), and
// schema_version (empty or 1), community (empty: Env.Community), received_at
// (empty: now), actor.username, actor.display_name, actor.email_sha256,
// actor.email (hashed into email_sha256 and email_domain_sha256, never
// stored), actor.is_bot
// (true/false, empty = false), channel, thread_id, parent_id, url, title,
// targets, attributes. Timestamps are RFC 3339 or YYYY-MM-DD.
//
//	targets     "source:source_id:kind" items separated by ";", e.g.
//	            "github:42:reply;github:7:mention". source is up to the first
//	            ":", kind after the last, so a source_id may hold ":". No
//	            escaping: a value cannot hold ";". Empty items are skipped.
//	attributes  "key=value" items separated by ";", e.g. "tier=gold;lang=en".
//	            The key is up to the first "=", the value may hold "=". A
//	            value cannot hold ";". A repeated key is an error.
//
// The event is validated by the registry (Options.Registry); JSON Lines of
// v1 events are read by the jsonl package, not here.
//
// # Rows
//
// Every row yields one record (ingest.FromResult): an event, or a rejected
// record whose error (*RowError) names each problem as "row N, column X:
// reason" ("line N, field X" in JSON Lines). N is the line the row starts
// on; the header is row 1. Raw is the header line and the row's own bytes,
// a one-row CSV file that can be imported again. Addresses are never stored
// in clear: member_id, username and display_name values holding an
// address are rejected, addresses in titles become "[address]". Re-importing
// a file yields the same event ids.
package csvimport

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"iter"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/ingest"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

// Format is the kind of rows a file holds.
type Format string

// Formats.
const (
	FormatEvents  Format = "events"  // event registrations, attendance, talks, organizing
	FormatSupport Format = "support" // support ticket activity
	FormatGeneric Format = "generic" // the v1 event schema in columns
)

// Sources of the events and support formats.
const (
	SourceEvents  = "events"
	SourceSupport = "support"
)

const (
	// MaxRowBytes bounds one CSV row or JSON line; a longer one is rejected.
	MaxRowBytes = 1 << 20
	// MaxTracked bounds the ticket openers remembered for reply targets.
	MaxTracked = 1 << 17
)

// Options configure a read.
type Options struct {
	Format Format
	// Env sets the community, flags bots and teammates, stamps received_at.
	Env source.Env
	// Registry validates every event; nil means events.DefaultRegistry().
	Registry *events.Registry
}

// columns lists each format's columns; required ones first marked.
type columns struct {
	names    []string
	required []string
}

var formats = map[Format]columns{
	FormatEvents: {
		names:    []string{"event_id", "event_name", "event_url", "date", "member_id", "username", "display_name", "email", "role", "channel"},
		required: []string{"event_id", "date", "role"},
	},
	FormatSupport: {
		names:    []string{"ticket_id", "subject", "url", "action", "occurred_at", "member_id", "username", "display_name", "email", "channel"},
		required: []string{"ticket_id", "action", "occurred_at"},
	},
	FormatGeneric: {
		names: []string{"id", "schema_version", "community", "source", "type", "occurred_at", "received_at",
			"actor.source", "actor.source_id", "actor.username", "actor.display_name", "actor.email_sha256", "actor.email", "actor.is_bot",
			"channel", "thread_id", "parent_id", "targets", "url", "title", "attributes"},
		required: []string{"id", "source", "type", "occurred_at", "actor.source", "actor.source_id"},
	},
}

// HeaderError is a header (or, in JSON Lines, a line's keys) that does not
// fit the format. Problems are in column order, e.g.
// `unknown column "venue"`, `missing required column "date"`.
type HeaderError struct{ Problems []string }

func (e *HeaderError) Error() string { return "header: " + strings.Join(e.Problems, "; ") }

// RowError lists every problem of one row. Each is a *source.InputError
// whose Field is "row N, column X" (or "line N, field X").
type RowError struct{ Problems []*source.InputError }

func (e *RowError) Error() string {
	s := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		s[i] = p.Error()
	}
	return strings.Join(s, "; ")
}

// Unwrap returns the problems, so errors.As finds a *source.InputError.
func (e *RowError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p
	}
	return errs
}

// CSV yields one record per row of r, in order; name prefixes positions
// ("tickets.csv:7", the line the row starts on). A bad header, an unknown
// format or a read error ends the sequence with a record carrying the
// error and no Raw bytes.
func CSV(r io.Reader, name string, opts Options) iter.Seq[ingest.Record] {
	return func(yield func(ingest.Record) bool) {
		newImporter(opts).csv(r, name, yield)
	}
}

// JSONL yields one record per non-blank line of r (events and support
// formats); see CSV.
func JSONL(r io.Reader, name string, opts Options) iter.Seq[ingest.Record] {
	return func(yield func(ingest.Record) bool) {
		newImporter(opts).jsonl(r, name, yield)
	}
}

// Files yields the records of every file in order, remembering ticket
// openers across files. The format of the rows is opts.Format; the file
// type comes from the name: .csv, .jsonl or .ndjson, each optionally .gz;
// "-" is standard input, read as CSV. A file that cannot be opened or has
// another extension yields one record carrying the error and no Raw bytes.
func Files(names []string, opts Options) iter.Seq[ingest.Record] {
	return func(yield func(ingest.Record) bool) {
		im := newImporter(opts)
		for _, name := range names {
			base := strings.ToLower(strings.TrimSuffix(name, ".gz"))
			var read func(io.Reader, string, func(ingest.Record) bool) bool
			switch {
			case name == "-" || strings.HasSuffix(base, ".csv"):
				read = im.csv
			case strings.HasSuffix(base, ".jsonl") || strings.HasSuffix(base, ".ndjson"):
				read = im.jsonl
			default:
				if !yield(ingest.Record{Pos: name, Err: fmt.Errorf("%s: unknown file type (want .csv, .jsonl or .ndjson, optionally .gz)", name)}) {
					return
				}
				continue
			}
			rc, err := ingest.Open(name)
			if err != nil {
				if !yield(ingest.Record{Pos: name, Err: err}) {
					return
				}
				continue
			}
			ok := read(rc, name, yield)
			rc.Close()
			if !ok {
				return
			}
		}
	}
}

// importer holds what one call remembers between rows.
type importer struct {
	opts Options
	reg  *events.Registry
	// openers maps a ticket id to its opener; order is a ring of keys.
	openers map[string]opener
	order   []string
	next    int
}

type opener struct {
	sourceID, username, eventID string
}

func newImporter(opts Options) *importer {
	reg := opts.Registry
	if reg == nil {
		reg = events.DefaultRegistry()
	}
	return &importer{opts: opts, reg: reg, openers: map[string]opener{}}
}

func (im *importer) remember(ticket string, o opener) {
	if _, ok := im.openers[ticket]; !ok {
		if len(im.order) < MaxTracked {
			im.order = append(im.order, ticket)
		} else {
			delete(im.openers, im.order[im.next])
			im.order[im.next] = ticket
			im.next = (im.next + 1) % MaxTracked
		}
	}
	im.openers[ticket] = o
}

// tee keeps the bytes the CSV reader reads so each row's original bytes
// can be cut out by input offset; it holds at most the reader's look-ahead
// and one row.
type tee struct {
	r    io.Reader
	buf  []byte
	base int64 // input offset of buf[0]
}

func (t *tee) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.buf = append(t.buf, p[:n]...)
	return n, err
}

// take returns a copy of the input bytes [from, to) and forgets them.
func (t *tee) take(from, to int64) []byte {
	lo, hi := int(from-t.base), int(to-t.base)
	lo, hi = max(0, min(lo, len(t.buf))), max(0, min(hi, len(t.buf)))
	out := bytes.Clone(t.buf[lo:hi])
	t.buf = t.buf[hi:]
	t.base += int64(hi)
	return out
}

func (im *importer) csv(r io.Reader, name string, yield func(ingest.Record) bool) bool {
	cols, ok := formats[im.opts.Format]
	if !ok {
		return yield(ingest.Record{Pos: name, Err: fmt.Errorf("csvimport: unknown format %q (want events, support or generic)", im.opts.Format)})
	}
	t := &tee{r: r}
	cr := csv.NewReader(t)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	head, err := cr.Read()
	var pe *csv.ParseError
	switch {
	case err == io.EOF:
		return yield(ingest.Record{Pos: name + ":1", Err: &HeaderError{Problems: []string{"the file is empty (a header row is required)"}}})
	case errors.As(err, &pe):
		return yield(ingest.Record{Pos: name + ":1", Err: &HeaderError{Problems: []string{err.Error()}}})
	case err != nil:
		return yield(ingest.Record{Pos: name, Err: fmt.Errorf("read: %w", err)})
	}
	prev := cr.InputOffset()
	headRaw := bytes.TrimRight(t.take(0, prev), "\r\n")
	head = slices.Clone(head)
	if len(head) > 0 {
		head[0] = strings.TrimPrefix(head[0], "\ufeff")
	}
	for i := range head {
		head[i] = strings.ToLower(strings.TrimSpace(head[i]))
	}
	if herr := checkKeys(head, cols, "column"); herr != nil {
		return yield(ingest.Record{Pos: name + ":1", Err: herr})
	}
	for {
		rec, err := cr.Read()
		end := cr.InputOffset()
		if err == io.EOF {
			return true
		}
		if err != nil && !errors.As(err, &pe) {
			return yield(ingest.Record{Pos: name, Err: fmt.Errorf("read: %w", err)})
		}
		if err != nil && end == prev {
			return yield(ingest.Record{Pos: name, Err: fmt.Errorf("read: no progress after %w", err)})
		}
		rowBytes := bytes.TrimRight(t.take(prev, end), "\r\n")
		size := end - prev
		prev = end
		line := 0
		if err == nil || errors.Is(err, csv.ErrFieldCount) {
			line, _ = cr.FieldPos(0)
		} else {
			line = pe.StartLine
		}
		raw := make([]byte, 0, len(headRaw)+1+len(rowBytes))
		raw = append(append(append(raw, headRaw...), '\n'), rowBytes...)
		loc := locator{row: fmt.Sprintf("row %d", line), col: "column"}
		var res source.Result
		var rerr error
		switch {
		case size > MaxRowBytes:
			rerr = loc.whole(fmt.Sprintf("longer than %d bytes (%d)", MaxRowBytes, size))
		case err != nil && !errors.Is(err, csv.ErrFieldCount):
			rerr = loc.whole("csv: " + pe.Err.Error())
		case len(rec) != len(head):
			rerr = loc.whole(fmt.Sprintf("want %d fields like the header, got %d", len(head), len(rec)))
		default:
			row := make(map[string]string, len(head))
			for i, k := range head {
				row[k] = strings.TrimSpace(rec[i])
			}
			res, rerr = im.row(row, loc)
		}
		for _, r := range ingest.FromResult(res, rerr, raw, fmt.Sprintf("%s:%d", name, line)) {
			if !yield(r) {
				return false
			}
		}
	}
}

// checkKeys reports unknown, duplicate and missing keys.
func checkKeys(keys []string, cols columns, what string) *HeaderError {
	var problems []string
	seen := map[string]bool{}
	for _, k := range keys {
		switch {
		case k == "":
			problems = append(problems, "empty "+what+" name")
		case seen[k]:
			problems = append(problems, fmt.Sprintf("duplicate %s %q", what, k))
		case !slices.Contains(cols.names, k):
			problems = append(problems, fmt.Sprintf("unknown %s %q", what, k))
		}
		seen[k] = true
	}
	for _, k := range cols.required {
		if !seen[k] {
			problems = append(problems, fmt.Sprintf("missing required %s %q", what, k))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return &HeaderError{Problems: problems}
}

// locator names a row ("row 7") and what its fields are called.
type locator struct{ row, col string }

func (l locator) problem(col, format string, a ...any) *source.InputError {
	return &source.InputError{Field: l.row + ", " + l.col + " " + col, Reason: fmt.Sprintf(format, a...)}
}

func (l locator) whole(reason string) error {
	return &RowError{Problems: []*source.InputError{{Field: l.row, Reason: reason}}}
}

// row maps one row (lowercased keys, trimmed values) per the format.
func (im *importer) row(row map[string]string, loc locator) (source.Result, error) {
	b := &builder{loc: loc, row: row}
	var ev events.Event
	switch im.opts.Format {
	case FormatEvents:
		ev = im.eventsRow(b)
	case FormatSupport:
		ev = im.supportRow(b)
	default:
		ev = im.genericRow(b)
	}
	if len(b.problems) == 0 {
		if err := im.reg.Validate(&ev); err != nil {
			var ve *events.ValidationError
			if !errors.As(err, &ve) {
				return source.Result{}, err
			}
			for _, p := range ve.Problems {
				b.problems = append(b.problems, loc.problem(columnOf(im.opts.Format, p.Path), "%s", p.Reason))
			}
		}
	}
	if len(b.problems) > 0 {
		return source.Result{}, &RowError{Problems: b.problems}
	}
	if im.opts.Format == FormatSupport && ev.Type == "support.ticket.opened" {
		im.remember(row["ticket_id"], opener{sourceID: ev.Actor.SourceID, username: ev.Actor.Username, eventID: ev.ID})
	}
	return source.One(ev), nil
}

// columnOf names the column behind an event field path.
func columnOf(f Format, path string) string {
	if i := strings.IndexAny(path, "[("); i == 0 {
		return "(row)"
	} else if i > 0 {
		path = path[:i]
	}
	if f == FormatGeneric {
		return path
	}
	m := map[string]string{"actor.source_id": "member_id", "actor.username": "username", "actor.display_name": "display_name"}
	if f == FormatEvents {
		m["id"], m["title"], m["url"], m["occurred_at"] = "event_id", "event_name", "event_url", "date"
	} else {
		m["id"], m["title"] = "ticket_id", "subject"
	}
	if c, ok := m[path]; ok {
		return c
	}
	return path
}

// builder collects a row's problems while its fields are read.
type builder struct {
	loc      locator
	row      map[string]string
	problems []*source.InputError
}

func (b *builder) fail(col, format string, a ...any) {
	b.problems = append(b.problems, b.loc.problem(col, format, a...))
}

// required returns the value of col, noting a problem when it is empty.
func (b *builder) required(col string) string {
	v := b.row[col]
	if v == "" {
		b.fail(col, "required")
	}
	return v
}

// time reads a timestamp column: RFC 3339 or YYYY-MM-DD (midnight UTC).
func (b *builder) time(col string, required bool) time.Time {
	v := b.row[col]
	if v == "" {
		if required {
			b.fail(col, "required")
		}
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t
	}
	b.fail(col, "want RFC 3339 (2026-03-01T18:00:00Z) or YYYY-MM-DD, got %q", clip(v))
	return time.Time{}
}

// noAddress notes a problem when an identity column holds an address.
func (b *builder) noAddress(cols ...string) {
	for _, c := range cols {
		if anyAddr.MatchString(b.row[c]) {
			b.fail(c, "holds an email address; put it in the email column, which is stored hashed")
		}
	}
}

var anyAddr = regexp.MustCompile(`[A-Za-z0-9._%+'=-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+`)

// title replaces addresses in free text.
func title(s string) string { return anyAddr.ReplaceAllString(s, "[address]") }

// member reads member_id / email into an actor of src.
func (im *importer) member(b *builder, src string) (events.Actor, string) {
	b.noAddress("member_id", "username", "display_name")
	id, email := b.row["member_id"], b.row["email"]
	var hash string
	if email != "" {
		if !strings.Contains(email, "@") {
			b.fail("email", "want an email address")
		}
		hash = events.HashEmail(email)
	}
	key := id
	if key == "" {
		key = hash
	}
	if key == "" {
		b.fail("member_id", "required (or email)")
	}
	a := im.opts.Env.Actor(src, key, b.row["username"], b.row["display_name"])
	a.EmailSHA256 = hash
	if email != "" {
		a.EmailDomainSHA256 = events.HashEmailDomain(email)
	}
	return a, key
}

var roles = []string{"registered", "attended", "spoke", "organized"}

func (im *importer) eventsRow(b *builder) events.Event {
	eventID := b.required("event_id")
	occurred := b.time("date", true)
	role := strings.ToLower(b.row["role"])
	if role == "" {
		b.fail("role", "required")
	} else if !slices.Contains(roles, role) {
		b.fail("role", "want one of %s, got %q", strings.Join(roles, ", "), clip(b.row["role"]))
	}
	actor, key := im.member(b, SourceEvents)
	if len(b.problems) > 0 {
		return events.Event{}
	}
	ev := im.opts.Env.Event(source.ID(SourceEvents, eventID, key, role), "events.event."+role, occurred)
	ev.Actor = actor
	ev.ThreadID = source.ID(SourceEvents, eventID)
	ev.Channel = b.row["channel"]
	ev.URL = b.row["event_url"]
	ev.Title = title(b.row["event_name"])
	ev.Attributes = map[string]string{"event_id": eventID}
	im.opts.Env.Mark(&ev)
	return ev
}

// actions maps support actions and their aliases to type verbs.
var actions = map[string]string{
	"opened": "opened", "commented": "replied", "replied": "replied", "solved": "resolved", "resolved": "resolved",
}

func (im *importer) supportRow(b *builder) events.Event {
	ticket := b.required("ticket_id")
	occurred := b.time("occurred_at", true)
	action := strings.ToLower(b.row["action"])
	verb, ok := actions[action]
	if action == "" {
		b.fail("action", "required")
	} else if !ok {
		b.fail("action", "want one of opened, commented, solved (or replied, resolved), got %q", clip(b.row["action"]))
	}
	actor, key := im.member(b, SourceSupport)
	if len(b.problems) > 0 {
		return events.Event{}
	}
	var id string
	if verb == "opened" {
		id = source.ID(SourceSupport, ticket, "opened")
	} else {
		id = source.ID(SourceSupport, ticket, verb, key, events.NewTimestamp(occurred).Format(events.TimestampLayout))
	}
	ev := im.opts.Env.Event(id, "support.ticket."+verb, occurred)
	ev.Actor = actor
	ev.ThreadID = source.ID(SourceSupport, ticket)
	ev.Channel = b.row["channel"]
	ev.URL = b.row["url"]
	ev.Title = title(b.row["subject"])
	ev.Attributes = map[string]string{"ticket_id": ticket}
	if o, ok := im.openers[ticket]; ok && verb != "opened" {
		ev.ParentID = o.eventID
		if o.sourceID != actor.SourceID {
			ev.Targets = []events.Target{{Source: SourceSupport, SourceID: o.sourceID, Username: o.username, Kind: events.KindReply}}
		}
	}
	im.opts.Env.Mark(&ev)
	return ev
}

func (im *importer) genericRow(b *builder) events.Event {
	r := b.row
	ev := events.Event{
		ID:            b.required("id"),
		SchemaVersion: events.SchemaVersion,
		Community:     r["community"],
		Source:        b.required("source"),
		Type:          b.required("type"),
		Channel:       r["channel"],
		ThreadID:      r["thread_id"],
		ParentID:      r["parent_id"],
		URL:           r["url"],
		Title:         title(r["title"]),
	}
	if v := r["schema_version"]; v != "" && v != "1" {
		b.fail("schema_version", "want 1 or empty, got %q", clip(v))
	}
	if ev.Community == "" {
		ev.Community = im.opts.Env.Community
	}
	ev.OccurredAt = events.NewTimestamp(b.time("occurred_at", true))
	if t := b.time("received_at", false); !t.IsZero() {
		ev.ReceivedAt = events.NewTimestamp(t)
	} else {
		now := time.Now
		if im.opts.Env.Now != nil {
			now = im.opts.Env.Now
		}
		ev.ReceivedAt = events.NewTimestamp(now())
	}
	b.noAddress("actor.source_id", "actor.username", "actor.display_name")
	ev.Actor = im.opts.Env.Actor(b.required("actor.source"), b.required("actor.source_id"), r["actor.username"], r["actor.display_name"])
	ev.Actor.EmailSHA256 = r["actor.email_sha256"]
	if e := r["actor.email"]; e != "" {
		h := events.HashEmail(e)
		switch {
		case !strings.Contains(e, "@"):
			b.fail("actor.email", "want an email address")
		case ev.Actor.EmailSHA256 != "" && ev.Actor.EmailSHA256 != h:
			b.fail("actor.email", "does not match actor.email_sha256")
		}
		ev.Actor.EmailSHA256 = h
		ev.Actor.EmailDomainSHA256 = events.HashEmailDomain(e)
	}
	switch strings.ToLower(r["actor.is_bot"]) {
	case "", "false":
	case "true":
		ev.Actor.IsBot = true
	default:
		b.fail("actor.is_bot", "want true, false or empty, got %q", clip(r["actor.is_bot"]))
	}
	for item := range strings.SplitSeq(r["targets"], ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		first, last := strings.IndexByte(item, ':'), strings.LastIndexByte(item, ':')
		if first <= 0 || last == first || last == len(item)-1 {
			b.fail("targets", "want source:source_id:kind items separated by \";\", got %q", clip(item))
			continue
		}
		ev.Targets = append(ev.Targets, events.Target{Source: item[:first], SourceID: item[first+1 : last], Kind: item[last+1:]})
	}
	for item := range strings.SplitSeq(r["attributes"], ";") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			b.fail("attributes", "want key=value items separated by \";\", got %q", clip(item))
			continue
		}
		if ev.Attributes == nil {
			ev.Attributes = map[string]string{}
		}
		if _, dup := ev.Attributes[k]; dup {
			b.fail("attributes", "key %q given twice", clip(k))
			continue
		}
		ev.Attributes[k] = v
	}
	im.opts.Env.Mark(&ev)
	return ev
}

func clip(s string) string {
	if len(s) > 64 {
		n := 64
		for n > 0 && s[n]&0xC0 == 0x80 {
			n--
		}
		return s[:n] + "…"
	}
	return s
}
