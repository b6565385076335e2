package github

import (
	"bytes"
	"compress/gzip"
	stdjson "encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/ingest"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

// archiveLine is what the test itself reads from each archive line to
// know what the reader must produce.
type archiveLine struct {
	Type    string `json:"type"`
	Payload struct {
		Action  string `json:"action"`
		Size    *int   `json:"size"`
		RefType string `json:"ref_type"`
		PR      struct {
			Merged bool `json:"merged"`
		} `json:"pull_request"`
	} `json:"payload"`
}

// expectedType is the activity type a line must map to, "" when it must
// be ignored.
func expectedType(l archiveLine) string {
	p := l.Payload
	switch l.Type {
	case "PushEvent":
		if p.Size != nil && *p.Size > 0 {
			return "github.commit.pushed"
		}
	case "CreateEvent":
		if p.RefType == "branch" || p.RefType == "tag" {
			return "github.ref.created"
		}
	case "IssuesEvent":
		return "github.issue." + p.Action
	case "PullRequestEvent":
		if p.Action == "closed" && p.PR.Merged {
			return "github.pull_request.merged"
		}
		return "github.pull_request." + p.Action
	case "IssueCommentEvent":
		return "github.issue.commented"
	case "PullRequestReviewCommentEvent":
		return "github.pull_request.review_commented"
	case "CommitCommentEvent":
		return "github.commit.commented"
	case "WatchEvent":
		return "github.star.created"
	case "ForkEvent":
		return "github.fork.created"
	case "GollumEvent":
		return "github.wiki.edited"
	case "MemberEvent":
		return "github.member.added"
	case "ReleaseEvent":
		return "github.release.published"
	}
	return ""
}

func TestArchiveFile(t *testing.T) {
	lines := archiveLines(t)
	require.Len(t, lines, 7702)
	want := map[string]int{} // archive type → lines
	expect := make([]archiveLine, len(lines))
	for i, l := range lines {
		require.NoError(t, stdjson.Unmarshal(l, &expect[i]))
		want[expect[i].Type]++
	}

	read := func() ([]ingest.Record, []string) {
		var recs []ingest.Record
		var ids []string
		for rec := range ArchiveFiles([]string{archiveFile}, testEnv()) {
			recs = append(recs, rec)
			if rec.Err == nil && rec.Ignored == "" {
				ids = append(ids, rec.Event.ID)
			}
		}
		return recs, ids
	}
	recs, ids := read()
	require.Len(t, recs, len(lines), "one record per archive event")

	got := map[string]int{}
	mapped, ignored := 0, 0
	seen := map[string]string{}
	repeats := map[string]int{}
	for i, rec := range recs {
		pos := archiveFile + ":" + strconv.Itoa(i+1)
		require.Equal(t, pos, rec.Pos)
		require.Equal(t, lines[i], rec.Raw, pos)
		l := expect[i]
		got[l.Type]++
		require.NoError(t, rec.Err, pos)
		typ := expectedType(l)
		if typ == "" {
			ignored++
			require.NotEmpty(t, rec.Ignored, pos)
			require.True(t, strings.HasPrefix(rec.Ignored, "github "), rec.Ignored)
			continue
		}
		mapped++
		require.Empty(t, rec.Ignored, pos)
		ev := rec.Event
		requireValid(t, source.One(ev), pos)
		require.Equal(t, typ, ev.Type, pos)
		require.Equal(t, testNow, ev.ReceivedAt.Time)
		if prev, dup := seen[ev.ID]; dup {
			// Only the documented collapses: a repository starred again by
			// the same user, a ref deleted and created again.
			require.Contains(t, []string{"github.star.created", "github.ref.created"}, ev.Type,
				"%s: id %s already produced at %s", pos, ev.ID, prev)
			repeats[ev.Type]++
		}
		seen[ev.ID] = pos
	}
	require.Equal(t, map[string]int{"github.star.created": 10, "github.ref.created": 8}, repeats)
	require.Equal(t, want, got)
	require.Equal(t, 7702, mapped+ignored)
	// 26 pushes of no commit, 290 repository creations, 141 deletions, 2 publicizations.
	require.Equal(t, 26+290+141+2, ignored)

	_, again := read()
	require.Equal(t, ids, again, "a second read yields the same ids")
}

func TestArchiveExamples(t *testing.T) {
	lines := archiveLines(t)
	byID := map[string][]byte{}
	for _, l := range lines {
		var h struct {
			ID string `json:"id"`
		}
		require.NoError(t, stdjson.Unmarshal(l, &h))
		byID[h.ID] = l
	}
	for _, tc := range []struct {
		archiveID string
		want      want
		channel   string
	}{
		{
			archiveID: "2489368070", channel: "davidjhulse/davesbingrewardsbot",
			want: want{
				id:  "github:push:28635890:refs/heads/master:a9b22a6d80c1e0bb49c1cf75a3c075b642c28f81",
				typ: "github.commit.pushed", actorID: "9152315", actor: "davidjhulse", occurred: "2015-01-01T00:00:00Z",
				url:   "https://github.com/davidjhulse/davesbingrewardsbot/commit/a9b22a6d80c1e0bb49c1cf75a3c075b642c28f81",
				attrs: map[string]string{"ref": "refs/heads/master", "commits": "1"},
			},
		},
		{
			// Merged by zindlerb: the activity is dduugg's.
			archiveID: "2489368455", channel: "selfhub/selfhub",
			want: want{
				id: "github:pull_request:26738755:merged", typ: "github.pull_request.merged", actorID: "697964", actor: "dduugg",
				occurred: "2015-01-01T00:00:30Z", thread: "github:issue:28109544:124",
				url: "https://github.com/selfhub/selfhub/pull/124", title: "make AWS S3 bucket prefix an environmental variable",
				attrs: map[string]string{"number": "124", "merged_by": "zindlerb"},
			},
		},
		{
			// A comment on one's own pull request mentioning a member.
			archiveID: "2489368280", channel: "numenta/nupic.core",
			want: want{
				id: "github:issue_comment:68475785", typ: "github.issue.commented", actorID: "15566", actor: "rhyolight",
				occurred: "2015-01-01T00:00:14Z", thread: "github:issue:16366081:288",
				url:     "https://github.com/numenta/nupic.core/pull/288#issuecomment-68475785",
				title:   "Deploying to S3 on linux/gcc and osx/clang.",
				targets: []events.Target{tgt("login:breznak", "breznak", events.KindMention)},
				attrs:   map[string]string{"number": "288", "pull_request": "true"},
			},
		},
		{
			// A reply on someone's issue; the @everywhere in its code block is no mention.
			archiveID: "2489368442", channel: "JuliaLang/julia",
			want: want{
				id: "github:issue_comment:68475796", typ: "github.issue.commented", actorID: "1525481", actor: "timholy",
				occurred: "2015-01-01T00:00:29Z", thread: "github:issue:1644196:9501", parent: "github:issue:53126465:opened",
				url:     "https://github.com/JuliaLang/julia/issues/9501#issuecomment-68475796",
				title:   `Occasional "broken pipe" errors on Travis/AppVeyor during reflection test`,
				targets: []events.Target{tgt("5934628", "tkelman", events.KindReply)},
				attrs:   map[string]string{"number": "9501"},
			},
		},
	} {
		t.Run(tc.archiveID, func(t *testing.T) {
			l, ok := byID[tc.archiveID]
			require.True(t, ok)
			res, err := NormalizeArchive(testEnv(), l)
			require.NoError(t, err)
			require.Len(t, res.Events, 1)
			ev, w := res.Events[0], tc.want
			require.Equal(t, w.id, ev.ID)
			require.Equal(t, w.typ, ev.Type)
			require.Equal(t, w.actorID, ev.Actor.SourceID)
			require.Equal(t, w.actor, ev.Actor.Username)
			require.Equal(t, w.bot, ev.Actor.IsBot)
			require.Equal(t, ts(w.occurred), ev.OccurredAt.Time)
			require.Equal(t, tc.channel, ev.Channel)
			require.Equal(t, w.thread, ev.ThreadID)
			require.Equal(t, w.parent, ev.ParentID)
			require.Equal(t, w.url, ev.URL)
			require.Equal(t, w.title, ev.Title)
			require.Equal(t, w.targets, ev.Targets)
			require.Equal(t, w.attrs, ev.Attributes)
		})
	}
}

func TestArchiveReader(t *testing.T) {
	dir := t.TempDir()
	star := `{"id":"1","type":"WatchEvent","actor":{"id":7,"login":"ann"},"repo":{"id":9,"name":"o/r"},"payload":{"action":"started"},"created_at":"2015-01-01T00:00:01Z"}`
	long := `{"type":"PushEvent","x":"` + strings.Repeat("a", MaxArchiveLineBytes) + `"}`
	content := star + "\r\n\n   \n" +
		`{"type":"PushEvent",` + "\n" + // malformed
		`{"type":"SponsorEvent","created_at":"2015-01-01T00:00:01Z"}` + "\n" + // unknown type
		`{"type":"WatchEvent","actor":{"id":7,"login":"ann"},"payload":{"action":"started"}}` + "\n" + // no created_at
		long + "\n" +
		`{"type":"PublicEvent","created_at":"2015-01-01T00:00:01Z","payload":{}}` // no final newline
	plain := filepath.Join(dir, "hour.json")
	require.NoError(t, os.WriteFile(plain, []byte(content), 0o600))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err := zw.Write([]byte(content))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	gzName := filepath.Join(dir, "hour.json.gz")
	require.NoError(t, os.WriteFile(gzName, gz.Bytes(), 0o600))

	for _, name := range []string{plain, gzName} {
		t.Run(filepath.Base(name), func(t *testing.T) {
			var recs []ingest.Record
			for rec := range ArchiveFiles([]string{name, filepath.Join(dir, "missing.json")}, testEnv()) {
				recs = append(recs, rec)
			}
			require.Len(t, recs, 7)

			require.NoError(t, recs[0].Err)
			require.Equal(t, name+":1", recs[0].Pos)
			require.Equal(t, "github:star:9:7", recs[0].Event.ID)
			require.Equal(t, []byte(star), recs[0].Raw)

			var ie *source.InputError
			require.Equal(t, name+":4", recs[1].Pos)
			require.True(t, errors.As(recs[1].Err, &ie), "%v", recs[1].Err)
			require.Equal(t, "line", ie.Field)
			require.NotNil(t, recs[1].Raw)

			require.Equal(t, name+":5", recs[2].Pos)
			require.ErrorContains(t, recs[2].Err, "unmapped type: github:SponsorEvent")

			require.Equal(t, name+":6", recs[3].Pos)
			require.ErrorContains(t, recs[3].Err, "created_at: required")

			require.Equal(t, name+":7", recs[4].Pos)
			require.ErrorContains(t, recs[4].Err, "longer than")
			require.Len(t, recs[4].Raw, 64<<10, "the dead letter keeps the start of the line")

			require.Equal(t, name+":8", recs[5].Pos)
			require.Equal(t, "github public: repository visibility change", recs[5].Ignored)

			require.Error(t, recs[6].Err)
			require.Nil(t, recs[6].Raw, "an unreadable file is not bad input")
		})
	}
}

func TestArchiveStopsEarly(t *testing.T) {
	n := 0
	for range ArchiveFiles([]string{archiveFile, archiveFile}, testEnv()) {
		n++
		if n == 10 {
			break
		}
	}
	require.Equal(t, 10, n)
}

func BenchmarkArchive(b *testing.B) {
	data := archiveBytes(b)
	env := testEnv()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	n := 0
	for b.Loop() {
		for rec := range ReadArchive(bytes.NewReader(data), "bench", env) {
			if rec.Err != nil {
				b.Fatal(rec.Err)
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkArchiveGzip includes the decompression of the hourly file.
func BenchmarkArchiveGzip(b *testing.B) {
	gz, err := os.ReadFile(archiveFile)
	require.NoError(b, err)
	env := testEnv()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			b.Fatal(err)
		}
		for rec := range ReadArchive(zr, "bench", env) {
			if rec.Err != nil {
				b.Fatal(rec.Err)
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
