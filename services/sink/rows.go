package sink

import (
	"context"
	"errors"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orbitflow/orbitflow/schemas/events"
)

// Rows is the sink's column buffer for activities, for measuring the
// ClickHouse insert on its own (`orbitflow bench` times Insert of rows
// decoded beforehand): the same decoding, validation and columns the sink
// writes.
type Rows struct{ w *activityWriter }

// NewRows returns an empty buffer that validates against reg.
func NewRows(reg *events.Registry) *Rows { return &Rows{w: newActivityWriter(reg)} }

// Add decodes one activity message as the sink would; subject is the
// message's subject and seq its stream sequence. An event the sink would
// dead-letter is an error carrying the reason.
func (r *Rows) Add(subject string, data []byte, seq uint64) error {
	if dl := r.w.add(rowMsg{subject: subject, data: data, seq: seq}); dl != nil {
		return errors.New(dl.Reason)
	}
	return nil
}

// Len is the number of rows buffered.
func (r *Rows) Len() int { return r.w.len() }

// Insert writes the rows to activities_raw with one batch, as a flush does.
// The rows stay buffered (Insert again writes them again).
func (r *Rows) Insert(ctx context.Context, conn driver.Conn) error { return r.w.sendRows(ctx, conn) }

// InsertInto is Insert into another table with activities_raw's columns.
func (r *Rows) InsertInto(ctx context.Context, conn driver.Conn, table string) error {
	return r.w.sendRowsTo(ctx, conn, table)
}

// rowMsg is a message known only by its subject, data and sequence: what
// activityWriter.add reads of a jetstream.Msg. Any other method panics
// (the embedded interface is nil).
type rowMsg struct {
	jetstream.Msg
	subject string
	data    []byte
	seq     uint64
}

func (m rowMsg) Subject() string      { return m.subject }
func (m rowMsg) Data() []byte         { return m.data }
func (m rowMsg) Headers() nats.Header { return nil }
func (m rowMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: m.seq}}, nil
}
