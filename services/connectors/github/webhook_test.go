package github

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	stdjson "encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

func sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func TestVerify(t *testing.T) {
	secret := []byte("It's a Secret to Everybody")
	body := []byte("Hello, World!")
	// GitHub's documented example: this secret and body give this signature.
	const documented = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	require.Equal(t, documented, sign(secret, body))
	for _, tc := range []struct {
		name   string
		secret []byte
		sig    string
		body   []byte
		want   string // "" = valid
	}{
		{"documented example", secret, documented, body, ""},
		{"missing", secret, "", body, "X-Hub-Signature-256: missing"},
		{"no prefix", secret, strings.TrimPrefix(documented, "sha256="), body, "malformed: want sha256=<hex>"},
		{"sha1 prefix", secret, "sha1=" + strings.TrimPrefix(documented, "sha256="), body, "malformed: want sha256=<hex>"},
		{"not hex", secret, "sha256=" + strings.Repeat("zz", 32), body, "malformed: want 64 hex digits"},
		{"short", secret, documented[:len(documented)-2], body, "malformed: want 64 hex digits"},
		{"wrong secret", []byte("another"), documented, body, "does not match the body"},
		{"tampered body", secret, documented, []byte("Hello, World?"), "does not match the body"},
		{"no secret", nil, documented, body, "no secret configured"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.sig != "" {
				h.Set(HeaderSignature, tc.sig)
			}
			err := Webhook{}.Verify(tc.secret, h, tc.body, time.Time{})
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
			var ie *source.InputError
			require.ErrorAs(t, err, &ie)
			require.Equal(t, HeaderSignature, ie.Field)
		})
	}
}

// mappedFixtures are the payload examples that map to an activity, with its
// type; every other example must be ignored with a reason.
var mappedFixtures = map[string]string{
	"commit_comment/created.on-file.payload.json":                        "github.commit.commented",
	"commit_comment/created.payload.json":                                "github.commit.commented",
	"commit_comment/created.with-installation.payload.json":              "github.commit.commented",
	"commit_comment/created.with-organization.payload.json":              "github.commit.commented",
	"create/payload.json":                                                "github.ref.created",
	"create/with-description.payload.json":                               "github.ref.created",
	"create/with-installation.payload.json":                              "github.ref.created",
	"create/with-organization.payload.json":                              "github.ref.created",
	"discussion/answered.payload.json":                                   "github.discussion.answered",
	"discussion/created.payload.json":                                    "github.discussion.created",
	"discussion_comment/created.payload.json":                            "github.discussion.commented",
	"fork/payload.json":                                                  "github.fork.created",
	"fork/with-installation.payload.json":                                "github.fork.created",
	"gollum/payload.json":                                                "github.wiki.edited",
	"gollum/with-installation.payload.json":                              "github.wiki.edited",
	"issue_comment/created.1.payload.json":                               "github.issue.commented",
	"issue_comment/created.payload.json":                                 "github.issue.commented",
	"issue_comment/created.with-installation.payload.json":               "github.issue.commented",
	"issue_comment/created.with-organization.payload.json":               "github.issue.commented",
	"issues/opened.payload.json":                                         "github.issue.opened",
	"issues/opened.with-empty-body.payload.json":                         "github.issue.opened",
	"issues/opened.with-organization.payload.json":                       "github.issue.opened",
	"issues/opened.with-transfer.payload.json":                           "github.issue.opened",
	"issues/reopened.payload.json":                                       "github.issue.reopened",
	"member/added.payload.json":                                          "github.member.added",
	"member/added.with-installation.payload.json":                        "github.member.added",
	"pull_request/closed.payload.json":                                   "github.pull_request.closed",
	"pull_request/closed.with-organization.payload.json":                 "github.pull_request.closed",
	"pull_request/opened.payload.json":                                   "github.pull_request.opened",
	"pull_request/opened.with-null-body.json":                            "github.pull_request.opened",
	"pull_request/opened.with-organization.payload.json":                 "github.pull_request.opened",
	"pull_request/reopened.payload.json":                                 "github.pull_request.reopened",
	"pull_request/reopened.with-organization.payload.json":               "github.pull_request.reopened",
	"pull_request_review/submitted.payload.json":                         "github.pull_request.reviewed",
	"pull_request_review/submitted.with-organization.payload.json":       "github.pull_request.reviewed",
	"pull_request_review_comment/created.payload.json":                   "github.pull_request.review_commented",
	"pull_request_review_comment/created.with-organization.payload.json": "github.pull_request.review_commented",
	"push/with-new-branch.payload.json":                                  "github.commit.pushed",
	"push/with-no-username-committer.payload.json":                       "github.commit.pushed",
	"release/published.payload.json":                                     "github.release.published",
	"release/published.with-discussion-url.payload.json":                 "github.release.published",
	"star/created.payload.json":                                          "github.star.created",
	"watch/started.payload.json":                                         "github.star.created",
	"watch/started.with-installation.payload.json":                       "github.star.created",
}

// TestWebhookFixtures walks every payload example: each maps to valid
// events of the expected type or is ignored with a reason; none is
// unmapped or an error.
func TestWebhookFixtures(t *testing.T) {
	fs := webhookFixtures(t)
	require.Len(t, fs, 273)
	names := map[string]bool{}
	mapped := 0
	for _, f := range fs {
		names[f.ev] = true
		res, err := Webhook{}.Normalize(testEnv(), headers(f.ev, "72d3162e-cc78-11e3-81ab-4c9367dc0958"), f.body)
		require.NoError(t, err, f.name)
		require.Empty(t, res.Unmapped, f.name)
		want, ok := mappedFixtures[f.name]
		if !ok {
			require.Empty(t, res.Events, f.name)
			require.True(t, strings.HasPrefix(res.Ignored, "github "+f.ev), "%s: ignored reason %q", f.name, res.Ignored)
			continue
		}
		mapped++
		require.Empty(t, res.Ignored, f.name)
		require.Len(t, res.Events, 1, f.name)
		requireValid(t, res, f.name)
		ev := res.Events[0]
		require.Equal(t, want, ev.Type, f.name)
		require.Equal(t, "acme", ev.Community)
		require.Equal(t, Source, ev.Source)
		require.Equal(t, Source, ev.Actor.Source)
		require.True(t, strings.HasPrefix(ev.ID, "github:"), ev.ID)
		require.Equal(t, testNow, ev.ReceivedAt.Time, f.name)
		require.NotEmpty(t, ev.Channel, f.name)
		require.Equal(t, "72d3162e-cc78-11e3-81ab-4c9367dc0958", ev.Attributes["delivery"], f.name)
	}
	require.Len(t, names, 60)
	require.Equal(t, len(mappedFixtures), mapped, "every listed fixture exists")
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func tgt(id, login, kind string) events.Target {
	return events.Target{Source: Source, SourceID: id, Username: login, Kind: kind}
}

// patch edits a JSON body: set replaces the value at a dotted path.
func patch(t *testing.T, body []byte, set map[string]any) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, stdjson.Unmarshal(body, &m))
	for path, v := range set {
		keys := strings.Split(path, ".")
		cur := m
		for _, k := range keys[:len(keys)-1] {
			next, ok := cur[k].(map[string]any)
			require.True(t, ok, "patch %s: %s is not an object", path, k)
			cur = next
		}
		cur[keys[len(keys)-1]] = v
	}
	out, err := stdjson.Marshal(m)
	require.NoError(t, err)
	return out
}

var (
	octocat   = map[string]any{"login": "octocat", "id": 583231, "type": "User"}
	hubot     = map[string]any{"login": "hubot", "id": 1000, "type": "User"}
	dependabo = map[string]any{"login": "dependabot[bot]", "id": 49699333, "type": "Bot"}
)

// want is what a representative case must produce, field by field.
type want struct {
	id, typ, actorID, actor string
	bot                     bool
	occurred                string
	thread, parent, url     string
	title                   string
	targets                 []events.Target
	attrs                   map[string]string
	email                   string // hashed into actor.email_sha256
}

func TestWebhookMapping(t *testing.T) {
	for _, tc := range []struct {
		name, file, event string
		set               map[string]any
		want              want
	}{
		{
			name: "issue opened", file: "issues/opened.payload.json", event: "issues",
			want: want{
				id: "github:issue:444500041:opened", typ: "github.issue.opened", actorID: "21031067", actor: "Codertocat",
				occurred: "2019-05-15T15:20:18Z", thread: "github:issue:186853002:1",
				url: "https://github.com/Codertocat/Hello-World/issues/1", title: "Spelling error in the README file",
				attrs: map[string]string{"number": "1", "labels": "bug"},
			},
		},
		{
			name: "issue opened with labels: names joined by commas, a comma in a name a space", file: "issues/opened.payload.json", event: "issues",
			set: map[string]any{"issue.labels": []any{map[string]any{"name": "question"}, map[string]any{"name": " needs,  triage "},
				map[string]any{"name": " "}}},
			want: want{
				id: "github:issue:444500041:opened", typ: "github.issue.opened", actorID: "21031067", actor: "Codertocat",
				occurred: "2019-05-15T15:20:18Z", thread: "github:issue:186853002:1",
				url: "https://github.com/Codertocat/Hello-World/issues/1", title: "Spelling error in the README file",
				attrs: map[string]string{"number": "1", "labels": "question,needs triage"},
			},
		},
		{
			name: "issue opened by a bot, assigning and mentioning", file: "issues/opened.payload.json", event: "issues",
			set: map[string]any{
				"issue.user": dependabo, "sender": dependabo, "issue.assignee": octocat, "issue.assignees": []any{octocat, hubot},
				"issue.body": "cc @Codertocat and @octocat, not me@example.com nor `@code` nor @org/team",
			},
			want: want{
				id: "github:issue:444500041:opened", typ: "github.issue.opened", actorID: "49699333", actor: "dependabot[bot]", bot: true,
				occurred: "2019-05-15T15:20:18Z", thread: "github:issue:186853002:1",
				url: "https://github.com/Codertocat/Hello-World/issues/1", title: "Spelling error in the README file",
				targets: []events.Target{
					tgt("583231", "octocat", events.KindAssign), tgt("1000", "hubot", events.KindAssign),
					tgt("login:codertocat", "Codertocat", events.KindMention),
				},
				attrs: map[string]string{"number": "1", "labels": "bug"},
			},
		},
		{
			name: "issue closed by another member", file: "issues/opened.payload.json", event: "issues",
			set: map[string]any{"action": "closed", "sender": octocat, "issue.closed_at": "2019-05-16T10:00:00Z"},
			want: want{
				id: "github:issue:444500041:closed:1558000800", typ: "github.issue.closed", actorID: "583231", actor: "octocat",
				occurred: "2019-05-16T10:00:00Z", thread: "github:issue:186853002:1",
				url: "https://github.com/Codertocat/Hello-World/issues/1", title: "Spelling error in the README file",
				attrs: map[string]string{"number": "1"},
			},
		},
		{
			name: "comment on someone's issue mentioning a third", file: "issue_comment/created.payload.json", event: "issue_comment",
			set: map[string]any{"comment.user": octocat, "comment.body": "Thanks @Codertocat! /cc @hubot @octocat"},
			want: want{
				id: "github:issue_comment:492700400", typ: "github.issue.commented", actorID: "583231", actor: "octocat",
				occurred: "2019-05-15T15:20:21Z", thread: "github:issue:186853002:1", parent: "github:issue:444500041:opened",
				url:   "https://github.com/Codertocat/Hello-World/issues/1#issuecomment-492700400",
				title: "Spelling error in the README file",
				targets: []events.Target{
					tgt("21031067", "Codertocat", events.KindReply), tgt("login:hubot", "hubot", events.KindMention),
				},
				attrs: map[string]string{"number": "1"},
			},
		},
		{
			name: "comment on a pull request", file: "issue_comment/created.payload.json", event: "issue_comment",
			set: map[string]any{"comment.user": octocat, "issue.pull_request": map[string]any{"url": "https://api.github.com/x"}},
			want: want{
				id: "github:issue_comment:492700400", typ: "github.issue.commented", actorID: "583231", actor: "octocat",
				occurred: "2019-05-15T15:20:21Z", thread: "github:issue:186853002:1",
				url:     "https://github.com/Codertocat/Hello-World/issues/1#issuecomment-492700400",
				title:   "Spelling error in the README file",
				targets: []events.Target{tgt("21031067", "Codertocat", events.KindReply)},
				attrs:   map[string]string{"number": "1", "pull_request": "true"},
			},
		},
		{
			name: "pull request closed without merge", file: "pull_request/closed.payload.json", event: "pull_request",
			set: map[string]any{"sender": octocat},
			want: want{
				id: "github:pull_request:279147437:closed:1557933678", typ: "github.pull_request.closed", actorID: "583231", actor: "octocat",
				occurred: "2019-05-15T15:21:18Z", thread: "github:issue:186853002:2",
				url: "https://github.com/Codertocat/Hello-World/pull/2", title: "Update the README with new information.",
				attrs: map[string]string{"number": "2"},
			},
		},
		{
			name: "pull request merged credits its author", file: "pull_request/closed.payload.json", event: "pull_request",
			set: map[string]any{
				"sender": octocat, "pull_request.merged": true, "pull_request.merged_by": octocat,
				"pull_request.merged_at": "2019-05-15T15:21:17Z",
			},
			want: want{
				id: "github:pull_request:279147437:merged", typ: "github.pull_request.merged", actorID: "21031067", actor: "Codertocat",
				occurred: "2019-05-15T15:21:17Z", thread: "github:issue:186853002:2",
				url: "https://github.com/Codertocat/Hello-World/pull/2", title: "Update the README with new information.",
				attrs: map[string]string{"number": "2", "merged_by": "octocat"},
			},
		},
		{
			name: "pull request opened", file: "pull_request/opened.payload.json", event: "pull_request",
			want: want{
				id: "github:pull_request:279147437:opened", typ: "github.pull_request.opened", actorID: "21031067", actor: "Codertocat",
				occurred: "2019-05-15T15:20:33Z", thread: "github:issue:186853002:2",
				url: "https://github.com/Codertocat/Hello-World/pull/2", title: "Update the README with new information.",
				attrs: map[string]string{"number": "2"},
			},
		},
		{
			name: "review of someone's pull request", file: "pull_request_review/submitted.payload.json", event: "pull_request_review",
			set: map[string]any{"review.user": octocat, "review.body": "LGTM, @hubot please merge", "review.state": "APPROVED"},
			want: want{
				id: "github:review:237895671", typ: "github.pull_request.reviewed", actorID: "583231", actor: "octocat",
				occurred: "2019-05-15T15:20:38Z", thread: "github:issue:186853002:2", parent: "github:pull_request:279147437:opened",
				url:   "https://github.com/Codertocat/Hello-World/pull/2#pullrequestreview-237895671",
				title: "Update the README with new information.",
				targets: []events.Target{
					tgt("21031067", "Codertocat", events.KindReview), tgt("login:hubot", "hubot", events.KindMention),
				},
				attrs: map[string]string{"number": "2", "state": "approved"},
			},
		},
		{
			name: "review comment", file: "pull_request_review_comment/created.payload.json", event: "pull_request_review_comment",
			set: map[string]any{"comment.user": octocat},
			want: want{
				id: "github:review_comment:284312630", typ: "github.pull_request.review_commented", actorID: "583231", actor: "octocat",
				occurred: "2019-05-15T15:20:37Z", thread: "github:issue:186853002:2", parent: "github:review:237895671",
				url:     "https://github.com/Codertocat/Hello-World/pull/2#discussion_r284312630",
				title:   "Update the README with new information.",
				targets: []events.Target{tgt("21031067", "Codertocat", events.KindReview)},
				attrs:   map[string]string{"number": "2"},
			},
		},
		{
			name: "push with a new branch", file: "push/with-new-branch.payload.json", event: "push",
			want: want{
				id:  "github:push:186853002:refs/heads/master:6113728f27ae82c7b1a177c8d03f9e96e0adf246",
				typ: "github.commit.pushed", actorID: "21031067", actor: "Codertocat",
				occurred: "2019-05-15T15:20:57Z",
				url:      "https://github.com/Codertocat/Hello-World/commit/6113728f27ae82c7b1a177c8d03f9e96e0adf246",
				attrs:    map[string]string{"ref": "refs/heads/master", "commits": "1"},
				email:    "21031067+Codertocat@users.noreply.github.com",
			},
		},
		{
			name: "star", file: "star/created.payload.json", event: "star",
			want: want{
				id: "github:star:186853002:21031067", typ: "github.star.created", actorID: "21031067", actor: "Codertocat",
				occurred: "2019-05-15T15:20:40Z", url: "https://github.com/Codertocat/Hello-World",
			},
		},
		{
			name: "watch started is the same star", file: "watch/started.payload.json", event: "watch",
			want: want{
				id: "github:star:186853002:21031067", typ: "github.star.created", actorID: "21031067", actor: "Codertocat",
				occurred: "2026-01-02T03:04:05Z", url: "https://github.com/Codertocat/Hello-World",
			},
		},
		{
			name: "fork", file: "fork/payload.json", event: "fork",
			want: want{
				id: "github:fork:186853261", typ: "github.fork.created", actorID: "38302899", actor: "Octocoders",
				occurred: "2019-05-15T15:20:42Z", url: "https://github.com/Octocoders/Hello-World",
				attrs: map[string]string{"fork": "Octocoders/Hello-World"},
			},
		},
		{
			name: "tag created", file: "create/payload.json", event: "create",
			want: want{
				id: "github:ref:186853002:tag:simple-tag:created", typ: "github.ref.created", actorID: "21031067", actor: "Codertocat",
				occurred: "2026-01-02T03:04:05Z", url: "https://github.com/Codertocat/Hello-World/releases/tag/simple-tag",
				attrs: map[string]string{"ref": "simple-tag", "ref_type": "tag"},
			},
		},
		{
			name: "release published", file: "release/published.payload.json", event: "release",
			want: want{
				id: "github:release:17372790:published", typ: "github.release.published", actorID: "21031067", actor: "Codertocat",
				occurred: "2019-05-15T15:20:53Z", url: "https://github.com/Codertocat/Hello-World/releases/tag/0.0.1",
				title: "0.0.1", attrs: map[string]string{"tag": "0.0.1"},
			},
		},
		{
			name: "commit comment", file: "commit_comment/created.payload.json", event: "commit_comment",
			want: want{
				id: "github:commit_comment:33548674", typ: "github.commit.commented", actorID: "21031067", actor: "Codertocat",
				occurred: "2019-05-15T15:20:39Z", thread: "github:commit:186853002:6113728f27ae82c7b1a177c8d03f9e96e0adf246",
				url:   "https://github.com/Codertocat/Hello-World/commit/6113728f27ae82c7b1a177c8d03f9e96e0adf246#commitcomment-33548674",
				attrs: map[string]string{"commit": "6113728f27ae82c7b1a177c8d03f9e96e0adf246"},
			},
		},
		{
			name: "wiki edited", file: "gollum/payload.json", event: "gollum",
			want: want{
				id: "github:wiki:186853002:6bf911d3801dd1ef957fc6ade5a8d96429e7fa39", typ: "github.wiki.edited", actorID: "9831992", actor: "rachmari",
				occurred: "2026-01-02T03:04:05Z", url: "https://github.com/Codertocat/Hello-World/wiki/Home", title: "Home",
				attrs: map[string]string{"pages": "1"},
			},
		},
		{
			name: "member added: the new collaborator acts", file: "member/added.payload.json", event: "member",
			set: map[string]any{"sender": octocat},
			want: want{
				id: "github:member:186853002:39652351:added", typ: "github.member.added", actorID: "39652351", actor: "hacktocat",
				occurred: "2026-01-02T03:04:05Z", url: "https://github.com/Codertocat/Hello-World",
				attrs: map[string]string{"added_by": "octocat"},
			},
		},
		{
			name: "discussion created", file: "discussion/created.payload.json", event: "discussion",
			want: want{
				id: "github:discussion:3299614:created", typ: "github.discussion.created", actorID: "21031067", actor: "Codertocat",
				occurred: "2021-03-30T20:09:52Z", thread: "github:discussion:186853002:4",
				url: "https://github.com/Codertocat/Hello-World/discussions/4", title: "TEST edit",
				attrs: map[string]string{"number": "4"},
			},
		},
		{
			name: "discussion answered credits the answer's author", file: "discussion/answered.payload.json", event: "discussion",
			want: want{
				id: "github:discussion:3299614:answered:550561", typ: "github.discussion.answered", actorID: "1253226", actor: "dan2wik",
				occurred: "2021-03-30T23:17:18Z", thread: "github:discussion:186853002:4", parent: "github:discussion:3299614:created",
				url:     "https://github.com/Codertocat/Hello-World/discussions/4#discussioncomment-550561",
				title:   "TEST edit",
				targets: []events.Target{tgt("4595477", "Codertocat", events.KindReply)},
				attrs:   map[string]string{"number": "4", "chosen_by": "Codertocat"},
			},
		},
		{
			name: "discussion comment replying to a comment", file: "discussion_comment/created.payload.json", event: "discussion_comment",
			set: map[string]any{"comment.user": octocat, "comment.parent_id": 550000},
			want: want{
				id: "github:discussion_comment:550062", typ: "github.discussion.commented", actorID: "583231", actor: "octocat",
				occurred: "2021-03-30T20:21:30Z", thread: "github:discussion:186853002:4", parent: "github:discussion_comment:550000",
				url:     "https://github.com/Codertocat/Hello-World/discussions/4#discussioncomment-550062",
				title:   "TEST edit",
				targets: []events.Target{tgt("21031067", "Codertocat", events.KindReply)},
				attrs:   map[string]string{"number": "4"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := readFixture(t, tc.file)
			if tc.set != nil {
				body = patch(t, body, tc.set)
			}
			res, err := Webhook{}.Normalize(testEnv(), headers(tc.event, ""), body)
			require.NoError(t, err)
			require.Len(t, res.Events, 1, "ignored: %q", res.Ignored)
			requireValid(t, res, tc.name)
			ev, w := res.Events[0], tc.want
			require.Equal(t, w.id, ev.ID)
			require.Equal(t, w.typ, ev.Type)
			require.Equal(t, events.Actor{
				Source: Source, SourceID: w.actorID, Username: w.actor, IsBot: w.bot,
				EmailSHA256:       map[bool]string{true: events.HashEmail(w.email)}[w.email != ""],
				EmailDomainSHA256: map[bool]string{true: events.HashEmailDomain(w.email)}[w.email != ""],
			}, ev.Actor)
			require.Equal(t, ts(w.occurred), ev.OccurredAt.Time)
			require.Equal(t, "Codertocat/Hello-World", ev.Channel)
			require.Equal(t, w.thread, ev.ThreadID)
			require.Equal(t, w.parent, ev.ParentID)
			require.Equal(t, w.url, ev.URL)
			require.Equal(t, w.title, ev.Title)
			require.Equal(t, w.targets, ev.Targets)
			require.Equal(t, w.attrs, ev.Attributes)
		})
	}
}

func TestWebhookPeople(t *testing.T) {
	body := patch(t, readFixture(t, "issue_comment/created.payload.json"), map[string]any{"comment.user": octocat})
	env := testEnv()
	env.People = &source.People{Bots: []string{"github:OctoCat"}, Teammates: []string{"github:octocat"}}
	res, err := Webhook{}.Normalize(env, headers("issue_comment", ""), body)
	require.NoError(t, err)
	require.Len(t, res.Events, 1)
	require.True(t, res.Events[0].Actor.IsBot, "configured bot")
	require.Equal(t, "true", res.Events[0].Attributes[source.AttrTeammate])

	res, err = Webhook{}.Normalize(testEnv(), headers("issue_comment", ""), body)
	require.NoError(t, err)
	require.False(t, res.Events[0].Actor.IsBot)
	require.NotContains(t, res.Events[0].Attributes, source.AttrTeammate)
}

func TestWebhookIgnoredAndUnmapped(t *testing.T) {
	for _, tc := range []struct {
		name, event string
		body        []byte
		ignored     string
		unmapped    string
	}{
		{"ping", "ping", readFixture(t, "ping/payload.json"), "github ping: webhook configuration check", ""},
		{"branch deletion push", "push", readFixture(t, "push/payload.json"), "github push: ref deleted, no commits pushed", ""},
		{"push of no commit", "push", patch(t, readFixture(t, "push/with-new-branch.payload.json"), map[string]any{"commits": []any{}}),
			"github push: no new commits (ref moved to existing commits)", ""},
		{"label added", "issues", readFixture(t, "issues/labeled.payload.json"), "github issues.labeled: labeling is triage, not counted", ""},
		{"release created", "release", readFixture(t, "release/created.payload.json"), "github release.created: not counted (only published)", ""},
		{"unstar", "star", readFixture(t, "star/deleted.payload.json"), "github star.deleted: unstarring is not an activity", ""},
		{"pending review", "pull_request_review", patch(t, readFixture(t, "pull_request_review/submitted.payload.json"), map[string]any{"review.state": "pending"}),
			"github pull_request_review: pending review not submitted yet", ""},
		{"unknown event", "sub_issues", []byte(`{"action":"added"}`), "", "github:sub_issues"},
		{"unknown ref type", "create", patch(t, readFixture(t, "create/payload.json"), map[string]any{"ref_type": "note"}), "", "github:create.note"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Webhook{}.Normalize(testEnv(), headers(tc.event, ""), tc.body)
			require.NoError(t, err)
			require.Empty(t, res.Events)
			require.Equal(t, tc.ignored, res.Ignored)
			require.Equal(t, tc.unmapped, res.Unmapped)
		})
	}
}

func TestWebhookInputErrors(t *testing.T) {
	comment := readFixture(t, "issue_comment/created.payload.json")
	for _, tc := range []struct {
		name, event string
		body        []byte
		field       string
	}{
		{"no event header", "", comment, HeaderEvent},
		{"not JSON", "issue_comment", []byte(`{"action":`), "body"},
		{"wrong JSON type", "issue_comment", []byte(`{"action":"created","comment":{"id":"12"}}`), "body"},
		{"no comment", "issue_comment", []byte(`{"action":"created"}`), "comment.id"},
		{"no comment author nor sender", "issue_comment", patch(t, comment, map[string]any{"comment.user": nil, "sender": nil}), "sender.id"},
		{"no repository", "issue_comment", patch(t, comment, map[string]any{"repository": nil}), "repository.id"},
		{"repository without name", "issue_comment", patch(t, comment, map[string]any{"repository.full_name": ""}), "repository.full_name"},
		{"control character in login", "issue_comment", patch(t, comment, map[string]any{"comment.user": map[string]any{"id": 5, "login": "a\u0001b"}}), "event actor.username"},
		{"occurred before 1970", "issue_comment", patch(t, comment, map[string]any{"comment.created_at": "1969-12-31T00:00:00Z"}), "event occurred_at"},
		{"push commits not a list", "push", patch(t, readFixture(t, "push/with-new-branch.payload.json"), map[string]any{"commits": "many"}), "commits"},
		{"push without head", "push", patch(t, readFixture(t, "push/with-new-branch.payload.json"), map[string]any{"after": ""}), "after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Webhook{}.Normalize(testEnv(), headers(tc.event, ""), tc.body)
			var ie *source.InputError
			require.True(t, errors.As(err, &ie), "want *source.InputError, got %v", err)
			require.Equal(t, tc.field, ie.Field, err.Error())
		})
	}
}

func TestWebhookCleansTitles(t *testing.T) {
	long := strings.Repeat("é", events.MaxTextLen) // 2 bytes each
	body := patch(t, readFixture(t, "issues/opened.payload.json"), map[string]any{"issue.title": "a\rb\x00c" + long})
	res, err := Webhook{}.Normalize(testEnv(), headers("issues", ""), body)
	require.NoError(t, err)
	require.Len(t, res.Events, 1)
	requireValid(t, res, "title")
	title := res.Events[0].Title
	require.True(t, strings.HasPrefix(title, "a b c"), title)
	require.LessOrEqual(t, len(title), events.MaxTextLen)
}

func TestMentions(t *testing.T) {
	for _, tc := range []struct {
		body string
		want []string
	}{
		{"", nil},
		{"no at sign", nil},
		{"@alice", []string{"alice"}},
		{"hi @alice, @Bob. and @ALICE again", []string{"alice", "Bob"}},
		{"mail me@example.com or x@y", nil},
		{"team @org/team and @user_name and @-dash and @trail-", []string{"trail"}},
		{"code `@inline` and ```\n@fenced\n``` but @real", []string{"real"}},
		{"(@paren) [@bracket] @@double", []string{"paren", "bracket"}},
		{"@" + strings.Repeat("a", 40), nil},
		{"@" + strings.Repeat("a", 39), []string{strings.Repeat("a", 39)}},
	} {
		require.Equal(t, tc.want, mentions(tc.body), tc.body)
	}
}

// TestSameIDAcrossSources wraps webhook payloads as GH Archive lines (the
// archive has sender as actor and repository as repo at the top level):
// both paths must give the same id, type, actor and targets.
func TestSameIDAcrossSources(t *testing.T) {
	for _, tc := range []struct{ file, event, archiveType string }{
		{"issues/opened.payload.json", "issues", "IssuesEvent"},
		{"issue_comment/created.payload.json", "issue_comment", "IssueCommentEvent"},
		{"pull_request/opened.payload.json", "pull_request", "PullRequestEvent"},
		{"pull_request/closed.payload.json", "pull_request", "PullRequestEvent"},
		{"pull_request_review/submitted.payload.json", "pull_request_review", "PullRequestReviewEvent"},
		{"pull_request_review_comment/created.payload.json", "pull_request_review_comment", "PullRequestReviewCommentEvent"},
		{"push/with-new-branch.payload.json", "push", "PushEvent"},
		{"watch/started.payload.json", "watch", "WatchEvent"},
		{"star/created.payload.json", "star", "WatchEvent"},
		{"fork/payload.json", "fork", "ForkEvent"},
		{"create/payload.json", "create", "CreateEvent"},
		{"release/published.payload.json", "release", "ReleaseEvent"},
		{"commit_comment/created.payload.json", "commit_comment", "CommitCommentEvent"},
		{"gollum/payload.json", "gollum", "GollumEvent"},
		{"member/added.payload.json", "member", "MemberEvent"},
		{"discussion/answered.payload.json", "discussion", "DiscussionEvent"},
		{"discussion_comment/created.payload.json", "discussion_comment", "DiscussionCommentEvent"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			body := readFixture(t, tc.file)
			wh, err := Webhook{}.Normalize(testEnv(), headers(tc.event, ""), body)
			require.NoError(t, err)
			require.Len(t, wh.Events, 1)

			var p map[string]any
			require.NoError(t, stdjson.Unmarshal(body, &p))
			r := p["repository"].(map[string]any)
			line := map[string]any{
				"id": "1", "type": tc.archiveType, "actor": p["sender"], "public": true,
				"repo":       map[string]any{"id": r["id"], "name": r["full_name"]},
				"created_at": "2019-05-15T15:30:00Z",
			}
			delete(p, "sender")
			delete(p, "repository")
			if tc.event == "star" { // the archive only knows watch started
				p["action"] = "started"
			}
			line["payload"] = p
			raw, err := stdjson.Marshal(line)
			require.NoError(t, err)
			ar, err := NormalizeArchive(testEnv(), raw)
			require.NoError(t, err)
			require.Len(t, ar.Events, 1, "ignored %q, unmapped %q", ar.Ignored, ar.Unmapped)
			requireValid(t, ar, tc.file)
			a, w := ar.Events[0], wh.Events[0]
			require.Equal(t, w.ID, a.ID)
			require.Equal(t, w.Type, a.Type)
			require.Equal(t, w.Actor.Identity(), a.Actor.Identity())
			require.Equal(t, w.Targets, a.Targets)
			require.Equal(t, w.ThreadID, a.ThreadID)
			require.Equal(t, w.Channel, a.Channel)
		})
	}
}
