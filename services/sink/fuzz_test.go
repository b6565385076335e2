package sink

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
)

// fuzzMsg is a stream message as the sink's writers see it. The embedded
// jetstream.Msg is nil: the writers only read what is overridden here.
type fuzzMsg struct {
	jetstream.Msg
	data    []byte
	subject string
	header  nats.Header
}

func (m fuzzMsg) Data() []byte         { return m.data }
func (m fuzzMsg) Subject() string      { return m.subject }
func (m fuzzMsg) Headers() nats.Header { return m.header }
func (m fuzzMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: 7}, Timestamp: time.Unix(1767225600, 0)}, nil
}

// FuzzSinkMessage feeds any bytes on any subject to the sink's decoding of
// stream messages (events.DecodeShared, validation, the subject check, the
// column buffers) and any headers to the dead-letter writer. Anyone with
// publish rights on the stream can write such a message. Never a panic;
// an activity is either one more row whose subject matches its community
// and source, or a dead letter with a reason; a dead letter is always one
// more row holding the payload unchanged.
func FuzzSinkMessage(f *testing.F) {
	valid := `{"schema_version":1,"id":"gh:1","community":"acme","source":"github","type":"github.issue.opened",` +
		`"occurred_at":"2026-01-01T00:00:00Z","received_at":"2026-01-01T00:00:01Z","actor":{"source":"github","source_id":"1"}}`
	for _, s := range [][2]string{
		{subjects.Activity("acme", "github"), valid},
		{subjects.Activity("other", "github"), valid},
		{"activities.acme", valid},
		{"activities", `{"id":"x"}`},
		{subjects.Activity("acme", "github"), strings.Replace(valid, `"actor"`, `"targets":[{"source":"github","source_id":"2","kind":"mention"}],"actor"`, 1)},
		{subjects.Activity("acme", "github"), strings.Repeat("[", 5000)},
		{subjects.Activity("acme", "github"), "\xff\xfe{"},
	} {
		f.Add(s[0], []byte(s[1]), "Orbitflow-Reason: x\r\nOrbitflow-Orig-Nats-Msg-Id: a\r\n")
	}
	reg := events.DefaultRegistry()
	f.Fuzz(func(t *testing.T, subject string, data []byte, header string) {
		hdr := nats.Header{}
		for _, line := range strings.Split(header, "\r\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				hdr.Add(k, strings.TrimSpace(v))
			}
		}
		msg := fuzzMsg{data: bytes.Clone(data), subject: subject, header: hdr}

		w := newActivityWriter(reg)
		dl := w.add(msg)
		switch {
		case dl != nil:
			if w.len() != 0 || dl.Reason == "" || dl.Stage != subjects.StageSink || !bytes.Equal(dl.Payload, data) {
				t.Fatalf("rejection: rows %d, %+v", w.len(), dl)
			}
		case w.len() != 1:
			t.Fatalf("accepted with %d rows", w.len())
		case subjects.Activity(w.community[0], w.source[0]) != subject || w.eventID[0] == "":
			t.Fatalf("accepted event %q of %s/%s on %q", w.eventID[0], w.community[0], w.source[0], subject)
		case len(w.targetIDs[0]) != len(w.targetKinds[0]) || w.attributes[0] == nil:
			t.Fatalf("accepted with ragged columns: %v %v %v", w.targetIDs[0], w.targetKinds[0], w.attributes[0])
		}

		d := &deadLetterWriter{}
		if got := d.add(msg); got != nil {
			t.Fatalf("the dead-letter writer rejected a message: %+v", got)
		}
		if d.len() != 1 || d.payload[0] != string(data) || d.headers[0] == nil || d.subject[0] == "" && subject != "" {
			t.Fatalf("dead letter row: %d rows, payload %q, subject %q", d.len(), d.payload, d.subject)
		}
	})
}
