package github

import "strings"

// maxLogin is GitHub's longest login.
const maxLogin = 39

// mentions returns the logins @-mentioned in a Markdown body, in order of
// first appearance, without repeats (case-insensitive, as GitHub logins
// are). Code spans and fenced blocks are skipped; so are e-mail addresses
// (a login character before the @) and team mentions (@org/team).
func mentions(body string) []string {
	if strings.IndexByte(body, '@') < 0 {
		return nil
	}
	var out []string
	inCode := false // inside a `code span` or ``` fence
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c == '`' {
			// A run of backticks opens or closes code; a run of three or
			// more is a fence, which for this purpose behaves the same.
			for i+1 < len(body) && body[i+1] == '`' {
				i++
			}
			inCode = !inCode
			continue
		}
		if c != '@' || inCode {
			continue
		}
		if i > 0 {
			if p := body[i-1]; loginByte(p) || p == '.' || p == '_' || p == '/' || p == '@' {
				continue
			}
		}
		j := i + 1
		for j < len(body) && loginByte(body[j]) {
			j++
		}
		login := strings.TrimRight(body[i+1:j], "-")
		if login == "" || login[0] == '-' || len(login) > maxLogin {
			i = j - 1
			continue
		}
		if j < len(body) && (body[j] == '/' || body[j] == '_' || body[j] == '@') {
			i = j - 1 // a team, an e-mail-like or a path: not a user mention
			continue
		}
		dup := false
		for _, o := range out {
			if strings.EqualFold(o, login) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, login)
		}
		i = j - 1
	}
	return out
}

func loginByte(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-'
}
