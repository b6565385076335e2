// Package mbox reads mailing-list archives in mbox format (plain or gzip)
// and turns each message into one activity: mailinglist.message.posted for a
// message that starts a thread, mailinglist.reply.posted for one with an
// In-Reply-To or References header.
//
// Mapping, per message:
//   - id: MessageEventID(Message-ID), a hash of the Message-ID (not the
//     Message-ID itself: many hold the sender's address or domain, e.g.
//     "<1234.5678@jane.example.org>"). A message without a Message-ID gets
//     source.ID("mailinglist", "nomsgid", <hash of the Date, From and
//     Subject values>), stable across reads of the same archive.
//   - thread_id: the event id of the root Message-ID (first of References,
//     else In-Reply-To, else the message's own); parent_id: the event id of
//     In-Reply-To, else of the last of References.
//   - targets: the author of the parent message, kind "reply", when that
//     message was read earlier in the same call (Read or Files); the reader
//     keeps the last MaxTracked Message-IDs with their authors. A reply to a
//     message outside the files read, or further back than that, has no
//     target. A reply to one's own message has none either.
//   - actor: source "mailinglist", source_id = email_sha256 =
//     events.HashEmail(From address). The address is stored nowhere in
//     clear: no username; a display name containing "@" or the address's
//     domain is dropped; addresses in the subject are replaced by
//     "[address]".
//   - occurred_at: the Date header (RFC 5322 and the usual deviations).
//   - channel: the list argument, else the List-Id ("dev.maven.apache.org"),
//     else the List-Post address, else the file name without extensions;
//     "@" is written "." (dev@maven.apache.org → dev.maven.apache.org).
//   - title: the Subject, RFC 2047 decoded, on one line, cut to
//     events.MaxTextLen bytes.
//
// Encodings: encoded-words in any charset are decoded; ISO-8859-1/15 and
// windows-1252 by table, unknown charsets and raw 8-bit bytes by keeping
// valid UTF-8 and reading every other byte as windows-1252, so every
// event holds valid UTF-8.
//
// Nothing read is dropped: a message over MaxMessageBytes, without a
// parseable header, From or Date yields a rejected record whose error is a
// *source.InputError naming the header.
package mbox

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/mail"
	"path/filepath"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/ingest"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

// Source is the source and actor source of every mailing-list event.
const Source = "mailinglist"

// Activity types.
const (
	TypeMessage = "mailinglist.message.posted" // starts a thread
	TypeReply   = "mailinglist.reply.posted"   // has In-Reply-To or References
)

const (
	// MaxMessageBytes bounds one message as stored in the mailbox; a longer
	// one is rejected (its first MaxMessageBytes go to the dead letter).
	MaxMessageBytes = 16 << 20
	// MaxTracked bounds the Message-IDs remembered to find the author a
	// reply answers; the oldest are forgotten first.
	MaxTracked = 1 << 17
)

// AttrAutomated is set to "true" on events whose sender address looks
// automated (see IsAutomated); the actor is flagged is_bot too.
const AttrAutomated = "automated"

// AttrDateFrom is set to "envelope" on events of messages without a Date
// header, whose occurred_at is the delivery time on the mbox "From " line.
const AttrDateFrom = "date_from"

// Read yields one record per message of the mailbox r, in order; name
// prefixes positions ("dev.mbox:1042", the line of the "From " separator)
// and is the channel fallback. list, when not empty, is the channel of
// every event. A read error ends the sequence with a record carrying it
// and no Raw bytes (ingest.Run stops on it: it is not bad input).
func Read(r io.Reader, name string, env source.Env, list string) iter.Seq[ingest.Record] {
	return func(yield func(ingest.Record) bool) {
		rd := newReader(env, list)
		rd.read(r, name, yield)
	}
}

// Files yields the records of every file in order, with one memory of
// Message-IDs across files (a reply in November's archive targets the
// author of October's message when both files are read in one call);
// names ending in .gz are decompressed, "-" is standard input. A file that
// cannot be opened yields one record carrying the error and no Raw bytes.
func Files(names []string, env source.Env, list string) iter.Seq[ingest.Record] {
	return func(yield func(ingest.Record) bool) {
		rd := newReader(env, list)
		for _, name := range names {
			rc, err := ingest.Open(name)
			if err != nil {
				if !yield(ingest.Record{Pos: name, Err: err}) {
					return
				}
				continue
			}
			ok := rd.read(rc, name, yield)
			rc.Close()
			if !ok {
				return
			}
		}
	}
}

// MessageEventID returns the event id of the message with Message-ID id
// (without angle brackets): "mailinglist:" and the first 128 bits of its
// SHA-256 in hex. Any connector that sees the same message (an archive API,
// a list bridge) derives the same id.
func MessageEventID(id string) string {
	return source.ID(Source, hash128(id))
}

func hash128(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// reader holds what one Read or Files call remembers between messages.
type reader struct {
	env  source.Env
	list string
	// authors maps a Message-ID to its author's source_id; order is a ring
	// of the keys in insertion order, for eviction.
	authors map[string]string
	order   []string
	next    int
}

func newReader(env source.Env, list string) *reader {
	return &reader{env: env, list: list, authors: map[string]string{}}
}

// read yields the records of one mailbox; it reports false when yield did.
func (rd *reader) read(r io.Reader, name string, yield func(ingest.Record) bool) bool {
	stopped := false
	err := split(r, func(m message) bool {
		res, err := rd.normalize(m, name)
		for _, rec := range ingest.FromResult(res, err, m.raw, fmt.Sprintf("%s:%d", name, m.line)) {
			if !yield(rec) {
				stopped = true
				return false
			}
		}
		return true
	})
	if err != nil && !stopped {
		return yield(ingest.Record{Pos: name, Err: fmt.Errorf("read: %w", err)})
	}
	return !stopped
}

// remember records the author of Message-ID id.
func (rd *reader) remember(id, author string) {
	if _, ok := rd.authors[id]; !ok {
		if len(rd.order) < MaxTracked {
			rd.order = append(rd.order, id)
		} else {
			delete(rd.authors, rd.order[rd.next])
			rd.order[rd.next] = id
			rd.next = (rd.next + 1) % MaxTracked
		}
	}
	rd.authors[id] = author
}

// normalize maps one message; an error is a *source.InputError.
func (rd *reader) normalize(m message, name string) (source.Result, error) {
	if m.tooLong() {
		return source.Result{}, &source.InputError{Field: "message",
			Reason: fmt.Sprintf("%d bytes, more than the %d allowed", m.size, MaxMessageBytes)}
	}
	h, ok := parseHeader(m.raw)
	if !ok {
		return source.Result{}, &source.InputError{Field: "header", Reason: "no parseable header (the message does not start with a header field)"}
	}
	rawFrom := h.get("From")
	if rawFrom == "" {
		return source.Result{}, source.Missing("From")
	}
	addr, displayName, ok := parseFrom(rawFrom)
	if !ok {
		return source.Result{}, &source.InputError{Field: "From", Reason: "no parseable address"}
	}
	authorID := events.HashEmail(addr)

	msgID := firstMsgID(h.get("Message-ID"))
	inReplyTo := firstMsgID(h.get("In-Reply-To"))
	refs := msgIDs(h.get("References"))
	if msgID != "" {
		// Remembered before the Date check: a reply to a message rejected
		// for its date still answers a known author.
		defer rd.remember(msgID, authorID)
	}

	rawDate := h.get("Date")
	var occurred time.Time
	dateFromEnvelope := false
	if rawDate == "" {
		// Some list software (ASF GitBox) sends no Date; the mailbox's own
		// delivery time on the separator line is seconds away from it.
		t, ok := envelopeDate(m.envelope)
		if !ok {
			return source.Result{}, &source.InputError{Field: "Date", Reason: "required (and the \"From \" separator line has no date either)"}
		}
		occurred, dateFromEnvelope = t, true
	} else {
		t, err := parseDate(rawDate)
		if err != nil {
			return source.Result{}, &source.InputError{Field: "Date", Reason: fmt.Sprintf("cannot parse %q", clip(rawDate, 100))}
		}
		occurred = t
	}

	rawSubject := h.get("Subject")
	var id string
	if msgID != "" {
		id = MessageEventID(msgID)
	} else {
		id = source.ID(Source, "nomsgid", hash128(rawDate+"\n"+rawFrom+"\n"+rawSubject))
	}
	parent := inReplyTo
	if parent == "" && len(refs) > 0 {
		parent = refs[len(refs)-1]
	}
	typ := TypeMessage
	if parent != "" {
		typ = TypeReply
	}

	ev := rd.env.Event(id, typ, occurred)
	switch {
	case occurred.Before(time.Unix(0, 0)):
		return source.Result{}, &source.InputError{Field: "Date", Reason: fmt.Sprintf("%q is before 1970", clip(rawDate, 100))}
	case ev.OccurredAt.After(ev.ReceivedAt.Add(events.MaxFutureSkew)):
		return source.Result{}, &source.InputError{Field: "Date", Reason: fmt.Sprintf("%q is more than %s in the future", clip(rawDate, 100), events.MaxFutureSkew)}
	}

	ev.Actor = rd.env.Actor(Source, authorID, "", displayName)
	ev.Actor.EmailSHA256 = authorID
	ev.Actor.EmailDomainSHA256 = events.HashEmailDomain(addr)
	people := rd.env.People
	if IsAutomated(addr) || people.IsBot(Source, addr) || people.IsBot(Source, authorID) {
		ev.Actor.IsBot = true
	}
	if IsAutomated(addr) {
		setAttr(&ev, AttrAutomated, "true")
	}
	if people.IsTeammate(Source, addr) || people.IsTeammate(Source, authorID) {
		setAttr(&ev, source.AttrTeammate, "true")
	}

	if dateFromEnvelope {
		setAttr(&ev, AttrDateFrom, "envelope")
	}
	ev.Channel = rd.channel(h, name)
	switch {
	case len(refs) > 0:
		ev.ThreadID = MessageEventID(refs[0])
	case inReplyTo != "":
		ev.ThreadID = MessageEventID(inReplyTo)
	default:
		ev.ThreadID = id
	}
	if parent != "" {
		ev.ParentID = MessageEventID(parent)
		if to, ok := rd.authors[parent]; ok && to != authorID {
			ev.Targets = []events.Target{{Source: Source, SourceID: to, Kind: events.KindReply}}
		}
	}
	ev.Title = title(rawSubject)

	// The mapping above keeps every field within the schema; this catches
	// what it missed, so a record is a valid event or an error.
	if err := events.DefaultRegistry().Validate(&ev); err != nil {
		return source.Result{}, &source.InputError{Field: "message", Reason: "maps to an invalid event: " + err.Error()}
	}
	return source.One(ev), nil
}

func setAttr(ev *events.Event, k, v string) {
	if ev.Attributes == nil {
		ev.Attributes = map[string]string{}
	}
	ev.Attributes[k] = v
}

// channel picks the event channel; see the package comment.
func (rd *reader) channel(h header, name string) string {
	if rd.list != "" {
		return cleanName(strings.ReplaceAll(rd.list, "@", "."))
	}
	if v := h.get("List-Id"); v != "" {
		if i := strings.LastIndexByte(v, '<'); i >= 0 {
			if j := strings.IndexByte(v[i:], '>'); j > 1 {
				return cleanName(strings.ReplaceAll(v[i+1:i+j], "@", "."))
			}
		}
		if c := cleanName(strings.ReplaceAll(v, "@", ".")); c != "" {
			return c
		}
	}
	if v := h.get("List-Post"); v != "" {
		v = strings.Trim(v, "<> ")
		v = strings.TrimPrefix(strings.TrimPrefix(v, "mailto:"), "MAILTO:")
		if i := strings.IndexAny(v, ">?, "); i >= 0 {
			v = v[:i]
		}
		if c := cleanName(strings.ReplaceAll(v, "@", ".")); c != "" && !strings.EqualFold(c, "no") {
			return c
		}
	}
	if name == "-" || name == "" {
		return ""
	}
	base := filepath.Base(name)
	base = strings.TrimSuffix(base, ".gz")
	base = strings.TrimSuffix(base, filepath.Ext(base))
	return cleanName(base)
}

// parseFrom returns the address and display name of a From value.
func parseFrom(v string) (addr, name string, ok bool) {
	v = repairUTF8(v)
	p := mail.AddressParser{WordDecoder: wordDecoder}
	try := func(s string) bool {
		a, err := p.Parse(s)
		if err != nil {
			if list, lerr := p.ParseList(s); lerr == nil && len(list) > 0 {
				a, err = list[0], nil
			}
		}
		if err != nil || !plausible(a.Address) {
			return false
		}
		addr, name = a.Address, a.Name
		return true
	}
	switch {
	case try(v):
	// Pipermail archives obfuscate as "jane at example.org (Jane Doe)".
	case strings.Contains(v, " at ") && try(strings.Replace(v, " at ", "@", 1)):
	default:
		// Last resort: an address in angle brackets, or any word with "@".
		if m := angleAddr.FindStringSubmatch(v); m != nil && plausible(m[2]) {
			addr, name = m[2], strings.Trim(strings.TrimSpace(m[1]), `"'`)
		} else if m := bareAddr.FindString(v); m != "" && plausible(m) {
			addr = m
		} else {
			return "", "", false
		}
	}
	return addr, displayName(decodeHeader(name), addr), true
}

var (
	angleAddr = regexp.MustCompile(`^([^<]*)<\s*([^<>\s]+@[^<>\s]+)\s*>`)
	bareAddr  = regexp.MustCompile(`[^\s<>()",;:]+@[^\s<>()",;:]+`)
	// anyAddr finds addresses in free text (subjects, names).
	anyAddr = regexp.MustCompile(`[A-Za-z0-9._%+'=-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+`)
)

// plausible reports whether a looks like local@domain.
func plausible(a string) bool {
	at := strings.LastIndexByte(a, '@')
	return at > 0 && at < len(a)-1 && utf8.ValidString(a)
}

// displayName cleans a decoded From name; it returns "" for a name that
// would reveal the address.
func displayName(n, addr string) string {
	n = oneLine(n)
	n = strings.Trim(n, `"' `)
	domain := strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:])
	local := strings.ToLower(addr[:strings.LastIndexByte(addr, '@')])
	ln := strings.ToLower(n)
	if strings.Contains(n, "@") || strings.Contains(ln, domain) || ln == local {
		return ""
	}
	return clip(n, events.MaxNameLen)
}

// title is the Subject as an event title.
func title(raw string) string {
	t := oneLine(decodeHeader(raw))
	t = anyAddr.ReplaceAllString(t, "[address]")
	return clip(t, events.MaxTextLen)
}

// oneLine replaces control characters and runs of white space by one space.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// cleanName makes a channel name: valid UTF-8, no spaces or controls, bounded.
func cleanName(s string) string {
	s = strings.Join(strings.Fields(oneLine(repairUTF8(s))), "-")
	return clip(s, events.MaxNameLen)
}

// clip cuts s to at most n bytes at a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// firstMsgID returns the first Message-ID of a header value, without angle
// brackets: the first <...>, else the first word.
func firstMsgID(v string) string {
	if ids := msgIDs(v); len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// msgIDs returns the Message-IDs of a header value (References), without
// angle brackets. Values without brackets are split at white space.
func msgIDs(v string) []string {
	v = oneLine(repairUTF8(v))
	var ids []string
	if strings.Contains(v, "<") {
		for rest := v; ; {
			i := strings.IndexByte(rest, '<')
			if i < 0 {
				break
			}
			j := strings.IndexByte(rest[i:], '>')
			if j < 0 {
				break
			}
			if id := strings.TrimSpace(rest[i+1 : i+j]); id != "" && !strings.ContainsAny(id, " <") {
				ids = append(ids, id)
			}
			rest = rest[i+j+1:]
		}
		return ids
	}
	return strings.Fields(v)
}

// IsAutomated reports whether addr looks like an automated sender: its
// local part contains noreply / no-reply / donotreply / mailer-daemon, or
// its first word (split at . - _ +) is one of jira, jenkins, buildbot,
// hudson, git, gitbox, svn, notifications, commits, bugzilla. Lists that
// carry other automation name the sender in env.People.Bots as
// "mailinglist:<address>" or "mailinglist:<events.HashEmail(address)>".
func IsAutomated(addr string) bool {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		at = len(addr)
	}
	local := strings.ToLower(addr[:at])
	for _, s := range []string{"noreply", "no-reply", "no_reply", "donotreply", "do-not-reply", "do_not_reply", "mailer-daemon"} {
		if strings.Contains(local, s) {
			return true
		}
	}
	words := strings.FieldsFunc(local, func(r rune) bool { return r == '.' || r == '-' || r == '_' || r == '+' })
	if len(words) == 0 {
		return false
	}
	switch words[0] {
	case "jira", "jenkins", "buildbot", "hudson", "git", "gitbox", "svn", "notifications", "commits", "bugzilla":
		return true
	}
	return false
}

// parseDate reads a Date header: RFC 5322 (net/mail), then the deviations
// seen in old archives: extra spaces, trailing comments, asctime, no zone
// (read as UTC), dotted times, ISO forms.
func parseDate(v string) (time.Time, error) {
	if t, err := mail.ParseDate(v); err == nil {
		return t, nil
	}
	s := strings.Join(strings.Fields(oneLine(repairUTF8(v))), " ")
	if i := strings.IndexByte(s, '('); i > 0 {
		s = strings.TrimSpace(s[:i])
	}
	if t, err := mail.ParseDate(s); err == nil {
		return t, nil
	}
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("unparseable date")
}

// envelopeDate reads the date of a "From " separator line (the text after
// "From "): the sender, then an asctime date, e.g.
// "jane@example.org  Wed Nov  1 06:04:52 2017". The sender may hold
// spaces (pipermail's "jane at example.org"), so the date is found by its
// weekday.
func envelopeDate(env string) (time.Time, bool) {
	for _, day := range []string{" Mon ", " Tue ", " Wed ", " Thu ", " Fri ", " Sat ", " Sun "} {
		if i := strings.LastIndex(env, day); i >= 0 {
			if t, err := parseDate(env[i+1:]); err == nil {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

var dateLayouts = []string{
	"Mon Jan _2 15:04:05 2006",
	"Mon Jan _2 15:04:05 MST 2006",
	"Mon Jan _2 15:04:05 -0700 2006",
	"Mon, 2 Jan 2006 15:04:05 -0700 MST",
	"Mon, 2 Jan 2006 15:04:05 MST",
	"Mon, 2 Jan 2006 15:04:05",
	"Mon, 2 Jan 2006 15.04.05 -0700",
	"Mon, 2 January 2006 15:04:05 -0700",
	"Monday, 2 Jan 2006 15:04:05 -0700",
	"Monday, January 2, 2006 15:04:05 -0700",
	"2 Jan 2006 15:04:05",
	"Mon 2 Jan 2006 15:04:05 -0700",
	"Mon, Jan 2 2006 15:04:05 -0700",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05",
	time.RFC3339,
}
