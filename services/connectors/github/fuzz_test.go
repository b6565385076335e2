package github

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/orbitflow/orbitflow/services/connectors/source"
)

// checkResult asserts the contract of a normalization: no error but an
// *source.InputError, exactly one outcome, and valid events.
func checkResult(t *testing.T, res source.Result, err error) {
	t.Helper()
	if err != nil {
		var ie *source.InputError
		if !errors.As(err, &ie) {
			t.Fatalf("error %T is not a *source.InputError: %v", err, err)
		}
		return
	}
	outcomes := 0
	for _, set := range []bool{len(res.Events) > 0, res.Ignored != "", res.Unmapped != ""} {
		if set {
			outcomes++
		}
	}
	if outcomes != 1 {
		t.Fatalf("want exactly one outcome, got %+v", res)
	}
	requireValid(t, res, "fuzz")
}

func FuzzWebhook(f *testing.F) {
	fs := webhookFixtures(f)
	var names []string
	for _, fx := range fs {
		if !slices.Contains(names, fx.ev) {
			names = append(names, fx.ev)
		}
	}
	for i, fx := range fs {
		f.Add(uint8(slices.Index(names, fx.ev)), fx.body)
		f.Add(uint8(i), fx.body) // the body under another event name
	}
	f.Fuzz(func(t *testing.T, n uint8, body []byte) {
		h := headers(names[int(n)%len(names)], "d")
		res, err := Webhook{}.Normalize(testEnv(), h, body)
		checkResult(t, res, err)
	})
}

func FuzzArchiveLine(f *testing.F) {
	lines := archiveLines(f)
	seen := map[string]int{}
	for i, l := range lines {
		var h archiveLine
		if err := stdjsonUnmarshal(l, &h); err != nil {
			f.Fatal(err)
		}
		// Every type, a few times each, and a sample of the rest.
		if seen[h.Type] < 5 || i%100 == 0 {
			f.Add(l)
		}
		seen[h.Type]++
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		res, err := NormalizeArchive(testEnv(), line)
		checkResult(t, res, err)
		if bytes.ContainsAny(line, "\r\n") {
			return // several lines for the reader
		}
		// The reader's zero-copy decoding must agree with the copying one.
		for rec := range ReadArchive(bytes.NewReader(line), "fuzz", testEnv()) {
			if rec.Err != nil && rec.Raw == nil {
				t.Fatalf("read error: %v", rec.Err)
			}
			if rec.Err == nil && rec.Ignored == "" && (err != nil || len(res.Events) == 0 || rec.Event.ID != res.Events[0].ID) {
				t.Fatalf("reader and NormalizeArchive disagree: %+v vs %+v, %v", rec, res, err)
			}
		}
	})
}
