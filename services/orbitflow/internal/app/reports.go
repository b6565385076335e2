package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/orbitflow/orbitflow/services/api/report"
	"github.com/orbitflow/orbitflow/services/processors/alerts"
	"github.com/orbitflow/orbitflow/services/processors/alerts/notify"
)

// Reporter e-mails the weekly reports of the alert rules file's reports:
// section: once the subscription's weekday and hour have come, the report
// of the week that just ended goes to each of its targets once (recorded
// in report_deliveries, so restarts and standbys do not send it again).
// It runs with the alert evaluator (one instance of the processors
// target). A failed send is logged and tried again at the next check.
type Reporter struct {
	rulesFile string
	ch        driver.Conn
	log       *slog.Logger
	every     time.Duration
	now       func() time.Time

	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	lastErr string
}

// NewReporter returns a reporter of the rules file at path; Start runs it.
func NewReporter(path string, ch driver.Conn, log *slog.Logger) *Reporter {
	return &Reporter{rulesFile: path, ch: ch, log: log.With("component", "reports"), every: time.Minute, now: time.Now}
}

// Start checks at once and then every minute until Shutdown.
func (r *Reporter) Start(context.Context) error {
	ctx, cancel := context.WithCancel(context.Background())
	r.mu.Lock()
	r.cancel, r.done = cancel, make(chan struct{})
	r.mu.Unlock()
	go func() {
		defer close(r.done)
		t := time.NewTicker(r.every)
		defer t.Stop()
		for {
			r.Check(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// Shutdown stops the checks, waiting for a send under way (bounded by ctx).
func (r *Reporter) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	cancel, done := r.cancel, r.done
	r.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Check sends every report that is due and not sent yet; it returns how
// many it sent.
func (r *Reporter) Check(ctx context.Context) int {
	f, err := alerts.LoadFile(r.rulesFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0
	case err != nil:
		// The evaluator reports a broken file too; say it once per change.
		if msg := err.Error(); msg != r.lastErr {
			r.lastErr = msg
			r.log.Warn("weekly reports: the rules file is not valid; no report goes out until it is", "file", r.rulesFile, "err", err)
		}
		return 0
	}
	r.lastErr = ""
	now := r.now().UTC()
	week := report.WeekOf(now).AddDate(0, 0, -7)
	sent := 0
	for _, sub := range f.Reports {
		if !sub.Due(now) {
			continue
		}
		n, err := r.send(ctx, f, sub, week, now)
		sent += n
		if err != nil && ctx.Err() == nil {
			r.log.Warn("weekly report not sent; trying again in a minute", "community", sub.Community,
				"week", week.Format(time.DateOnly), "err", err)
		}
	}
	return sent
}

func (r *Reporter) send(ctx context.Context, f alerts.File, sub alerts.Report, week, now time.Time) (int, error) {
	var todo []string
	for _, target := range sub.Targets {
		done, err := r.delivered(ctx, sub.Community, week, target)
		if err != nil {
			return 0, err
		}
		if !done {
			todo = append(todo, target)
		}
	}
	if len(todo) == 0 {
		return 0, nil
	}
	opts := report.Options{Community: sub.Community, Week: week, Now: now}
	if f.ExternalURL != "" {
		opts.URL = ReportURL(f.ExternalURL, sub.Community, week)
	}
	rep, err := report.Build(ctx, r.ch, opts)
	if err != nil {
		return 0, err
	}
	mail, err := ReportMail(rep)
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, target := range todo {
		if err := notify.SendMail(ctx, target, f.Targets[target], mail); err != nil {
			return sent, err
		}
		if err := r.ch.Exec(ctx, `INSERT INTO report_deliveries (community, week_start, target, sent_at) VALUES (?, ?, ?, ?)`,
			sub.Community, week, target, r.now().UTC()); err != nil {
			return sent, fmt.Errorf("record the delivery to %s: %w", target, err)
		}
		sent++
		r.log.Info("weekly report sent", "community", sub.Community, "week", week.Format(time.DateOnly), "target", target)
	}
	return sent, nil
}

func (r *Reporter) delivered(ctx context.Context, community string, week time.Time, target string) (bool, error) {
	var rows []struct {
		N uint64 `ch:"n"`
	}
	ctx = clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{
		"community": community, "week": week.Format(time.DateOnly), "target": target}))
	if err := r.ch.Select(ctx, &rows, `SELECT count() AS n FROM report_deliveries
		WHERE community = {community:String} AND week_start = {week:Date} AND target = {target:String}`); err != nil {
		return false, err
	}
	return len(rows) > 0 && rows[0].N > 0, nil
}

// ReportURL is where the dashboard (at base) shows a community's weekly
// report (the last full week when week is zero).
func ReportURL(base, community string, week time.Time) string {
	q := url.Values{"c": {community}}
	if !week.IsZero() {
		q.Set("week", report.WeekOf(week).Format(time.DateOnly))
	}
	return strings.TrimRight(base, "/") + "/report?" + q.Encode()
}

// ReportMail is the e-mail of a weekly report: the HTML page with the text
// as its alternative; its id names the community and week, so the same
// report sent twice carries the same Message-ID.
func ReportMail(r *report.Report) (notify.Mail, error) {
	html, err := report.HTML(r)
	if err != nil {
		return notify.Mail{}, err
	}
	return notify.Mail{
		ID:      "orbitflow-report/" + r.Community + "/" + r.WeekStart.Format(time.DateOnly),
		Subject: fmt.Sprintf("Orbitflow weekly report: %s, week of %s", r.Community, r.WeekStart.Format("2 Jan 2006")),
		Text:    report.Text(r),
		HTML:    string(html),
	}, nil
}
