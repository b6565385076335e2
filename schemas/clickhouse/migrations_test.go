package clickhouse

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestMigrationsLoadInOrder(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 2 {
		t.Fatalf("want at least 2 migrations, got %d", len(ms))
	}
	for i, m := range ms {
		if m.Version != i+1 {
			t.Errorf("migration %d has version %d: versions must be 1, 2, 3 ... without gaps", i, m.Version)
		}
		for _, s := range m.Statements {
			if strings.HasSuffix(strings.TrimSpace(s), ";") {
				t.Errorf("%s: statement keeps its ';'", m.Name)
			}
			up := strings.ToUpper(s)
			if strings.HasPrefix(up, "CREATE") && !strings.Contains(up, "IF NOT EXISTS") && !strings.Contains(up, "OR REPLACE") {
				t.Errorf("%s: CREATE without IF NOT EXISTS / OR REPLACE is not idempotent: %.60s", m.Name, s)
			}
		}
	}
}

func TestSplit(t *testing.T) {
	got := Split("-- comment\nCREATE TABLE a (x String);\n\nCREATE VIEW b AS\nSELECT ';' AS s\nFROM a;\n")
	if len(got) != 2 {
		t.Fatalf("want 2 statements, got %d: %q", len(got), got)
	}
	if !strings.HasPrefix(got[1], "CREATE VIEW b") || !strings.Contains(got[1], "SELECT ';' AS s") {
		t.Errorf("second statement mangled: %q", got[1])
	}
}

func TestLoadRejectsBadNamesAndDuplicates(t *testing.T) {
	_, err := load(fstest.MapFS{"1_x.sql": {Data: []byte("SELECT 1;")}})
	if err == nil || !strings.Contains(err.Error(), "NNNN_name.sql") {
		t.Errorf("bad name: got %v", err)
	}
	_, err = load(fstest.MapFS{"0001_a.sql": {Data: []byte("SELECT 1;")}, "0001_b.sql": {Data: []byte("SELECT 2;")}})
	if err == nil || !strings.Contains(err.Error(), "used twice") {
		t.Errorf("duplicate version: got %v", err)
	}
	_, err = load(fstest.MapFS{"0001_a.sql": {Data: []byte("-- nothing\n")}})
	if err == nil || !strings.Contains(err.Error(), "no statements") {
		t.Errorf("empty: got %v", err)
	}
}
