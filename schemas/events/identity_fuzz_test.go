package events

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecodeIdentityCommand: identity commands come from the stream (anyone
// allowed to publish on identity.>), and the scoring processor indexes
// Identities by position. DecodeIdentityCommand never panics; what it
// accepts has exactly the identities its kind takes, each a
// source:source_id key (a forget: none, and 1..MaxTombstones hex
// tombstones), and survives an encode/decode round trip.
func FuzzDecodeIdentityCommand(f *testing.F) {
	for _, s := range []string{
		`{"id":"c1","community":"acme","kind":"merge","identities":["github:1","slack:U1"],"reason":"same person","requested_by":"cli","at":"2026-01-01T00:00:00Z"}`,
		`{"id":"c2","community":"acme","kind":"unmerge","identities":["github:1"],"at":"2026-01-01T00:00:00.123Z"}`,
		`{"id":"c3","community":"acme","kind":"merge","identities":["github:1"],"at":"2026-01-01T00:00:00Z"}`,
		`{"id":"c4","community":"acme","kind":"merge","identities":["github:1","github:1"],"at":"2026-01-01T00:00:00Z"}`,
		`{"id":"c5","community":"acme","kind":"unmerge","identities":[":x"],"at":"2026-01-01T00:00:00Z"}`,
		`{"id":"c6","community":"Acme","kind":"drop","identities":null,"at":null}`,
		`{"id":"","kind":"merge","identities":["a:b","c:"],"at":"0001-01-01T00:00:00Z"}`,
		`{"id":"c7","community":"acme","kind":"forget","tombstones":["` + strings.Repeat("ab", 32) + `"],"at":"2026-01-01T00:00:00Z"}`,
		`{"id":"c8","community":"acme","kind":"forget","identities":["github:1"],"tombstones":["AB"],"at":"2026-01-01T00:00:00Z"}`,
		`{"identities":[1,2]}`,
		`[]`, `null`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeIdentityCommand(data)
		if err != nil {
			if c != nil {
				t.Fatalf("a rejected command came with a value: %+v", c)
			}
			if !strings.HasPrefix(err.Error(), "identity command: ") {
				t.Fatalf("rejection does not say what it rejected: %v", err)
			}
			return
		}
		switch c.Kind {
		case IdentityForget:
			if len(c.Identities) != 0 || len(c.Tombstones) == 0 || len(c.Tombstones) > MaxTombstones {
				t.Fatalf("accepted a forget with %d identities and %d tombstones", len(c.Identities), len(c.Tombstones))
			}
			for _, ts := range c.Tombstones {
				if !isHexSHA256(ts) {
					t.Fatalf("accepted tombstone %q", ts)
				}
			}
		default:
			want := map[string]int{IdentityMerge: 2, IdentityUnmerge: 1}[c.Kind]
			if want == 0 || len(c.Identities) != want || len(c.Tombstones) != 0 {
				t.Fatalf("accepted %q with %d identities and %d tombstones", c.Kind, len(c.Identities), len(c.Tombstones))
			}
		}
		for _, id := range c.Identities {
			if src, rest, ok := strings.Cut(id, ":"); !ok || !isToken(src) || rest == "" {
				t.Fatalf("accepted identity %q", id)
			}
		}
		if !isToken(c.Community) || c.ID == "" || c.At.IsZero() {
			t.Fatalf("accepted %+v", c)
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("accepted command does not encode: %v", err)
		}
		back, err := DecodeIdentityCommand(out)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", out, err)
		}
		if !reflect.DeepEqual(c, back) {
			t.Fatalf("round trip changed the command:\n%+v\n%+v", c, back)
		}
	})
}
