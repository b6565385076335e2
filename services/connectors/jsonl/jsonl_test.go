package jsonl

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/connectors/ingest"
)

const valid = `{"id":"x-1","schema_version":1,"community":"acme","source":"github","type":"github.issue.opened","occurred_at":"2026-01-01T00:00:00.000Z","actor":{"source":"github","source_id":"1"}}`

func collect(t *testing.T, r *strings.Reader) []ingest.Record {
	t.Helper()
	var out []ingest.Record
	for rec := range Read(r, "in") {
		out = append(out, rec)
	}
	return out
}

func TestReadLinesPositionsAndErrors(t *testing.T) {
	in := valid + "\n\n   \n{broken\r\n" + valid
	recs := collect(t, strings.NewReader(in))
	require.Len(t, recs, 3, "blank lines are skipped, not records")
	require.NoError(t, recs[0].Err)
	require.Equal(t, "x-1", recs[0].Event.ID)
	require.Equal(t, "in:1", recs[0].Pos)
	require.Error(t, recs[1].Err)
	require.Equal(t, "in:4", recs[1].Pos, "positions count blank lines")
	require.Equal(t, "{broken", string(recs[1].Raw), "raw bytes are kept for the dead letter, without the line ending")
	require.NoError(t, recs[2].Err, "a last line without newline is read")
	require.Equal(t, "in:5", recs[2].Pos)
}

func TestReadTooLongLineIsRejectedAndReadingGoesOn(t *testing.T) {
	long := `{"id":"` + strings.Repeat("a", MaxLineBytes+10) + `"}`
	recs := collect(t, strings.NewReader(long+"\n"+valid+"\n"))
	require.Len(t, recs, 2)
	require.ErrorContains(t, recs[0].Err, "longer than")
	require.Len(t, recs[0].Raw, MaxLineBytes)
	require.NoError(t, recs[1].Err)
	require.Equal(t, "in:2", recs[1].Pos)
}

func TestFilesReadsGzipAndReportsMissingFiles(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(valid + "\n" + valid + "\n"))
	require.NoError(t, zw.Close())
	gz := filepath.Join(dir, "a.jsonl.gz")
	require.NoError(t, os.WriteFile(gz, buf.Bytes(), 0o600))

	var recs []ingest.Record
	for rec := range Files([]string{gz, filepath.Join(dir, "missing.jsonl")}) {
		recs = append(recs, rec)
	}
	require.Len(t, recs, 3)
	require.NoError(t, recs[0].Err)
	require.Equal(t, gz+":2", recs[1].Pos)
	require.Error(t, recs[2].Err)
	require.Nil(t, recs[2].Raw, "an unreadable file is an I/O error, not bad input")
}

func FuzzRead(f *testing.F) {
	f.Add([]byte(valid + "\n{broken\n"))
	f.Add([]byte("\n\n\r\n"))
	f.Add([]byte(`{"id":"\u0000"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		for rec := range Read(bytes.NewReader(data), "fuzz") {
			n++
			// A record without error is a JSON object that decoded; whether
			// it is a valid event (an id, a type …) is the registry's call
			// downstream, which dead-letters it with the reason ("{}" is
			// such a record: the fuzzer's first find).
			if rec.Err == nil && !json.Valid(rec.Raw) {
				t.Fatalf("a record without error must be the JSON it decoded: %q", rec.Raw)
			}
			if len(rec.Raw) > MaxLineBytes {
				t.Fatalf("raw exceeds the line bound: %d", len(rec.Raw))
			}
		}
		if n > bytes.Count(data, []byte("\n"))+1 {
			t.Fatalf("more records (%d) than lines", n)
		}
	})
}
