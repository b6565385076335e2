package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/api"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

const (
	accountsRead  = "accounts-read-0123456789"
	accountsAdmin = "accounts-admin-0123456789"
)

// accountsServer is an API on a migrated database where community fx has
// github:1 (acme.com, active 3 days ago) and github:2 (gmail.com).
func accountsServer(t *testing.T) *httptest.Server {
	t.Helper()
	ctx := context.Background()
	ch := kittest.ClickHouseConn(t)
	_, err := store.Migrate(ctx, ch, telemetry.Nop().Logger)
	require.NoError(t, err)
	require.NoError(t, ch.Exec(ctx, `INSERT INTO activities_raw (event_id, community, source, type, occurred_at, member_id, identity, received_at, email_domain_sha256)
		VALUES ('e1', 'fx', 'github', 'github.issue.opened', now64(3) - INTERVAL 3 DAY, 'github:1', 'github:1', now64(3), ?),
		       ('e2', 'fx', 'github', 'github.issue.opened', now64(3) - INTERVAL 3 DAY, 'github:2', 'github:2', now64(3), ?)`,
		events.HashDomain("acme.com"), events.HashDomain("gmail.com")))
	s := api.New(api.Config{Tokens: []api.Token{{Key: accountsRead, Scopes: []string{api.ScopeRead}},
		{Key: accountsAdmin, Scopes: []string{api.ScopeRead, api.ScopeAdmin}}}}, api.Deps{CH: ch}, telemetry.Nop())
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

func post(t *testing.T, ts *httptest.Server, path, token, contentType, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("POST", ts.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var v map[string]any
	require.NoError(t, json.Unmarshal(b, &v), string(b))
	return resp.StatusCode, v
}

func getAs(t *testing.T, ts *httptest.Server, path, token string) (int, map[string]any) {
	t.Helper()
	resp, body := get(t, ts.URL+path, token)
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &v), body)
	return resp.StatusCode, v
}

func TestAccountsAPIImportsAndAnswers(t *testing.T) {
	ts := accountsServer(t)
	file := "account_id,name,domains,segment,plan\nacme,Acme,acme.com,enterprise,pro\nsolo,Solo,,smb,free\n"

	code, v := post(t, ts, api.AccountImportPath, accountsRead, "text/csv", file)
	require.Equal(t, http.StatusForbidden, code, "importing takes the admin scope: %v", v)
	code, v = post(t, ts, api.AccountImportPath, accountsAdmin, "application/json", file)
	require.Equal(t, http.StatusUnsupportedMediaType, code, v)
	code, v = post(t, ts, api.AccountImportPath, accountsAdmin, "text/csv", "account_id,name,domains\nx,X,gmail.com\n")
	require.Equal(t, http.StatusBadRequest, code, v)
	require.Equal(t, []any{map[string]any{"line": float64(2), "field": "domains",
		"reason": "gmail.com is a free-mail provider (events.FreeMailDomains): its addresses name people, not an organization, so it cannot link members to an account; remove it"}}, v["problems"])

	code, v = post(t, ts, api.AccountImportPath+"?dry_run=true", accountsAdmin, "text/csv", file)
	require.Equal(t, http.StatusOK, code, v)
	require.Equal(t, map[string]any{"accounts": float64(2), "added": float64(2), "updated": float64(0), "unchanged": float64(0), "deleted": float64(0), "dry_run": true}, v)
	code, v = post(t, ts, api.AccountImportPath+"?format=csv", accountsAdmin, "", file)
	require.Equal(t, http.StatusOK, code, v)
	require.Equal(t, float64(2), v["added"])
	code, v = post(t, ts, api.AccountImportPath+"?replace=true&dry_run=true", accountsAdmin, "application/x-ndjson", `{"account_id":"acme","name":"Acme"}`)
	require.Equal(t, http.StatusOK, code, v)
	require.Equal(t, float64(1), v["deleted"], "replacing with acme alone would delete solo")
	// A file larger than the 64 KiB other endpoints take is accepted here.
	var big strings.Builder
	big.WriteString("account_id,name\n")
	for i := 0; big.Len() < 100<<10; i++ {
		big.WriteString("big-" + strings.Repeat("x", 40) + "-" + itoa(i) + ",Big\n")
	}
	code, v = post(t, ts, api.AccountImportPath+"?dry_run=1", accountsAdmin, "text/csv", big.String())
	require.Equal(t, http.StatusOK, code, v)

	code, v = getAs(t, ts, "/api/v1/communities/fx/accounts?days=7", accountsRead)
	require.Equal(t, http.StatusOK, code, v)
	list := v["accounts"].([]any)
	require.Len(t, list, 2)
	first := list[0].(map[string]any)
	require.Equal(t, "acme", first["account_id"])
	require.Equal(t, float64(1), first["linked_members"])
	require.Equal(t, float64(1), first["active_members"])

	code, v = getAs(t, ts, "/api/v1/communities/fx/accounts/reach?period=month", accountsRead)
	require.Equal(t, http.StatusOK, code, v)
	var total []float64
	for _, r := range v["reach"].([]any) {
		row := r.(map[string]any)
		if row["dimension"] == "" && row["active_accounts"].(float64) > 0 {
			total = append(total, row["share"].(float64))
		}
	}
	require.Equal(t, []float64{0.5}, total, "one of two accounts active, in the month of the activity")

	code, v = getAs(t, ts, "/api/v1/communities/fx/accounts/acme", accountsRead)
	require.Equal(t, http.StatusOK, code, v)
	require.Equal(t, "github:1", v["members"].([]any)[0].(map[string]any)["member_id"])
	code, _ = getAs(t, ts, "/api/v1/communities/fx/accounts/nosuch", accountsRead)
	require.Equal(t, http.StatusNotFound, code)

	code, v = getAs(t, ts, "/api/v1/communities/fx/accounts/dropped?all=true&days=2&windows=1&min_baseline=0", accountsRead)
	require.Equal(t, http.StatusOK, code, v)
	require.Len(t, v["accounts"], 2)
	code, v = getAs(t, ts, "/api/v1/communities/fx/accounts/dropped?min_drop=2", accountsRead)
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, "min_drop", v["field"])
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
