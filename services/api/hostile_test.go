package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/api"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// sqlAttacks are values an attacker puts in any parameter hoping it ends up
// spliced into SQL.
var sqlAttacks = []string{
	"'; DROP TABLE activities --",
	"fx' OR '1'='1",
	"github:1'); DROP TABLE members_raw; --",
	"1 UNION ALL SELECT name FROM system.tables",
	"health_by`; TRUNCATE TABLE activities_raw",
}

// tableRows is every table and view of the test database with its row
// count (views count as -1).
func tableRows(t *testing.T, ch driver.Conn) map[string]int64 {
	t.Helper()
	rows, err := ch.Query(context.Background(), `SELECT name, toInt64(ifNull(total_rows, -1)) FROM system.tables WHERE database = currentDatabase()`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var name string
		var n int64
		require.NoError(t, rows.Scan(&name, &n))
		out[name] = n
	}
	require.NoError(t, rows.Err())
	return out
}

// A SQL injection attempt in every parameter openapi.json documents, path
// and query alike, is a 4xx naming the parameter (or saying what was not
// found, for a metric name or a member id that is well-formed), and leaves
// no trace: every table is still there with its rows.
func TestEveryParameterRefusesSQLInjection(t *testing.T) {
	ts, ch := queryServer(t)
	before := tableRows(t, ch)
	require.Contains(t, before, "activities_raw")
	require.Positive(t, before["activities_raw"])

	_, body := get(t, ts.URL+"/api/v1/openapi.json", "")
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct{ Name, In string } `json:"parameters"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &doc))
	// The values other parameters take while one is under attack; a metric
	// parameter is sent to the metric that reads it.
	pathDefaults := func(path, param string) map[string]string {
		d := map[string]string{"community": "fx", "id": "github:1", "name": "health", "member": "github:1"}
		switch {
		case strings.HasPrefix(path, "/api/v1/alerts"):
			d["id"], d["name"] = "a1", "r1"
		case param == "dimension":
			d["name"] = "health_by"
		case param == "slo_hours":
			d["name"] = "time_to_first_response"
		case param == "inactive_days":
			d["name"] = "inactive_contributors"
		}
		return d
	}
	tried := 0
	for path, methods := range doc.Paths {
		for method, op := range methods {
			for _, prm := range op.Parameters {
				for _, attack := range sqlAttacks {
					u := path
					for k, v := range pathDefaults(path, prm.Name) {
						if prm.In == "path" && k == prm.Name {
							v = attack
						}
						u = strings.ReplaceAll(u, "{"+k+"}", url.PathEscape(v))
					}
					if prm.In == "query" {
						u += "?" + url.Values{prm.Name: {attack}}.Encode()
					}
					code, out := do(t, ts, strings.ToUpper(method), u, key, "")
					what := strings.ToUpper(method) + " " + u
					var e struct{ Error, Field string }
					require.NoError(t, json.Unmarshal([]byte(out), &e), "%s: %s", what, out)
					switch {
					case code == http.StatusNotFound && prm.Name == "name" && strings.Contains(path, "/metrics/"):
						require.Contains(t, e.Error, "no metric", what)
					case code == http.StatusNotFound && prm.Name == "id" && strings.Contains(path, "/members/"):
						require.Contains(t, e.Error, "no member", what)
					default:
						require.Equal(t, http.StatusBadRequest, code, "%s: %s", what, out)
						require.Equal(t, prm.Name, e.Field, "%s: %s", what, out)
						require.Contains(t, e.Error, "parameter "+prm.Name+": want ", what)
					}
					tried++
				}
			}
		}
	}
	require.GreaterOrEqual(t, tried, 30*len(sqlAttacks), "every documented parameter was attacked")
	require.Equal(t, before, tableRows(t, ch), "every table is still there, with the same rows")
}

// FuzzQueryAPI sends any community, path argument and query string to
// every query endpoint through the real handler and the real engine
// (migrated, empty). Whatever passes validation must be a query ClickHouse
// runs: the answer is 200, 400 naming a parameter, or 404, never a 5xx
// (a 502 would be a value the validation let through that the SQL cannot
// take).
func FuzzQueryAPI(f *testing.F) {
	for _, s := range [][3]string{
		{"fx", "health", "period=day&from=2026-01-01&to=2026-01-31"},
		{"fx", "health_by", "dimension=tag&include=bots"},
		{"fx", "time_to_first_response", "slo_hours=1"},
		{"fx", "inactive_contributors", "inactive_days=3650&period=month"},
		{"fx", "github:1", "sort=last_seen&limit=1000&level=4&role=advocate"},
		{"fx", "x", "cursor=eyJ2IjoxZTMwOCwibSI6IidcdTAwMDAiLCJ0IjotOTIyMzM3MjAzNjg1NDc3NTgwOH0&sort=reach"},
		{"fx", "x", "min_strength=1e308&limit=5000"},
		{"fx' OR 1=1 --", "health", "from=1970-01-01&to=1970-01-01"},
	} {
		for r := range 5 {
			f.Add(uint8(r), s[0], s[1], s[2])
		}
	}
	h := fuzzAPIHandler(f)
	paths := []string{
		"/api/v1/communities/{community}/health",
		"/api/v1/communities/{community}/metrics/{arg}",
		"/api/v1/communities/{community}/members",
		"/api/v1/communities/{community}/members/{arg}",
		"/api/v1/communities/{community}/graph",
	}
	f.Fuzz(func(t *testing.T, route uint8, community, arg, rawQuery string) {
		p := strings.NewReplacer("{community}", url.PathEscape(community), "{arg}", url.PathEscape(arg)).Replace(paths[int(route)%len(paths)])
		req, err := http.NewRequest(http.MethodGet, "http://api"+p, nil)
		if err != nil {
			return
		}
		req.URL.RawQuery = rawQuery
		req.Header.Set("Authorization", "Bearer "+key)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code == http.StatusTemporaryRedirect || w.Code == http.StatusMovedPermanently {
			if req.URL.Path == path.Clean(req.URL.Path) {
				t.Fatalf("%s: redirected though the path is clean", req.URL.Path)
			}
			return // the mux cleans paths with empty or dot segments
		}
		var out map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s?%s: %d, not JSON: %q", p, rawQuery, w.Code, w.Body)
		}
		switch w.Code {
		case http.StatusOK, http.StatusNotFound:
		case http.StatusBadRequest:
			if out["field"] == "" || out["field"] == nil {
				t.Fatalf("%s?%s: 400 without the field: %v", p, rawQuery, out)
			}
		default:
			t.Fatalf("%s?%s: %d %v", p, rawQuery, w.Code, out)
		}
	})
}

// fuzzAPIHandler is the API over a migrated, empty database.
func fuzzAPIHandler(f *testing.F) http.Handler {
	b := kittest.Bus(f)
	ch := kittest.ClickHouseConn(f)
	if _, err := store.Migrate(context.Background(), ch, telemetry.Nop().Logger); err != nil {
		f.Fatal(err)
	}
	return api.New(api.Config{APIKeys: []string{key}}, api.Deps{JS: b.JetStream(), CH: ch}, telemetry.Nop()).Handler()
}

// Regression (found by FuzzQueryAPI): /members trusted the time in a
// cursor, and one outside what DateTime64(3) holds made ClickHouse refuse
// the query: a 502 for a bad parameter. It is a 400 naming the cursor.
func TestMembersCursorWithAnOutOfRangeTimeIs400(t *testing.T) {
	ts, _ := queryServer(t)
	for _, c := range []string{
		`{"v":1,"m":"github:1","t":-9223372036854775808}`,
		`{"v":1,"m":"github:1","t":9223372036854775807}`,
		`{"v":1,"m":"github:1","t":-1}`,
	} {
		code, out := getJSON(t, ts, "/api/v1/communities/fx/members?cursor="+base64.RawURLEncoding.EncodeToString([]byte(c)))
		require.Equal(t, http.StatusBadRequest, code, "%s: %v", c, out)
		require.Equal(t, "cursor", out["field"])
	}
	code, out := getJSON(t, ts, "/api/v1/communities/fx/members?limit=1")
	require.Equal(t, http.StatusOK, code, out)
	code, out = getJSON(t, ts, "/api/v1/communities/fx/members?limit=1&cursor="+out["next_cursor"].(string))
	require.Equal(t, http.StatusOK, code, "a real cursor still pages: %v", out)
}
