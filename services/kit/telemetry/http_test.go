package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestInstrumentHTTPLabelsByPatternNotPath(t *testing.T) {
	m, err := NewMetrics()
	require.NoError(t, err)
	defer m.Shutdown(context.Background())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /members/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "missing" {
			http.Error(w, "no such member", http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	h := http.MaxBytesHandler(InstrumentHTTP("api", m.Provider(), mux), 1<<10)
	for _, req := range []*http.Request{
		httptest.NewRequest("GET", "/members/1", nil),
		httptest.NewRequest("GET", "/members/2", nil),
		httptest.NewRequest("GET", "/members/missing", nil),
		httptest.NewRequest("GET", "/nowhere/123", nil),
		httptest.NewRequest("BREW", "/members/1", nil),
	} {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	const name = "orbitflow_http_server_request_duration_seconds_count"
	require.Contains(t, string(body), name+`{code="200",method="GET",route="/members/{id}",server="api"} 2`)
	require.Contains(t, string(body), name+`{code="404",method="GET",route="/members/{id}",server="api"} 1`)
	require.Contains(t, string(body), name+`{code="404",method="GET",route="unmatched",server="api"} 1`)
	require.Contains(t, string(body), name+`{code="405",method="other",route="unmatched",server="api"} 1`)
	require.NotContains(t, string(body), "/members/1")
}
