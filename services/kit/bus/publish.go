package bus

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/orbitflow/orbitflow/schemas/subjects"
)

// Result is the outcome of one published message.
type Result struct {
	Tag       any    // what the caller passed to Publish
	Subject   string //
	Seq       uint64 // stream sequence; for a duplicate, the original's
	Duplicate bool   // the stream already held this message id
	Err       error  // non-nil: the message is NOT in the stream
}

// Publisher publishes asynchronously with a bounded window of unacknowledged
// messages. Every message must carry a Nats-Msg-Id: a failed attempt is
// retried with the same id, so a retry of a publish that did land is dropped
// by the stream instead of stored twice. Outcomes are reported to OnResult in
// publish order.
//
// A Publisher is not safe for concurrent use: one goroutine publishes.
type Publisher struct {
	js       jetstream.JetStream
	window   int
	retries  int
	ackWait  time.Duration
	onResult func(Result)
	tracer   *Tracer // nil: tracing off
	// rootSpans: each message's producer span is a trace of its own,
	// linked to the context passed to Publish (WithRootSpans).
	rootSpans bool
	pending   []inflight
	// failed is the error that stopped publishing (connection closed,
	// stream missing or full): every later Publish and Flush returns it at
	// once instead of waiting out the pending messages' acks again.
	failed error
}

type inflight struct {
	msg      *nats.Msg
	fut      jetstream.PubAckFuture
	tag      any
	attempts int
	refused  error      // set instead of fut when the message was refused on send
	span     trace.Span // the producer span while tracing; ends with the outcome
}

// PublisherOption configures a Publisher.
type PublisherOption func(*Publisher)

// WithWindow bounds unacknowledged publishes (default 4096). It must not
// exceed the JetStream handle's PublishAsyncMaxPending.
func WithWindow(n int) PublisherOption { return func(p *Publisher) { p.window = max(1, n) } }

// WithRetries sets how often a transient failure is retried (default 8,
// with jittered exponential backoff from 100ms to 5s).
func WithRetries(n int) PublisherOption { return func(p *Publisher) { p.retries = n } }

// WithAckWait sets how long a message may wait for its ack before it is
// sent again under the same message id (default 60s).
func WithAckWait(d time.Duration) PublisherOption { return func(p *Publisher) { p.ackWait = d } }

// WithOnResult sets the callback that receives every outcome, in order.
// It runs on the publishing goroutine.
func WithOnResult(f func(Result)) PublisherOption { return func(p *Publisher) { p.onResult = f } }

// WithTracer records a producer span per message (a child of the context
// passed to Publish, ended with the stream's answer) and sends its context
// in the message's headers. A nil tracer (tracing off) adds nothing.
func WithTracer(t *Tracer) PublisherOption { return func(p *Publisher) { p.tracer = t } }

// WithRootSpans makes each message's producer span (WithTracer) the root
// of a trace of its own, linked to the context passed to Publish instead
// of its child: for bulk runs, whose one trace would otherwise hold a span
// per message.
func WithRootSpans() PublisherOption { return func(p *Publisher) { p.rootSpans = true } }

// NewPublisher returns a Publisher on js.
func NewPublisher(js jetstream.JetStream, opts ...PublisherOption) *Publisher {
	p := &Publisher{js: js, window: 4096, retries: 8, ackWait: time.Minute, onResult: func(Result) {}}
	for _, o := range opts {
		o(p)
	}
	return p
}

// ErrNoMsgID is returned for a message without a Nats-Msg-Id header.
var ErrNoMsgID = errors.New("bus: message has no Nats-Msg-Id; every publish needs one so retries cannot duplicate")

// Publish sends msg asynchronously. It blocks while the window is full,
// resolving the oldest messages first. It returns an error only when
// publishing cannot go on (ctx ended, connection closed, stream missing or
// full); per-message outcomes, a refusal of this one message (Refused)
// included, go to OnResult.
func (p *Publisher) Publish(ctx context.Context, msg *nats.Msg, tag any) error {
	if msg.Header.Get(jetstream.MsgIDHeader) == "" {
		return ErrNoMsgID
	}
	if p.failed != nil {
		return p.failed
	}
	for len(p.pending) >= p.window {
		if err := p.resolveOldest(ctx); err != nil {
			return p.fail(ctx, err)
		}
	}
	f := inflight{msg: msg, tag: tag}
	if p.tracer != nil {
		_, f.span = p.tracer.StartPublish(ctx, msg, p.rootSpans)
	}
	if err := p.send(ctx, &f); err != nil {
		if !Refused(err) {
			return p.fail(ctx, err)
		}
		f.refused = err // reported in order, like any other outcome
	}
	p.pending = append(p.pending, f)
	return nil
}

// Pending returns how many messages await their ack.
func (p *Publisher) Pending() int { return len(p.pending) }

// Flush blocks until every published message is resolved or ctx ends.
// After an error that stopped publishing it returns that error at once: the
// messages still pending may or may not be in the stream (their ids settle
// it when they are published again).
func (p *Publisher) Flush(ctx context.Context) error {
	if p.failed != nil {
		return p.failed
	}
	for len(p.pending) > 0 {
		if err := p.resolveOldest(ctx); err != nil {
			return p.fail(ctx, err)
		}
	}
	return nil
}

// fail records err as the end of publishing unless it is ctx's own end
// (a later call with another context may go on), and returns it.
func (p *Publisher) fail(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		p.failed = err
		for i := range p.pending {
			if span := p.pending[i].span; span != nil {
				EndPublish(span, 0, false, err) // the outcome is unknown: not acknowledged
				p.pending[i].span = nil
			}
		}
	}
	return err
}

// send starts one attempt, retrying transient errors of the send itself.
func (p *Publisher) send(ctx context.Context, f *inflight) error {
	for {
		f.attempts++
		fut, err := p.js.PublishMsgAsync(f.msg)
		if err == nil {
			f.fut = fut
			return nil
		}
		if !Transient(err) || f.attempts > p.retries {
			return fmt.Errorf("bus: publish to %s: %w", f.msg.Subject, Explain(f.msg.Subject, err))
		}
		if err := sleep(ctx, backoff(f.attempts)); err != nil {
			return err
		}
	}
}

// resolveOldest waits for the oldest message's outcome. It does not rely on
// the client library alone to settle every future: it checks the connection
// once a second (closed: stop) and, after ackWait without an outcome, treats
// the message as timed out and sends it again under its message id.
func (p *Publisher) resolveOldest(ctx context.Context) error {
	f := &p.pending[0]
	if f.refused != nil {
		p.pop(Result{Tag: f.tag, Subject: f.msg.Subject, Err: f.refused})
		return nil
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	waitingSince := time.Now()
	for {
		var err error
		select {
		case ack := <-f.fut.Ok():
			p.pop(Result{Tag: f.tag, Subject: f.msg.Subject, Seq: ack.Sequence, Duplicate: ack.Duplicate})
			return nil
		case err = <-f.fut.Err():
		case <-tick.C:
			if nc := p.js.Conn(); nc != nil && nc.IsClosed() {
				return fmt.Errorf("bus: publish to %s: %w", f.msg.Subject, nats.ErrConnectionClosed)
			}
			if time.Since(waitingSince) < p.ackWait {
				continue
			}
			err = jetstream.ErrAsyncPublishTimeout
		case <-ctx.Done():
			return ctx.Err()
		}
		if Transient(err) && f.attempts <= p.retries {
			if err := sleep(ctx, backoff(f.attempts)); err != nil {
				return err
			}
			if err := p.send(ctx, f); err != nil {
				if !Refused(err) {
					return err
				}
				p.pop(Result{Tag: f.tag, Subject: f.msg.Subject, Err: err})
				return nil
			}
			waitingSince = time.Now()
			continue
		}
		if Fatal(err) || Transient(err) { // transient, but out of retries
			return fmt.Errorf("bus: publish to %s: %w", f.msg.Subject, Explain(f.msg.Subject, err))
		}
		p.pop(Result{Tag: f.tag, Subject: f.msg.Subject, Err: err})
		return nil
	}
}

func (p *Publisher) pop(r Result) {
	if span := p.pending[0].span; span != nil {
		EndPublish(span, r.Seq, r.Duplicate, r.Err)
	}
	p.pending[0] = inflight{}
	p.pending = p.pending[1:]
	p.onResult(r)
}

// Transient reports whether a publish error may succeed when retried with
// the same message id. A publish that failed with the connection (pending
// acks are failed with ErrDisconnected when it drops) may or may not have
// landed: the retry's message id settles which.
func Transient(err error) bool {
	return errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, nats.ErrStaleConnection) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, jetstream.ErrAsyncPublishTimeout) ||
		errors.Is(err, jetstream.ErrTooManyStalledMsgs) ||
		errors.Is(err, nats.ErrReconnectBufExceeded)
}

// Refused reports whether the server refuses this one message for good
// (too large): the message is not in the stream, and others may still be.
func Refused(err error) bool {
	if errors.Is(err, nats.ErrMaxPayload) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum
}

// Fatal reports whether an error stops all publishing: the connection is
// gone, or the stream refuses every message (missing, full).
func Fatal(err error) bool {
	if errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, jetstream.ErrStreamNotFound) {
		return true
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case jetstream.JSErrCodeStreamNotFound,
			10047, // insufficient storage resources
			10077: // store failed: maximum bytes/messages exceeded (stream full, discard new)
			return true
		}
	}
	return false
}

// ErrStreamFull matches (errors.Is) the publish errors of a stream that
// refuses new messages because it holds all its limits allow, or the
// server's storage is exhausted. It drops nothing it holds (discard new).
var ErrStreamFull = errors.New("stream full")

// Full reports whether err is the server refusing a message because the
// stream or its storage is full.
func Full(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == 10077 || apiErr.ErrorCode == 10047)
}

// StreamFullError is a publish refused by a full stream: which stream, and
// what to do about it.
type StreamFullError struct {
	Stream string // e.g. ACTIVITIES
	// BytesKey and AgeKey are the settings that bound the stream
	// (nats.streams.activity_max_bytes, ...).
	BytesKey, AgeKey string
	Err              error // the server's answer
}

func (e *StreamFullError) Error() string {
	return fmt.Sprintf("stream %s is full: it refuses new messages and keeps every one it holds (%v). "+
		"It keeps messages until they are older than %s, whether the sink has written them to ClickHouse or not, so consuming frees nothing: "+
		"raise %s (and the NATS server's storage: nats.embedded.max_store, the disk) or shorten %s, then publish again (duplicates are dropped)",
		e.Stream, e.Err, e.AgeKey, e.BytesKey, e.AgeKey)
}

func (e *StreamFullError) Unwrap() error        { return e.Err }
func (e *StreamFullError) Is(target error) bool { return target == ErrStreamFull }

// Explain returns err as a *StreamFullError naming the stream of subject
// when the stream is full (Full), and err unchanged otherwise.
func Explain(subject string, err error) error {
	if !Full(err) {
		return err
	}
	e := &StreamFullError{Stream: subjects.ActivityStream, BytesKey: "nats.streams.activity_max_bytes", AgeKey: "nats.streams.activity_max_age", Err: err}
	switch {
	case strings.HasPrefix(subject, subjects.DeadLetterPrefix+"."):
		e.Stream, e.BytesKey, e.AgeKey = subjects.DeadLetterStream, "nats.streams.dead_letter_max_bytes", "nats.streams.dead_letter_max_age"
	case strings.HasPrefix(subject, "alerts."):
		// The alert stream shares the dead-letter limits (subjects.Streams).
		e.Stream, e.BytesKey, e.AgeKey = subjects.AlertStream, "nats.streams.dead_letter_max_bytes", "nats.streams.dead_letter_max_age"
	}
	return e
}

func backoff(attempt int) time.Duration {
	d := 100 * time.Millisecond << min(attempt-1, 6)
	d = min(d, 5*time.Second)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
