package github

import (
	"bytes"
	"compress/gzip"
	stdjson "encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

const (
	webhookDir  = "../../../../shared/realdata/github_webhooks/api.github.com"
	archiveFile = "../../../../shared/realdata/gharchive/2015-01-01-0.json.gz"
)

var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func testEnv() source.Env {
	return source.Env{Community: "acme", Now: func() time.Time { return testNow }}
}

// fixture is one webhook payload example: its event name (the folder) and
// body.
type fixture struct {
	name string // path relative to webhookDir
	ev   string
	body []byte
}

// webhookFixtures reads every payload example; a missing folder fails.
func webhookFixtures(t testing.TB) []fixture {
	t.Helper()
	var fs []fixture
	err := filepath.WalkDir(webhookDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		rel, _ := filepath.Rel(webhookDir, path)
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fs = append(fs, fixture{name: filepath.ToSlash(rel), ev: filepath.Dir(rel), body: body})
		return nil
	})
	require.NoError(t, err, "the webhook payload examples must be present")
	slices.SortFunc(fs, func(a, b fixture) int { return strings.Compare(a.name, b.name) })
	return fs
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(webhookDir, name))
	require.NoError(t, err)
	return b
}

func headers(event, delivery string) http.Header {
	h := http.Header{}
	if event != "" {
		h.Set(HeaderEvent, event)
	}
	if delivery != "" {
		h.Set(HeaderDelivery, delivery)
	}
	return h
}

// archiveBytes returns the decompressed archive hour.
func archiveBytes(t testing.TB) []byte {
	t.Helper()
	f, err := os.Open(archiveFile)
	require.NoError(t, err, "the GH Archive fixture must be present")
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	data, err := io.ReadAll(zr)
	require.NoError(t, err)
	return data
}

func archiveLines(t testing.TB) [][]byte {
	t.Helper()
	var lines [][]byte
	for l := range bytes.Lines(archiveBytes(t)) {
		if l = bytes.TrimSpace(l); len(l) > 0 {
			lines = append(lines, l)
		}
	}
	return lines
}

// requireValid asserts that every event of res validates.
func requireValid(t testing.TB, res source.Result, msg string) {
	t.Helper()
	for i := range res.Events {
		require.NoError(t, events.DefaultRegistry().Validate(&res.Events[i]), "%s: event %d", msg, i)
	}
}

func stdjsonUnmarshal(b []byte, v any) error { return stdjson.Unmarshal(b, v) }
