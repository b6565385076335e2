package accounts_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/api/accounts"
)

func TestParseReadsBothFormats(t *testing.T) {
	csv := "\xef\xbb\xbfAccount_ID, name ,domains,plan\n" +
		`acme,"Acme, Inc.","acme.com; ACME.io. acme.com",pro` + "\n" +
		"solo,Solo,,\n"
	got, err := accounts.Parse(strings.NewReader(csv), accounts.FormatCSV)
	require.NoError(t, err)
	require.Equal(t, []accounts.Account{
		{ID: "acme", Name: "Acme, Inc.", Domains: []string{"acme.com", "acme.io"}, Plan: "pro", Line: 2},
		{ID: "solo", Name: "Solo", Domains: []string{}, Line: 3},
	}, got)

	jsonl := `{"account_id":"acme","name":"Acme","domains":["acme.com"],"segment":"enterprise","plan":"pro","persona":"platform"}` + "\n\n" +
		`{"account_id":"b-2","name":"B"}` + "\n"
	got, err = accounts.Parse(strings.NewReader(jsonl), accounts.FormatJSONL)
	require.NoError(t, err)
	require.Equal(t, []accounts.Account{
		{ID: "acme", Name: "Acme", Domains: []string{"acme.com"}, Segment: "enterprise", Plan: "pro", Persona: "platform", Line: 1},
		{ID: "b-2", Name: "B", Domains: []string{}, Line: 3},
	}, got)

	require.Equal(t, accounts.FormatCSV, accounts.FormatOf("customers.CSV"))
	require.Equal(t, accounts.FormatCSV, accounts.FormatOf("text/csv; charset=utf-8"))
	require.Equal(t, accounts.FormatJSONL, accounts.FormatOf("application/x-ndjson"))
	require.Equal(t, "", accounts.FormatOf("application/json"))
}

// TestParseRefusesABadFileWhole: every problem with its line and field,
// and no account at all.
func TestParseRefusesABadFileWhole(t *testing.T) {
	for _, tc := range []struct {
		name, format, in string
		want             []string
	}{
		{"csv rows", accounts.FormatCSV, "account_id,name,domains,segment\n" +
			"ok,Fine,fine.example,smb\n" +
			",No id,,\n" +
			"acme,,gmail.com,\n" +
			"bad id,X,https://x.example/,\n" +
			"ok,Again,other.example,\n" +
			"two,Two,fine.example,smb\n" +
			"short,row\n",
			[]string{
				"line 3: account_id: required",
				"line 4: name: required",
				"line 4: domains: gmail.com is a free-mail provider (events.FreeMailDomains): its addresses name people, not an organization, so it cannot link members to an account; remove it",
				`line 5: account_id: want 1..128 of A-Z, a-z, 0-9 and . _ : @ / + - (starting with a letter or digit), got "bad id"`,
				`line 5: domains: want a domain name such as example.com (letters, digits, hyphens, at least one dot; not an e-mail address or URL), got "https://x.example/"`,
				`line 6: account_id: "ok" is also on line 2: each account once per file`,
				`line 7: domains: fine.example is also a domain of account "ok" (line 2): a domain belongs to one account`,
				"line 8: 2 fields, want 4 as in the header",
			}},
		{"csv header", accounts.FormatCSV, "id,name,domains,domains\nx,y,z.example,\n",
			[]string{
				`line 1: header: unknown column "id": want some of account_id, name, domains, segment, plan, persona`,
				`line 1: header: column "domains" named twice`,
				"line 1: header: missing the required column account_id",
			}},
		{"csv empty", accounts.FormatCSV, "", []string{"line 1: empty file: want a header row (account_id,name,domains,segment,plan,persona)"}},
		{"csv header only", accounts.FormatCSV, "account_id,name\n", []string{"line 1: no accounts in the file"}},
		{"csv quote", accounts.FormatCSV, "account_id,name\na,\"open\n", []string{`line 2: malformed CSV: extraneous or missing " in quoted-field`}},
		{"jsonl", accounts.FormatJSONL, `{"account_id":"a","name":"A","domains":"a.example"}` + "\n" +
			`{"account_id":"b","name":"B","seats":3}` + "\n" +
			`{"account_id":"c","name":"C"} {}` + "\n" +
			`not json` + "\n" +
			`{"account_id":"d","name":"D","domains":["ann@d.example"],"persona":"x\u0001"}` + "\n",
			[]string{
				"line 1: domains: want an array of strings, got JSON string",
				"line 2: seats: unknown field: want some of account_id, name, domains, segment, plan, persona",
				"line 3: more than one JSON value on the line",
				"line 4: invalid character 'o' in literal null (expecting 'u')",
				"line 5: persona: text without control characters",
				`line 5: domains: want a domain name such as example.com (letters, digits, hyphens, at least one dot; not an e-mail address or URL), got "ann@d.example"`,
			}},
		{"utf8", accounts.FormatJSONL, "{\"account_id\":\"a\",\"name\":\"A\"}\n{\"name\":\"\xff\"}\n", []string{"line 2: not valid UTF-8"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := accounts.Parse(strings.NewReader(tc.in), tc.format)
			require.Nil(t, got, "a bad file gives no account")
			var fe *accounts.FileError
			require.True(t, errors.As(err, &fe), "%v", err)
			var lines []string
			for _, p := range fe.Problems {
				lines = append(lines, p.String())
			}
			require.Equal(t, tc.want, lines)
			require.True(t, strings.HasPrefix(err.Error(), "the file is refused, nothing was imported:\n  "+tc.want[0]))
		})
	}
	_, err := accounts.Parse(strings.NewReader("x"), "xml")
	require.EqualError(t, err, `accounts: format: want csv or jsonl, got "xml"`)
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("account_id,name,domains\nacme,Acme,acme.com\n"), true)
	f.Add([]byte(`{"account_id":"a","name":"A","domains":["a.example"]}`+"\n"), false)
	f.Add([]byte("account_id,name\n\"a\"\"b\",x\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, csv bool) {
		format := accounts.FormatJSONL
		if csv {
			format = accounts.FormatCSV
		}
		got, err := accounts.Parse(strings.NewReader(string(data)), format)
		if err != nil {
			var fe *accounts.FileError
			if !errors.As(err, &fe) || len(fe.Problems) == 0 || got != nil {
				t.Fatalf("want a *FileError with problems and no accounts, got %v, %d accounts", err, len(got))
			}
			return
		}
		if len(got) == 0 {
			t.Fatal("no error and no account")
		}
		for _, a := range got {
			if a.ID == "" || strings.TrimSpace(a.Name) == "" || a.Line < 1 {
				t.Fatalf("an invalid account passed: %+v", a)
			}
		}
	})
}
