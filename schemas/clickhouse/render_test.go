package clickhouse

import (
	"regexp"
	"strings"
	"testing"
)

var cluster = Layout{Cluster: "orbitflow"}

func TestRenderOneServerIsEveryStatementByteForByte(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		for i, s := range m.Statements {
			got, err := Render(s, Layout{})
			if err != nil {
				t.Fatalf("%04d_%s statement %d: %v", m.Version, m.Name, i+1, err)
			}
			if got != s {
				t.Errorf("%04d_%s statement %d changed for one server:\n%s\nbecame\n%s", m.Version, m.Name, i+1, s, got)
			}
		}
	}
}

func TestRenderExamples(t *testing.T) {
	path := "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"
	for _, tc := range []struct{ in, want string }{
		{"CREATE TABLE IF NOT EXISTS a\n(\n    x UInt8\n)\nENGINE = MergeTree\nORDER BY x",
			"CREATE TABLE IF NOT EXISTS a ON CLUSTER orbitflow\n(\n    x UInt8\n)\nENGINE = ReplicatedMergeTree(" + path + ")\nORDER BY x"},
		{"CREATE TABLE IF NOT EXISTS a (v UInt64, d UInt8) ENGINE = ReplacingMergeTree(v, d) ORDER BY v",
			"CREATE TABLE IF NOT EXISTS a ON CLUSTER orbitflow (v UInt64, d UInt8) ENGINE = ReplicatedReplacingMergeTree(" + path + ", v, d) ORDER BY v"},
		{"CREATE TABLE IF NOT EXISTS a (v UInt64) ENGINE = AggregatingMergeTree() ORDER BY v",
			"CREATE TABLE IF NOT EXISTS a ON CLUSTER orbitflow (v UInt64) ENGINE = ReplicatedAggregatingMergeTree(" + path + ") ORDER BY v"},
		{"CREATE MATERIALIZED VIEW IF NOT EXISTS a_mv TO a AS SELECT 1 AS v",
			"CREATE MATERIALIZED VIEW IF NOT EXISTS a_mv ON CLUSTER orbitflow TO a AS SELECT 1 AS v"},
		{"CREATE MATERIALIZED VIEW IF NOT EXISTS a_mv ENGINE = MergeTree ORDER BY v AS SELECT 1 AS v",
			"CREATE MATERIALIZED VIEW IF NOT EXISTS a_mv ON CLUSTER orbitflow ENGINE = ReplicatedMergeTree(" + path + ") ORDER BY v AS SELECT 1 AS v"},
		{"CREATE OR REPLACE VIEW v AS\nSELECT 'ENGINE = x' FROM a",
			"CREATE OR REPLACE VIEW v ON CLUSTER orbitflow AS\nSELECT 'ENGINE = x' FROM a"},
		{"CREATE DICTIONARY IF NOT EXISTS d\n(k String, v String)\nPRIMARY KEY k\nSOURCE(CLICKHOUSE(QUERY 'SELECT k, v FROM {{database}}.a'))\nLAYOUT(COMPLEX_KEY_HASHED())\nLIFETIME(60)",
			"CREATE DICTIONARY IF NOT EXISTS d ON CLUSTER orbitflow\n(k String, v String)\nPRIMARY KEY k\nSOURCE(CLICKHOUSE(QUERY 'SELECT k, v FROM {{database}}.a'))\nLAYOUT(COMPLEX_KEY_HASHED())\nLIFETIME(60)"},
		{"ALTER TABLE a ADD COLUMN IF NOT EXISTS y UInt8", "ALTER TABLE a ON CLUSTER orbitflow ADD COLUMN IF NOT EXISTS y UInt8"},
		{"TRUNCATE TABLE IF EXISTS a", "TRUNCATE TABLE IF EXISTS a ON CLUSTER orbitflow"},
		{"DROP VIEW IF EXISTS v", "DROP VIEW IF EXISTS v ON CLUSTER orbitflow"},
		{"OPTIMIZE TABLE a FINAL", "OPTIMIZE TABLE a ON CLUSTER orbitflow FINAL"},
		{"INSERT INTO a SELECT 1", "INSERT INTO a SELECT 1"},
		{"CREATE TABLE IF NOT EXISTS {{database}}.a (x UInt8) ENGINE = MergeTree ORDER BY x",
			"CREATE TABLE IF NOT EXISTS {{database}}.a ON CLUSTER orbitflow (x UInt8) ENGINE = ReplicatedMergeTree(" + path + ") ORDER BY x"},
	} {
		got, err := Render(tc.in, cluster)
		if err != nil {
			t.Errorf("%.40q: %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("Render(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestRenderRefusesWhatItCannotPlaceOnACluster(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SELECT 1", "only CREATE"},
		{"RENAME TABLE a TO b", "only CREATE"},
		{"SYSTEM RELOAD DICTIONARY d", "only CREATE"},
		{"CREATE TABLE IF NOT EXISTS a (x UInt8) ENGINE = Memory", "no Replicated form"},
		{"CREATE TABLE IF NOT EXISTS a (x UInt8) ENGINE = ReplicatedMergeTree('/p', 'r') ORDER BY x", "without Replicated"},
		{"CREATE TABLE IF NOT EXISTS a (x UInt8) ORDER BY x", "exactly one ENGINE"},
		{"CREATE TABLE IF NOT EXISTS a (x UInt8) ENGINE = ReplacingMergeTree(x ORDER BY x", "not closed"},
	} {
		_, err := Render(tc.in, cluster)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Render(%q): want an error saying %q, got %v", tc.in, tc.want, err)
		}
	}
	if _, err := Render("SELECT 1", Layout{Cluster: "my-cluster"}); err == nil || !strings.Contains(err.Error(), "remote_servers") {
		t.Errorf("a cluster name ON CLUSTER cannot take: got %v", err)
	}
}

var (
	onCluster  = " ON CLUSTER orbitflow"
	replicated = regexp.MustCompile(`ENGINE = Replicated([A-Za-z]*MergeTree)\('/clickhouse/tables/\{shard\}/\{database\}/\{table\}', '\{replica\}'(, )?`)
	kindOf     = regexp.MustCompile(`^(?:CREATE (?:OR REPLACE )?(TABLE|VIEW|MATERIALIZED VIEW|DICTIONARY)|(ALTER|TRUNCATE|INSERT|DROP|OPTIMIZE))\b`)
)

// TestRenderClusterEveryMigration renders every statement of every
// migration for a cluster and checks what changed: ON CLUSTER on all DDL,
// a Replicated engine with the Keeper path on every table, and nothing else
// (undoing exactly those two edits gives the statement back).
func TestRenderClusterEveryMigration(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, m := range ms {
		for i, s := range m.Statements {
			where := func() string { return m.Name + " statement " + string(rune('0'+i/10)) + string(rune('0'+i%10)) }
			got, err := Render(s, cluster)
			if err != nil {
				t.Fatalf("%s: %v", where(), err)
			}
			k := kindOf.FindStringSubmatch(strings.TrimSpace(s))
			if k == nil {
				t.Fatalf("%s: unexpected statement kind: %.60q", where(), s)
			}
			kind := k[1] + k[2]
			count[kind]++
			ons := strings.Count(got, onCluster)
			engines := replicated.FindAllStringSubmatch(got, -1)
			switch kind {
			case "INSERT":
				if got != s {
					t.Errorf("%s: an INSERT must run unchanged, got %q", where(), got)
				}
				continue
			case "TABLE":
				if len(engines) != 1 {
					t.Errorf("%s: a table needs exactly one Replicated engine with the Keeper path, got %d in\n%s", where(), len(engines), got)
				}
			case "MATERIALIZED VIEW":
				if strings.Contains(s, " TO ") == (len(engines) == 1) {
					t.Errorf("%s: a materialized view writes TO a replicated table or has a Replicated inner engine, got\n%s", where(), got)
				}
			default:
				if len(engines) != 0 {
					t.Errorf("%s: %s must not gain an engine, got\n%s", where(), kind, got)
				}
			}
			if ons != 1 {
				t.Errorf("%s: want ON CLUSTER once, got %d in\n%s", where(), ons, got)
			}
			if strings.Contains(got, "MergeTree") && !strings.Contains(got, "ReplicatedMergeTree") && len(engines) == 0 && kind == "TABLE" {
				t.Errorf("%s: a MergeTree engine left unreplicated", where())
			}
			undone := strings.Replace(got, onCluster, "", 1)
			undone = replicated.ReplaceAllStringFunc(undone, func(e string) string {
				sm := replicated.FindStringSubmatch(e)
				if sm[2] == "" {
					return "ENGINE = " + sm[1] + "\x00"
				}
				return "ENGINE = " + sm[1] + "("
			})
			undone = strings.ReplaceAll(undone, "\x00)", "")
			if undone != strings.TrimSpace(s) {
				t.Errorf("%s: rendering changed more than ON CLUSTER and the engine:\n%s\nbecame\n%s", where(), s, got)
			}
		}
	}
	// The migrations hold each kind: a regression here means the kinds
	// changed and this test should learn the new ones.
	for kind, atLeast := range map[string]int{"TABLE": 30, "VIEW": 30, "MATERIALIZED VIEW": 9, "DICTIONARY": 3, "ALTER": 10, "INSERT": 5, "TRUNCATE": 1} {
		if count[kind] < atLeast {
			t.Errorf("want at least %d %s statements in the migrations, found %d", atLeast, kind, count[kind])
		}
	}
	t.Logf("rendered for a cluster: %v", count)
}

func TestSchemaMigrationsTableRendersReplicated(t *testing.T) {
	got, err := Render("CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, applied_at DateTime64(3, 'UTC')) ENGINE = ReplacingMergeTree(applied_at) ORDER BY version", cluster)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "schema_migrations ON CLUSTER orbitflow") || !strings.Contains(got, "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', applied_at)") {
		t.Errorf("schema_migrations for a cluster: %s", got)
	}
}
