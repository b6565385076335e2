package ingest_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/connectors/ingest"
)

func TestOpenReadsPlainAndGzipFiles(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "a.jsonl")
	require.NoError(t, os.WriteFile(plain, []byte("line\n"), 0o600))
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	_, _ = zw.Write([]byte("zipped\n"))
	require.NoError(t, zw.Close())
	zipped := filepath.Join(dir, "b.jsonl.gz")
	require.NoError(t, os.WriteFile(zipped, zb.Bytes(), 0o600))
	for name, want := range map[string]string{plain: "line\n", zipped: "zipped\n"} {
		rc, err := ingest.Open(name)
		require.NoError(t, err)
		got, err := io.ReadAll(rc)
		require.NoError(t, err)
		require.NoError(t, rc.Close())
		require.Equal(t, want, string(got))
	}
	_, err := ingest.Open(filepath.Join(dir, "missing"))
	require.ErrorIs(t, err, os.ErrNotExist)
	notGzip := filepath.Join(dir, "c.gz")
	require.NoError(t, os.WriteFile(notGzip, []byte("plain"), 0o600))
	_, err = ingest.Open(notGzip)
	require.ErrorContains(t, err, "c.gz")
}

func TestReadLineBoundsLongLines(t *testing.T) {
	br := bufio.NewReaderSize(strings.NewReader("short\r\n"+strings.Repeat("x", 100)+"\nlast"), 16)
	line, long, err := ingest.ReadLine(br, 10)
	require.NoError(t, err)
	require.Equal(t, "short", string(line))
	require.False(t, long)
	line, long, err = ingest.ReadLine(br, 10)
	require.NoError(t, err)
	require.Equal(t, strings.Repeat("x", 10), string(line), "cut at the limit")
	require.True(t, long)
	line, long, err = ingest.ReadLine(br, 10)
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, "last", string(line), "the rest of the long line was skipped")
	require.False(t, long)
}
