package sink

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/bus"
)

// activityColumns is the insert column list of activities_raw, in the order
// send appends them.
var activityColumns = []string{
	"event_id", "community", "source", "type", "occurred_at", "member_id", "identity",
	"channel", "thread_id", "parent_id", "target_member_ids", "target_kinds", "weight",
	"is_bot", "received_at", "actor_username", "actor_display_name", "email_sha256",
	"url", "title", "attributes", "schema_version", "stream_seq", "email_domain_sha256",
}

// activityWriter buffers activities column by column: appending whole
// columns to the batch is much cheaper than row-by-row appends.
type activityWriter struct {
	reg    *events.Registry
	forget *forgetter
	// forgets are forget commands to apply after the rows are written;
	// purge are stream sequences of dropped events of forgotten
	// identities, deleted from the stream after the write.
	forgets []*events.IdentityCommand
	purge   []uint64

	eventID, community, source, typ          []string
	occurredAt, receivedAt                   []time.Time
	memberID, identity, channel, thread, par []string
	targetIDs, targetKinds                   [][]string
	weight                                   []float32
	isBot                                    []bool
	username, displayName, email, url, title []string
	attributes                               []map[string]string
	schemaVersion                            []uint8
	streamSeq                                []uint64
	emailDomain                              []string
}

// newActivityWriter returns a writer without a forgetter: e-mail hashes
// are stored as they come and nothing is forgotten (Rows, the bench's
// buffer). The sink's writers get one with withForget.
func newActivityWriter(reg *events.Registry) *activityWriter { return &activityWriter{reg: reg} }

// withForget makes w key e-mail hashes and drop forgotten identities with f.
func (w *activityWriter) withForget(f *forgetter) *activityWriter { w.forget = f; return w }

func (w *activityWriter) table() string { return "activities_raw" }
func (w *activityWriter) len() int      { return len(w.eventID) }
func (w *activityWriter) actions() int  { return len(w.forgets) + len(w.purge) }

func (w *activityWriter) reset() {
	clear(w.forgets)
	*w = activityWriter{
		reg:           w.reg,
		forget:        w.forget,
		forgets:       w.forgets[:0],
		purge:         w.purge[:0],
		eventID:       w.eventID[:0],
		community:     w.community[:0],
		source:        w.source[:0],
		typ:           w.typ[:0],
		occurredAt:    w.occurredAt[:0],
		receivedAt:    w.receivedAt[:0],
		memberID:      w.memberID[:0],
		identity:      w.identity[:0],
		channel:       w.channel[:0],
		thread:        w.thread[:0],
		par:           w.par[:0],
		targetIDs:     w.targetIDs[:0],
		targetKinds:   w.targetKinds[:0],
		weight:        w.weight[:0],
		isBot:         w.isBot[:0],
		username:      w.username[:0],
		displayName:   w.displayName[:0],
		email:         w.email[:0],
		url:           w.url[:0],
		title:         w.title[:0],
		attributes:    w.attributes[:0],
		schemaVersion: w.schemaVersion[:0],
		streamSeq:     w.streamSeq[:0],
		emailDomain:   w.emailDomain[:0],
	}
}

// add decodes and validates one activity. The activity stream should only
// hold valid events, but anyone with publish rights can write to it, so the
// sink checks again and dead-letters what does not hold.
func (w *activityWriter) add(msg jetstream.Msg) *bus.DeadLetter {
	var seq uint64
	if md, err := msg.Metadata(); err == nil {
		seq = md.Sequence.Stream
	}
	reject := func(source, reason string) *bus.DeadLetter {
		return &bus.DeadLetter{Stage: subjects.StageSink, Source: source, Reason: reason,
			Payload: msg.Data(), Header: msg.Headers(), Subject: msg.Subject(), Seq: seq}
	}
	if strings.HasPrefix(msg.Subject(), subjects.IdentityPrefix+".") {
		w.command(msg.Data())
		return nil
	}
	ev, err := events.DecodeShared(msg.Data()) // the message is held until its row is written
	if err != nil {
		return reject(subjectSource(msg.Subject()), "decode: "+err.Error())
	}
	// A forgotten identity's event is dropped before validation: neither
	// stored nor dead-lettered (which would store it), only counted, and
	// deleted from the stream once the batch is written.
	if w.forget.forgotten(ev.Community, ev.Actor.Identity()) {
		w.forget.drop()
		w.purge = append(w.purge, seq)
		return nil
	}
	if err := w.reg.Validate(&ev); err != nil {
		return reject(ev.Source, "invalid event: "+err.Error())
	}
	if want := subjects.Activity(ev.Community, ev.Source); msg.Subject() != want {
		return reject(ev.Source, fmt.Sprintf("subject: event of community %q and source %q was published on %q, want %q", ev.Community, ev.Source, msg.Subject(), want))
	}
	weight, _ := w.reg.Weight(ev.Type)
	ids := make([]string, 0, len(ev.Targets))
	kinds := make([]string, 0, len(ev.Targets))
	for _, t := range ev.Targets {
		if w.forget.forgotten(ev.Community, t.Identity()) {
			continue // a forgotten member is no one's target
		}
		ids = append(ids, MemberID(t.Identity()))
		kinds = append(kinds, t.Kind)
	}
	identity := ev.Actor.Identity()
	w.eventID = append(w.eventID, ev.ID)
	w.community = append(w.community, ev.Community)
	w.source = append(w.source, ev.Source)
	w.typ = append(w.typ, ev.Type)
	w.occurredAt = append(w.occurredAt, ev.OccurredAt.Time)
	w.receivedAt = append(w.receivedAt, ev.ReceivedAt.Time)
	w.memberID = append(w.memberID, MemberID(identity))
	w.identity = append(w.identity, identity)
	w.channel = append(w.channel, ev.Channel)
	w.thread = append(w.thread, ev.ThreadID)
	w.par = append(w.par, ev.ParentID)
	w.targetIDs = append(w.targetIDs, ids)
	w.targetKinds = append(w.targetKinds, kinds)
	w.weight = append(w.weight, float32(weight))
	w.isBot = append(w.isBot, ev.Actor.IsBot)
	w.username = append(w.username, ev.Actor.Username)
	w.displayName = append(w.displayName, ev.Actor.DisplayName)
	w.email = append(w.email, w.forget.email(ev.Actor.EmailSHA256)) // keyed: never the bare SHA-256
	w.url = append(w.url, ev.URL)
	w.title = append(w.title, ev.Title)
	attrs := ev.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	w.attributes = append(w.attributes, attrs)
	w.schemaVersion = append(w.schemaVersion, uint8(ev.SchemaVersion))
	w.streamSeq = append(w.streamSeq, seq)
	w.emailDomain = append(w.emailDomain, storedDomain(ev.Actor.EmailDomainSHA256))
	return nil
}

// storedDomain is what activities_raw keeps of actor.email_domain_sha256:
// the hash as it comes (a domain names an organization; accounts match it
// with events.HashDomain of their domains), except a free-mail domain's,
// which links no one to an account and is not kept.
func storedDomain(h string) string {
	if events.IsFreeMailDomainHash(h) {
		return ""
	}
	return h
}

// MemberID is the member an identity belongs to. Until identity resolution
// (merges across sources) exists, every identity is its own member.
func MemberID(identity string) string { return identity }

// command takes an identity command from the stream: a forget's
// tombstones drop the identities' events from here on (in stream order);
// the erasure waits until the rows before it are written (send). Merges
// and unmerges are the scoring processor's; an invalid command is
// logged there.
func (w *activityWriter) command(data []byte) {
	cmd, err := events.DecodeIdentityCommand(data)
	if err != nil || cmd.Kind != events.IdentityForget || w.forget == nil {
		return
	}
	w.forget.add(cmd.Community, cmd.Tombstones)
	w.forgets = append(w.forgets, cmd)
}

// send writes the rows, then applies the forget commands that came after
// them and deletes the dropped events from the stream. A failure returns
// an error and the flush retries all of it (each step is idempotent).
func (w *activityWriter) send(ctx context.Context, conn driver.Conn) error {
	if len(w.eventID) > 0 {
		if err := w.sendRows(ctx, conn); err != nil {
			return err
		}
	}
	for _, cmd := range w.forgets {
		if err := w.forget.erase(ctx, cmd); err != nil {
			return err
		}
	}
	return w.forget.purge(ctx, w.purge)
}

func (w *activityWriter) sendRows(ctx context.Context, conn driver.Conn) error {
	return w.sendRowsTo(ctx, conn, w.table())
}

// sendRowsTo writes the buffered rows into table (activities_raw, or a
// table of the same columns).
func (w *activityWriter) sendRowsTo(ctx context.Context, conn driver.Conn, table string) error {
	cols := []any{
		w.eventID, w.community, w.source, w.typ, w.occurredAt, w.memberID, w.identity,
		w.channel, w.thread, w.par, w.targetIDs, w.targetKinds, w.weight,
		w.isBot, w.receivedAt, w.username, w.displayName, w.email,
		w.url, w.title, w.attributes, w.schemaVersion, w.streamSeq, w.emailDomain,
	}
	return sendColumns(ctx, conn, table, activityColumns, cols)
}

// sendColumns writes whole columns with one batch.
func sendColumns(ctx context.Context, conn driver.Conn, table string, names []string, cols []any) error {
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+table+" ("+strings.Join(names, ", ")+")")
	if err != nil {
		return fmt.Errorf("prepare %s: %w", table, err)
	}
	defer batch.Close()
	for i, c := range cols {
		if err := batch.Column(i).Append(c); err != nil {
			return fmt.Errorf("%s.%s: %w", table, names[i], err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	return nil
}

// subjectSource returns the source token of activities.<community>.<source>.
func subjectSource(subject string) string {
	parts := strings.Split(subject, ".")
	if len(parts) == 3 {
		return parts[2]
	}
	return "unknown"
}

var deadLetterColumns = []string{"received_at", "stage", "source", "reason", "subject", "headers", "payload", "dl_seq"}

// deadLetterWriter stores dead-letter messages; it never rejects one.
type deadLetterWriter struct {
	receivedAt                              []time.Time
	stage, source, reason, subject, payload []string
	headers                                 []map[string]string
	seq                                     []uint64
}

func newDeadLetterWriter() *deadLetterWriter { return &deadLetterWriter{} }

func (w *deadLetterWriter) table() string { return "dead_letters_raw" }
func (w *deadLetterWriter) len() int      { return len(w.seq) }
func (w *deadLetterWriter) actions() int  { return 0 }

func (w *deadLetterWriter) reset() {
	*w = deadLetterWriter{
		receivedAt: w.receivedAt[:0], stage: w.stage[:0], source: w.source[:0], reason: w.reason[:0],
		subject: w.subject[:0], payload: w.payload[:0], headers: w.headers[:0], seq: w.seq[:0],
	}
}

func (w *deadLetterWriter) add(msg jetstream.Msg) *bus.DeadLetter {
	var seq uint64
	at := time.Now().UTC()
	if md, err := msg.Metadata(); err == nil {
		seq = md.Sequence.Stream
		at = md.Timestamp.UTC() // stable across redeliveries, unlike now
	}
	h := msg.Headers()
	headers := map[string]string{}
	for k, vs := range h {
		switch k {
		case subjects.HeaderReason, subjects.HeaderStage, subjects.HeaderSource, subjects.HeaderOrigSubj:
			continue
		}
		headers[strings.TrimPrefix(k, subjects.HeaderOrigHeader)] = strings.Join(vs, ", ")
	}
	subject := h.Get(subjects.HeaderOrigSubj)
	if subject == "" {
		subject = msg.Subject()
	}
	w.receivedAt = append(w.receivedAt, at.Truncate(time.Millisecond))
	w.stage = append(w.stage, h.Get(subjects.HeaderStage))
	w.source = append(w.source, h.Get(subjects.HeaderSource))
	w.reason = append(w.reason, h.Get(subjects.HeaderReason))
	w.subject = append(w.subject, subject)
	w.headers = append(w.headers, headers)
	w.payload = append(w.payload, string(msg.Data()))
	w.seq = append(w.seq, seq)
	return nil
}

func (w *deadLetterWriter) send(ctx context.Context, conn driver.Conn) error {
	return sendColumns(ctx, conn, w.table(), deadLetterColumns,
		[]any{w.receivedAt, w.stage, w.source, w.reason, w.subject, w.headers, w.payload, w.seq})
}
