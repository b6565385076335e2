package telemetry

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// TraceHandler wraps a slog.Handler: a record logged with a context that
// carries a sampled span (log.InfoContext(ctx, ...)) gets trace_id and
// span_id attributes, so a log line leads to its trace. Records without one
// (or logged without a context) pass through unchanged. Spans that are not
// sampled add nothing: their ids would lead to no stored trace.
type TraceHandler struct {
	inner slog.Handler
}

// NewTraceHandler wraps h.
func NewTraceHandler(h slog.Handler) *TraceHandler { return &TraceHandler{inner: h} }

// Enabled reports what the wrapped handler reports.
func (h *TraceHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

// Handle adds the span's ids and passes r on.
func (h *TraceHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && sc.IsSampled() {
			// A copy handed to a handler may share its attribute storage
			// with the caller's; Clone before adding.
			r = r.Clone()
			r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
		}
	}
	return h.inner.Handle(ctx, r)
}

// WithAttrs keeps the wrapper around the wrapped handler's result.
func (h *TraceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &TraceHandler{inner: h.inner.WithAttrs(attrs)}
}

// WithGroup keeps the wrapper; the ids then land inside the group.
func (h *TraceHandler) WithGroup(name string) slog.Handler {
	return &TraceHandler{inner: h.inner.WithGroup(name)}
}
