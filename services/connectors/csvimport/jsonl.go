package csvimport

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/orbitflow/orbitflow/services/connectors/ingest"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

func (im *importer) jsonl(r io.Reader, name string, yield func(ingest.Record) bool) bool {
	cols, ok := formats[im.opts.Format]
	if !ok || im.opts.Format == FormatGeneric {
		return yield(ingest.Record{Pos: name, Err: fmt.Errorf("csvimport: JSON Lines are read for the events and support formats, not %q (v1 events in JSON Lines: the jsonl reader)", im.opts.Format)})
	}
	br := bufio.NewReaderSize(r, 64<<10)
	for line := 1; ; line++ {
		raw, tooLong, err := ingest.ReadLine(br, MaxRowBytes)
		if tooLong || len(bytes.TrimSpace(raw)) > 0 {
			loc := locator{row: fmt.Sprintf("line %d", line), col: "field"}
			var res source.Result
			var rerr error
			if tooLong {
				rerr = loc.whole(fmt.Sprintf("longer than %d bytes (kept the first %d)", MaxRowBytes, len(raw)))
			} else if row, perr := jsonRow(raw, cols, loc); perr != nil {
				rerr = perr
			} else {
				res, rerr = im.row(row, loc)
			}
			for _, rec := range ingest.FromResult(res, rerr, raw, fmt.Sprintf("%s:%d", name, line)) {
				if !yield(rec) {
					return false
				}
			}
		}
		if err == io.EOF {
			return true
		}
		if err != nil {
			return yield(ingest.Record{Pos: fmt.Sprintf("%s:%d", name, line+1), Err: fmt.Errorf("read: %w", err)})
		}
	}
}

// jsonRow decodes one line into a row: keys lowercased, scalar values as
// their text, null as empty.
func jsonRow(raw []byte, cols columns, loc locator) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, loc.whole("want a JSON object: " + err.Error())
	}
	if dec.More() {
		return nil, loc.whole("want one JSON object per line, found more data")
	}
	if obj == nil {
		return nil, loc.whole("want a JSON object, got null")
	}
	var problems []*source.InputError
	row := make(map[string]string, len(obj))
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		lk := strings.ToLower(strings.TrimSpace(k))
		_, dup := row[lk]
		switch {
		case !slices.Contains(cols.names, lk):
			problems = append(problems, loc.problem(clip(k), "unknown field"))
			continue
		case dup:
			problems = append(problems, loc.problem(lk, "given twice (names are case-insensitive)"))
			continue
		}
		switch v := obj[k].(type) {
		case nil:
			row[lk] = ""
		case string:
			row[lk] = strings.TrimSpace(v)
		case json.Number:
			row[lk] = v.String()
		case bool:
			row[lk] = fmt.Sprint(v)
		default:
			problems = append(problems, loc.problem(lk, "want a string, number, boolean or null"))
		}
	}
	for _, k := range cols.required {
		if _, ok := row[k]; !ok && !slices.ContainsFunc(problems, func(p *source.InputError) bool { return strings.HasSuffix(p.Field, " "+k) }) {
			problems = append(problems, loc.problem(k, "required"))
		}
	}
	if len(problems) > 0 {
		return nil, &RowError{Problems: problems}
	}
	return row, nil
}
