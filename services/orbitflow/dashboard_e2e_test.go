package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// readKey is a token with the read scope only, for the dashboard's
// read-only view.
const readKey = "read-only-key-0123456789abcdef"

// TestDashboardInTheBrowser runs the dashboard's browser test
// (services/api/web/e2e/dashboard.mjs: Debian's chromium, headless,
// driven by playwright-core) against `orbitflow run --demo` with the live
// feed off, so the numbers hold still while the page and the test read
// them. Screenshots of each page land in artifacts/screenshots/ at the
// repository root. It fails, never skips, when node, the node modules,
// the browser or the built dashboard are missing, saying what to install.
func TestDashboardInTheBrowser(t *testing.T) {
	web, err := filepath.Abs(filepath.Join("..", "api", "web"))
	require.NoError(t, err)
	node, err := exec.LookPath("node")
	require.NoError(t, err, "node is missing: install Node.js 20 or later with npm (apt-get install nodejs npm)")
	_, err = os.Stat(filepath.Join(web, "node_modules", "playwright-core", "package.json"))
	require.NoError(t, err, "playwright-core is missing: run make web (npm ci in services/api/web)")
	_, err = os.Stat("/usr/bin/chromium")
	require.NoError(t, err, "no browser at /usr/bin/chromium: apt-get install chromium")
	_, err = os.Stat(filepath.Join(web, "dist", "index.html"))
	require.NoError(t, err, "the dashboard is not built: run make web (the test binary embeds services/api/web/dist)")
	out, err := filepath.Abs(filepath.Join("..", "..", "artifacts", "screenshots"))
	require.NoError(t, err)

	in := newInstance(t)
	cfg, err := os.ReadFile(in.config)
	require.NoError(t, err)
	cfg = []byte(strings.Replace(string(cfg), "\n  api_keys:", fmt.Sprintf("\n  tokens: [{key: %q, scopes: [read]}]\n  api_keys:", readKey), 1))
	require.NoError(t, os.WriteFile(in.config, cfg, 0o600))
	in.runArgs = []string{"--demo", "--demo-sources", "none"}
	in.start()

	// The demo is in once run writes its marker; the alert evaluator and
	// the weekly graph measures follow within a minute or so.
	waitFor(t, 4*time.Minute, "the demo community ingested", func() bool {
		_, err := os.Stat(filepath.Join(in.dir, "data", demoMarker))
		return err == nil
	})
	base := "http://" + in.apiAddr
	waitFor(t, 3*time.Minute, "the demo's graph with pockets and two open alerts", func() bool {
		var g struct{ Nodes []struct{ Pocket *int } }
		var a struct{ Alerts []struct{ State string } }
		if apiGet(base+"/api/v1/communities/demo/graph?limit=400", &g) != nil || apiGet(base+"/api/v1/alerts?community=demo", &a) != nil {
			return false
		}
		pockets := 0
		for _, n := range g.Nodes {
			if n.Pocket != nil {
				pockets++
			}
		}
		return pockets > 0 && len(a.Alerts) >= 2
	})

	// The scoring processor and the rollups follow the stream: wait until
	// every consumer is caught up and the scores and rollups the pages
	// show read the same twice, 5 s apart.
	var last string
	waitFor(t, 4*time.Minute, "the scores and rollups to settle", func() bool {
		var p struct {
			Consumers []struct {
				Pending    uint64 `json:"pending"`
				AckPending int    `json:"ack_pending"`
			} `json:"consumers"`
		}
		if apiGet(base+"/v1/pipeline", &p) != nil {
			return false
		}
		for _, c := range p.Consumers {
			if c.Pending > 0 || c.AckPending > 0 {
				return false
			}
		}
		// The health rollups cover what was inserted before their
		// watermark; a refresh can be a while away (the refresher backs
		// off after a long one), and the numbers read the same until then.
		if in.sqlValue("SELECT (SELECT max(watermark) FROM rollup_state FINAL) > (SELECT max(inserted_at) FROM activities_raw)") != "1" {
			return false
		}
		var now strings.Builder
		for _, path := range []string{"/metrics/levels", "/metrics/gravity?period=week", "/health?period=week"} {
			var v any
			if apiGet(base+"/api/v1/communities/demo"+path, &v) != nil {
				return false
			}
			b, _ := json.Marshal(v)
			now.Write(b)
		}
		// Scores decay by the millisecond: their order, not their value.
		var m struct {
			Members []struct {
				ID string `json:"member_id"`
			} `json:"members"`
		}
		if apiGet(base+"/api/v1/communities/demo/members?sort=reach&limit=50", &m) != nil {
			return false
		}
		for _, x := range m.Members {
			now.WriteString(x.ID + ",")
		}
		same := now.String() == last
		last = now.String()
		if !same {
			time.Sleep(5 * time.Second)
		}
		return same
	})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(web, "e2e", "dashboard.mjs"),
		"--url", base, "--key", apiKey, "--read-key", readKey, "--out", out, "--community", "demo")
	cmd.Dir = web
	result, err := cmd.CombinedOutput()
	t.Logf("browser test (screenshots in %s):\n%s", out, result)
	require.NoError(t, err, "the browser test failed: see its lines above (FAIL ...)")
	require.Contains(t, string(result), ", 0 failed")
	for _, page := range []string{"0-signin", "1-overview", "2-members", "3-member", "4-network", "5-alerts", "6-alerts-read-only", "7-report"} {
		st, err := os.Stat(filepath.Join(out, page+".png"))
		require.NoError(t, err, "screenshot of %s", page)
		require.Greater(t, st.Size(), int64(10_000), "screenshot of %s is not empty", page)
	}
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", limit, what)
		}
		time.Sleep(time.Second)
	}
}

// apiGet reads an API answer into v with the admin key.
func apiGet(url string, v any) error {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
