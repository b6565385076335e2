package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/orbitflow/internal/app"
)

func cmdSQL(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sql", flag.ContinueOnError)
	var c common
	c.register(fs)
	format := fs.String("format", "table", "output: table (aligned), TSV, CSV or JSON (an array of objects)")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	switch strings.ToUpper(*format) {
	case "TABLE", "TSV", "CSV", "JSON":
	default:
		return usagef("--format: want table, TSV, CSV or JSON, got %q", *format)
	}
	query := strings.Join(fs.Args(), " ")
	if query == "-" {
		b, err := io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
		if err != nil {
			return err
		}
		query = string(b)
	}
	if strings.TrimSpace(query) == "" {
		return usagef(`give the query as an argument, e.g. orbitflow sql "SELECT count() FROM activities"`)
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	set := telemetry.Settings{Logger: newLogger(cfg, stderr)}.WithDefaults()
	conn, done, err := connectClickHouse(ctx, cfg, set)
	if err != nil {
		return err
	}
	defer done()
	rows, err := conn.Query(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	return printRows(stdout, rows, strings.ToUpper(*format))
}

// connectClickHouse reaches the running `orbitflow run`'s HTTP interface,
// an external ClickHouse, or else opens the data dir's engine itself.
func connectClickHouse(ctx context.Context, cfg app.Config, set telemetry.Settings) (driver.Conn, func(), error) {
	if cfg.ClickHouse.Mode == store.ModeEmbedded {
		st, active, err := app.WaitActiveRun(ctx, cfg.DataDir)
		if err != nil {
			return nil, nil, err
		}
		if active && st.ClickHouseHTTP != "" {
			ep := store.Endpoint{Addrs: []string{st.ClickHouseHTTP}, Protocol: "http", Database: cfg.ClickHouse.Database,
				Username: cfg.ClickHouse.Embedded.User, Password: cfg.ClickHouse.Embedded.Password}
			conn, err := store.Open(ctx, ep, cfg.ClickHouse)
			if err != nil {
				return nil, nil, err
			}
			return conn, func() { conn.Close() }, nil
		}
		cfg.ClickHouse.Embedded.Listen = "127.0.0.1:0"
	}
	stack, err := app.Start(ctx, cfg, app.Parts{ClickHouse: true}, set)
	if err != nil {
		return nil, nil, err
	}
	return stack.CH, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = stack.Shutdown(sctx)
	}, nil
}

func printRows(w io.Writer, rows driver.Rows, format string) error {
	cols := rows.Columns()
	types := rows.ColumnTypes()
	var out [][]string
	var objs []map[string]any
	for rows.Next() {
		vals := make([]any, len(types))
		for i, t := range types {
			vals[i] = reflect.New(t.ScanType()).Interface()
		}
		if err := rows.Scan(vals...); err != nil {
			return err
		}
		if format == "JSON" {
			obj := make(map[string]any, len(cols))
			for i, v := range vals {
				obj[cols[i]] = reflect.ValueOf(v).Elem().Interface()
			}
			objs = append(objs, obj)
			continue
		}
		rec := make([]string, len(vals))
		for i, v := range vals {
			rec[i] = formatValue(reflect.ValueOf(v).Elem())
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	switch format {
	case "JSON":
		if objs == nil {
			objs = []map[string]any{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(objs)
	case "CSV":
		cw := csv.NewWriter(w)
		_ = cw.Write(cols)
		_ = cw.WriteAll(out)
		return cw.Error()
	case "TSV":
		fmt.Fprintln(w, strings.Join(cols, "\t"))
		for _, r := range out {
			for i := range r {
				r[i] = strings.NewReplacer("\\", "\\\\", "\t", "\\t", "\n", "\\n").Replace(r[i])
			}
			fmt.Fprintln(w, strings.Join(r, "\t"))
		}
		return nil
	default:
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
		seps := make([]string, len(cols))
		for i, c := range cols {
			seps[i] = strings.Repeat("-", max(len(c), 3))
		}
		fmt.Fprintln(tw, strings.Join(seps, "\t"))
		for _, r := range out {
			for i := range r {
				r[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(r[i])
			}
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "(%d rows)\n", len(out))
		return nil
	}
}

func formatValue(v reflect.Value) string {
	if !v.IsValid() {
		return "NULL"
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return "NULL"
		}
		return formatValue(v.Elem())
	}
	switch x := v.Interface().(type) {
	case time.Time:
		if x.Nanosecond() == 0 {
			return x.Format("2006-01-02 15:04:05")
		}
		return x.Format("2006-01-02 15:04:05.000")
	case []byte:
		return string(x)
	case fmt.Stringer:
		return x.String()
	}
	switch v.Kind() {
	case reflect.Slice, reflect.Array:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = quoteIfString(v.Index(i))
		}
		return "[" + strings.Join(parts, ",") + "]"
	case reflect.Map:
		keys := v.MapKeys()
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, quoteIfString(k)+":"+quoteIfString(v.MapIndex(k)))
		}
		sort.Strings(parts)
		return "{" + strings.Join(parts, ",") + "}"
	}
	return fmt.Sprint(v.Interface())
}

func quoteIfString(v reflect.Value) string {
	if v.Kind() == reflect.String {
		return "'" + strings.ReplaceAll(v.String(), "'", "\\'") + "'"
	}
	return formatValue(v)
}
