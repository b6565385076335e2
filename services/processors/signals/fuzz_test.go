package signals_test

import (
	"strings"
	"testing"
	"unicode"

	"github.com/orbitflow/orbitflow/services/processors/signals"
)

// FuzzMatchTitle: any title (outside input) is matched without panicking,
// and a keyword is reported only when its words are in the title as words.
func FuzzMatchTitle(f *testing.F) {
	for _, s := range []string{"SSO pricing?", "lasso", "Single sign-on", "", "ÉNTERPRISE quote", "\x00pricing\xff", "pricing pricing"} {
		f.Add(s)
	}
	r := signals.Compile([]signals.Rule{{Name: "r", Community: "c", Keywords: []string{"pricing", "single sign-on", "énterprise"}}}).For("c")[0]
	f.Fuzz(func(t *testing.T, title string) {
		kw, ok := r.MatchActivity(signals.Activity{Community: "c", Title: title})
		if ok != (len(kw) > 0) {
			t.Fatalf("ok %v with keywords %v", ok, kw)
		}
		words := strings.FieldsFunc(strings.ToLower(title), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
		joined := " " + strings.Join(words, " ") + " "
		for _, k := range kw {
			phrase := strings.Join(strings.FieldsFunc(strings.ToLower(k), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }), " ")
			if !strings.Contains(joined, " "+phrase+" ") {
				t.Fatalf("keyword %q reported for title %q", k, title)
			}
		}
	})
}
