package events

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// FuzzDecode: Decode never panics, DecodeShared agrees with it, rejects with a *DecodeError, and
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
		// DecodeShared decodes the same, whatever the input.
		shared, serr := DecodeShared(slices.Clone(data))
		if (err == nil) != (serr == nil) || (err != nil && err.Error() != serr.Error()) || !reflect.DeepEqual(ev, shared) {
			t.Fatalf("Decode and DecodeShared disagree:\n%#v, %v\n%#v, %v", ev, err, shared, serr)
		}
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

// FuzzMatchers: the hand-written matchers accept exactly what the published
// JSON Schema patterns accept, and the fast paths of Validate (textOK,
// attributesOK) agree with the checks that report problems.
func FuzzMatchers(f *testing.F) {
	token := regexp.MustCompile(TokenPattern)
	hex := regexp.MustCompile(HexSHA256Pattern)
	for _, s := range []string{"", "a", "acme", "a-b_c", "-a", "_a", "A", "a.b", "é", strings.Repeat("a", 64),
		strings.Repeat("a", 65), strings.Repeat("0f", 32), strings.Repeat("0F", 32), strings.Repeat("0", 63), "a\n", "a\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isToken(s), token.MatchString(s); got != want {
			t.Fatalf("isToken(%q) = %v, pattern says %v", s, got, want)
		}
		if got, want := isHexSHA256(s), hex.MatchString(s); got != want {
			t.Fatalf("isHexSHA256(%q) = %v, pattern says %v", s, got, want)
		}
		for _, multiline := range []bool{false, true} {
			var c checker
			c.text("f", s, 16, true, multiline)
			if got, want := textOK(s, 16, true, multiline), len(c.problems) == 0; got != want {
				t.Fatalf("textOK(%q, multiline=%v) = %v, checker found %v", s, multiline, got, c.problems)
			}
		}
		for _, attrs := range []map[string]string{{s: "v"}, {"k": s}} {
			ev := Event{Attributes: attrs}
			err := DefaultRegistry().Validate(&ev)
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("empty event validated: %v", err)
			}
			reported := slices.ContainsFunc(verr.Problems, func(p Problem) bool { return strings.HasPrefix(p.Path, "attributes[") })
			if attributesOK(attrs) == reported {
				t.Fatalf("attributesOK(%q) = %v, Validate reported attribute problems: %v", attrs, attributesOK(attrs), reported)
			}
		}
	})
}
