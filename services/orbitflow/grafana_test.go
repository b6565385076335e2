package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

const grafanaDir = "../../deploy/grafana"

type dashboardTarget struct {
	Datasource *struct{ Type, UID string } `json:"datasource"`
	RefID      string                      `json:"refId"`
	Expr       string                      `json:"expr"`
	RawSQL     string                      `json:"rawSql"`
}

type dashboard struct {
	UID    string `json:"uid"`
	Title  string `json:"title"`
	Panels []struct {
		ID         int                         `json:"id"`
		Title      string                      `json:"title"`
		Datasource *struct{ Type, UID string } `json:"datasource"`
		Targets    []dashboardTarget           `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name       string                      `json:"name"`
			Type       string                      `json:"type"`
			Query      any                         `json:"query"`
			Datasource *struct{ Type, UID string } `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

// provisionedDatasources maps the uid of every provisioned datasource to
// its type.
func provisionedDatasources(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(grafanaDir, "provisioning/datasources/*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var doc struct {
			Datasources []struct {
				UID  string `yaml:"uid"`
				Type string `yaml:"type"`
			} `yaml:"datasources"`
		}
		require.NoError(t, yaml.Unmarshal(b, &doc), f)
		for _, d := range doc.Datasources {
			require.NotEmpty(t, d.UID, "%s: every datasource needs a uid for the dashboards to name", f)
			out[d.UID] = d.Type
		}
	}
	return out
}

func loadDashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(grafanaDir, "dashboards/*.json"))
	require.NoError(t, err)
	out := map[string]dashboard{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var d dashboard
		require.NoError(t, json.Unmarshal(b, &d), "%s does not parse", f)
		require.NotEmpty(t, d.UID, f)
		out[filepath.Base(f)] = d
	}
	require.Contains(t, out, "pipeline.json")
	require.Contains(t, out, "community-health.json")
	return out
}

// TestDashboardsNameProvisionedDatasources checks that every dashboard
// parses, and every panel, target and variable names a datasource uid (and
// type) that provisioning creates, with a query.
func TestDashboardsNameProvisionedDatasources(t *testing.T) {
	ds := provisionedDatasources(t)
	check := func(where string, ref *struct{ Type, UID string }) {
		require.NotNil(t, ref, "%s names no datasource", where)
		typ, ok := ds[ref.UID]
		require.True(t, ok, "%s: datasource uid %q is not provisioned (have %v)", where, ref.UID, ds)
		require.Equal(t, typ, ref.Type, "%s: datasource %q", where, ref.UID)
	}
	uids := map[string]bool{}
	for name, d := range loadDashboards(t) {
		require.False(t, uids[d.UID], "two dashboards with uid %s", d.UID)
		uids[d.UID] = true
		require.NotEmpty(t, d.Panels, name)
		ids := map[int]bool{}
		for _, p := range d.Panels {
			where := name + ": panel " + p.Title
			require.False(t, ids[p.ID], "%s: panel id %d twice", where, p.ID)
			ids[p.ID] = true
			check(where, p.Datasource)
			require.NotEmpty(t, p.Targets, where)
			for _, tg := range p.Targets {
				check(where+" target "+tg.RefID, tg.Datasource)
				require.NotEmpty(t, tg.Expr+tg.RawSQL, "%s target %s has no query", where, tg.RefID)
			}
		}
		for _, v := range d.Templating.List {
			if v.Type == "query" {
				check(name+": variable "+v.Name, v.Datasource)
			}
		}
	}
}

// TestPipelineDashboardUsesOrbitflowMetrics checks the Prometheus queries
// name metrics of orbitflow's families (a typo in a prefix shows here;
// metrics that do not exist yet show as empty panels, not errors).
func TestPipelineDashboardUsesOrbitflowMetrics(t *testing.T) {
	d := loadDashboards(t)["pipeline.json"]
	metric := regexp.MustCompile(`\b(orbitflow_[a-z_]+|go_[a-z_]+|process_[a-z_]+)\b`)
	seen := map[string]bool{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			names := metric.FindAllString(tg.Expr, -1)
			require.NotEmpty(t, names, "panel %s: %s names no metric", p.Title, tg.Expr)
			for _, n := range names {
				seen[n] = true
			}
			require.Equal(t, strings.Count(tg.Expr, "("), strings.Count(tg.Expr, ")"), "panel %s: unbalanced %s", p.Title, tg.Expr)
		}
	}
	for _, want := range []string{"orbitflow_activities_total", "orbitflow_rejected_total", "orbitflow_connectors_events_total",
		"orbitflow_sink_rows_total", "orbitflow_sink_flush_duration_seconds_bucket", "orbitflow_sink_batch_size_bucket", "orbitflow_stream_lag",
		"orbitflow_scoring_latency_seconds_bucket", "orbitflow_scoring_process_duration_seconds_bucket", "orbitflow_alerts_evaluations_total",
		"orbitflow_http_server_request_duration_seconds_bucket", "go_memstats_heap_inuse_bytes", "process_cpu_seconds_total"} {
		require.True(t, seen[want], "the pipeline dashboard shows no %s", want)
	}

	// Every orbitflow_ series it plots is an instrument the code declares
	// (a renamed instrument must not leave an empty panel): the names
	// passed to the meters are "orbitflow.<component>.<what>"; Prometheus
	// adds _total to counters and _seconds to durations.
	declared := map[string]bool{}
	instrument := regexp.MustCompile(`"(orbitflow\.[a-z_.]+)"`)
	require.NoError(t, filepath.WalkDir("..", func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range instrument.FindAllStringSubmatch(string(b), -1) {
			base := strings.ReplaceAll(m[1], ".", "_")
			for _, suffix := range []string{"", "_total", "_seconds"} {
				declared[base+suffix] = true
			}
		}
		return nil
	}))
	for n := range seen {
		if !strings.HasPrefix(n, "orbitflow_") {
			continue
		}
		base := n
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			base = strings.TrimSuffix(base, suffix)
		}
		require.True(t, declared[base], "the pipeline dashboard plots %s, which no instrument in services/ declares", n)
	}
}

// grafanaSQL turns a panel's SQL into what the ClickHouse data source
// sends for a range of [from, to) and a community: Grafana's variables
// and the plugin's macros, expanded as they are.
func grafanaSQL(sql, community, period string, from, to time.Time) string {
	dt := func(t time.Time) string { return "toDateTime(" + t.Format("'2006-01-02 15:04:05'") + ", 'UTC')" }
	r := strings.NewReplacer(
		"${community}", community, "$community", community,
		"${period}", period, "$period", period,
		"${__from:date:YYYY-MM-DD HH:mm:ss}", from.Format("2006-01-02 15:04:05"),
		"${__to:date:YYYY-MM-DD HH:mm:ss}", to.Format("2006-01-02 15:04:05"),
		"${__from:date:YYYY-MM-DD}", from.Format("2006-01-02"),
		"${__to:date:YYYY-MM-DD}", to.Format("2006-01-02"),
		"$__fromTime", dt(from), "$__toTime", dt(to),
	)
	sql = r.Replace(sql)
	sql = regexp.MustCompile(`\$__timeFilter\(([^)]+)\)`).ReplaceAllStringFunc(sql, func(m string) string {
		col := strings.TrimSuffix(strings.TrimPrefix(m, "$__timeFilter("), ")")
		return col + " >= " + dt(from) + " AND " + col + " <= " + dt(to)
	})
	return sql
}

// TestCommunityHealthDashboardQueriesRun runs every ClickHouse query of
// the community dashboard (and its variables) against the real embedded
// engine after the migrations, with the macros expanded, for each period:
// a renamed column or view fails here, not in front of a user.
func TestCommunityHealthDashboardQueriesRun(t *testing.T) {
	d := loadDashboards(t)["community-health.json"]
	conn := kittest.ClickHouseConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, err := store.Migrate(ctx, conn, telemetry.Nop().Logger)
	require.NoError(t, err)

	from, to := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	queries := map[string]string{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			require.NotEmpty(t, tg.RawSQL, "panel %s: a community panel is SQL", p.Title)
			queries["panel "+p.Title] = tg.RawSQL
		}
	}
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(string); ok && v.Type == "query" {
			queries["variable "+v.Name] = q
		}
	}
	require.GreaterOrEqual(t, len(queries), 10)
	for where, sql := range queries {
		for _, period := range []string{"day", "week", "month"} {
			q := grafanaSQL(sql, "acme", period, from, to)
			require.NotContains(t, q, "$", "%s: a variable or macro left unexpanded: %s", where, q)
			rows, err := conn.Query(ctx, q)
			require.NoError(t, err, "%s (period %s):\n%s", where, period, q)
			for rows.Next() {
			}
			require.NoError(t, rows.Err(), "%s (period %s)", where, period)
			rows.Close()
		}
	}
}
