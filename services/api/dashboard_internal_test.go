package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

func serveDashboard(t *testing.T, d *dashboard, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	resp := rec.Result()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

// The built app: index.html for the app's routes (never cached), hashed
// assets cached for good with their content type, a strict CSP on
// everything, and a 404 (not the page) for a missing asset or API path.
func TestDashboardServesTheBuiltApp(t *testing.T) {
	d := newDashboard(fstest.MapFS{
		"index.html":              {Data: []byte(`<!doctype html><script type="module" src="/assets/index-abc123.js"></script>`)},
		"assets/index-abc123.js":  {Data: []byte(`console.log("app")`)},
		"assets/index-def456.css": {Data: []byte(`body{}`)},
		"favicon.svg":             {Data: []byte(`<svg/>`)},
	})
	for _, path := range []string{"/", "/index.html", "/members", "/members/github:583231", "/network?c=demo", "/alerts"} {
		resp, body := serveDashboard(t, d, path)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.Contains(t, body, "/assets/index-abc123.js", path)
		require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"), path)
		require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"), path)
		csp := resp.Header.Get("Content-Security-Policy")
		require.Contains(t, csp, "script-src 'self';", path)
		require.NotContains(t, csp, "unsafe-inline", path)
		require.Contains(t, csp, "frame-ancestors 'none'", path)
		require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), path)
	}

	resp, body := serveDashboard(t, d, "/assets/index-abc123.js")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, `console.log("app")`, body)
	require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript"), resp.Header.Get("Content-Type"))
	require.Equal(t, "public, max-age=31536000, immutable", resp.Header.Get("Cache-Control"))
	resp, _ = serveDashboard(t, d, "/assets/index-def456.css")
	require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css"), resp.Header.Get("Content-Type"))
	resp, _ = serveDashboard(t, d, "/favicon.svg")
	require.Equal(t, "image/svg+xml", resp.Header.Get("Content-Type"))
	require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"), "not hashed: revalidated")

	resp, body = serveDashboard(t, d, "/assets/index-old999.js")
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "an asset of an older build is not the page")
	require.Contains(t, body, "reload the page")
	for _, path := range []string{"/api/v1/nothing", "/v1/nothing", "/api", "/metrics"} {
		resp, body = serveDashboard(t, d, path)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, path)
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"), path)
		require.Contains(t, body, "openapi.json", path)
	}
	resp, _ = serveDashboard(t, d, "/../../etc/passwd")
	require.Equal(t, http.StatusOK, resp.StatusCode, "a path outside the bundle is an app route")
	require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
}

// Before `make web` the binary holds only the placeholder: every app
// route answers a page saying what to run.
func TestDashboardNotBuiltSaysToRunMakeWeb(t *testing.T) {
	d := newDashboard(fstest.MapFS{".keep": {Data: nil}})
	for _, path := range []string{"/", "/members", "/.keep"} {
		resp, body := serveDashboard(t, d, path)
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, path)
		require.Contains(t, body, "make web", path)
		require.NotEmpty(t, resp.Header.Get("Content-Security-Policy"), path)
	}
}
