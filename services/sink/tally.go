package sink

import (
	"context"
	"strings"
	"unicode"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// tally counts the batch's activities by source and type in
// orbitflow.activities. One map entry per pair seen: a batch of 20k rows
// costs ~20k map lookups, against a ClickHouse insert of tens of ms.
func (w *activityWriter) tally(ctx context.Context, m *metrics) {
	type key struct{ source, typ string }
	n := map[key]int64{}
	for i := range w.source {
		n[key{w.source[i], typeLabel(w.typ[i])}]++
	}
	for k, c := range n {
		m.activities.Add(ctx, c, metric.WithAttributes(attribute.String("source", k.source), attribute.String("type", k.typ)))
	}
}

// tally counts the batch's dead letters by stage, source and reason kind
// in orbitflow.rejected.
func (w *deadLetterWriter) tally(ctx context.Context, m *metrics) {
	type key struct{ stage, source, reason string }
	n := map[key]int64{}
	for i := range w.stage {
		n[key{w.stage[i], w.source[i], ReasonKind(w.reason[i])}]++
	}
	for k, c := range n {
		m.deadLetters.Add(ctx, c, metric.WithAttributes(attribute.String("stage", k.stage),
			attribute.String("source", k.source), attribute.String("reason", k.reason)))
	}
}

// typeLabel is an activity type as a metric label: canonical types are a
// fixed set; users' custom.* types, unbounded, count as "custom".
func typeLabel(t string) string {
	if strings.HasPrefix(t, "custom.") {
		return "custom"
	}
	return t
}

// maxReasonKind bounds a reason kind label.
const maxReasonKind = 64

// ReasonKind is a dead letter's reason reduced to its kind, for a metric
// label: the part before the first ": " (the field, or the check that
// failed), without words holding digits (ids, line numbers, sizes), at
// most 64 bytes. "invalid event: occurred_at: want RFC 3339" becomes
// "invalid event"; "line 17: too long" becomes "line".
func ReasonKind(reason string) string {
	head, _, _ := strings.Cut(reason, ": ")
	head, _, _ = strings.Cut(head, "\n")
	var kept []string
	for _, w := range strings.Fields(head) {
		if strings.IndexFunc(w, unicode.IsDigit) < 0 {
			kept = append(kept, w)
		}
	}
	k := strings.Join(kept, " ")
	if len(k) > maxReasonKind {
		k = strings.ToValidUTF8(k[:maxReasonKind], "")
	}
	if k == "" {
		return "other"
	}
	return k
}
