package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/source"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// Live publishes the result of one live item (a webhook delivery, a
// gateway dispatch) and returns only when the stream holds all of it, so the
// caller can then acknowledge the item to its platform. Invalid events and
// unmapped kinds are dead-lettered with their reason. Safe for concurrent use.
type Live struct {
	JS       jetstream.JetStream
	Registry *events.Registry
	// Stage names the receiver in dead letters (subjects.StageGateway, ...).
	Stage string
	// Timeout bounds waiting for the stream's acknowledgements.
	Timeout time.Duration

	events  metric.Int64Counter // by stage, source and outcome
	ignored metric.Int64Counter // by stage, source and reason
	tracer  *bus.Tracer         // nil: tracing off
}

// NewLive returns a Live publisher whose outcomes are counted in
// orbitflow.connectors.events (published, duplicate, dead_lettered) and
// orbitflow.connectors.ignored (by reason).
func NewLive(js jetstream.JetStream, reg *events.Registry, stage string, timeout time.Duration, set telemetry.Settings) *Live {
	m := set.WithDefaults().MeterProvider.Meter("github.com/orbitflow/orbitflow/services/connectors/ingest")
	l := &Live{JS: js, Registry: reg, Stage: stage, Timeout: timeout,
		tracer: bus.NewTracer(set.WithDefaults(), "github.com/orbitflow/orbitflow/services/connectors/ingest")}
	l.events, _ = m.Int64Counter("orbitflow.connectors.events",
		metric.WithDescription("Events from live sources (webhooks, gateways) by stage, source and outcome (published, duplicate, dead_lettered)"))
	l.ignored, _ = m.Int64Counter("orbitflow.connectors.ignored",
		metric.WithDescription("Live items that carry no community activity, by stage, source and reason"))
	return l
}

func (l *Live) count(ctx context.Context, src string, out Outcome) {
	if l.events == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	add := func(outcome string, n int) {
		if n > 0 {
			l.events.Add(ctx, int64(n), metric.WithAttributes(attribute.String("stage", l.Stage),
				attribute.String("source", src), attribute.String("outcome", outcome)))
		}
	}
	add("published", out.Published)
	add("duplicate", out.Duplicates)
	add("dead_lettered", out.DeadLettered)
	if out.Ignored != "" {
		l.ignored.Add(ctx, 1, metric.WithAttributes(attribute.String("stage", l.Stage),
			attribute.String("source", src), attribute.String("reason", reasonKind(out.Ignored))))
	}
}

// reasonKind keeps an ignore reason's kind, without the ids some reasons
// name ("discord message 123: posted by a webhook" → "discord message:
// posted by a webhook"), so the metric's reasons stay few.
func reasonKind(r string) string {
	head, tail, ok := strings.Cut(r, ": ")
	if !ok {
		return r
	}
	words := strings.Fields(head)
	kept := words[:0]
	for _, w := range words {
		if strings.IndexFunc(w, func(c rune) bool { return c < '0' || c > '9' }) >= 0 {
			kept = append(kept, w)
		}
	}
	return strings.Join(kept, " ") + ": " + tail
}

// Outcome counts what one item became.
type Outcome struct {
	Published    int      `json:"published"`
	Duplicates   int      `json:"duplicates"`
	DeadLettered int      `json:"dead_lettered"`
	Ignored      string   `json:"ignored,omitempty"`
	Rejected     []string `json:"rejected,omitempty"` // the reason of each dead letter
}

// Publish stores res: its events in the activity stream (Nats-Msg-Id = event
// id, so a redelivered item is stored once), an unmapped kind or an invalid
// event as a dead letter carrying raw and hdr. An error means nothing can be
// acknowledged: the item must be delivered again (what was stored is then
// deduplicated).
func (l *Live) Publish(ctx context.Context, src string, res source.Result, raw []byte, hdr nats.Header) (Outcome, error) {
	out, err := l.publish(ctx, src, res, raw, hdr)
	if err == nil {
		l.count(ctx, src, out)
	}
	return out, err
}

func (l *Live) publish(ctx context.Context, src string, res source.Result, raw []byte, hdr nats.Header) (Outcome, error) {
	ctx, cancel := context.WithTimeout(ctx, l.Timeout)
	defer cancel()
	var out Outcome
	if res.Unmapped != "" {
		reason := source.ReasonUnmapped + ": " + res.Unmapped
		if err := l.DeadLetter(ctx, src, raw, hdr, reason); err != nil {
			return out, err
		}
		out.DeadLettered, out.Rejected = 1, []string{reason}
		return out, nil
	}
	if len(res.Events) == 0 {
		out.Ignored = res.Ignored
		return out, nil
	}
	futures := make([]jetstream.PubAckFuture, 0, len(res.Events))
	// spans[i] is futures[i]'s producer span, while tracing. Whatever
	// returns early ends the spans still open, with the error.
	var spans []trace.Span
	var pubErr error
	if l.tracer != nil {
		defer func() {
			for _, sp := range spans {
				bus.EndPublish(sp, 0, false, cmp.Or(pubErr, errors.New("not acknowledged")))
			}
		}()
	}
	for i := range res.Events {
		ev := &res.Events[i]
		if err := l.Registry.Validate(ev); err != nil {
			reason := fmt.Sprintf("invalid event %s: %v", ev.ID, err)
			if l.tracer != nil {
				trace.SpanFromContext(ctx).AddEvent("dead_letter", trace.WithAttributes(attribute.String("reason", reason)))
			}
			if err := l.deadLetter(ctx, src, raw, hdr, reason, ev.ID); err != nil {
				return out, err
			}
			out.DeadLettered++
			out.Rejected = append(out.Rejected, reason)
			continue
		}
		m, err := message(ev)
		if err != nil {
			return out, fmt.Errorf("encode %s: %w", ev.ID, err)
		}
		if l.tracer != nil {
			_, sp := l.tracer.StartPublish(ctx, m, false)
			spans = append(spans, sp)
		}
		f, err := l.JS.PublishMsgAsync(m)
		if err != nil {
			pubErr = fmt.Errorf("publish %s: %w", ev.ID, err)
			return out, pubErr
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		id := f.Msg().Header.Get(jetstream.MsgIDHeader)
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				out.Duplicates++
			} else {
				out.Published++
			}
			if l.tracer != nil {
				bus.EndPublish(spans[0], ack.Sequence, ack.Duplicate, nil)
				spans = spans[1:]
			}
		case err := <-f.Err():
			pubErr = fmt.Errorf("publish %s: %w", id, bus.Explain(f.Msg().Subject, err))
			return out, pubErr
		case <-ctx.Done():
			pubErr = fmt.Errorf("publish %s: no acknowledgement within %s", id, l.Timeout)
			return out, pubErr
		}
	}
	return out, nil
}

// DeadLetter stores raw with reason, waiting for the acknowledgement. The
// same raw dead-lettered again (a redelivery) is stored once.
func (l *Live) DeadLetter(ctx context.Context, src string, raw []byte, hdr nats.Header, reason string) error {
	return l.deadLetter(ctx, src, raw, hdr, reason, "")
}

func (l *Live) deadLetter(ctx context.Context, src string, raw []byte, hdr nats.Header, reason, key string) error {
	ctx, cancel := context.WithTimeout(ctx, l.Timeout)
	defer cancel()
	if _, err := bus.PublishDeadLetter(ctx, l.JS, bus.DeadLetter{
		Stage: l.Stage, Source: src, Reason: reason, Payload: raw, Header: hdr, Key: key,
	}); err != nil {
		return fmt.Errorf("dead-letter: %w", err)
	}
	return nil
}
