// Package jsonl reads normalized v1 events, one JSON object per line, from
// files (plain or gzip) or standard input.
package jsonl

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"iter"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/ingest"
)

// MaxLineBytes bounds one line; a longer line is rejected (its first
// MaxLineBytes go to the dead letter) and reading goes on with the next.
const MaxLineBytes = 4 * events.MaxEventBytes

// Read yields one record per non-blank line of r. A read error ends the
// sequence with a record carrying it and no Raw bytes (ingest.Run stops on
// it: it is not bad input); name prefixes positions.
func Read(r io.Reader, name string) iter.Seq[ingest.Record] {
	return func(yield func(ingest.Record) bool) {
		br := bufio.NewReaderSize(r, 256<<10)
		line := 0
		for {
			raw, tooLong, err := ingest.ReadLine(br, MaxLineBytes)
			if len(raw) > 0 || tooLong || err == nil {
				line++
			}
			if tooLong || len(bytes.TrimSpace(raw)) > 0 {
				rec := ingest.Record{Raw: raw, Pos: fmt.Sprintf("%s:%d", name, line)}
				if tooLong {
					rec.Err = fmt.Errorf("line: longer than %d bytes (kept the first %d)", MaxLineBytes, len(raw))
				} else {
					rec.Event, rec.Err = events.Decode(raw)
				}
				if !yield(rec) {
					return
				}
			}
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(ingest.Record{Pos: fmt.Sprintf("%s:%d", name, line+1), Err: fmt.Errorf("read: %w", err)})
				return
			}
		}
	}
}

// Files yields the records of every file in order; "-" is standard input,
// names ending in .gz are decompressed. A file that cannot be opened yields
// one record carrying the error and no Raw bytes.
func Files(names []string) iter.Seq[ingest.Record] {
	return func(yield func(ingest.Record) bool) {
		for _, name := range names {
			rc, err := ingest.Open(name)
			if err != nil {
				if !yield(ingest.Record{Pos: name, Err: err}) {
					return
				}
				continue
			}
			ok := true
			for rec := range Read(rc, name) {
				if !yield(rec) {
					ok = false
					break
				}
			}
			rc.Close()
			if !ok {
				return
			}
		}
	}
}
