package generic_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/generic"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

const one = `{"id":"shop:order:1","source":"product","type":"custom.order.placed","occurred_at":"2026-01-01T00:00:00Z","actor":{"source":"product","source_id":"u1"}}`

var env = source.Env{Community: "acme", Now: func() time.Time { return time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC) }}

func TestVerify(t *testing.T) {
	key := []byte("k-0123456789abcdef")
	for _, tc := range []struct {
		name, auth, want string
	}{
		{"ok", "Bearer k-0123456789abcdef", ""},
		{"case-insensitive scheme", "bearer k-0123456789abcdef", ""},
		{"missing", "", "Authorization: missing"},
		{"basic", "Basic abc", "want the Bearer scheme"},
		{"wrong key", "Bearer k-0123456789abcdeX", "unknown API key"},
		{"prefix of the key", "Bearer k-0123", "unknown API key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.auth != "" {
				h.Set("Authorization", tc.auth)
			}
			err := generic.Webhook{}.Verify(key, h, nil, time.Now())
			if tc.want == "" {
				require.NoError(t, err)
			} else {
				require.ErrorContains(t, err, tc.want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	res, err := generic.Webhook{}.Normalize(env, nil, []byte(one))
	require.NoError(t, err)
	require.Len(t, res.Events, 1)
	ev := res.Events[0]
	require.Equal(t, "acme", ev.Community, "the endpoint's community is applied")
	require.Equal(t, "2026-01-02T00:00:00Z", ev.ReceivedAt.Format(time.RFC3339), "received_at set on receipt")
	require.NoError(t, events.DefaultRegistry().Validate(&ev))

	res, err = generic.Webhook{}.Normalize(env, nil, []byte("["+one+","+one+"]"))
	require.NoError(t, err)
	require.Len(t, res.Events, 2)

	for _, tc := range []struct{ name, body, field, reason string }{
		{"empty", " ", "", "empty body"},
		{"scalar", `42`, "", "want an event object or an array"},
		{"empty array", `[]`, "", "empty array"},
		{"bad field in element", "[" + one + `,{"id":"x","actor":{"source_id":1}}]`, "[1].actor.source_id", "want a string"},
		{"unknown field", `{"id":"x","nickname":"y"}`, "nickname", "unknown field"},
		{"other community", `{"id":"x","community":"other"}`, "community", `event names "other" but this endpoint is for "acme"`},
		{"malformed array", `[{"id":"x"},`, "", "malformed JSON array"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := generic.Webhook{}.Normalize(env, nil, []byte(tc.body))
			var ie *source.InputError
			require.True(t, errors.As(err, &ie), "want *source.InputError, got %T %v", err, err)
			require.Equal(t, tc.field, ie.Field)
			require.Contains(t, ie.Reason, tc.reason)
		})
	}
}

func TestNormalizeBoundsTheBatch(t *testing.T) {
	body := []byte("[")
	for i := range generic.MaxBatch + 1 {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, one...)
	}
	body = append(body, ']')
	_, err := generic.Webhook{}.Normalize(env, nil, body)
	require.ErrorContains(t, err, "more than the 1000 allowed")
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{one, "[" + one + "]", `{"id":"x"}`, `[{"id":1}]`, `[`, `{}`, `[{},{}]`} {
		f.Add([]byte(s))
	}
	reg := events.DefaultRegistry()
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := generic.Webhook{}.Normalize(env, nil, body)
		if err != nil {
			var ie *source.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error is %T, want *source.InputError: %v", err, err)
			}
			return
		}
		for i := range res.Events {
			if res.Events[i].Community != "acme" {
				t.Fatalf("event %d escaped the endpoint's community: %q", i, res.Events[i].Community)
			}
			_ = reg.Validate(&res.Events[i]) // must not panic
		}
	})
}
