package main

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/api/topics"
)

func TestTopicsTable(t *testing.T) {
	day := func(s string) time.Time {
		d, err := time.Parse(time.DateOnly, s)
		require.NoError(t, err)
		return d
	}
	secs := func(f float64) *float64 { return &f }
	r := topics.Report{Community: "fx", From: day("2026-03-09"), To: day("2026-03-15"), PreviousFrom: day("2026-03-02"),
		PreviousTo: day("2026-03-08"), Questions: 6, PreviousQuestions: 4, Unanswered: 3, UnansweredShare: 0.5,
		MedianResponseSeconds: secs(3600),
		Topics: []topics.Topic{
			{Key: "sso", Label: "sso", Items: 3, PreviousItems: 1, Growth: 2, GrowthRatio: 2, Unanswered: 1, UnansweredShare: 1.0 / 3,
				MedianResponseSeconds: secs(5400), Examples: []topics.Example{{ID: "T3", Type: "github.issue.opened",
					URL: "https://x/3", Title: "Configuring SSO", OpenedAt: day("2026-03-11")}}},
			{Key: "configur sso", Label: "configure sso", Items: 2, Growth: 2, GrowthRatio: 2, New: true, Unanswered: 2, UnansweredShare: 1},
			{Key: "webhook", Label: "webhook", Items: 2, PreviousItems: 4, Growth: -2, GrowthRatio: -0.5, MedianResponseSeconds: secs(200000)},
		}}
	var b bytes.Buffer
	printTopics(&b, r)
	require.Equal(t, `Pain points of fx, 2026-03-09 to 2026-03-15 (against 2026-03-02 to 2026-03-08)
6 question-like items (4 the period before), 50% unanswered, median first response 1h00m

#  TOPIC          ITEMS  BEFORE  GROWTH      UNANSWERED  MEDIAN TTFR
1  sso            3      1       +2 (+200%)  33%         1h30m
2  configure sso  2      0       +2 (new)    100%        -
3  webhook        2      4       -2 (-50%)   0%          2.3d

Examples:
  1 sso: "Configuring SSO" (github.issue.opened, 2026-03-11, unanswered) https://x/3
`, b.String())

	b.Reset()
	printTopics(&b, topics.Report{Community: "fx", From: day("2026-03-09"), To: day("2026-03-15"), PreviousFrom: day("2026-03-02"),
		PreviousTo: day("2026-03-08")})
	require.Contains(t, b.String(), "0 question-like items (0 the period before), 0% unanswered, median first response -\n\nno recurring topic")

	for in, want := range map[float64]string{0: "0s", 59.4: "59s", 60: "1m", 3599: "59m", 3600: "1h00m", 5400: "1h30m", 172799: "47h59m", 172800: "2.0d"} {
		require.Equal(t, want, seconds(&in), "%v", in)
	}
	require.Equal(t, "-", seconds(nil))
}

func TestTopicsFlagsAreChecked(t *testing.T) {
	for _, args := range [][]string{
		{"--from", "2026-03-09"},
		{"--to", "2026-03-09"},
		{"--from", "9.3.2026", "--to", "2026-03-15"},
		{"--from", "2026-03-09", "--to", "x"},
		{"--limit", "0"},
		{"--limit", "201"},
		{"--min-items", "0"},
		{"extra"},
	} {
		var out, errOut bytes.Buffer
		err := cmdTopics(context.Background(), args, &out, &errOut)
		var ue usageError
		require.True(t, errors.As(err, &ue), "%v: %v", args, err)
	}
}
