package mbox

import (
	"bytes"
	"compress/gzip"
	"errors"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/ingest"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

const realdata = "../../../../shared/realdata/mailing_lists/"

var testEnv = source.Env{Community: "acme", Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }}

// fixtures lists the real mailboxes; a missing one fails the test.
func fixtures(t testing.TB) []string {
	t.Helper()
	var names []string
	for _, pat := range []string{"apache_ponymail_corpus/*.mbox", "perceval_tests_data/mbox/*.mbox", "perceval_tests_data/pipermail/*.mbox", "perceval_tests_data/hyperkitty/*.mbox"} {
		m, err := filepath.Glob(realdata + pat)
		require.NoError(t, err)
		require.NotEmpty(t, m, "fixtures missing: %s", pat)
		names = append(names, m...)
	}
	require.GreaterOrEqual(t, len(names), 4+7+3+2)
	return names
}

// rawMessages cuts a mailbox the simple way, independently of split: at
// every line starting with "From ".
func rawMessages(data []byte) [][]byte {
	var msgs [][]byte
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("From ")) {
			msgs = append(msgs, nil)
			continue
		}
		if len(msgs) > 0 {
			msgs[len(msgs)-1] = append(msgs[len(msgs)-1], line...)
		}
	}
	return msgs
}

// separatorsAfterBlank counts "From " lines at the start or after an empty line.
func separatorsAfterBlank(data []byte) int {
	n, prevBlank := 0, true
	for _, line := range strings.Split(string(data), "\n") {
		if prevBlank && strings.HasPrefix(line, "From ") {
			n++
		}
		prevBlank = strings.TrimRight(line, "\r") == ""
	}
	return n
}

func firstAngle(v string) string {
	i := strings.IndexByte(v, '<')
	j := strings.IndexByte(v, '>')
	if i < 0 || j < i {
		return ""
	}
	return v[i+1 : j]
}

func allAngles(v string) []string {
	var ids []string
	for {
		id := firstAngle(v)
		if id == "" {
			return ids
		}
		ids = append(ids, id)
		v = v[strings.IndexByte(v, '>')+1:]
	}
}

func TestFixtures(t *testing.T) {
	reg := events.DefaultRegistry()
	checkedPairs := map[string]int{}
	for _, name := range fixtures(t) {
		t.Run(filepath.Base(name), func(t *testing.T) {
			data, err := os.ReadFile(name)
			require.NoError(t, err)
			raws := rawMessages(data)
			require.Equal(t, len(raws), separatorsAfterBlank(data), "the two ways of counting messages disagree")
			require.Equal(t, len(raws), bytes.Count(append([]byte("\n"), data...), []byte("\nFrom ")))

			var recs []ingest.Record
			for rec := range Files([]string{name}, testEnv, "") {
				recs = append(recs, rec)
			}
			require.Len(t, recs, len(raws), "one record per message")

			authors := map[string]string{} // Message-ID → HashEmail(From), read by the test
			var domains []string
			var encoded []byte
			for i, rec := range recs {
				require.NotNil(t, rec.Raw, rec.Pos)
				hdr, herr := mail.ReadMessage(bytes.NewReader(raws[i]))
				var from *mail.Address
				if herr == nil {
					from, _ = mail.ParseAddress(hdr.Header.Get("From"))
				}
				if from != nil {
					domains = append(domains, strings.ToLower(from.Address[strings.LastIndexByte(from.Address, '@')+1:]))
				}
				if rec.Err != nil {
					var ie *source.InputError
					require.True(t, errors.As(rec.Err, &ie), "%s: %v", rec.Pos, rec.Err)
				} else {
					ev := rec.Event
					require.NoError(t, reg.Validate(&ev), rec.Pos)
					b, err := events.Encode(&ev)
					require.NoError(t, err)
					encoded = append(encoded, b...)
					if from != nil {
						require.Equal(t, events.HashEmail(from.Address), ev.Actor.SourceID, rec.Pos)
						require.Equal(t, ev.Actor.SourceID, ev.Actor.EmailSHA256, rec.Pos)
					}
					if herr == nil {
						inReplyTo := firstAngle(hdr.Header.Get("In-Reply-To"))
						refs := allAngles(hdr.Header.Get("References"))
						parent := inReplyTo
						if parent == "" && len(refs) > 0 {
							parent = refs[len(refs)-1]
						}
						if parent == "" {
							require.Equal(t, TypeMessage, ev.Type, rec.Pos)
							require.Equal(t, ev.ID, ev.ThreadID, rec.Pos)
						} else {
							require.Equal(t, TypeReply, ev.Type, rec.Pos)
							require.Equal(t, MessageEventID(parent), ev.ParentID, rec.Pos)
							if to, seen := authors[parent]; seen && from != nil {
								checkedPairs[filepath.Base(name)]++
								if to == events.HashEmail(from.Address) {
									require.Empty(t, ev.Targets, "%s: a reply to oneself has no target", rec.Pos)
								} else {
									require.Equal(t, []events.Target{{Source: Source, SourceID: to, Kind: events.KindReply}}, ev.Targets, rec.Pos)
								}
							}
						}
						if id := firstAngle(hdr.Header.Get("Message-Id")); id != "" {
							require.Equal(t, MessageEventID(id), ev.ID, rec.Pos)
						}
					}
				}
				if herr == nil && from != nil {
					if id := firstAngle(hdr.Header.Get("Message-Id")); id != "" {
						authors[id] = events.HashEmail(from.Address)
					}
				}
			}
			lower := strings.ToLower(string(encoded))
			for _, d := range domains {
				require.NotContains(t, lower, "@"+d, "an address at %s is in clear in an event", d)
			}
		})
	}
	// Every Apache archive has replies whose parent is in the same file.
	for _, f := range []string{"asterix-dev-201709-mailarchivesao.mbox", "maven-dev-2017-11-mailarchivesao.mbox", "httpd-users-200606-part.mbox", "commits_ponymail_apache_org_2016-06.mbox"} {
		require.Positive(t, checkedPairs[f], "%s: no reply pair checked", f)
	}
}

// TestFixtureOutcomes pins what the small edge-case mailboxes yield.
func TestFixtureOutcomes(t *testing.T) {
	type out struct{ typ, err, name, channel string }
	tests := []struct {
		file string
		want []out
	}{
		{"perceval_tests_data/mbox/mbox_single.mbox", []out{{typ: TypeMessage, name: "Göran Lastname", channel: "mbox_single"}}},
		{"perceval_tests_data/mbox/mbox_iso8859_encoding.mbox", []out{{typ: TypeMessage, name: "Lucía Charlie", channel: "mbox_iso8859_encoding"}}},
		{"perceval_tests_data/mbox/mbox_unknown_encoding.mbox", []out{{typ: TypeMessage, name: "Ô¬´Ï", channel: "platform-swt-dev.eclipse.org"}}},
		{"perceval_tests_data/mbox/mbox_unixfrom_encoding.mbox", []out{{typ: TypeReply, name: "Christian Aistleitner", channel: "mbox_unixfrom_encoding"}}},
		{"perceval_tests_data/mbox/mbox_complex.mbox", []out{
			{typ: TypeMessage, name: "Eugenia Loli-Queru", channel: "desktop-devel-list.gnome.org"},
			{typ: TypeReply, name: "Danilo Šegan", channel: "desktop-devel-list.gnome.org"},
		}},
		{"perceval_tests_data/mbox/mbox_no_fields.mbox", []out{
			{typ: TypeMessage, name: "Göran Lastname", channel: "mbox_no_fields"},
			{typ: TypeMessage, name: "Göran Lastname", channel: "mbox_no_fields"},
			{typ: TypeMessage, name: "Göran Lastname", channel: "mbox_no_fields"}, // no Date: the envelope's
			{typ: TypeMessage, name: "Göran Lastname", channel: "mbox_no_fields"}, // no Message-ID: hashed id
			{typ: TypeMessage, name: "Göran Lastname", channel: "mbox_no_fields"}, // empty Date: the envelope's
			{err: `Date: cannot parse "RANDOM_Wed, 21 Sep 2016 22:42:07 +0300"`},
		}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			var got []out
			for rec := range Files([]string{realdata + tt.file}, testEnv, "") {
				if rec.Err != nil {
					got = append(got, out{err: rec.Err.Error()})
					continue
				}
				got = append(got, out{typ: rec.Event.Type, name: rec.Event.Actor.DisplayName, channel: rec.Event.Channel})
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestNoMessageIDIsStable(t *testing.T) {
	var ids []string
	for range 2 {
		var got []string
		for rec := range Files([]string{realdata + "perceval_tests_data/mbox/mbox_no_fields.mbox"}, testEnv, "") {
			got = append(got, rec.Event.ID)
		}
		ids = append(ids, got[3])
	}
	require.Equal(t, ids[0], ids[1])
	require.True(t, strings.HasPrefix(ids[0], "mailinglist:nomsgid:"), ids[0])
}

func read(t *testing.T, mbox string, list string) []ingest.Record {
	t.Helper()
	var recs []ingest.Record
	for rec := range Read(strings.NewReader(mbox), "test.mbox", testEnv, list) {
		recs = append(recs, rec)
	}
	return recs
}

func TestMessages(t *testing.T) {
	alice := events.HashEmail("alice@example.org")
	tests := []struct {
		name  string
		mbox  string
		list  string
		check func(t *testing.T, recs []ingest.Record)
	}{
		{
			name: "reply targets the author read earlier; thread is the root",
			mbox: "From a@x Mon Jan  1 00:00:00 2024\nFrom: Alice <alice@example.org>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nMessage-ID: <m1@x>\nSubject: Hello\n\nbody\n\n" +
				"From b@x Mon Jan  1 00:00:00 2024\nFrom: Bob <bob@example.net>\nDate: Mon, 1 Jan 2024 11:00:00 +0000\nMessage-ID: <m2@x>\nIn-Reply-To: <m1@x>\nReferences: <m1@x>\nSubject: Re: Hello\n\nbody\n\n" +
				"From a@x Mon Jan  1 00:00:00 2024\nFrom: Alice <alice@example.org>\nDate: Mon, 1 Jan 2024 12:00:00 +0000\nMessage-ID: <m3@x>\nReferences: <m1@x> <m2@x>\nSubject: Re: Hello\n\nbody\n\n" +
				"From a@x Mon Jan  1 00:00:00 2024\nFrom: Alice <alice@example.org>\nDate: Mon, 1 Jan 2024 13:00:00 +0000\nMessage-ID: <m4@x>\nIn-Reply-To: <m3@x>\nSubject: Re: Hello\n\nbody\n\n" +
				"From c@x Mon Jan  1 00:00:00 2024\nFrom: Carol <carol@example.com>\nDate: Mon, 1 Jan 2024 14:00:00 +0000\nMessage-ID: <m5@x>\nIn-Reply-To: <elsewhere@x>\nSubject: Re: Old\n\nbody\n",
			check: func(t *testing.T, recs []ingest.Record) {
				require.Len(t, recs, 5)
				for _, r := range recs {
					require.NoError(t, r.Err)
				}
				m1, m2, m3, m4, m5 := recs[0].Event, recs[1].Event, recs[2].Event, recs[3].Event, recs[4].Event
				require.Equal(t, TypeMessage, m1.Type)
				require.Equal(t, m1.ID, m1.ThreadID)
				require.Equal(t, "test", m1.Channel)
				require.Equal(t, TypeReply, m2.Type)
				require.Equal(t, m1.ID, m2.ParentID)
				require.Equal(t, m1.ID, m2.ThreadID)
				require.Equal(t, []events.Target{{Source: Source, SourceID: alice, Kind: events.KindReply}}, m2.Targets)
				require.Equal(t, m2.ID, m3.ParentID, "parent from the last of References")
				require.Equal(t, m1.ID, m3.ThreadID)
				require.Equal(t, events.HashEmail("bob@example.net"), m3.Targets[0].SourceID)
				require.Empty(t, m4.Targets, "reply to oneself")
				require.Equal(t, MessageEventID("m3@x"), m4.ThreadID, "thread from In-Reply-To when no References")
				require.Empty(t, m5.Targets, "parent outside the files: no target")
				require.Equal(t, MessageEventID("elsewhere@x"), m5.ParentID)
			},
		},
		{
			name: "mboxrd unquoting; From lines in the body are not separators",
			mbox: "From a@x Mon Jan  1 00:00:00 2024\nFrom: Alice <alice@example.org>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nMessage-ID: <q@x>\n\nline\n>From here\n>>From there\nFrom the body, not after a blank line\n",
			check: func(t *testing.T, recs []ingest.Record) {
				require.Len(t, recs, 1)
				require.NoError(t, recs[0].Err)
				require.Equal(t, "From: Alice <alice@example.org>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nMessage-ID: <q@x>\n\nline\nFrom here\n>From there\nFrom the body, not after a blank line\n", string(recs[0].Raw))
				require.Equal(t, "test.mbox:1", recs[0].Pos)
			},
		},
		{
			name: "encoded words, broken charsets, raw 8-bit, folded subject, address in subject",
			mbox: "From a@x Mon Jan  1 00:00:00 2024\nFrom: =?x-unknown-charset?Q?J=F6rg?= <j@example.org>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nMessage-ID: <e1@x>\nSubject: =?UTF-8?Q?Caf=e9?= and\n =?windows-1252?Q?=93quotes=94?= \xe9t\xe9 mail jane.doe@example.com\n\nb\n\n" +
				"From a@x Mon Jan  1 00:00:00 2024\nFrom: \"j@example.org\" <j@example.org>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nMessage-ID: <e2@x>\nSubject: =?iso-8859-15?q?=A4?=\n\nb\n",
			check: func(t *testing.T, recs []ingest.Record) {
				require.Len(t, recs, 2)
				require.NoError(t, recs[0].Err)
				require.Equal(t, "Jörg", recs[0].Event.Actor.DisplayName)
				require.Equal(t, "Café and “quotes” été mail [address]", recs[0].Event.Title)
				require.Empty(t, recs[1].Event.Actor.DisplayName, "a name that is the address is dropped")
				require.Equal(t, "€", recs[1].Event.Title)
			},
		},
		{
			name: "pipermail obfuscated sender, asctime date, list argument",
			list: "dev@example.org",
			mbox: "From jane at example.org  Mon Jan  1 10:00:00 2024\nFrom: jane at example.org (Jane Doe)\nDate: Mon Jan  1 10:00:00 2024\nSubject: [dev] Hi\nMessage-ID: <p@x>\n\nb\n",
			check: func(t *testing.T, recs []ingest.Record) {
				require.Len(t, recs, 1)
				require.NoError(t, recs[0].Err)
				ev := recs[0].Event
				require.Equal(t, events.HashEmail("jane@example.org"), ev.Actor.SourceID)
				require.Equal(t, "Jane Doe", ev.Actor.DisplayName)
				require.Equal(t, "dev.example.org", ev.Channel)
				require.Equal(t, time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC), ev.OccurredAt.Time)
			},
		},
		{
			name: "automated senders are bots",
			mbox: "From x Mon Jan  1 10:00:00 2024\nFrom: GitBox <git@apache.org>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nMessage-ID: <b1@x>\n\nb\n\n" +
				"From x Mon Jan  1 10:00:00 2024\nFrom: \"Jane (JIRA)\" <jira@apache.org>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nMessage-ID: <b2@x>\n\nb\n\n" +
				"From x Mon Jan  1 10:00:00 2024\nFrom: GitHub <notifications@github.com>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nMessage-ID: <b3@x>\n\nb\n\n" +
				"From x Mon Jan  1 10:00:00 2024\nFrom: Shop <no-reply@shop.example>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nMessage-ID: <b4@x>\n\nb\n\n" +
				"From x Mon Jan  1 10:00:00 2024\nFrom: Gita <gita@example.org>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nMessage-ID: <b5@x>\n\nb\n",
			check: func(t *testing.T, recs []ingest.Record) {
				require.Len(t, recs, 5)
				for i, want := range []bool{true, true, true, true, false} {
					require.NoError(t, recs[i].Err)
					require.Equal(t, want, recs[i].Event.Actor.IsBot, i)
				}
			},
		},
		{
			name: "rejections name the header",
			mbox: "From x Mon Jan  1 10:00:00 2024\nnot a header line\n\nb\n\n" +
				"From x Mon Jan  1 10:00:00 2024\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n\nb\n\n" +
				"From x Mon Jan  1 10:00:00 2024\nFrom: nobody\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n\nb\n\n" +
				"From x no date here\nFrom: a@example.org\n\nb\n\n" +
				"From x Mon Jan  1 10:00:00 2024\nFrom: a@example.org\nDate: yesterday\n\nb\n\n" +
				"From x Mon Jan  1 10:00:00 2024\nFrom: a@example.org\nDate: Mon, 1 Jan 2124 10:00:00 +0000\n\nb\n\n" +
				"From x Mon Jan  1 10:00:00 2024\n",
			check: func(t *testing.T, recs []ingest.Record) {
				var got []string
				for _, r := range recs {
					require.Error(t, r.Err)
					var ie *source.InputError
					require.ErrorAs(t, r.Err, &ie)
					require.NotNil(t, r.Raw)
					got = append(got, r.Err.Error())
				}
				require.Equal(t, []string{
					"header: no parseable header (the message does not start with a header field)",
					"From: required",
					"From: no parseable address",
					`Date: required (and the "From " separator line has no date either)`,
					`Date: cannot parse "yesterday"`,
					`Date: "Mon, 1 Jan 2124 10:00:00 +0000" is more than 24h0m0s in the future`,
					"header: no parseable header (the message does not start with a header field)",
				}, got)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, read(t, tt.mbox, tt.list)) })
	}
}

func TestTooLong(t *testing.T) {
	body := strings.Repeat("x", 1023) + "\n"
	mbox := "From x Mon Jan  1 10:00:00 2024\nFrom: a@example.org\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n\n" +
		strings.Repeat(body, MaxMessageBytes/len(body)+1) + "\n" +
		"From x Mon Jan  1 10:00:00 2024\nFrom: a@example.org\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n\nb\n"
	recs := read(t, mbox, "")
	require.Len(t, recs, 2)
	require.ErrorContains(t, recs[0].Err, "message: 1677", "rejected for its size")
	require.ErrorContains(t, recs[0].Err, "more than the 16777216 allowed")
	require.Len(t, recs[0].Raw, MaxMessageBytes)
	require.NoError(t, recs[1].Err)
}

func TestFilesGzipAndErrors(t *testing.T) {
	src, err := os.ReadFile(realdata + "apache_ponymail_corpus/httpd-users-200606-part.mbox")
	require.NoError(t, err)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err = zw.Write(src)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	gz := filepath.Join(t.TempDir(), "users.mbox.gz")
	require.NoError(t, os.WriteFile(gz, buf.Bytes(), 0o600))

	var recs []ingest.Record
	for rec := range Files([]string{gz, filepath.Join(t.TempDir(), "missing.mbox")}, testEnv, "") {
		recs = append(recs, rec)
	}
	require.Len(t, recs, 13)
	for _, r := range recs[:12] {
		require.NoError(t, r.Err)
		require.Equal(t, "users.httpd.apache.org", r.Event.Channel)
	}
	require.Error(t, recs[12].Err)
	require.Nil(t, recs[12].Raw, "an I/O error carries no Raw bytes")
}

// TestRepliesAcrossFiles: one Files call remembers Message-IDs across files.
func TestRepliesAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.mbox")
	b := filepath.Join(dir, "b.mbox")
	require.NoError(t, os.WriteFile(a, []byte("From x Mon Jan  1 10:00:00 2024\nFrom: a@example.org\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nMessage-ID: <1@x>\n\nb\n"), 0o600))
	require.NoError(t, os.WriteFile(b, []byte("From x Mon Jan  1 10:00:00 2024\nFrom: b@example.org\nDate: Mon, 1 Jan 2024 11:00:00 +0000\nMessage-ID: <2@x>\nIn-Reply-To: <1@x>\n\nb\n"), 0o600))
	var recs []ingest.Record
	for rec := range Files([]string{a, b}, testEnv, "") {
		recs = append(recs, rec)
	}
	require.Len(t, recs, 2)
	require.Equal(t, events.HashEmail("a@example.org"), recs[1].Event.Targets[0].SourceID)
}

func TestRememberIsBounded(t *testing.T) {
	rd := newReader(testEnv, "")
	for i := range MaxTracked + 10 {
		rd.remember(strings.Repeat("x", i%7)+string(rune('a'+i%26))+"-"+time.Duration(i).String(), "a")
	}
	require.Len(t, rd.authors, MaxTracked)
	require.Len(t, rd.order, MaxTracked)
}

func FuzzMbox(f *testing.F) {
	for _, name := range fixtures(f) {
		data, err := os.ReadFile(name)
		require.NoError(f, err)
		if len(data) < 64<<10 {
			f.Add(data)
		}
	}
	f.Add([]byte("From x Mon Jan  1 10:00:00 2024\nFrom: =?utf-8?b?w6k=?= <a@b.c>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nSubject: =?x?q?=FF?=\nIn-Reply-To: <1@x>\n\n>From b\n"))
	reg := events.DefaultRegistry()
	f.Fuzz(func(t *testing.T, data []byte) {
		for rec := range Read(bytes.NewReader(data), "fuzz.mbox", testEnv, "") {
			if rec.Err != nil {
				require.NotNil(t, rec.Raw)
				var ie *source.InputError
				require.ErrorAs(t, rec.Err, &ie)
				continue
			}
			ev := rec.Event
			require.NoError(t, reg.Validate(&ev))
		}
	})
}
