package events

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestValidateRules(t *testing.T) {
	require.Empty(t, problems(t, valid()))
	target := func(mut func(*Target)) func(*Event) {
		return func(e *Event) {
			tg := Target{Source: "github", SourceID: "8", Kind: KindReply}
			mut(&tg)
			e.Targets = []Target{{Source: "github", SourceID: "9", Kind: KindMention}, tg}
		}
	}
	tests := []struct {
		name   string
		mutate func(*Event)
		path   string
		reason string // "" means valid
	}{
		{"id required", func(e *Event) { e.ID = "" }, "id", "required"},
		{"id control", func(e *Event) { e.ID = "a\nb" }, "id", "control character"},
		{"id utf8", func(e *Event) { e.ID = "a\xffb" }, "id", "not valid UTF-8"},
		{"version 0", func(e *Event) { e.SchemaVersion = 0 }, "schema_version", "want 1, got 0"},
		{"version 2", func(e *Event) { e.SchemaVersion = 2 }, "schema_version", "want 1, got 2"},
		{"community required", func(e *Event) { e.Community = "" }, "community", "required"},
		{"community upper", func(e *Event) { e.Community = "Acme" }, "community", "lowercase token"},
		{"community space", func(e *Event) { e.Community = "acme corp" }, "community", "lowercase token"},
		{"community dot", func(e *Event) { e.Community = "a.b" }, "community", "lowercase token"},
		{"community wildcard", func(e *Event) { e.Community = "*" }, "community", "lowercase token"},
		{"community leading dash", func(e *Event) { e.Community = "-a" }, "community", "lowercase token"},
		{"community dash underscore", func(e *Event) { e.Community = "a-b_c9" }, "", ""},
		{"source required", func(e *Event) { e.Source = "" }, "source", "required"},
		{"source open list", func(e *Event) { e.Source = "zulip" }, "", ""},
		{"source gt", func(e *Event) { e.Source = "a>b" }, "source", "lowercase token"},
		{"type required", func(e *Event) { e.Type = "" }, "type", "required"},
		{"unknown type", func(e *Event) { e.Type = "github.issue.exploded" }, "type", "unknown type"},
		{"unknown two-part type", func(e *Event) { e.Type = "github.issue" }, "type", "unknown type"},
		{"custom", func(e *Event) { e.Type = "custom.signed_up" }, "", ""},
		{"custom nested", func(e *Event) { e.Type = "custom.product.trial-started" }, "", ""},
		{"custom bare", func(e *Event) { e.Type = "custom." }, "type", "unknown type"},
		{"custom prefix only", func(e *Event) { e.Type = "custom" }, "type", "unknown type"},
		{"custom upper", func(e *Event) { e.Type = "custom.SignedUp" }, "type", "unknown type"},
		{"custom space", func(e *Event) { e.Type = "custom.signed up" }, "type", "unknown type"},
		{"custom empty token", func(e *Event) { e.Type = "custom..x" }, "type", "unknown type"},
		{"type case", func(e *Event) { e.Type = "GitHub.issue.opened" }, "type", "unknown type"},
		{"occurred required", func(e *Event) { e.OccurredAt = Timestamp{} }, "occurred_at", "required"},
		{"occurred 1970", func(e *Event) { e.OccurredAt = NewTimestamp(time.Unix(0, 0)) }, "", ""},
		{"occurred before 1970", func(e *Event) { e.OccurredAt = NewTimestamp(time.Unix(0, -1e6)) }, "occurred_at", "before 1970"},
		{"occurred +24h", func(e *Event) { e.OccurredAt = NewTimestamp(now.Add(MaxFutureSkew)) }, "", ""},
		{"occurred +24h+1ms", func(e *Event) { e.OccurredAt = NewTimestamp(now.Add(MaxFutureSkew + time.Millisecond)) }, "occurred_at", "after received_at"},
		{"future from received_at", func(e *Event) {
			e.ReceivedAt = NewTimestamp(now.Add(-48 * time.Hour))
			e.OccurredAt = NewTimestamp(now.Add(-23 * time.Hour))
		}, "occurred_at", "after received_at"},
		{"future from now", func(e *Event) {
			e.ReceivedAt = Timestamp{}
			e.OccurredAt = NewTimestamp(now.Add(25 * time.Hour))
		}, "occurred_at", "after received_at"},
		{"received before 1970", func(e *Event) {
			e.ReceivedAt = NewTimestamp(time.Unix(-5, 0))
			e.OccurredAt = NewTimestamp(time.Unix(0, 0))
		}, "received_at", "before 1970"},
		{"received absent", func(e *Event) { e.ReceivedAt = Timestamp{} }, "", ""},
		{"actor source", func(e *Event) { e.Actor.Source = "" }, "actor.source", "required"},
		{"actor source token", func(e *Event) { e.Actor.Source = "Git Hub" }, "actor.source", "lowercase token"},
		{"actor source other platform", func(e *Event) { e.Actor.Source = "email" }, "", ""},
		{"actor id", func(e *Event) { e.Actor.SourceID = "" }, "actor.source_id", "required"},
		{"display name control", func(e *Event) { e.Actor.DisplayName = "a\x00b" }, "actor.display_name", "control character"},
		{"display name DEL", func(e *Event) { e.Actor.DisplayName = "a\x7f" }, "actor.display_name", "control character"},
		{"display name newline", func(e *Event) { e.Actor.DisplayName = "a\nb" }, "actor.display_name", "control character"},
		{"display name unicode", func(e *Event) { e.Actor.DisplayName = "Zoë 李" }, "", ""},
		{"email plain", func(e *Event) { e.Actor.EmailSHA256 = "ann@example.com" }, "actor.email_sha256", "never the address"},
		{"email upper hex", func(e *Event) { e.Actor.EmailSHA256 = strings.ToUpper(HashEmail("a@b.c")) }, "actor.email_sha256", "lowercase hex"},
		{"email short", func(e *Event) { e.Actor.EmailSHA256 = HashEmail("a@b.c")[:63] }, "actor.email_sha256", "64"},
		{"email hashed", func(e *Event) { e.Actor.EmailSHA256 = HashEmail("a@b.c") }, "", ""},
		{"email domain plain", func(e *Event) { e.Actor.EmailDomainSHA256 = "example.com" }, "actor.email_domain_sha256", "never the domain"},
		{"email domain hashed", func(e *Event) { e.Actor.EmailDomainSHA256 = HashEmailDomain("a@example.com") }, "", ""},
		{"target kind", target(func(t *Target) { t.Kind = "poke" }), "targets[1].kind", "want one of reply, mention, review, assign, react, thank"},
		{"target kind empty", target(func(t *Target) { t.Kind = "" }), "targets[1].kind", "want one of"},
		{"target source", target(func(t *Target) { t.Source = "" }), "targets[1].source", "required"},
		{"target source token", target(func(t *Target) { t.Source = "GH" }), "targets[1].source", "lowercase token"},
		{"target id", target(func(t *Target) { t.SourceID = "" }), "targets[1].source_id", "required"},
		{"target username control", target(func(t *Target) { t.Username = "\t" }), "targets[1].username", "control character"},
		{"url http", func(e *Event) { e.URL = "http://example.org" }, "", ""},
		{"url upper scheme", func(e *Event) { e.URL = "HTTPS://example.org/x" }, "", ""},
		{"url scheme", func(e *Event) { e.URL = "javascript:alert(1)" }, "url", "absolute http(s)"},
		{"url ftp", func(e *Event) { e.URL = "ftp://example.org/f" }, "url", "absolute http(s)"},
		{"url relative", func(e *Event) { e.URL = "/x" }, "url", "absolute http(s)"},
		{"url no host", func(e *Event) { e.URL = "https:///x" }, "url", "absolute http(s)"},
		{"url bad", func(e *Event) { e.URL = "http://a b/%zz" }, "url", "absolute http(s)"},
		{"url control", func(e *Event) { e.URL = "https://a/\n" }, "url", "control character"},
		{"title multiline", func(e *Event) { e.Title = "a\n\tb" }, "", ""},
		{"title CR", func(e *Event) { e.Title = "a\rb" }, "title", "control character"},
		{"attr empty key", func(e *Event) { e.Attributes = map[string]string{"": "v"} }, `attributes[""]`, "empty key"},
		{"attr key control", func(e *Event) { e.Attributes = map[string]string{"a\nb": "v"} }, `attributes["a\nb"]`, "control character"},
		{"attr key utf8", func(e *Event) { e.Attributes = map[string]string{"a\xff": "v"} }, `attributes["a\xff"]`, "not valid UTF-8"},
		{"attr value multiline", func(e *Event) { e.Attributes = map[string]string{"k": "a\nb"} }, "", ""},
		{"attr value empty", func(e *Event) { e.Attributes = map[string]string{"k": ""} }, "", ""},
		{"attr value utf8", func(e *Event) { e.Attributes = map[string]string{"k": "\xc3"} }, `attributes["k"]`, "not valid UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := valid()
			tc.mutate(&e)
			got := problems(t, e)
			if tc.reason == "" {
				require.Empty(t, got)
				return
			}
			require.Len(t, got, 1, "exactly one problem: %v", got)
			require.Contains(t, got, tc.path, "problems: %v", got)
			require.Contains(t, got[tc.path], tc.reason)
		})
	}
}

// TestLimits checks every bound at the limit (valid) and one past it.
func TestLimits(t *testing.T) {
	s := func(n int) string { return strings.Repeat("x", n) }
	targets := func(n int) []Target {
		ts := make([]Target, n)
		for i := range ts {
			ts[i] = Target{Source: "github", SourceID: fmt.Sprint(i), Kind: KindMention}
		}
		return ts
	}
	attrs := func(n int) map[string]string {
		m := make(map[string]string, n)
		for i := range n {
			m[fmt.Sprintf("k%02d", i)] = "v"
		}
		return m
	}
	tests := []struct {
		path  string
		limit int
		set   func(e *Event, n int)
	}{
		{"id", MaxIDLen, func(e *Event, n int) { e.ID = s(n) }},
		{"thread_id", MaxIDLen, func(e *Event, n int) { e.ThreadID = s(n) }},
		{"parent_id", MaxIDLen, func(e *Event, n int) { e.ParentID = s(n) }},
		{"community", MaxTokenLen, func(e *Event, n int) { e.Community = s(n) }},
		{"source", MaxTokenLen, func(e *Event, n int) { e.Source = s(n) }},
		{"actor.source", MaxTokenLen, func(e *Event, n int) { e.Actor.Source = s(n) }},
		{"type", MaxTypeLen, func(e *Event, n int) { e.Type = "custom." + s(63) + "." + s(n-7-64) }},
		{"actor.source_id", MaxSourceIDLen, func(e *Event, n int) { e.Actor.SourceID = s(n) }},
		{"actor.username", MaxNameLen, func(e *Event, n int) { e.Actor.Username = s(n) }},
		{"actor.display_name", MaxNameLen, func(e *Event, n int) { e.Actor.DisplayName = s(n) }},
		{"channel", MaxNameLen, func(e *Event, n int) { e.Channel = s(n) }},
		{"title", MaxTextLen, func(e *Event, n int) { e.Title = s(n) }},
		{"url", MaxURLLen, func(e *Event, n int) { e.URL = "https://example.org/" + s(n-20) }},
		{"targets", MaxTargets, func(e *Event, n int) { e.Targets = targets(n) }},
		{"targets[0].source", MaxTokenLen, func(e *Event, n int) { e.Targets = targets(1); e.Targets[0].Source = s(n) }},
		{"targets[0].source_id", MaxSourceIDLen, func(e *Event, n int) { e.Targets = targets(1); e.Targets[0].SourceID = s(n) }},
		{"targets[0].username", MaxNameLen, func(e *Event, n int) { e.Targets = targets(1); e.Targets[0].Username = s(n) }},
		{"attributes", MaxAttributes, func(e *Event, n int) { e.Attributes = attrs(n) }},
		{`attributes["` + s(MaxAttrKeyLen) + `"]`, MaxAttrKeyLen, func(e *Event, n int) { e.Attributes = map[string]string{s(n): "v"} }},
		{`attributes["k"]`, MaxAttrValueLen, func(e *Event, n int) { e.Attributes = map[string]string{"k": s(n)} }},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			e := valid()
			tc.set(&e, tc.limit)
			require.Empty(t, problems(t, e), "at the bound %d", tc.limit)
			e = valid()
			tc.set(&e, tc.limit+1)
			got := problems(t, e)
			if strings.HasPrefix(tc.path, `attributes["x`) {
				tc.path = `attributes["` + clip(s(tc.limit+1)) + `"]`
			}
			require.Len(t, got, 1, "%v", got)
			require.Contains(t, got, tc.path, "past the bound: %v", got)
			require.Regexp(t, `longer than|more than|lowercase token`, got[tc.path])
		})
	}
}

func TestEncodedSizeLimit(t *testing.T) {
	e := valid()
	e.Attributes = map[string]string{}
	for i := range MaxAttributes {
		// Each control-free quote is escaped as \" : 2 bytes per byte.
		e.Attributes[fmt.Sprintf("k%02d", i)] = strings.Repeat(`"`, MaxAttrValueLen)
	}
	got := problems(t, e)
	require.Contains(t, got, "(event)", "%v", got)
	require.Contains(t, got["(event)"], "more than the 65536 allowed")

	for k := range e.Attributes {
		e.Attributes[k] = strings.Repeat("v", MaxAttrValueLen)
	}
	require.Empty(t, problems(t, e), "large but under 64 KiB")
	b, err := Encode(&e)
	require.NoError(t, err)
	require.Less(t, len(b), MaxEventBytes)
	require.Greater(t, sizeBound(&e), MaxEventBytes, "took the encoding path")
}

func TestValidateReportsEveryProblem(t *testing.T) {
	e := Event{
		Type: "nope.nope", SchemaVersion: 3, Community: "A B",
		Actor:      Actor{EmailSHA256: "x"},
		Targets:    []Target{{Source: "github", SourceID: "1", Kind: KindReply}, {}, {Source: "github", SourceID: "2", Kind: "x"}},
		URL:        "ftp://x",
		Attributes: map[string]string{"b": "\x00", "a": "\x00"},
	}
	err := DefaultRegistry().validateAt(&e, now)
	var ve *ValidationError
	require.True(t, errors.As(err, &ve))
	var paths []string
	for _, p := range ve.Problems {
		paths = append(paths, p.Path)
	}
	require.Equal(t, []string{
		"id", "schema_version", "community", "source", "type", "occurred_at",
		"actor.source", "actor.source_id", "actor.email_sha256",
		"targets[1].source", "targets[1].source_id", "targets[1].kind", "targets[2].kind",
		"url", `attributes["a"]`, `attributes["b"]`,
	}, paths, "every problem, in field order")
	require.Contains(t, err.Error(), "type: unknown type; occurred_at: required; ")
	require.True(t, strings.HasPrefix(err.Error(), "id: required; schema_version: want 1, got 3; "))
}

func TestValidateUsesTheClock(t *testing.T) {
	e := valid()
	e.ReceivedAt = Timestamp{}
	e.OccurredAt = NewTimestamp(time.Now().Add(time.Hour))
	require.NoError(t, DefaultRegistry().Validate(&e))
	e.OccurredAt = NewTimestamp(time.Now().Add(25 * time.Hour))
	require.ErrorContains(t, DefaultRegistry().Validate(&e), "occurred_at: more than 24h0m0s after received_at")
}

func TestIdentityAndHashEmail(t *testing.T) {
	require.Equal(t, "github:583231", Actor{Source: "github", SourceID: "583231"}.Identity())
	require.Equal(t, "slack:U1", Target{Source: "slack", SourceID: "U1"}.Identity())
	h := HashEmail("  Ann@Example.COM \n")
	require.Equal(t, HashEmail("ann@example.com"), h)
	// sha256("ann@example.com"), computed independently.
	require.Equal(t, "71d4f55f72fa128dfb468a1a3901507c804b74316488744d769d7f4b16696476", h)
	require.Regexp(t, `^[0-9a-f]{64}$`, h)
}
