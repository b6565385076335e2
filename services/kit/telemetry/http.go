package telemetry

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// HTTPMetric is the request duration histogram of every Orbitflow HTTP
// server: orbitflow_http_server_request_duration_seconds{server, method,
// route, code} on a Prometheus scrape.
const HTTPMetric = "orbitflow.http.server.request_duration"

// InstrumentHTTP wraps mux so each request's duration is recorded in
// HTTPMetric, labelled with server (e.g. "api", "gateway"), the method, the
// pattern that matched (never the raw path, whose ids would make the
// labels unbounded; "unmatched" when none did) and the status code.
//
// mux must be the *http.ServeMux itself, not a handler wrapping it: the mux
// sets the matched pattern on the request it is given, and wrappers such
// as http.MaxBytesHandler pass it a copy. Put such wrappers outside.
func InstrumentHTTP(server string, mp metric.MeterProvider, mux *http.ServeMux) http.Handler {
	hist, err := mp.Meter("github.com/orbitflow/orbitflow/services/kit/telemetry").Float64Histogram(HTTPMetric,
		metric.WithUnit("s"), metric.WithDescription("Time to answer an HTTP request, by server, method, route and status code"),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	if err != nil {
		return mux
	}
	srv := attribute.String("server", server)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := NewStatusWriter(w)
		mux.ServeHTTP(sw, r)
		route := r.Pattern
		if _, path, ok := strings.Cut(route, " "); ok {
			route = path // the method is its own label
		}
		if route == "" {
			route = "unmatched"
		}
		hist.Record(r.Context(), time.Since(start).Seconds(), metric.WithAttributes(srv,
			attribute.String("method", method(r.Method)), attribute.String("route", route),
			attribute.String("code", strconv.Itoa(sw.Code()))))
	})
}

// method keeps the standard methods; anything else is "other" (a client
// chooses the method, and must not choose the label set).
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// StatusWriter remembers the status code a handler answered (the first
// one written; 200 when it wrote a body without one).
type StatusWriter struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

// NewStatusWriter wraps w.
func NewStatusWriter(w http.ResponseWriter) *StatusWriter {
	return &StatusWriter{ResponseWriter: w, code: http.StatusOK}
}

// Code is the status code answered.
func (w *StatusWriter) Code() int { return w.code }

func (w *StatusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *StatusWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the writer's Flush, deadlines
// and connection.
func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
