package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/source"
	"github.com/orbitflow/orbitflow/services/kit/bus"
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
	for i := range res.Events {
		ev := &res.Events[i]
		if err := l.Registry.Validate(ev); err != nil {
			reason := fmt.Sprintf("invalid event %s: %v", ev.ID, err)
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
		f, err := l.JS.PublishMsgAsync(m)
		if err != nil {
			return out, fmt.Errorf("publish %s: %w", ev.ID, err)
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
		case err := <-f.Err():
			return out, fmt.Errorf("publish %s: %w", id, err)
		case <-ctx.Done():
			return out, fmt.Errorf("publish %s: no acknowledgement within %s", id, l.Timeout)
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
