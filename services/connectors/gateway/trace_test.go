package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/gateway"
	"github.com/orbitflow/orbitflow/services/connectors/generic"
	"github.com/orbitflow/orbitflow/services/connectors/source"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// TestDeliverySpans: a delivery is a server span named after its route
// whose publish span is its child; a caller's traceparent is only a link
// (public endpoint: outsiders neither join nor force-sample our traces);
// a malformed delivery's span fails with the dead letter's reason.
func TestDeliverySpans(t *testing.T) {
	b := kittest.Bus(t)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
	defer tp.Shutdown(context.Background())
	cfg := gateway.DefaultConfig()
	cfg.PublishTimeout = time.Second
	cfg.Hooks = []gateway.HookConfig{{Source: generic.Source, Community: "acme", Secrets: []string{key}}}
	g := gateway.New(cfg, gateway.Deps{JS: b.JetStream(), Registry: events.DefaultRegistry(),
		Webhooks: map[string]source.Webhook{generic.Source: generic.Webhook{}}}, telemetry.Settings{TracerProvider: tp})
	h, err := g.Handler()
	require.NoError(t, err)

	post := func(body, traceparent string) int {
		req, err := http.NewRequest(http.MethodPost, "/hooks/generic", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		if traceparent != "" {
			req.Header.Set("traceparent", traceparent)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	// Never-sample for new roots, yet the sender's sampled flag must not
	// turn recording on: its context is a link, not the parent.
	remote := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	require.Equal(t, http.StatusAccepted, post(event, remote))
	require.Empty(t, exp.GetSpans(), "a caller's sampled traceparent does not force recording")

	tp2 := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp2.Shutdown(context.Background())
	g = gateway.New(cfg, gateway.Deps{JS: b.JetStream(), Registry: events.DefaultRegistry(),
		Webhooks: map[string]source.Webhook{generic.Source: generic.Webhook{}}}, telemetry.Settings{TracerProvider: tp2})
	h, err = g.Handler()
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, post(event, remote))
	spans := exp.GetSpans()
	require.Len(t, spans, 2)
	pub, delivery := spans[0], spans[1]
	require.Equal(t, "POST /hooks/generic", delivery.Name)
	require.Equal(t, trace.SpanKindServer, delivery.SpanKind)
	require.False(t, delivery.Parent.IsValid(), "a new root")
	require.Len(t, delivery.Links, 1)
	require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", delivery.Links[0].SpanContext.TraceID().String())
	require.Equal(t, delivery.SpanContext.SpanID(), pub.Parent.SpanID())
	require.Equal(t, codes.Unset, delivery.Status.Code)

	exp.Reset()
	require.Equal(t, http.StatusBadRequest, post(`{"id":`, ""))
	spans = exp.GetSpans()
	var failed tracetest.SpanStub
	for _, s := range spans {
		if s.Name == "POST /hooks/generic" {
			failed = s
		}
	}
	require.Equal(t, codes.Error, failed.Status.Code)
	require.True(t, strings.HasPrefix(failed.Status.Description, "malformed: "), failed.Status.Description)
}
