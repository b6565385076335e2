package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/orbitflow/orbitflow/services/api"
	"github.com/orbitflow/orbitflow/services/kit/config"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/orbitflow/internal/app"
	alertsp "github.com/orbitflow/orbitflow/services/processors/alerts"
)

// statusAPIKeyEnv holds the API key for `orbitflow status` (or --api-key).
const statusAPIKeyEnv = "ORBITFLOW_API_KEY"

// statusReport is what `orbitflow status` shows; --json prints it as is.
type statusReport struct {
	At     time.Time `json:"at"`
	Target string    `json:"target"` // what was asked: the run's pid and data dir, or the servers
	// Ready is the API's /readyz: the engine's and NATS's health.
	Ready      *statusReady       `json:"ready"`
	Throughput []sourceRate       `json:"throughput"`
	Streams    []api.StreamStatus `json:"streams"`
	Consumers  []consumerLag      `json:"consumers"`
	Dead       *deadLetterStatus  `json:"dead_letters"`
	Members    []memberCounts     `json:"members"`
	Alerts     *alertStatus       `json:"alerts"`
	// Problems lists what could not be read or is not well, each with
	// what to do about it. Empty when all is well.
	Problems []string `json:"problems"`
}

type statusReady struct {
	Ready  bool `json:"ready"`
	Checks []struct {
		Name  string `json:"name"`
		OK    bool   `json:"ok"`
		Error string `json:"error,omitempty"`
	} `json:"checks"`
}

// sourceRate is what the sink wrote for one community and source over the
// last minute and the last 15 minutes (activities_raw.inserted_at).
type sourceRate struct {
	Community string  `json:"community"`
	Source    string  `json:"source"`
	Events1m  uint64  `json:"events_1m"`
	Events15m uint64  `json:"events_15m"`
	Rate1m    float64 `json:"per_second_1m"`
	Rate15m   float64 `json:"per_second_15m"`
}

// consumerLag is one durable consumer: what it has not processed yet.
type consumerLag struct {
	Stream     string `json:"stream"`
	Name       string `json:"name"`
	Pending    uint64 `json:"pending"`     // in the stream, not delivered yet
	AckPending int    `json:"ack_pending"` // delivered, not acknowledged yet
	Lag        uint64 `json:"lag"`         // pending + ack_pending
	CaughtUp   bool   `json:"caught_up"`
}

type deadLetterStatus struct {
	Total    uint64       `json:"total"`
	LastHour uint64       `json:"last_hour"`
	Newest   []deadLetter `json:"newest"`
}

type deadLetter struct {
	ReceivedAt time.Time `json:"received_at"`
	Stage      string    `json:"stage"`
	Source     string    `json:"source"`
	Reason     string    `json:"reason"`
}

// memberCounts are one community's members, bots left out.
type memberCounts struct {
	Community     string `json:"community"`
	Total         uint64 `json:"total"`
	Active30d     uint64 `json:"active_30d"`
	Leading       uint64 `json:"leading"`
	Contributing  uint64 `json:"contributing"`
	Participating uint64 `json:"participating"`
	Exploring     uint64 `json:"exploring"`
	OutOfOrbit    uint64 `json:"out_of_orbit"`
}

type alertStatus struct {
	Open  int             `json:"open"`
	Items []alertsp.Alert `json:"items"`
}

func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	var c common
	c.register(fs)
	asJSON := fs.Bool("json", false, "print the figures as JSON (one object per refresh with --watch)")
	watch := fs.Duration("watch", 0, "refresh every `interval` (e.g. 2s) until interrupted; in place on a terminal")
	apiURL := fs.String("api", "", "the API's base `URL` (default: from api.listen in the config)")
	apiKey := fs.String("api-key", "", "API key with the read scope (default: $"+statusAPIKeyEnv+", then <data_dir>/api-key)")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("status takes no arguments, got %q", strings.Join(fs.Args(), " "))
	}
	if *watch < 0 || (*watch > 0 && *watch < 200*time.Millisecond) {
		return usagef("--watch: want an interval of at least 200ms (e.g. 2s), got %s", *watch)
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	src, err := newStatusSource(ctx, cfg, *apiURL, *apiKey)
	if err != nil {
		return err
	}
	defer src.close()

	term := isTerminal(stdout)
	for {
		rep := src.gather(ctx)
		var buf bytes.Buffer
		if *asJSON {
			enc := json.NewEncoder(&buf)
			if *watch == 0 {
				enc.SetIndent("", "  ")
			}
			if err := enc.Encode(rep); err != nil {
				return err
			}
		} else {
			renderStatus(&buf, rep, termWidth(stdout))
		}
		if *watch > 0 && term && !*asJSON {
			// Home and clear: the next report replaces this one.
			_, _ = io.WriteString(stdout, "\x1b[H\x1b[2J")
		}
		if _, err := stdout.Write(buf.Bytes()); err != nil {
			return err
		}
		if *watch == 0 {
			if len(rep.Problems) > 0 {
				return fmt.Errorf("%d problem(s), listed above", len(rep.Problems))
			}
			return nil
		}
		if !term && !*asJSON {
			fmt.Fprintln(stdout)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*watch):
		}
	}
}

// statusSource reaches a running orbitflow: its API (readiness, streams,
// consumers, alerts) and its ClickHouse (throughput, dead letters,
// members).
type statusSource struct {
	target string
	api    string // base URL; "" when the API is off
	key    string
	apiErr string // why the API cannot be asked
	http   *http.Client
	ch     driver.Conn
	close  func()
}

// newStatusSource finds what to ask: the `orbitflow run` holding the data
// dir (run.json) for the embedded default, the configured servers in
// external mode. It opens nothing of the data dir itself: status looks at
// a running orbitflow, it does not start one.
func newStatusSource(ctx context.Context, cfg app.Config, apiURL, apiKey string) (*statusSource, error) {
	s := &statusSource{http: &http.Client{Timeout: 10 * time.Second}, close: func() {}}
	var ep store.Endpoint
	if cfg.ClickHouse.Mode == store.ModeEmbedded {
		st, active, err := app.WaitActiveRun(ctx, cfg.DataDir)
		if err != nil {
			return nil, err
		}
		if !active {
			return nil, fmt.Errorf("orbitflow is not running on data dir %s: start it with `orbitflow run` (or give the --config of the deployment to look at)", cfg.DataDir)
		}
		if st.ClickHouseHTTP == "" {
			return nil, fmt.Errorf("the running orbitflow (pid %d) serves no ClickHouse HTTP interface: set clickhouse.embedded.listen and restart it", st.PID)
		}
		s.target = fmt.Sprintf("orbitflow run (pid %d, data dir %s, up since %s)", st.PID, cfg.DataDir, st.StartedAt.Format(time.RFC3339))
		ep = store.Endpoint{Addrs: []string{st.ClickHouseHTTP}, Protocol: "http", Database: cfg.ClickHouse.Database,
			Username: cfg.ClickHouse.Embedded.User, Password: cfg.ClickHouse.Embedded.Password}
	} else {
		var err error
		if ep, err = store.EndpointFor(cfg.ClickHouse); err != nil {
			return nil, err
		}
		s.target = fmt.Sprintf("ClickHouse %s", strings.Join(ep.Addrs, ","))
	}
	conn, err := store.Open(ctx, ep, cfg.ClickHouse)
	if err != nil {
		return nil, fmt.Errorf("ClickHouse at %s: %w (is orbitflow, or the ClickHouse server, up?)", strings.Join(ep.Addrs, ","), err)
	}
	s.ch = conn
	s.close = func() { conn.Close() }

	s.api = strings.TrimRight(apiURL, "/")
	if s.api == "" {
		s.api, s.apiErr = apiBase(cfg.API)
	}
	if s.api != "" {
		s.target += ", API " + s.api
	}
	s.key = apiKey
	if s.key == "" {
		s.key = os.Getenv(statusAPIKeyEnv)
	}
	if s.key == "" {
		if b, err := os.ReadFile(filepath.Join(cfg.DataDir, "api-key")); err == nil {
			s.key = strings.TrimSpace(string(b))
		}
	}
	if s.key == "" {
		s.key = configuredReadKey(cfg.API)
	}
	return s, nil
}

// configuredReadKey is the first key in the config that status can send:
// written out or as a file:/env: reference, with the read scope. Keys
// held only as their SHA-256 cannot be sent ("" when none can).
func configuredReadKey(c api.Config) string {
	keys := slices.Clone(c.APIKeys)
	for _, t := range c.Tokens {
		if slices.Contains(t.Scopes, api.ScopeRead) {
			keys = append(keys, t.Key)
		}
	}
	for _, k := range keys {
		if strings.HasPrefix(k, "sha256:") {
			continue
		}
		if v, err := config.ResolveSecret(k); err == nil && v != "" {
			return v
		}
	}
	return ""
}

// apiBase is the URL of the API listening on listen ("" and why when off).
func apiBase(c api.Config) (string, string) {
	if c.Listen == "" {
		return "", "the API is off (api.listen is empty): set api.listen, or pass --api URL of an API server"
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return "", fmt.Sprintf("api.listen %q: want host:port", c.Listen)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	scheme := "http"
	if c.TLS.Enabled() {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port), ""
}

// gather reads every figure; what cannot be read becomes a problem and
// the rest is still shown.
func (s *statusSource) gather(ctx context.Context) statusReport {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	rep := statusReport{At: time.Now().UTC(), Target: s.target, Throughput: []sourceRate{}, Consumers: []consumerLag{},
		Members: []memberCounts{}, Problems: []string{}}
	problem := func(format string, a ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(format, a...)) }

	if s.api == "" {
		problem("%s", s.apiErr)
	} else {
		var ready statusReady
		if err := s.get(ctx, "/readyz", &ready, http.StatusServiceUnavailable); err != nil {
			problem("readiness: %v", err)
		} else {
			rep.Ready = &ready
			for _, c := range ready.Checks {
				if !c.OK {
					problem("%s is not healthy: %s (see the orbitflow log)", c.Name, c.Error)
				}
			}
		}
		var p api.Pipeline
		if err := s.get(ctx, "/v1/pipeline", &p); err != nil {
			problem("streams: %v", err)
		} else {
			rep.Streams = p.Streams
			for _, c := range p.Consumers {
				lag := c.Pending + uint64(max(c.AckPending, 0))
				rep.Consumers = append(rep.Consumers, consumerLag{Stream: c.Stream, Name: c.Name, Pending: c.Pending,
					AckPending: c.AckPending, Lag: lag, CaughtUp: lag == 0})
			}
		}
		var al struct {
			Alerts []alertsp.Alert `json:"alerts"`
		}
		if err := s.get(ctx, "/api/v1/alerts?state=open&limit=1000", &al); err != nil {
			problem("alerts: %v", err)
		} else {
			rep.Alerts = &alertStatus{Open: len(al.Alerts), Items: al.Alerts}
			if rep.Alerts.Items == nil {
				rep.Alerts.Items = []alertsp.Alert{}
			}
		}
	}

	if err := s.throughput(ctx, &rep); err != nil {
		problem("throughput: %v", err)
	}
	if err := s.deadLetters(ctx, &rep); err != nil {
		problem("dead letters: %v", err)
	}
	if err := s.members(ctx, &rep); err != nil {
		problem("members: %v", err)
	}
	return rep
}

// get fetches path from the API into v; statuses in also are answers too.
func (s *statusSource) get(ctx context.Context, path string, v any, also ...int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.api+path, nil)
	if err != nil {
		return err
	}
	if s.key != "" {
		req.Header.Set("Authorization", "Bearer "+s.key)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("the API at %s does not answer (is orbitflow running? start it with `orbitflow run`, or pass --api URL): %w", s.api, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	ok := resp.StatusCode == http.StatusOK
	for _, st := range also {
		ok = ok || resp.StatusCode == st
	}
	if !ok {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			return fmt.Errorf("%s: the API refused the key: pass --api-key or set $%s to a key with the read scope (api.api_keys, api.tokens, or <data_dir>/api-key)", path, statusAPIKeyEnv)
		case http.StatusForbidden:
			return fmt.Errorf("%s: the API key lacks the read scope: use a key of api.api_keys or a token with scope read", path)
		}
		return fmt.Errorf("%s: %s: %s", path, resp.Status, strings.TrimSpace(cmp.Or(e.Error, string(body))))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: unreadable answer (is %s an orbitflow API?): %w", path, s.api, err)
	}
	return nil
}

func (s *statusSource) throughput(ctx context.Context, rep *statusReport) error {
	// inserted_at is when the sink wrote the row; uniqExact collapses the
	// copies a redelivery may have written.
	rows, err := s.ch.Query(ctx, `SELECT community, source,
		uniqExactIf(event_id, inserted_at >= now64(3) - INTERVAL 1 MINUTE), uniqExact(event_id)
		FROM activities_raw WHERE inserted_at >= now64(3) - INTERVAL 15 MINUTE
		GROUP BY community, source ORDER BY community, source`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r sourceRate
		if err := rows.Scan(&r.Community, &r.Source, &r.Events1m, &r.Events15m); err != nil {
			return err
		}
		r.Rate1m, r.Rate15m = float64(r.Events1m)/60, float64(r.Events15m)/900
		rep.Throughput = append(rep.Throughput, r)
	}
	return rows.Err()
}

func (s *statusSource) deadLetters(ctx context.Context, rep *statusReport) error {
	d := &deadLetterStatus{Newest: []deadLetter{}}
	if err := s.ch.QueryRow(ctx, `SELECT count(), countIf(received_at >= now64(3) - INTERVAL 1 HOUR) FROM dead_letters`).
		Scan(&d.Total, &d.LastHour); err != nil {
		return err
	}
	rows, err := s.ch.Query(ctx, `SELECT received_at, stage, source, reason FROM dead_letters ORDER BY received_at DESC LIMIT 5`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var l deadLetter
		if err := rows.Scan(&l.ReceivedAt, &l.Stage, &l.Source, &l.Reason); err != nil {
			return err
		}
		d.Newest = append(d.Newest, l)
	}
	rep.Dead = d
	return rows.Err()
}

func (s *statusSource) members(ctx context.Context, rep *statusReport) error {
	rows, err := s.ch.Query(ctx, `SELECT community, count(), countIf(last_seen >= now64(3) - INTERVAL 30 DAY),
		countIf(orbit_level = 1), countIf(orbit_level = 2), countIf(orbit_level = 3), countIf(orbit_level = 4), countIf(orbit_level = 0)
		FROM members WHERE NOT is_bot GROUP BY community ORDER BY community`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var m memberCounts
		if err := rows.Scan(&m.Community, &m.Total, &m.Active30d, &m.Leading, &m.Contributing, &m.Participating, &m.Exploring, &m.OutOfOrbit); err != nil {
			return err
		}
		rep.Members = append(rep.Members, m)
	}
	return rows.Err()
}

// renderStatus prints rep as aligned tables; width is the terminal's (0:
// not a terminal), to cut long reasons.
func renderStatus(w io.Writer, rep statusReport, width int) {
	if width <= 0 {
		width = 160
	}
	cut := func(s string, n int) string {
		s = strings.Join(strings.Fields(s), " ")
		if n > 3 && len(s) > n {
			return s[:n-3] + "..."
		}
		return s
	}
	fmt.Fprintf(w, "orbitflow status at %s\n%s\n", rep.At.Format("2006-01-02 15:04:05 MST"), rep.Target)
	section := func(title string, fill func(tw *tabwriter.Writer)) {
		fmt.Fprintf(w, "\n%s\n", title)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fill(tw)
		_ = tw.Flush()
	}
	section("HEALTH", func(tw *tabwriter.Writer) {
		if rep.Ready == nil {
			fmt.Fprintln(tw, "  unknown (see problems)")
			return
		}
		for _, c := range rep.Ready.Checks {
			state := "ok"
			if !c.OK {
				state = "DOWN: " + cut(c.Error, width-20)
			}
			fmt.Fprintf(tw, "  %s\t%s\n", c.Name, state)
		}
	})
	section("THROUGHPUT (written by the sink)", func(tw *tabwriter.Writer) {
		if len(rep.Throughput) == 0 {
			fmt.Fprintln(tw, "  nothing written in the last 15 minutes")
			return
		}
		fmt.Fprintln(tw, "  COMMUNITY\tSOURCE\tEVENTS/S 1M\tEVENTS/S 15M\tEVENTS 15M")
		for _, r := range rep.Throughput {
			fmt.Fprintf(tw, "  %s\t%s\t%.1f\t%.1f\t%d\n", r.Community, r.Source, r.Rate1m, r.Rate15m, r.Events15m)
		}
	})
	section("STREAMS", func(tw *tabwriter.Writer) {
		if len(rep.Streams) == 0 && len(rep.Consumers) == 0 {
			fmt.Fprintln(tw, "  unknown (see problems)")
			return
		}
		fmt.Fprintln(tw, "  STREAM\tMESSAGES\tBYTES\tLAST SEQ")
		for _, s := range rep.Streams {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\n", s.Name, s.Messages, s.Bytes, s.LastSeq)
		}
	})
	section("CONSUMERS", func(tw *tabwriter.Writer) {
		if len(rep.Consumers) == 0 {
			fmt.Fprintln(tw, "  unknown (see problems)")
			return
		}
		fmt.Fprintln(tw, "  CONSUMER\tPENDING\tACK PENDING\tSTATE")
		for _, c := range rep.Consumers {
			state := "caught up"
			if !c.CaughtUp {
				state = fmt.Sprintf("behind by %d", c.Lag)
			}
			fmt.Fprintf(tw, "  %s/%s\t%d\t%d\t%s\n", c.Stream, c.Name, c.Pending, c.AckPending, state)
		}
	})
	section("DEAD LETTERS", func(tw *tabwriter.Writer) {
		if rep.Dead == nil {
			fmt.Fprintln(tw, "  unknown (see problems)")
			return
		}
		fmt.Fprintf(tw, "  %d in all, %d in the last hour\n", rep.Dead.Total, rep.Dead.LastHour)
		for _, d := range rep.Dead.Newest {
			fmt.Fprintf(tw, "  %s\t%s/%s\t%s\n", d.ReceivedAt.Format("2006-01-02 15:04:05"), d.Stage, d.Source, cut(d.Reason, width-45))
		}
	})
	section("MEMBERS (bots left out)", func(tw *tabwriter.Writer) {
		if len(rep.Members) == 0 {
			fmt.Fprintln(tw, "  none yet")
			return
		}
		fmt.Fprintln(tw, "  COMMUNITY\tTOTAL\tACTIVE 30D\tLEADING\tCONTRIBUTING\tPARTICIPATING\tEXPLORING\tOUT OF ORBIT")
		for _, m := range rep.Members {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", m.Community, m.Total, m.Active30d, m.Leading, m.Contributing,
				m.Participating, m.Exploring, m.OutOfOrbit)
		}
	})
	section("ALERTS", func(tw *tabwriter.Writer) {
		if rep.Alerts == nil {
			fmt.Fprintln(tw, "  unknown (see problems)")
			return
		}
		if rep.Alerts.Open == 0 {
			fmt.Fprintln(tw, "  none open")
			return
		}
		fmt.Fprintf(tw, "  %d open\n", rep.Alerts.Open)
		for _, a := range rep.Alerts.Items {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", a.State, a.Severity, a.Rule, a.Community, cut(a.Summary, width-60))
		}
	})
	if len(rep.Problems) > 0 {
		fmt.Fprintf(w, "\nPROBLEMS\n")
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "  - %s\n", p)
		}
	}
}
