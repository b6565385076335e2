package discourse

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

// realdata is the shared folder of third-party fixtures; never copied here.
const realdata = "../../../../shared/realdata/discourse"

// received is the fixed clock of the tests.
var received = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testEnv() source.Env {
	return source.Env{Community: "acme", Now: func() time.Time { return received }}
}

func readFixture(t testing.TB, parts ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{realdata}, parts...)...))
	require.NoError(t, err, "fixture missing: the shared realdata folder is required")
	return b
}

// delivery is a Fedora fixture: the headers and the body of a real delivery.
type delivery struct {
	Body    json.RawMessage   `json:"webhook_body"`
	Headers map[string]string `json:"webhook_headers"`
}

func (d delivery) header() http.Header {
	h := http.Header{}
	for k, v := range d.Headers {
		h.Set(k, v)
	}
	return h
}

func readDelivery(t testing.TB, name string) delivery {
	t.Helper()
	var d delivery
	require.NoError(t, json.Unmarshal(readFixture(t, "fedora_discourse2fedmsg_webhooks", name), &d))
	require.NotEmpty(t, d.Body)
	require.NotEmpty(t, d.Headers[HeaderEvent])
	return d
}

// check runs the checks every result must pass: one of Events, Ignored,
// Unmapped; errors are InputErrors that did not reach the safety net;
// events are valid.
func check(t testing.TB, res source.Result, err error) {
	t.Helper()
	if err != nil {
		var ie *source.InputError
		require.True(t, errors.As(err, &ie), "error %v (%T) is not an *source.InputError", err, err)
		require.NotContains(t, ie.Reason, "normalized event is invalid", "a malformed input reached the safety net: %v", err)
		require.Empty(t, res.Events)
		return
	}
	set := 0
	for _, b := range []bool{len(res.Events) > 0, res.Ignored != "", res.Unmapped != ""} {
		if b {
			set++
		}
	}
	require.Equal(t, 1, set, "exactly one of Events, Ignored, Unmapped must be set: %+v", res)
	for i := range res.Events {
		ev := res.Events[i]
		require.NoError(t, events.DefaultRegistry().Validate(&ev))
		require.Equal(t, Source, ev.Source)
		for _, tg := range ev.Targets {
			require.NotEqual(t, ev.Actor.SourceID, tg.SourceID, "self edge")
		}
	}
}

func normalize(t testing.TB, h http.Header, body []byte) (source.Result, error) {
	t.Helper()
	res, err := Webhook{}.Normalize(testEnv(), h, body)
	check(t, res, err)
	return res, err
}

// TestFedoraDeliveries checks every real delivery exactly.
func TestFedoraDeliveries(t *testing.T) {
	const ask, disc = "discourse:ask.fedoraproject.org:", "discourse:discussion.fedoraproject.org:"
	tests := []struct {
		file    string
		ignored string // reason prefix, or "" for one event:
		want    events.Event
	}{
		{file: "accepted_solution.json", want: events.Event{
			ID: ask + "solution:127593", Type: "discourse.solution.accepted", OccurredAt: events.NewTimestamp(received),
			Actor:   events.Actor{Source: "discourse", SourceID: "8141", Username: "isudoajl", DisplayName: "isudoajl"},
			Channel: "97", ThreadID: ask + "topic:31703", ParentID: ask + "post:127593",
			URL:   "https://ask.fedoraproject.org/t/error-0x800f0922-updating-windows-10-in-kvm-libvirt-qemu-stack/31703/3",
			Title: "Error 0x800f0922 updating Windows 10 in KVM/libvirt/qemu stack",
		}},
		{file: "post_created.json", want: events.Event{
			ID: disc + "post:79563", Type: "discourse.post.created",
			OccurredAt: events.NewTimestamp(time.Date(2023, 2, 9, 10, 19, 46, 324e6, time.UTC)),
			Actor:      events.Actor{Source: "discourse", SourceID: "2401", Username: "darknao", DisplayName: "Francois Andrieu"},
			// reply_to_post_number is null: the post answers the topic.
			Channel: "7", ThreadID: disc + "topic:46582", ParentID: disc + "topic:46582",
			URL:   "https://discussion.fedoraproject.org/t/docs-meeting-agenda-2023-02-08/46582/3",
			Title: "Docs meeting agenda: 2023-02-08",
		}},
		{file: "post_destroyed.json", ignored: "discourse post_destroyed: a deletion"},
		{file: "post_edited.json", ignored: "discourse post_edited: an edit"},
		{file: "post_liked.json", want: events.Event{
			ID: disc + "like:79590:1605", Type: "discourse.post.liked", OccurredAt: events.NewTimestamp(received),
			Actor:   events.Actor{Source: "discourse", SourceID: "1605", Username: "t0xic0der", DisplayName: "Akashdeep Dhar"},
			Targets: []events.Target{{Source: "discourse", SourceID: "5", Username: "mattdm", Kind: events.KindReact}},
			// The liked post is the opening post: it was counted as the topic.
			Channel: "7", ThreadID: disc + "topic:46632", ParentID: disc + "topic:46632",
			URL:   "https://discussion.fedoraproject.org/t/theory-of-change-how-we-plan-and-explain-our-plans/46632/1",
			Title: "Theory of Change: how we plan (and explain our plans!)",
		}},
		{file: "post_recovered.json", ignored: "discourse post_recovered: a restored item"},
		{file: "topic_created.json", want: events.Event{
			ID: ask + "topic:31739", Type: "discourse.topic.created",
			OccurredAt: events.NewTimestamp(time.Date(2023, 2, 13, 8, 39, 1, 337e6, time.UTC)),
			Actor:      events.Actor{Source: "discourse", SourceID: "10766", Username: "awarda", DisplayName: "Armin Warda"},
			Channel:    "97", ThreadID: ask + "topic:31739",
			URL:        "https://ask.fedoraproject.org/t/no-updates-published-for-f37-silverblue-since-feb-9th/31739",
			Title:      "No updates published for f37 Silverblue since Feb 9th?",
			Attributes: map[string]string{"tags": "nvidia,silverblue"},
		}},
		{file: "topic_destroyed.json", ignored: "discourse topic_destroyed: a deletion"},
		{file: "topic_edited.json", ignored: "discourse topic_edited: an edit"},
		{file: "topic_recovered.json", ignored: "discourse topic_recovered: a restored item"},
	}
	files, err := filepath.Glob(filepath.Join(realdata, "fedora_discourse2fedmsg_webhooks", "*.json"))
	require.NoError(t, err)
	require.Len(t, files, len(tests), "fixture folder incomplete or grown")
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			d := readDelivery(t, tt.file)
			res, err := normalize(t, d.header(), d.Body)
			require.NoError(t, err)
			if tt.ignored != "" {
				require.True(t, strings.HasPrefix(res.Ignored, tt.ignored), "reason %q", res.Ignored)
				return
			}
			require.Len(t, res.Events, 1)
			want := tt.want
			want.SchemaVersion, want.Community, want.Source = events.SchemaVersion, "acme", "discourse"
			want.ReceivedAt = events.NewTimestamp(received)
			require.Equal(t, want, res.Events[0])
		})
	}
}

// rest reads a perceval REST fixture.
func rest(t *testing.T, name string, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(readFixture(t, "perceval_tests_data", "discourse", name), v))
}

// restTopic is /t/{id}.json as a backfill reads it.
type restTopic struct {
	Topic
	Details struct {
		CreatedBy *User `json:"created_by"`
	} `json:"details"`
	PostStream struct {
		Posts []Post `json:"posts"`
	} `json:"post_stream"`
}

// backfill maps a REST topic and its posts the way a backfill does: the
// topic's author and the post's topic fields are copied in first.
func backfill(t *testing.T, site Site, rt restTopic) []source.Result {
	t.Helper()
	rt.Topic.CreatedBy = rt.Details.CreatedBy
	res, err := NormalizeTopic(testEnv(), site, rt.Topic)
	check(t, res, err)
	require.NoError(t, err)
	out := []source.Result{res}
	for _, p := range rt.PostStream.Posts {
		p.CategoryID, p.TopicTitle, p.TopicArchetype = rt.CategoryID, rt.Title, rt.Archetype
		res, err := NormalizePost(testEnv(), site, p)
		check(t, res, err)
		require.NoError(t, err)
		out = append(out, res)
	}
	return out
}

func TestBackfillSharesTheMapping(t *testing.T) {
	site, err := ParseSite("https://forum.example.org/")
	require.NoError(t, err)
	require.Equal(t, Site{Base: "https://forum.example.org", Host: "forum.example.org"}, site)

	var rt restTopic
	rest(t, "discourse_topic_1148.json", &rt)
	require.Len(t, rt.PostStream.Posts, 20)
	got := backfill(t, site, rt)
	topic := got[0].Events[0]
	require.Equal(t, "discourse:forum.example.org:topic:1148", topic.ID)
	require.Equal(t, events.Actor{Source: "discourse", SourceID: "2544", Username: "gorhill"}, topic.Actor)
	require.Equal(t, "111", topic.Channel)
	require.Equal(t, "https://forum.example.org/t/support-ublock-origin/1148", topic.URL)
	require.True(t, strings.HasPrefix(got[1].Ignored, "discourse post: the opening post"), got[1].Ignored)
	for i, res := range got[2:] {
		require.Len(t, res.Events, 1, "post %d", i+2)
		ev := res.Events[0]
		require.Equal(t, "discourse.post.created", ev.Type)
		require.Equal(t, topic.ID, ev.ThreadID)
		require.Equal(t, "111", ev.Channel)
	}
	// Post 4 answers post 3 of noisycitytoonoisy.
	p4 := got[4].Events[0]
	require.Equal(t, "discourse:forum.example.org:post:19162", p4.ID)
	require.Equal(t, time.Date(2016, 2, 1, 14, 56, 10, 464e6, time.UTC), p4.OccurredAt.Time)
	require.Equal(t, []events.Target{{Source: "discourse", SourceID: "@noisycitytoonoisy", Username: "noisycitytoonoisy", Kind: events.KindReply}}, p4.Targets)
	require.Empty(t, p4.ParentID, "post 3's id is unknown from its number")
	require.Equal(t, "3", p4.Attributes["reply_to_post_number"])

	// The same post through the webhook gets the same event.
	var raw struct {
		PostStream struct {
			Posts []map[string]any `json:"posts"`
		} `json:"post_stream"`
	}
	rest(t, "discourse_topic_1148.json", &raw)
	post := raw.PostStream.Posts[3]
	post["category_id"], post["topic_title"] = 111, rt.Title
	body, err := json.Marshal(map[string]any{"post": post})
	require.NoError(t, err)
	h := http.Header{HeaderEvent: {"post_created"}, HeaderInstance: {"https://forum.example.org"}}
	res, err := normalize(t, h, body)
	require.NoError(t, err)
	require.Equal(t, p4, res.Events[0])

	// Mentions from the rendered post of a REST topic.
	rest(t, "discourse_posts.json", &rt)
	got = backfill(t, site, rt)
	require.Len(t, got, 5)
	require.Equal(t, []events.Target{
		{Source: "discourse", SourceID: "@blomquisg", Username: "blomquisg", Kind: events.KindMention},
		{Source: "discourse", SourceID: "@kincl", Username: "kincl", Kind: events.KindMention},
	}, got[3].Events[0].Targets)
	require.Equal(t, []events.Target{{Source: "discourse", SourceID: "@iheim", Username: "iheim", Kind: events.KindReply}}, got[4].Events[0].Targets)
}

// postBody is a post_created body with fields over a valid reply.
func postBody(t *testing.T, fields map[string]any) []byte {
	t.Helper()
	p := map[string]any{"id": 10, "topic_id": 3, "post_number": 2, "post_type": 1, "user_id": 7, "username": "ana",
		"created_at": "2025-01-02T03:04:05.678Z", "topic_slug": "hello", "topic_title": "Hello", "category_id": 4,
		"topic_archetype": "regular", "reply_to_post_number": nil}
	for k, v := range fields {
		if v == nil {
			delete(p, k)
			continue
		}
		p[k] = v
	}
	b, err := json.Marshal(map[string]any{"post": p})
	require.NoError(t, err)
	return b
}

func hook(event string) http.Header {
	return http.Header{HeaderEvent: {event}, HeaderInstance: {"https://Forum.Example.org"}}
}

func TestPosts(t *testing.T) {
	tests := []struct {
		name    string
		fields  map[string]any
		ignored string
		field   string // of the InputError
		check   func(t *testing.T, ev events.Event)
	}{
		{name: "reply to the topic", check: func(t *testing.T, ev events.Event) {
			require.Equal(t, "discourse:forum.example.org:post:10", ev.ID)
			require.Equal(t, "discourse:forum.example.org:topic:3", ev.ParentID)
			require.Equal(t, "https://forum.example.org/t/hello/3/2", ev.URL)
			require.Empty(t, ev.Targets)
		}},
		{name: "raw mentions", fields: map[string]any{"raw": "@bob and @Carol. cc @ana, mail x@y.org, `@code`? @bob again @-"},
			check: func(t *testing.T, ev events.Event) {
				require.Equal(t, []events.Target{
					{Source: "discourse", SourceID: "@bob", Username: "bob", Kind: events.KindMention},
					{Source: "discourse", SourceID: "@carol", Username: "Carol", Kind: events.KindMention},
					{Source: "discourse", SourceID: "@code", Username: "code", Kind: events.KindMention},
				}, ev.Targets)
			}},
		{name: "cooked wins over raw", fields: map[string]any{"raw": "@bob @team",
			"cooked": `<p><a class="mention" href="/u/bob">@bob</a> <a class="mention-group" href="/g/team">@team</a></p>`},
			check: func(t *testing.T, ev events.Event) {
				require.Equal(t, []events.Target{{Source: "discourse", SourceID: "@bob", Username: "bob", Kind: events.KindMention}}, ev.Targets)
			}},
		{name: "reply to a post", fields: map[string]any{"reply_to_post_number": 5, "reply_to_user": map[string]any{"username": "Bob"}, "raw": "@bob thanks"},
			check: func(t *testing.T, ev events.Event) {
				require.Empty(t, ev.ParentID)
				require.Equal(t, "5", ev.Attributes["reply_to_post_number"])
				require.Equal(t, []events.Target{{Source: "discourse", SourceID: "@bob", Username: "Bob", Kind: events.KindReply}}, ev.Targets)
			}},
		{name: "reply to oneself", fields: map[string]any{"reply_to_post_number": 1, "reply_to_user": map[string]any{"username": "ANA"}},
			check: func(t *testing.T, ev events.Event) {
				require.Empty(t, ev.Targets)
				require.Equal(t, "discourse:forum.example.org:topic:3", ev.ParentID)
			}},
		{name: "system user", fields: map[string]any{"user_id": -1, "username": "system"},
			check: func(t *testing.T, ev events.Event) { require.True(t, ev.Actor.IsBot) }},
		{name: "no slug", fields: map[string]any{"topic_slug": nil},
			check: func(t *testing.T, ev events.Event) { require.Equal(t, "https://forum.example.org/t/3/2", ev.URL) }},
		{name: "opening post", fields: map[string]any{"post_number": 1}, ignored: "discourse post: the opening post of a topic, counted by topic_created"},
		{name: "private message", fields: map[string]any{"topic_archetype": "private_message"}, ignored: "discourse post: a private message"},
		{name: "whisper", fields: map[string]any{"post_type": 4}, ignored: "discourse post: a staff whisper"},
		{name: "small action", fields: map[string]any{"post_type": 3}, ignored: "discourse post: a moderator or status notice"},
		{name: "no id", fields: map[string]any{"id": nil}, field: "post.id"},
		{name: "no topic", fields: map[string]any{"topic_id": nil}, field: "post.topic_id"},
		{name: "no author", fields: map[string]any{"user_id": nil}, field: "post.user_id"},
		{name: "no time", fields: map[string]any{"created_at": nil}, field: "post.created_at"},
		{name: "bad time", fields: map[string]any{"created_at": "yesterday"}, field: "post.created_at"},
		{name: "future time", fields: map[string]any{"created_at": "2099-01-01T00:00:00Z"}, field: "post.created_at"},
		{name: "negative post number", fields: map[string]any{"post_number": -2}, field: "post.post_number"},
		{name: "control character in username", fields: map[string]any{"username": "a\x01"}, field: "post.username"},
		{name: "id of the wrong type", fields: map[string]any{"id": "ten"}, field: "post.id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := normalize(t, hook("post_created"), postBody(t, tt.fields))
			switch {
			case tt.field != "":
				var ie *source.InputError
				require.ErrorAs(t, err, &ie)
				require.Equal(t, tt.field, ie.Field)
			case tt.ignored != "":
				require.NoError(t, err)
				require.True(t, strings.HasPrefix(res.Ignored, tt.ignored), "reason %q", res.Ignored)
			default:
				require.NoError(t, err)
				require.Len(t, res.Events, 1)
				require.Equal(t, "discourse.post.created", res.Events[0].Type)
				tt.check(t, res.Events[0])
			}
		})
	}
}

func TestOtherDeliveries(t *testing.T) {
	t.Run("user created", func(t *testing.T) {
		res, err := normalize(t, hook("user_created"), []byte(`{"user":{"id":42,"username":"new","name":"New One","email":"New@Example.org","created_at":"2025-05-05T05:05:05.000Z"}}`))
		require.NoError(t, err)
		ev := res.Events[0]
		require.Equal(t, "discourse:forum.example.org:user:42", ev.ID)
		require.Equal(t, "discourse.user.created", ev.Type)
		require.Equal(t, events.HashEmail("new@example.org"), ev.Actor.EmailSHA256)
		b, err := events.Encode(&ev)
		require.NoError(t, err)
		require.NotContains(t, strings.ToLower(string(b)), "example.org\"", "address in clear")
		require.NotContains(t, strings.ToLower(string(b)), "new@")
	})
	t.Run("topic with tag objects and a teammate", func(t *testing.T) {
		env := testEnv()
		env.People = &source.People{Teammates: []string{"discourse:Ana"}}
		res, err := Webhook{}.Normalize(env, hook("topic_created"), []byte(`{"topic":{"id":3,"title":"T","slug":"t","category_id":4,`+
			`"created_at":"2025-01-01T00:00:00Z","user_id":7,"created_by":{"id":7,"username":"ana"},"tags":[{"id":1,"name":"go"},"db"]}}`))
		check(t, res, err)
		require.NoError(t, err)
		require.Equal(t, map[string]string{"tags": "go,db", source.AttrTeammate: "true"}, res.Events[0].Attributes)
	})
	t.Run("topic by user_id only", func(t *testing.T) {
		res, err := normalize(t, hook("topic_created"), []byte(`{"topic":{"id":3,"created_at":"2025-01-01T00:00:00Z","user_id":7}}`))
		require.NoError(t, err)
		require.Equal(t, "7", res.Events[0].Actor.SourceID)
	})
	t.Run("private topic", func(t *testing.T) {
		res, err := normalize(t, hook("topic_created"), []byte(`{"topic":{"id":3,"archetype":"private_message","user_id":7}}`))
		require.NoError(t, err)
		require.Equal(t, "discourse topic: a private message, not visible to the community", res.Ignored)
	})
	for _, tt := range []struct{ event, typ, want string }{
		{"ping", "ping", "discourse ping: webhook configuration check"},
		{"category_created", "category", "discourse category_created: category administration"},
		{"user_badge_granted", "user_badge", "discourse user_badge_granted: badges"},
		{"unaccepted_solution", "solved", "discourse unaccepted_solution: an undo"},
	} {
		t.Run(tt.event, func(t *testing.T) {
			h := hook(tt.event)
			h.Set(HeaderEventType, tt.typ)
			res, err := normalize(t, h, []byte(`{}`))
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(res.Ignored, tt.want), res.Ignored)
		})
	}
	t.Run("unknown event", func(t *testing.T) {
		res, err := normalize(t, hook("chat_message_created"), []byte(`{}`))
		require.NoError(t, err)
		require.Equal(t, "discourse:chat_message_created", res.Unmapped)
	})
	for _, tt := range []struct {
		name  string
		h     http.Header
		body  string
		field string
	}{
		{"no event header", http.Header{HeaderInstance: {"https://f.example"}}, `{}`, HeaderEvent},
		{"no instance", http.Header{HeaderEvent: {"post_created"}}, `{}`, HeaderInstance},
		{"instance not a URL", http.Header{HeaderEvent: {"post_created"}, HeaderInstance: {"forum"}}, `{}`, HeaderInstance},
		{"not JSON", hook("post_created"), `{"post":`, "body"},
		{"no post", hook("post_created"), `{}`, "post"},
		{"no topic", hook("topic_created"), `{"topic":null}`, "topic"},
		{"topic without author", hook("topic_created"), `{"topic":{"id":3,"created_at":"2025-01-01T00:00:00Z"}}`, "topic.user_id"},
		{"no like", hook("post_liked"), `{}`, "like"},
		{"like without user", hook("post_liked"), `{"like":{"post":{}}}`, "like.user"},
		{"like without liker id", hook("post_liked"), `{"like":{"post":{"id":1,"topic_id":2,"post_number":2,"user_id":3},"user":{}}}`, "like.user.id"},
		{"no solution", hook("accepted_solution"), `{"solved":null}`, "solved"},
		{"solution without author", hook("accepted_solution"), `{"solved":{"id":1,"topic_id":2,"post_number":2}}`, "solved.user_id"},
		{"user without id", hook("user_created"), `{"user":{"username":"x"}}`, "user.id"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := normalize(t, tt.h, []byte(tt.body))
			var ie *source.InputError
			require.ErrorAs(t, err, &ie)
			require.Equal(t, tt.field, ie.Field, ie.Error())
		})
	}
}

// sign returns the signature header value of body with secret.
func sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func TestVerify(t *testing.T) {
	secret := []byte("discourse webhook secret")
	d := readDelivery(t, "post_created.json")
	h := d.header()
	// The fixture's signature is of the original bytes with Fedora's secret.
	require.ErrorContains(t, Webhook{}.Verify(secret, h, d.Body, time.Time{}), "mismatch")
	h.Set(HeaderSignature, sign(secret, d.Body))
	require.NoError(t, Webhook{}.Verify(secret, h, d.Body, time.Time{}))

	tampered := slices.Clone([]byte(d.Body))
	tampered[len(tampered)/2] ^= 1
	with := func(v string) http.Header {
		c := h.Clone()
		c.Set(HeaderSignature, v)
		return c
	}
	missing := h.Clone()
	missing.Del(HeaderSignature)
	tests := []struct {
		name   string
		secret []byte
		h      http.Header
		body   []byte
		want   string
	}{
		{"wrong secret", []byte("another"), h, d.Body, "mismatch"},
		{"tampered body", secret, h, tampered, "mismatch"},
		{"no secret", nil, h, d.Body, "no webhook secret"},
		{"missing header", secret, missing, d.Body, HeaderSignature + " header missing"},
		{"other algorithm", secret, with("sha1=" + strings.Repeat("0", 40)), d.Body, "want sha256=<hex>"},
		{"not hex", secret, with("sha256=xyz"), d.Body, "hex digits"},
		{"truncated", secret, with(sign(secret, d.Body)[:40]), d.Body, "hex digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorContains(t, Webhook{}.Verify(tt.secret, tt.h, tt.body, time.Time{}), tt.want)
		})
	}
}
