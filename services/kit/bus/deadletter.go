package bus

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orbitflow/orbitflow/schemas/subjects"
)

// DeadLetter is one rejected input: the original bytes and headers with the
// reason. Nothing rejected is dropped; it goes to the dead-letter stream.
type DeadLetter struct {
	Stage   string      // who rejected it (subjects.StageIngest, ...)
	Source  string      // the source it came from or claimed
	Reason  string      // why, naming the field and what was expected
	Payload []byte      // the original bytes, unchanged
	Header  nats.Header // the original headers, if any
	Subject string      // where it was read from, if from a stream
	Seq     uint64      // its sequence there, if from a stream
	// Key tells apart several rejections of one payload (e.g. the ids of
	// the invalid events of one webhook delivery); "" for one rejection.
	Key string
}

// MaxReasonLen bounds the reason header.
const MaxReasonLen = 1024

// Msg builds the dead-letter message. Its Nats-Msg-Id derives from the stage,
// the origin and the payload, so dead-lettering the same input twice (a
// retried ingest, a redelivered message) stores it once.
func (d DeadLetter) Msg() *nats.Msg {
	m := nats.NewMsg(subjects.DeadLetter(d.Stage, d.Source))
	m.Data = d.Payload
	for k, vs := range d.Header {
		if k == jetstream.MsgIDHeader || strings.HasPrefix(k, "Nats-") {
			continue
		}
		for _, v := range vs {
			m.Header.Add(subjects.HeaderOrigHeader+k, v)
		}
	}
	reason := strings.ReplaceAll(d.Reason, "\n", " ")
	if len(reason) > MaxReasonLen {
		reason = reason[:MaxReasonLen]
	}
	m.Header.Set(subjects.HeaderReason, reason)
	m.Header.Set(subjects.HeaderStage, d.Stage)
	m.Header.Set(subjects.HeaderSource, d.Source)
	if d.Subject != "" {
		m.Header.Set(subjects.HeaderOrigSubj, d.Subject)
		m.Header.Set(subjects.HeaderOrigSeq, strconv.FormatUint(d.Seq, 10))
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d\x00", d.Stage, d.Source, d.Subject, d.Seq)
	if d.Key != "" {
		fmt.Fprintf(h, "key\x00%s\x00", d.Key)
	}
	h.Write(d.Payload)
	m.Header.Set(jetstream.MsgIDHeader, "dl:"+hex.EncodeToString(h.Sum(nil)[:16]))
	return m
}

// TruncatedPayloadBytes is how much of a payload a dead letter keeps when the
// whole would exceed the stream's message size limit.
const TruncatedPayloadBytes = 512

// PublishDeadLetter stores d in the dead-letter stream and waits for the
// stream's ack: only then may the caller ack or answer for the original.
// A payload too large for the stream is cut to TruncatedPayloadBytes, and
// headers record its full size and SHA-256: the rejection is never lost to
// the size of what was rejected.
func PublishDeadLetter(ctx context.Context, js jetstream.JetStream, d DeadLetter) (*jetstream.PubAck, error) {
	m := d.Msg()
	// A rejection on a traced path (a delivery, a sink write) continues its
	// trace: whoever stores the dead letter is in the same trace. Without a
	// span in ctx nothing is written.
	Inject(ctx, m)
	ack, err := js.PublishMsg(ctx, m)
	if Refused(err) && len(d.Payload) > TruncatedPayloadBytes {
		sum := sha256.Sum256(d.Payload)
		m.Data = d.Payload[:TruncatedPayloadBytes]
		m.Header.Set(subjects.HeaderTruncated, strconv.Itoa(len(d.Payload)))
		m.Header.Set(subjects.HeaderPayloadSHA, hex.EncodeToString(sum[:]))
		ack, err = js.PublishMsg(ctx, m) // same Nats-Msg-Id: the full payload's
	}
	if err != nil {
		return nil, fmt.Errorf("bus: dead-letter (%s, %s): %w", d.Stage, d.Source, Explain(m.Subject, err))
	}
	return ack, nil
}
