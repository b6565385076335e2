package chhttp

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSplitInsert(t *testing.T) {
	for _, tc := range []struct {
		text, stmt, format, rest string
		ok                       bool
	}{
		{"INSERT INTO t FORMAT RowBinary", "INSERT INTO t", "RowBinary", "", true},
		{"INSERT INTO t FORMAT RowBinary\n\n\x00 data", "INSERT INTO t", "RowBinary", "\n\x00 data", true},
		{"INSERT INTO t FORMAT TSV   1\t2", "INSERT INTO t", "TSV", "  1\t2", true},
		{"INSERT INTO t FORMAT TSV \r\n  x", "INSERT INTO t", "TSV", "  x", true},
		{"insert into t (a, `format`, values) format CSV\n1,2,3", "insert into t (a, `format`, values)", "CSV", "1,2,3", true},
		{"INSERT INTO t VALUES (1, 'FORMAT x')", "INSERT INTO t", "Values", " (1, 'FORMAT x')", true},
		{"INSERT INTO t SETTINGS async_insert = 1 FORMAT Native", "INSERT INTO t SETTINGS async_insert = 1", "Native", "", true},
		{"INSERT INTO `my format` FORMAT JSONEachRow {\"a\":1}", "INSERT INTO `my format`", "JSONEachRow", "{\"a\":1}", true},
		{"INSERT INTO FUNCTION file('a VALUES b', 'CSV') VALUES (1)", "INSERT INTO FUNCTION file('a VALUES b', 'CSV')", "Values", " (1)", true},
		{"INSERT /* FORMAT CSV */ INTO t -- VALUES\nFORMAT CSV\n1", "INSERT /* FORMAT CSV */ INTO t -- VALUES", "CSV", "1", true},
		{"INSERT INTO t SELECT * FROM values('a UInt8', 1)", "", "", "", false},
		{"INSERT INTO t WITH 1 AS x SELECT x", "", "", "", false},
		{"INSERT INTO t", "", "", "", false},
		{"INSERT INTO t FORMAT", "", "", "", false},
		{"INSERT INTO 't FORMAT CSV", "", "", "", false},
	} {
		stmt, format, rest, ok := splitInsert(tc.text)
		require.Equal(t, tc.ok, ok, tc.text)
		require.Equal(t, tc.stmt, stmt, tc.text)
		require.Equal(t, tc.format, format, tc.text)
		require.Equal(t, tc.rest, rest, tc.text)
	}
}

func FuzzSplitInsert(f *testing.F) {
	for _, s := range []string{"INSERT INTO t FORMAT RowBinary\n\n", "INSERT INTO t (a) VALUES (1)", "INSERT INTO t SELECT 1", "INSERT 'x", "INSERT /*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		stmt, format, rest, ok := splitInsert(text)
		if !ok {
			return
		}
		// The data is a suffix of the text and the statement a prefix.
		require.True(t, strings.HasSuffix(text, rest))
		require.True(t, strings.HasPrefix(text, stmt) || strings.HasPrefix(strings.TrimSpace(text), stmt))
		require.NotEmpty(t, format)
		require.NotContains(t, format, " ")
	})
}

func TestFirstWord(t *testing.T) {
	for in, want := range map[string]string{
		"  select 1":             "SELECT",
		"-- c\n/* x */ (WITH 1)": "WITH",
		"INSERT INTO t":          "INSERT",
		"# hi\nSHOW TABLES":      "SHOW",
		"/* open":                "",
	} {
		require.Equal(t, want, firstWord(in), in)
	}
}
