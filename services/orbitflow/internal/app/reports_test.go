package app

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// The reports: section of the rules file e-mails each community's weekly
// report once its weekday and hour have come, once per week and target,
// across restarts; a refused send is tried again.
func TestReporterSendsEachWeeksReportOnce(t *testing.T) {
	ch := kittest.ClickHouseConn(t)
	ctx := context.Background()
	_, err := store.Migrate(ctx, ch, telemetry.Nop().Logger)
	require.NoError(t, err)
	require.NoError(t, ch.Exec(ctx, `INSERT INTO activities_raw (event_id, community, source, type, occurred_at, member_id, identity, weight, received_at)
		VALUES ('r1', 'rp', 'github', 'github.issue.opened', '2026-03-10 10:00:00', 'github:1', 'github:1', 5, '2026-03-10 10:00:00'),
		       ('r2', 'rp', 'github', 'github.issue.opened', '2026-03-11 10:00:00', 'github:2', 'github:2', 5, '2026-03-11 10:00:00')`))
	require.NoError(t, store.Settle(ctx, ch, telemetry.Nop().Logger))

	refuse := true
	srv := kittest.NewSMTPServer(t, func(_ int, cmd string) string {
		if cmd == "DATA" && refuse {
			return "451 4.3.0 try again later"
		}
		return ""
	})
	rules := filepath.Join(t.TempDir(), "alerts.yaml")
	require.NoError(t, os.WriteFile(rules, fmt.Appendf(nil, `external_url: https://orbitflow.example.org
targets:
  team: {type: email, smtp: %q, tls: none, from: orbitflow@example.org, to: [team@example.org]}
rules: []
reports:
  - {community: rp, targets: [team], weekday: tuesday, hour: 9}
`, srv.Addr()), 0o600))

	var logs kittest.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	clock := time.Date(2026, 3, 16, 12, 0, 0, 0, time.UTC) // Monday after the week of 9 March
	reporter := func() *Reporter {
		r := NewReporter(rules, ch, log)
		r.now = func() time.Time { return clock }
		return r
	}
	r := reporter()
	require.Zero(t, r.Check(ctx), "not due before Tuesday 09:00")

	clock = time.Date(2026, 3, 17, 9, 30, 0, 0, time.UTC)
	require.Zero(t, r.Check(ctx), "the relay refused")
	require.Contains(t, logs.String(), "weekly report not sent; trying again in a minute")
	require.Contains(t, logs.String(), "451")

	refuse = false
	require.Equal(t, 1, r.Check(ctx))
	m := <-srv.Got
	require.Equal(t, []string{"team@example.org"}, m.To)
	msg, err := mail.ReadMessage(bufio.NewReader(strings.NewReader(string(m.Data))))
	require.NoError(t, err)
	require.Equal(t, "Orbitflow weekly report: rp, week of 9 Mar 2026", msg.Header.Get("Subject"))
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	text, err := multipart.NewReader(msg.Body, params["boundary"]).NextPart() // decodes quoted-printable
	require.NoError(t, err)
	body, err := io.ReadAll(text)
	require.NoError(t, err)
	require.Contains(t, string(body), "2 members were active in the week of 9 Mar 2026")
	require.Contains(t, string(body), "The full report: https://orbitflow.example.org/report?c=rp&week=2026-03-09")

	require.Zero(t, r.Check(ctx), "sent once")
	require.Zero(t, reporter().Check(ctx), "a restarted (or another) instance does not send it again")
	require.Empty(t, srv.Got)

	clock = time.Date(2026, 3, 24, 9, 0, 0, 0, time.UTC)
	require.Equal(t, 1, r.Check(ctx), "the next week's report")
	next, err := mail.ReadMessage(bufio.NewReader(strings.NewReader(string((<-srv.Got).Data))))
	require.NoError(t, err)
	require.Equal(t, "Orbitflow weekly report: rp, week of 16 Mar 2026", next.Header.Get("Subject"))

	// Start and Shutdown run the checks in the background.
	require.NoError(t, r.Start(ctx))
	require.NoError(t, r.Shutdown(ctx))
}
