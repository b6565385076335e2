package events

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzDecode: Decode never panics, rejects with a *DecodeError, and
// anything it accepts re-encodes and re-decodes to the same Event.
func FuzzDecode(f *testing.F) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in testdata: %v", err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{"id":"a","targets":[{}],"attributes":{"":""}}`,
		`{"occurred_at":null,"received_at":"0001-01-01T00:00:00Z"}`,
		`{"occurred_at":"0000-01-01T00:00:00+01:00"}`,
		`{"occurred_at":"9999-12-31T23:59:59.999999999-00:01"}`,
		`{"title":"\ud800\u0000\"\\","attributes":{"\u00e9":"\t"}}`,
		`{"schema_version":-0,"actor":{"is_bot":false}}`,
		`{"id":"a"} `,
		`{"ID":1}`,
		`[`,
	} {
		f.Add([]byte(s))
	}
	reg := DefaultRegistry()
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := Decode(data)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("rejection is %T, want *DecodeError: %v", err, err)
			}
			return
		}
		_ = reg.Validate(&ev) // must not panic
		out, err := Encode(&ev)
		if err != nil {
			t.Fatalf("accepted event does not encode: %v", err)
		}
		back, err := Decode(out)
		if err != nil {
			t.Fatalf("re-decode of %q: %v", out, err)
		}
		if !reflect.DeepEqual(normalizeEmpty(ev), back) {
			t.Fatalf("round trip changed the event:\n%#v\n%#v", ev, back)
		}
	})
}
