package api

import (
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// openAPI documents the query API (served at /api/v1/openapi.json).
//
//go:embed openapi.json
var openAPI []byte

// maxRows bounds what one query returns.
const maxRows = 10_000

// route is one query API endpoint.
type route struct {
	pattern string
	handler func(s *Server, w http.ResponseWriter, r *http.Request)
}

// routes are the query API's endpoints, all GET, all behind the API key
// except the OpenAPI document.
var routes = []route{
	{"/api/v1/communities/{community}/health", (*Server).health},
	{"/api/v1/communities/{community}/metrics/{name}", (*Server).metricHandler},
	{"/api/v1/communities/{community}/members", (*Server).members},
	{"/api/v1/communities/{community}/members/{id}", (*Server).member},
	{"/api/v1/communities/{community}/graph", (*Server).graph},
	// dashboard_api.go
	{"/api/v1/whoami", (*Server).whoami},
	{"/api/v1/communities", (*Server).communities},
	{"/api/v1/communities/{community}/members/{id}/activity", (*Server).memberActivity},
	// painpoints.go
	{"/api/v1/communities/{community}/pain-points", (*Server).painPoints},
	// report_api.go
	{"/api/v1/communities/{community}/report", (*Server).weeklyReport},
	// structure_api.go
	{"/api/v1/communities/{community}/structure", (*Server).communityStructure},
	{"/api/v1/communities/{community}/structure/segments", (*Server).structureSegments},
	{"/api/v1/communities/{community}/bridges", (*Server).bridges},
	{"/api/v1/communities/{community}/introductions", (*Server).introductions},
	{"/api/v1/communities/{community}/amplifiers", (*Server).amplifiers},
	// accounts_api.go
	{"/api/v1/communities/{community}/accounts", (*Server).accountList},
	{"/api/v1/communities/{community}/accounts/reach", (*Server).accountReach},
	{"/api/v1/communities/{community}/accounts/dropped", (*Server).accountDrops},
	{"/api/v1/communities/{community}/accounts/{account}", (*Server).accountShow},
}

func (s *Server) queryRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	})
	for _, rt := range routes {
		h := rt.handler
		mux.Handle("GET "+rt.pattern, s.auth(ScopeRead, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h(s, w, r) })))
	}
}

// badRequest is a 400 naming the parameter and what was expected.
type badRequest struct{ param, want, got string }

func (e badRequest) Error() string {
	return fmt.Sprintf("parameter %s: want %s, got %q", e.param, e.want, e.got)
}

// body is the 400's JSON: the message, and the parameter on its own so a
// client need not parse the message.
func (e badRequest) body() map[string]string {
	return map[string]string{"error": e.Error(), "field": e.param}
}

// query is a request's validated parameters, as ClickHouse query
// parameters (sent apart from the SQL, never spliced into it).
type query struct {
	params map[string]string
}

func newQuery(r *http.Request) (query, error) {
	q := query{params: map[string]string{}}
	c := r.PathValue("community")
	if !isToken(c) {
		return q, badRequest{"community", "a community name (a-z, 0-9, _ and -)", c}
	}
	q.params["community"] = c
	return q, nil
}

func isToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || (i > 0 && (b == '_' || b == '-'))) {
			return false
		}
	}
	return true
}

// rangeParams reads from and to (dates; default: the 90 days ending
// today, UTC) and period (day, week, month; default week).
func (q query) rangeParams(r *http.Request) error {
	today := time.Now().UTC().Truncate(24 * time.Hour)
	to, err := dateParam(r, "to", today)
	if err != nil {
		return err
	}
	from, err := dateParam(r, "from", to.AddDate(0, 0, -89))
	if err != nil {
		return err
	}
	if from.After(to) {
		return badRequest{"from", "a date not after to (" + to.Format(time.DateOnly) + ")", from.Format(time.DateOnly)}
	}
	if to.Sub(from) > 3660*24*time.Hour {
		return badRequest{"from", "a range of at most 3660 days", from.Format(time.DateOnly)}
	}
	q.params["from"], q.params["to"] = from.Format(time.DateOnly), to.Format(time.DateOnly)
	return q.enumParam(r, "period", "week", "day", "week", "month")
}

func dateParam(r *http.Request, name string, def time.Time) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil || t.Year() < 1970 || t.Year() > 2200 {
		return time.Time{}, badRequest{name, "a date YYYY-MM-DD", v}
	}
	return t, nil
}

func (q query) enumParam(r *http.Request, name, def string, allowed ...string) error {
	v := r.URL.Query().Get(name)
	if v == "" {
		v = def
	}
	for _, a := range allowed {
		if v == a {
			q.params[name] = v
			return nil
		}
	}
	return badRequest{name, "one of " + strings.Join(allowed, ", "), v}
}

// includeParam reads include: bots, teammates or both, comma-separated;
// bots and teammates become Bool parameters.
func (q query) includeParam(r *http.Request) error {
	v := r.URL.Query().Get("include")
	q.params["bots"], q.params["teammates"] = "false", "false"
	for _, w := range strings.Split(v, ",") {
		switch w {
		case "bots", "teammates":
			q.params[w] = "true"
		default:
			return badRequest{"include", "bots, teammates or bots,teammates", v}
		}
	}
	q.params["include"] = v
	return nil
}

func (q query) intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		q.params[name] = strconv.Itoa(def)
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, badRequest{name, fmt.Sprintf("an integer %d..%d", lo, hi), v}
	}
	q.params[name] = strconv.Itoa(n)
	return n, nil
}

func (q query) floatParam(r *http.Request, name string, def, lo float64) error {
	v := r.URL.Query().Get(name)
	f := def
	if v != "" {
		var err error
		if f, err = strconv.ParseFloat(v, 64); err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < lo {
			return badRequest{name, fmt.Sprintf("a number ≥ %g", lo), v}
		}
	}
	q.params[name] = strconv.FormatFloat(f, 'g', -1, 64)
	return nil
}

// rows runs sql with the query's parameters, bounded in time and rows,
// and returns the rows as JSON objects in column order.
func (s *Server) rows(ctx context.Context, q query, sql string) ([]map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	ctx = clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters(q.params)),
		clickhouse.WithSettings(clickhouse.Settings{
			"max_execution_time": int(math.Ceil(s.cfg.QueryTimeout.Seconds())),
			"max_result_rows":    maxRows, "result_overflow_mode": "break",
		}))
	rows, err := s.deps.CH.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, types := rows.Columns(), rows.ColumnTypes()
	out := []map[string]any{}
	for rows.Next() {
		vals := make([]any, len(cols))
		for i, t := range types {
			vals[i] = reflect.New(t.ScanType()).Interface()
		}
		if err := rows.Scan(vals...); err != nil {
			return nil, err
		}
		row := make(map[string]any, len(cols))
		for i, c := range cols {
			row[c] = jsonValue(vals[i], types[i].DatabaseTypeName())
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// jsonValue turns a scanned value into what JSON shows: dates as
// YYYY-MM-DD, times as RFC 3339, NaN and infinities as null.
func jsonValue(p any, dbType string) any {
	v := reflect.ValueOf(p).Elem()
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	switch x := v.Interface().(type) {
	case time.Time:
		if strings.HasPrefix(dbType, "Date") && !strings.HasPrefix(dbType, "DateTime") ||
			strings.Contains(dbType, "(Date)") {
			return x.Format(time.DateOnly)
		}
		return x.UTC().Format(time.RFC3339Nano)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
		return x
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil
		}
		return x
	}
	return v.Interface()
}

// respond writes the result or the error: 400 for bad parameters, 504 for
// a query that ran out of time, 502 when ClickHouse failed otherwise.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, body map[string]any, err error) {
	var bad badRequest
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, body)
	case errors.As(err, &bad):
		writeJSON(w, http.StatusBadRequest, bad.body())
	case r.Context().Err() == nil && (strings.Contains(err.Error(), "TIMEOUT_EXCEEDED") || errors.Is(err, context.DeadlineExceeded)):
		s.log.Warn("query timed out", "path", r.URL.Path, "err", err)
		writeJSON(w, http.StatusGatewayTimeout, map[string]string{"error": "the query took longer than api.query_timeout; narrow the range"})
	default:
		s.log.Warn("query failed", "path", r.URL.Path, "err", err)
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "ClickHouse could not answer: " + firstLine(err.Error())})
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// metric is one health metric of /metrics/{name}: its SQL (a
// parameterized view or table over query parameters) and the parameters
// it reads.
type metric struct {
	sql    string
	ranged bool // reads from, to and period
	extra  func(q query, r *http.Request) error
	// including, if set, answers instead of sql when the request asks for
	// bots or teammates (include=bots,teammates); metrics without one
	// refuse include.
	including string
}

var metrics = map[string]metric{
	"health": {ranged: true, sql: `SELECT * FROM health(community = {community:String}, period = {period:String},
		from = {from:Date}, to = {to:Date})`,
		including: `SELECT cal.p AS period_start, h.active_members AS active_members, h.activities AS activities,
			h.contributors AS contributors, h.contributions AS contributions, h.new_members AS new_members,
			h.new_contributors AS new_contributors
		FROM (SELECT DISTINCT toDate(dateTrunc({period:String}, {from:Date} + number)) AS p
			FROM numbers(toUInt64(greatest(dateDiff('day', {from:Date}, {to:Date}) + 1, 0)))) AS cal
		LEFT JOIN (SELECT * FROM health_including(community = {community:String}, period = {period:String}, from = {from:Date},
			to = {to:Date}, dimension = '', bots = {bots:Bool}, teammates = {teammates:Bool})) AS h ON h.period_start = cal.p
		ORDER BY period_start`},
	"health_by": {ranged: true, extra: func(q query, r *http.Request) error {
		name := "dimension"
		if r.URL.Query().Get(name) == "" && r.URL.Query().Get("segment") != "" {
			name = "segment" // /health?segment= names it so
		}
		if err := q.enumParam(r, name, "source", "source", "channel", "type", "tag", "level"); err != nil {
			return err
		}
		q.params["dimension"] = q.params[name]
		delete(q.params, "segment")
		return nil
	}, sql: `SELECT * FROM health_by(community = {community:String}, period = {period:String}, from = {from:Date}, to = {to:Date},
		dimension = {dimension:String})`,
		including: `SELECT period_start, segment, active_members, activities AS volume, contributors, contributions
		FROM health_including(community = {community:String}, period = {period:String}, from = {from:Date}, to = {to:Date},
			dimension = {dimension:String}, bots = {bots:Bool}, teammates = {teammates:Bool})`},
	"active_members": {ranged: true, sql: `SELECT * FROM active_members(community = {community:String}, from = {from:Date}, to = {to:Date})`},
	"contributor_absence": {ranged: true, sql: `SELECT * FROM contributor_absence(community = {community:String}, period = {period:String},
		from = {from:Date}, to = {to:Date})`},
	"elephant_factor": {ranged: true, sql: `SELECT * FROM elephant_factor(community = {community:String}, period = {period:String},
		from = {from:Date}, to = {to:Date})`},
	"time_to_first_response": {ranged: true, extra: func(q query, r *http.Request) error {
		_, err := q.intParam(r, "slo_hours", 24, 1, 24*365)
		return err
	}, sql: `SELECT * FROM time_to_first_response(community = {community:String}, period = {period:String}, from = {from:Date},
		to = {to:Date}, slo_hours = {slo_hours:UInt32})`},
	"retention": {ranged: true, sql: `SELECT * FROM retention(community = {community:String}, period = {period:String},
		from = {from:Date}, to = {to:Date})`},
	"retention_cohorts": {ranged: true, sql: `SELECT * FROM retention_cohorts(community = {community:String}, from = {from:Date}, to = {to:Date})`},
	"inactive_contributors": {ranged: true, extra: func(q query, r *http.Request) error {
		q.params["as_of"] = time.Now().UTC().Format("2006-01-02 15:04:05.000")
		_, err := q.intParam(r, "inactive_days", 90, 1, 3650)
		return err
	}, sql: `SELECT * FROM inactive_contributors(community = {community:String}, period = {period:String}, from = {from:Date},
		to = {to:Date}, as_of = {as_of:DateTime64(3)}, inactive_days = {inactive_days:UInt32})`},
	"burstiness": {ranged: true, sql: `SELECT * FROM burstiness(community = {community:String}, period = {period:String},
		from = {from:Date}, to = {to:Date})`},
	"gravity": {ranged: true, sql: `SELECT period_start, members, leading, contributing, participating, exploring,
		weighted_commitment, gravity FROM community_gravity FINAL
		WHERE community = {community:String} AND period = {period:String} AND period_start BETWEEN {from:Date} AND {to:Date}
		ORDER BY period_start`},
	"level_movement": {ranged: true, sql: `SELECT period_start, level, members, moved_up, held, moved_down FROM level_movement FINAL
		WHERE community = {community:String} AND period_start BETWEEN toStartOfMonth({from:Date}) AND {to:Date}
		ORDER BY period_start, level`},
	"new_contributors": {ranged: true, sql: `SELECT * FROM new_contributors(community = {community:String}, period = {period:String},
		from = {from:Date}, to = {to:Date})`},
	"recurring_connections": {ranged: true, sql: `SELECT * FROM recurring_connections(community = {community:String}, period = {period:String},
		from = {from:Date}, to = {to:Date})`},
	"levels": {sql: `SELECT orbit_level, count() AS members FROM members
		WHERE community = {community:String} AND NOT is_bot AND NOT is_teammate GROUP BY orbit_level ORDER BY orbit_level`},
	"network": {sql: `SELECT members, connected_members, edges, density, strength FROM community_network(community = {community:String})`},
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	name := "health"
	if r.URL.Query().Get("segment") != "" {
		name = "health_by"
	}
	s.runMetric(w, r, name)
}

func (s *Server) metricHandler(w http.ResponseWriter, r *http.Request) {
	s.runMetric(w, r, r.PathValue("name"))
}

func (s *Server) runMetric(w http.ResponseWriter, r *http.Request, name string) {
	m, ok := metrics[name]
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no metric %q; see /api/v1/openapi.json", name)})
		return
	}
	q, err := newQuery(r)
	if err == nil && m.ranged {
		err = q.rangeParams(r)
	}
	if err == nil && m.extra != nil {
		err = m.extra(q, r)
	}
	sql := m.sql
	if err == nil && r.URL.Query().Has("include") {
		sql, err = m.including, q.includeParam(r)
		if err == nil && sql == "" {
			err = badRequest{"include", "none here (only health and health_by count bots and teammates)", r.URL.Query().Get("include")}
		}
	}
	var body map[string]any
	if err == nil {
		var rows []map[string]any
		if rows, err = s.rows(r.Context(), q, sql); err == nil {
			body = map[string]any{"community": q.params["community"], "metric": name, "rows": rows}
			for _, k := range []string{"from", "to", "period", "dimension", "include", "slo_hours", "inactive_days"} {
				if v, ok := q.params[k]; ok {
					body[k] = v
				}
			}
		}
	}
	s.respond(w, r, body, err)
}

// memberSorts are the orders /members offers, each a fixed expression.
var memberSorts = map[string]string{
	"love":           "love",
	"reach":          "reach",
	"member_gravity": "member_gravity",
	"last_seen":      "toFloat64(toUnixTimestamp64Milli(last_seen))",
}

// cursor is where the next page of /members starts: after the last row's
// sort value and member id.
type cursor struct {
	Value  float64 `json:"v"`
	Member string  `json:"m"`
	// AsOf (Unix ms) is when the first page was read: every page decays
	// the scores to it, so the order holds across pages.
	AsOf int64 `json:"t"`
}

func (s *Server) members(w http.ResponseWriter, r *http.Request) { s.serve(w, r, s.memberPage) }

// serve answers with what build makes of the request's parameters.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, build func(*http.Request, query) (map[string]any, error)) {
	q, err := newQuery(r)
	var body map[string]any
	if err == nil {
		body, err = build(r, q)
	}
	s.respond(w, r, body, err)
}

func (s *Server) memberPage(r *http.Request, q query) (map[string]any, error) {
	if err := q.enumParam(r, "sort", "love", "love", "reach", "member_gravity", "last_seen"); err != nil {
		return nil, err
	}
	limit, err := q.intParam(r, "limit", 50, 1, 1000)
	if err != nil {
		return nil, err
	}
	sortExpr := memberSorts[q.params["sort"]]
	where := []string{"community = {community:String}", "NOT is_bot"}
	if v := r.URL.Query().Get("level"); v != "" {
		if _, err := q.intParam(r, "level", 0, 0, 4); err != nil {
			return nil, err
		}
		where = append(where, "orbit_level = {level:UInt8}")
	}
	if v := r.URL.Query().Get("role"); v != "" {
		if !isToken(v) {
			return nil, badRequest{"role", "a role name (a-z, 0-9, _ and -)", v}
		}
		q.params["role"] = v
		where = append(where, "has(roles, {role:String})")
	}
	asOf := time.Now().UnixMilli()
	if v := r.URL.Query().Get("cursor"); v != "" {
		var c cursor
		b, err := base64.RawURLEncoding.DecodeString(v)
		// The cursor comes back from the client: its time must be one a
		// first page could have read (DateTime64 cannot take any int64).
		if err != nil || json.Unmarshal(b, &c) != nil || c.AsOf < 0 || c.AsOf > time.Now().Add(24*time.Hour).UnixMilli() {
			return nil, badRequest{"cursor", "the next_cursor of a previous page", v}
		}
		asOf = c.AsOf
		q.params["cursor_value"] = strconv.FormatFloat(c.Value, 'g', -1, 64)
		q.params["cursor_member"] = c.Member
		where = append(where, "("+sortExpr+", member_id) < ({cursor_value:Float64}, {cursor_member:String})")
	}
	sql := `SELECT member_id, display_name, round(love, 6) AS love, round(reach, 6) AS reach, round(member_gravity, 6) AS member_gravity,
		orbit_level, orbit_step, roles, first_seen, last_seen, is_teammate, ` + sortExpr + ` AS sort_value
		FROM members_at(as_of = {as_of:DateTime64(3)}) WHERE ` + strings.Join(where, " AND ") + `
		ORDER BY sort_value DESC, member_id DESC LIMIT {limit:UInt32}`
	q.params["as_of"] = time.UnixMilli(asOf).UTC().Format("2006-01-02 15:04:05.000")
	rows, err := s.rows(r.Context(), q, sql)
	if err != nil {
		return nil, err
	}
	body := map[string]any{"community": q.params["community"], "sort": q.params["sort"], "members": rows}
	if len(rows) == limit {
		last := rows[len(rows)-1]
		c, _ := json.Marshal(cursor{Value: toFloat(last["sort_value"]), Member: last["member_id"].(string), AsOf: asOf})
		body["next_cursor"] = base64.RawURLEncoding.EncodeToString(c)
	}
	for _, row := range rows {
		delete(row, "sort_value")
	}
	return body, nil
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case float32:
		return float64(x)
	}
	return 0
}

// memberActivities joins a member's activities (through its identities)
// with the decay of its love: m.love_factor, m.love_period_ms.
const memberActivities = `FROM activities AS a
		INNER JOIN (SELECT identity FROM member_identities FINAL WHERE community = {community:String} AND member_id = {member:String}) AS i
			ON i.identity = a.identity
		CROSS JOIN (SELECT love_factor, love_period_ms FROM members_raw FINAL WHERE community = {community:String} AND member_id = {member:String}) AS m
		WHERE a.community = {community:String} AND NOT a.is_bot`

// loveBy is the SQL of a member's love now split by an activity column
// (a fixed name, not input).
func loveBy(column string, limit int) string {
	return fmt.Sprintf(`SELECT a.%[1]s AS %[1]s, round(sum(toFloat64(a.weight) * pow(m.love_factor,
		greatest(dateDiff('millisecond', a.occurred_at, now64(3)), 0) / m.love_period_ms)), 6) AS love, count() AS activities
		%[2]s
		GROUP BY %[1]s ORDER BY love DESC LIMIT %[3]d`, column, memberActivities, limit)
}

// memberQueries make up /members/{id}: the scores and why.
var memberQueries = []struct{ key, sql string }{
	{"identities", `SELECT identity, source, username FROM member_identities FINAL
		WHERE community = {community:String} AND member_id = {member:String} ORDER BY identity`},
	{"love_by_source", loveBy("source", 100)},
	{"love_by_channel", loveBy("channel", 20)},
	{"top_activities", `SELECT a.occurred_at AS occurred_at, a.type AS type, a.source AS source, a.channel AS channel,
		toFloat64(a.weight) AS weight, round(weight * pow(m.love_factor,
		greatest(dateDiff('millisecond', a.occurred_at, now64(3)), 0) / m.love_period_ms), 6) AS love_now
		` + memberActivities + `
		ORDER BY love_now DESC, occurred_at DESC LIMIT 10`},
	{"level_changes", `SELECT changed_at, from_step, to_step, from_level, to_level, reason, detail FROM level_changes FINAL
		WHERE community = {community:String} AND member_id = {member:String} ORDER BY changed_at DESC LIMIT 20`},
	{"roles", `SELECT role, max(changed_at) AS since, argMax(reason, changed_at) AS reason FROM role_changes FINAL
		WHERE community = {community:String} AND member_id = {member:String}
		GROUP BY role HAVING argMax(change, changed_at) = 'gained' ORDER BY role`},
	{"connections", `SELECT if(member_a = {member:String}, member_b, member_a) AS member_id, round(strength, 6) AS strength,
		direct_interactions, indirect_interactions, last_interaction_at FROM member_edges
		WHERE community = {community:String} AND (member_a = {member:String} OR member_b = {member:String})
		ORDER BY strength DESC, member_id LIMIT 10`},
	{"graph", `SELECT computed_at, degree, weighted_degree, pagerank, pocket FROM member_graph_latest
		WHERE community = {community:String} AND member_id = {member:String}`},
}

func (s *Server) member(w http.ResponseWriter, r *http.Request) {
	q, err := newQuery(r)
	var body map[string]any
	if err == nil {
		body, err = s.memberDetail(r, q)
	}
	if err == nil && body == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no member %q in %q (ids look like github:583231)",
			r.PathValue("id"), q.params["community"])})
		return
	}
	s.respond(w, r, body, err)
}

func (s *Server) memberDetail(r *http.Request, q query) (map[string]any, error) {
	id := r.PathValue("id")
	if id == "" || len(id) > 512 || !strings.Contains(id, ":") {
		return nil, badRequest{"id", "a member id source:source_id", id}
	}
	q.params["member"] = id
	rows, err := s.rows(r.Context(), q, `SELECT member_id, display_name, first_seen, last_seen, round(love, 6) AS love, love_at,
		presence_7d, presence_30d, presence_90d, presence_at, orbit_level, orbit_step, round(reach, 6) AS reach,
		round(member_gravity, 6) AS member_gravity, roles, is_bot, is_teammate, model_version, config_hash
		FROM members WHERE community = {community:String} AND member_id = {member:String}`)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	body := map[string]any{"community": q.params["community"], "member": rows[0]}
	for _, mq := range memberQueries {
		if body[mq.key], err = s.rows(r.Context(), q, mq.sql); err != nil {
			return nil, err
		}
	}
	return body, nil
}

func (s *Server) graph(w http.ResponseWriter, r *http.Request) { s.serve(w, r, s.graphBody) }

func (s *Server) graphBody(r *http.Request, q query) (map[string]any, error) {
	if err := q.floatParam(r, "min_strength", 1, 0); err != nil {
		return nil, err
	}
	if _, err := q.intParam(r, "limit", 500, 1, 5000); err != nil {
		return nil, err
	}
	edges, err := s.rows(r.Context(), q, `SELECT member_a, member_b, round(strength, 6) AS strength, direct_interactions, indirect_interactions
		FROM member_edges WHERE community = {community:String} AND strength >= {min_strength:Float64}
		ORDER BY strength DESC, member_a, member_b LIMIT {limit:UInt32}`)
	if err != nil {
		return nil, err
	}
	nodes, err := s.rows(r.Context(), q, `WITH e AS (
			SELECT member_a, member_b FROM member_edges WHERE community = {community:String} AND strength >= {min_strength:Float64}
			ORDER BY strength DESC, member_a, member_b LIMIT {limit:UInt32})
		SELECT m.member_id AS member_id, m.display_name AS display_name, m.orbit_level AS orbit_level, round(m.reach, 6) AS reach,
			g.pocket AS pocket, g.pagerank AS pagerank
		FROM members AS m
		LEFT JOIN (SELECT member_id, pocket, pagerank FROM member_graph_latest WHERE community = {community:String}) AS g
			ON g.member_id = m.member_id
		WHERE m.community = {community:String}
		  AND m.member_id IN (SELECT member_a FROM e UNION ALL SELECT member_b FROM e)
		ORDER BY member_id
		SETTINGS join_use_nulls = 1`)
	if err != nil {
		return nil, err
	}
	return map[string]any{"community": q.params["community"], "min_strength": q.params["min_strength"], "nodes": nodes, "edges": edges}, nil
}

// Routes lists the query and alert API path patterns (for the OpenAPI test).
func Routes() []string {
	out := []string{"/api/v1/openapi.json"}
	for _, r := range routes {
		out = append(out, r.pattern)
	}
	out = append(out, AccountImportPath)
	return append(out, alertPaths()...)
}

// MetricNames lists the metrics of /metrics/{name}.
func MetricNames() []string {
	out := make([]string, 0, len(metrics))
	for n := range metrics {
		out = append(out, n)
	}
	return out
}
