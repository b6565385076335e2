package api

import (
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/api/topics"
)

// FuzzPainPointParameters feeds any query string and community to the
// validation of /pain-points: it never panics, refuses with a badRequest
// naming a field, and what it accepts the topics package accepts too.
func FuzzPainPointParameters(f *testing.F) {
	for _, seed := range [][2]string{
		{"acme", "from=2026-03-09&to=2026-03-15&limit=5&min_items=1"},
		{"acme", "from=2026-03-09"},
		{"acme", "from=2025-03-09&to=2026-03-09"},
		{"acme", "limit=-1&min_items=99999"},
		{"x' OR 1=1 --", ""},
		{"acme", "from=2026-13-01&to=abc"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, community, rawQuery string) {
		r := httptest.NewRequest("GET", "/x", nil)
		r.URL.RawQuery = rawQuery
		if _, err := url.ParseQuery(rawQuery); err != nil {
			r.URL.RawQuery = url.Values{"q": {rawQuery}}.Encode()
		}
		r.SetPathValue("community", community)
		q, err := newQuery(r)
		var opt topics.Options
		if err == nil {
			opt, err = painPointOptions(r, q)
		}
		if err != nil {
			var bad badRequest
			require.ErrorAs(t, err, &bad)
			require.NotEmpty(t, bad.param)
			return
		}
		require.True(t, isToken(opt.Community))
		_, err = topics.Rank(nil, opt)
		require.NoError(t, err, "%+v", opt)
	})
}
