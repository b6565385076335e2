package gateway

import (
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// propagator reads a W3C traceparent a sender may have set. Package-local,
// never the process-global one.
var propagator = propagation.TraceContext{}

// traced wraps a hook's endpoint in a server span per delivery, named
// "POST <path>" (the route). The hooks are public endpoints: a traceparent
// sent by the caller becomes a link, not the parent, so an outsider can
// neither join our traces nor force them to be sampled. The span ends with
// the status code; 5xx (the stream unavailable) marks it failed, and the
// handler marks dead-lettered deliveries failed with the reason.
func (s *Server) traced(h http.Handler, route, source, community string) http.Handler {
	if s.tracer == nil {
		return h // tracing off: no span, no wrapper
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer), trace.WithNewRoot(),
			trace.WithAttributes(
				semconv.HTTPRequestMethodKey.String(r.Method),
				semconv.HTTPRoute(route),
				semconv.URLPath(r.URL.Path),
				attribute.String("orbitflow.source", source),
				attribute.String("orbitflow.community", community),
			)}
		if remote := trace.SpanContextFromContext(propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))); remote.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: remote}))
		}
		ctx, span := s.tracer.Start(r.Context(), r.Method+" "+route, opts...)
		defer span.End()
		rec := telemetry.NewStatusWriter(w)
		h.ServeHTTP(rec, r.WithContext(ctx))
		span.SetAttributes(semconv.HTTPResponseStatusCode(rec.Code()))
		if rec.Code() >= 500 {
			span.SetStatus(codes.Error, http.StatusText(rec.Code()))
		}
	})
}
