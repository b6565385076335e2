package api

import (
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FuzzQueryParameters feeds any query string and community to the query
// API's parameter validation, for every metric: it never
// panics, and what it accepts is well-formed (the values reach ClickHouse
// only as typed query parameters, but they must also mean what they say).
func FuzzQueryParameters(f *testing.F) {
	for _, seed := range [][2]string{
		{"acme", "period=week&from=2026-01-01&to=2026-03-01"},
		{"acme", "segment=tag&include=bots,teammates"},
		{"acme", "slo_hours=48&inactive_days=30&period=month"},
		{"acme", "sort=last_seen&limit=10&level=2&role=advocate&cursor=eyJ2IjoxLCJtIjoiYSIsInQiOjF9"},
		{"x' OR 1=1 --", "period=week"},
		{"acme", "from=2026-13-01&to=abc&period=%00"},
		{"acme", "min_strength=NaN&limit=-5"},
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
		for name, m := range metrics {
			q, err := newQuery(r)
			if err == nil && m.ranged {
				err = q.rangeParams(r)
			}
			if err == nil && m.extra != nil {
				err = m.extra(q, r)
			}
			if err == nil && r.URL.Query().Has("include") {
				err = q.includeParam(r)
			}
			if err != nil {
				var bad badRequest
				require.ErrorAs(t, err, &bad, name)
				continue
			}
			require.True(t, isToken(q.params["community"]), name)
			for _, k := range []string{"from", "to"} {
				if v, ok := q.params[k]; ok {
					_, err := time.Parse(time.DateOnly, v)
					require.NoError(t, err, "%s %s=%q", name, k, v)
				}
			}
			if v, ok := q.params["period"]; ok {
				require.True(t, slices.Contains([]string{"day", "week", "month"}, v), v)
			}
			for _, k := range []string{"slo_hours", "inactive_days"} {
				if v, ok := q.params[k]; ok {
					_, err := strconv.Atoi(v)
					require.NoError(t, err, "%s %s=%q", name, k, v)
				}
			}
		}
	})
}
