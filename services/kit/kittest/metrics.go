package kittest

import (
	"net/http/httptest"

	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// Scrape reads m as a Prometheus scrape of GET /metrics would.
func Scrape(m *telemetry.Metrics) string {
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}
