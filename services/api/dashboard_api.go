package api

import (
	"fmt"
	"net/http"
	"strings"
)

// The endpoints the dashboard needs beyond the query API's: who the key
// is (to disable what it may not do), the communities (for a picker)
// and a member's activity over time. Each reads rollups or one member's
// rows, bounded in size.

// whoami answers the calling key's scopes and where it is configured
// (api_keys[0], tokens[2]: never the key).
func (s *Server) whoami(w http.ResponseWriter, r *http.Request) {
	found := credentialOf(r) // behind auth: never nil
	writeJSON(w, http.StatusOK, map[string]any{"key": found.name, "scopes": found.scopes})
}

// communities lists the communities with activity (at most 1000), from
// the monthly health rollup: a row per community and month, whatever the
// number of activities.
func (s *Server) communities(w http.ResponseWriter, r *http.Request) {
	q := query{params: map[string]string{}}
	rows, err := s.rows(r.Context(), q, `SELECT community, sum(activities) AS activities, min(period_start) AS first_month,
		max(period_start) AS last_month
		FROM community_periods FINAL WHERE unit = 'month' AND dimension = ''
		GROUP BY community ORDER BY community LIMIT 1000`)
	var body map[string]any
	if err == nil {
		body = map[string]any{"communities": rows}
	}
	s.respond(w, r, body, err)
}

func (s *Server) memberActivity(w http.ResponseWriter, r *http.Request) {
	q, err := newQuery(r)
	var body map[string]any
	if err == nil {
		body, err = s.memberActivityBody(r, q)
	}
	if err == nil && body == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no member %q in %q (ids look like github:583231)",
			r.PathValue("id"), q.params["community"])})
		return
	}
	s.respond(w, r, body, err)
}

// memberIdentities are the identities of the member {member}.
const memberIdentities = `(SELECT identity FROM member_identities FINAL WHERE community = {community:String} AND member_id = {member:String})`

// memberActivityBody is a member's activities per period and source (from
// the daily per-identity rollup) and its latest activities in the range.
func (s *Server) memberActivityBody(r *http.Request, q query) (map[string]any, error) {
	id := r.PathValue("id")
	if id == "" || len(id) > 512 || !strings.Contains(id, ":") {
		return nil, badRequest{"id", "a member id source:source_id", id}
	}
	q.params["member"] = id
	if err := q.rangeParams(r); err != nil {
		return nil, err
	}
	if _, err := q.intParam(r, "limit", 20, 1, 200); err != nil {
		return nil, err
	}
	known, err := s.rows(r.Context(), q, `SELECT 1 AS known FROM members_raw WHERE community = {community:String} AND member_id = {member:String} LIMIT 1`)
	if err != nil || len(known) == 0 {
		return nil, err // nil, nil: no such member
	}
	series, err := s.rows(r.Context(), q, `SELECT toDate(dateTrunc({period:String}, day)) AS period_start, source,
		toUInt64(uniqExactMerge(events)) AS activities
		FROM identity_daily
		WHERE community = {community:String} AND day BETWEEN {from:Date} AND {to:Date} AND identity IN `+memberIdentities+`
		GROUP BY period_start, source ORDER BY period_start, source LIMIT 10000`)
	if err != nil {
		return nil, err
	}
	// occurred_at bounds prune the monthly partitions of activities.
	recent, err := s.rows(r.Context(), q, `SELECT occurred_at, type, source, channel, title, url FROM activities
		WHERE community = {community:String} AND identity IN `+memberIdentities+`
		  AND occurred_at >= toDateTime64({from:Date}, 3, 'UTC') AND occurred_at < toDateTime64({to:Date} + 1, 3, 'UTC')
		ORDER BY occurred_at DESC, event_id LIMIT {limit:UInt32}`)
	if err != nil {
		return nil, err
	}
	return map[string]any{"community": q.params["community"], "member_id": id, "from": q.params["from"], "to": q.params["to"],
		"period": q.params["period"], "series": series, "recent": recent}, nil
}
