package alerts

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestReportSubscriptionsAreValidated(t *testing.T) {
	f, err := DecodeFile([]byte(`
targets:
  mail: {type: email, smtp: "127.0.0.1:2525", tls: none, from: orbitflow@example.org, to: [team@example.org]}
  hook: {type: webhook, url: "http://127.0.0.1:9/hook", secret: s3cret}
rules: []
reports:
  - {community: acme, targets: [mail], weekday: tuesday, hour: 9}
  - {community: demo, targets: [mail]}
`))
	require.NoError(t, err)
	require.NoError(t, f.Validate())
	require.Len(t, f.Reports, 2)

	f.Reports = append(f.Reports,
		Report{Community: "acme", Targets: []string{"hook", "nope"}, Weekday: "someday", Hour: ptrInt(24)},
		Report{Community: "Bad Name"})
	err = f.Validate()
	require.Error(t, err)
	for _, want := range []string{
		`reports[2].community: "acme" is also reports[0]; list its targets once`,
		`reports[2].weekday: want monday … sunday, got "someday"`,
		`reports[2].hour: want 0–23 (UTC), got 24`,
		`reports[2].targets[0]: "hook" is a webhook target; the report goes to e-mail targets`,
		`reports[2].targets[1]: no target "nope" under targets:`,
		`reports[3].community: want a community name (a-z, 0-9, _ and -), got "Bad Name"`,
		`reports[3].targets: want at least one e-mail target`,
	} {
		require.Contains(t, err.Error(), want)
	}
}

func ptrInt(v int) *int { return &v }

func TestReportIsDueFromItsWeekdayAndHour(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.DateTime, s)
		require.NoError(t, err)
		return v
	}
	monday8 := Report{Community: "c", Targets: []string{"m"}} // the defaults
	require.False(t, monday8.Due(at("2026-03-09 07:59:59")), "Monday before 8")
	require.True(t, monday8.Due(at("2026-03-09 08:00:00")))
	require.True(t, monday8.Due(at("2026-03-15 23:00:00")), "still due on Sunday (a missed send goes out late)")
	tue := Report{Community: "c", Weekday: "Tuesday", Hour: ptrInt(0)}
	require.False(t, tue.Due(at("2026-03-09 23:59:00")), "Monday")
	require.True(t, tue.Due(at("2026-03-10 00:00:00")))
	sun := Report{Community: "c", Weekday: "sunday", Hour: ptrInt(18)}
	require.False(t, sun.Due(at("2026-03-14 20:00:00")), "Saturday")
	require.False(t, sun.Due(at("2026-03-15 17:00:00")))
	require.True(t, sun.Due(at("2026-03-15 18:30:00")))
}
