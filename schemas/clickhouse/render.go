package clickhouse

import (
	"fmt"
	"regexp"
	"strings"
)

// Layout says where the schema lives. The zero Layout is one server: the
// migration files' statements run exactly as written.
//
// With Cluster set, the schema lives on a ClickHouse cluster of one shard
// whose replicas each hold all the data (the cluster named in the servers'
// remote_servers config, with the macros {shard} and {replica} defined on
// every server and ClickHouse Keeper for replication and distributed DDL).
// Render then rewrites each statement for it: DDL runs ON CLUSTER, and
// every *MergeTree table becomes its Replicated* form. Several shards
// (Distributed tables) are not supported; schemas/clickhouse/README.md says
// what they would need.
type Layout struct {
	// Cluster is the cluster name ("" = one server).
	Cluster string
}

// ReplicaPath is the Keeper path of every replicated table: one per shard,
// database and table, expanded by the server from its macros at CREATE.
// Explicit names rather than {uuid}: running a table's CREATE on a new
// replica without ON CLUSTER (how a replica is added) finds the same path,
// and the path says which table it is. A table dropped and created again
// under the same name needs DROP TABLE … SYNC in between (the old path
// must be gone). Single braces are the server's macros; "{{database}}" is
// ours and substituted by the migrator, so the two never meet.
const ReplicaPath = "/clickhouse/tables/{shard}/{database}/{table}"

// ReplicaName is the replica's name, from the server's {replica} macro.
const ReplicaName = "{replica}"

var (
	clusterName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	// name is a table, view or dictionary name, optionally qualified.
	name = "(?:`[^`]+`|\\{\\{database\\}\\}|[A-Za-z_][A-Za-z0-9_]*)(?:\\.(?:`[^`]+`|[A-Za-z_][A-Za-z0-9_]*))?"
	// Each DDL head ends just after the object's name: ON CLUSTER goes
	// there for every one of them.
	createHead   = regexp.MustCompile(`(?is)^CREATE\s+(?:OR\s+REPLACE\s+)?(TABLE|VIEW|MATERIALIZED\s+VIEW|DICTIONARY)\s+(?:IF\s+NOT\s+EXISTS\s+)?` + name)
	alterHead    = regexp.MustCompile(`(?is)^ALTER\s+TABLE\s+` + name)
	truncateHead = regexp.MustCompile(`(?is)^TRUNCATE\s+(?:TABLE\s+)?(?:IF\s+EXISTS\s+)?` + name)
	dropHead     = regexp.MustCompile(`(?is)^DROP\s+(?:TABLE|VIEW|DICTIONARY)\s+(?:IF\s+EXISTS\s+)?` + name)
	optimizeHead = regexp.MustCompile(`(?is)^OPTIMIZE\s+TABLE\s+` + name)
	insertHead   = regexp.MustCompile(`(?is)^INSERT\s+INTO\s`)
	engine       = regexp.MustCompile(`(?i)\bENGINE\s*=\s*([A-Za-z]*MergeTree)\b`)
	otherEngine  = regexp.MustCompile(`(?i)\bENGINE\s*=\s*([A-Za-z]+)`)
)

// Validate reports a cluster name that cannot follow ON CLUSTER.
func (l Layout) Validate() error {
	if l.Cluster != "" && !clusterName.MatchString(l.Cluster) {
		return fmt.Errorf("want the cluster's name from remote_servers ([A-Za-z_][A-Za-z0-9_]*, at most 64), got %q", l.Cluster)
	}
	return nil
}

// Render returns stmt (one statement of a migration file, "{{database}}"
// not yet substituted) as it runs in layout l. For one server it is stmt
// unchanged, byte for byte. For a cluster:
//   - CREATE TABLE|VIEW|MATERIALIZED VIEW|DICTIONARY, ALTER TABLE,
//     TRUNCATE, DROP and OPTIMIZE get ON CLUSTER <name> after the object's
//     name, so every replica has the views, dictionaries and tables;
//   - ENGINE = XMergeTree[(args)] becomes
//     ENGINE = ReplicatedXMergeTree('<ReplicaPath>', '{replica}'[, args]);
//   - INSERT is unchanged: it runs on one replica and replication carries
//     the rows to the others (a materialized view fires where the insert
//     ran and writes to a replicated table, so nothing doubles).
//
// Any other statement is an error naming it: a new kind of statement needs
// a decision on how it runs on a cluster, made here.
func Render(stmt string, l Layout) (string, error) {
	if l.Cluster == "" {
		return stmt, nil
	}
	if err := l.Validate(); err != nil {
		return "", err
	}
	s := strings.TrimSpace(stmt)
	if insertHead.MatchString(s) {
		return stmt, nil
	}
	var head []int
	isCreate := false
	if m := createHead.FindStringSubmatchIndex(s); m != nil {
		head, isCreate = m, true
	} else {
		for _, re := range []*regexp.Regexp{alterHead, truncateHead, dropHead, optimizeHead} {
			if head = re.FindStringIndex(s); head != nil {
				break
			}
		}
	}
	if head == nil {
		return "", fmt.Errorf("cannot render %q for a cluster: only CREATE TABLE|VIEW|MATERIALIZED VIEW|DICTIONARY, ALTER TABLE, TRUNCATE, DROP, OPTIMIZE and INSERT are known (teach schemas/clickhouse Render how the new kind runs on a cluster)", firstLine(s))
	}
	out := s[:head[1]] + " ON CLUSTER " + l.Cluster + s[head[1]:]
	if !isCreate {
		return out, nil
	}
	kind := strings.ToUpper(strings.Join(strings.Fields(s[head[2]:head[3]]), " "))
	return replicate(out, kind)
}

// replicate turns the statement's MergeTree engine into its Replicated
// form. A table must have exactly one; a materialized view may have one
// (its inner table) or none (TO another table); views and dictionaries
// have none.
func replicate(stmt, kind string) (string, error) {
	// Engines are looked for outside quoted strings and comments.
	masked := mask(stmt)
	ms := engine.FindAllStringSubmatchIndex(masked, -1)
	others := otherEngine.FindAllStringSubmatch(masked, -1)
	n := len(others)
	switch {
	case kind == "TABLE" && n != 1, kind == "MATERIALIZED VIEW" && n > 1, (kind == "VIEW" || kind == "DICTIONARY") && n != 0:
		return "", fmt.Errorf("cannot render %q for a cluster: want exactly one ENGINE clause in a table, at most one in a materialized view, none in a view or dictionary; found %d", firstLine(stmt), n)
	case n == 0:
		return stmt, nil
	}
	if len(ms) != 1 {
		return "", fmt.Errorf("cannot render %q for a cluster: ENGINE = %s has no Replicated form (every table must be a *MergeTree so each replica holds all the data)", firstLine(stmt), others[0][1])
	}
	m := ms[0]
	eng := stmt[m[2]:m[3]]
	if strings.HasPrefix(strings.ToLower(eng), "replicated") {
		return "", fmt.Errorf("cannot render %q for a cluster: write ENGINE = %s without Replicated in the migration; Render makes it replicated", firstLine(stmt), eng)
	}
	repl := "Replicated" + eng + "('" + ReplicaPath + "', '" + ReplicaName + "'"
	rest := stmt[m[1]:]
	trimmed := strings.TrimLeft(rest, " \t")
	if !strings.HasPrefix(trimmed, "(") {
		return stmt[:m[2]] + repl + ")" + rest, nil
	}
	end := closing(trimmed)
	if end < 0 {
		return "", fmt.Errorf("cannot render %q for a cluster: ENGINE = %s( is not closed", firstLine(stmt), eng)
	}
	args := strings.TrimSpace(trimmed[1:end])
	if args != "" {
		repl += ", " + args
	}
	return stmt[:m[2]] + repl + ")" + trimmed[end+1:], nil
}

// mask returns s with the contents of quoted strings and "--" comments
// blanked, the same length, so indexes found in it hold in s.
func mask(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '\'' || b[i] == '"' || b[i] == '`':
			q := b[i]
			for i++; i < len(b) && b[i] != q; i++ {
				if b[i] == '\\' && i+1 < len(b) {
					b[i] = ' '
					i++
				}
				b[i] = ' '
			}
		case b[i] == '-' && i+1 < len(b) && b[i+1] == '-':
			for ; i < len(b) && b[i] != '\n'; i++ {
				b[i] = ' '
			}
		}
	}
	return string(b)
}

// closing returns the index of the parenthesis closing s[0], skipping
// quoted strings, or -1.
func closing(s string) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'':
			for i++; i < len(s) && s[i] != '\''; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}
