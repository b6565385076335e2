package text

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The examples of each step in Porter's paper (1980), step by step.
func TestPorterStepsMatchThePaper(t *testing.T) {
	steps := []struct {
		name  string
		step  func([]byte) []byte
		cases map[string]string
	}{
		{"1a", step1a, map[string]string{"caresses": "caress", "ponies": "poni", "ties": "ti", "caress": "caress", "cats": "cat"}},
		{"1b", step1b, map[string]string{"feed": "feed", "agreed": "agree", "plastered": "plaster", "bled": "bled",
			"motoring": "motor", "sing": "sing", "conflated": "conflate", "troubled": "trouble", "sized": "size",
			"hopping": "hop", "tanned": "tan", "falling": "fall", "hissing": "hiss", "fizzed": "fizz", "failing": "fail",
			"filing": "file"}},
		{"1c", step1c, map[string]string{"happy": "happi", "sky": "sky"}},
		{"2", step2, map[string]string{"relational": "relate", "conditional": "condition", "rational": "rational",
			"valenci": "valence", "hesitanci": "hesitance", "digitizer": "digitize", "conformabli": "conformable",
			"radicalli": "radical", "differentli": "different", "vileli": "vile", "analogousli": "analogous",
			"vietnamization": "vietnamize", "predication": "predicate", "operator": "operate", "feudalism": "feudal",
			"decisiveness": "decisive", "hopefulness": "hopeful", "callousness": "callous", "formaliti": "formal",
			"sensitiviti": "sensitive", "sensibiliti": "sensible"}},
		{"3", step3, map[string]string{"triplicate": "triplic", "formative": "form", "formalize": "formal",
			"electriciti": "electric", "electrical": "electric", "hopeful": "hope", "goodness": "good"}},
		{"4", step4, map[string]string{"revival": "reviv", "allowance": "allow", "inference": "infer", "airliner": "airlin",
			"gyroscopic": "gyroscop", "adjustable": "adjust", "defensible": "defens", "irritant": "irrit",
			"replacement": "replac", "adjustment": "adjust", "dependent": "depend", "adoption": "adopt",
			"homologou": "homolog", "communism": "commun", "activate": "activ", "angulariti": "angular",
			"homologous": "homolog", "effective": "effect", "bowdlerize": "bowdler"}},
		{"5a", step5a, map[string]string{"probate": "probat", "rate": "rate", "cease": "ceas"}},
		{"5b", step5b, map[string]string{"controll": "control", "roll": "roll"}},
	}
	for _, s := range steps {
		for in, want := range s.cases {
			require.Equal(t, want, string(s.step([]byte(in))), "step %s of %q", s.name, in)
		}
	}
}

func TestStem(t *testing.T) {
	for in, want := range map[string]string{
		// the paper's examples through every step
		"caresses": "caress", "ponies": "poni", "relational": "relat", "generalization": "gener", "hopping": "hop",
		"conditional": "condit", "rational": "ration", "oscillators": "oscil", "agreed": "agre", "happy": "happi",
		"connection": "connect", "connections": "connect", "connected": "connect", "connecting": "connect",
		// words of support titles
		"configuring": "configur", "configure": "configur", "installation": "instal", "install": "instal",
		"upgrading": "upgrad", "upgrade": "upgrad", "timeouts": "timeout", "permissions": "permiss", "webhooks": "webhook",
		"deploying": "deploi", "running": "run", "logging": "log",
		// left alone: short, digits, not a–z
		"sso": "sso", "is": "is", "k8s": "k8s", "oauth2": "oauth2", "café": "café", "": "",
	} {
		require.Equal(t, want, Stem(in), "Stem(%q)", in)
	}
}

func TestTokens(t *testing.T) {
	for in, want := range map[string][]string{
		"How do I configure SSO with Okta?":                 {"how", "do", "configure", "sso", "with", "okta"},
		"Can't install on Windows 11 — see https://x.io/a":  {"cant", "install", "on", "windows", "see"},
		"Upgrading to v2.3 breaks OAuth2 login (www.a.com)": {"upgrading", "to", "v2", "breaks", "oauth2", "login"},
		"k8s deployment: pods crash (error 137)":            {"k8s", "deployment", "pods", "crash", "error"},
		"Why doesn't the user’s password reset work?":       {"why", "doesnt", "the", "users", "password", "reset", "work"},
		"Größe der Datenbank ändern":                        {"größe", "der", "datenbank", "ändern"},
		"a b 12 345 x1":                                     {"x1"},
		"":                                                  nil,
		"'quoted' words-with-hyphens":                       {"quoted", "words", "with", "hyphens"},
	} {
		require.Equal(t, want, Tokens(in), "Tokens(%q)", in)
	}
}

func TestStopWords(t *testing.T) {
	for _, w := range []string{"how", "what", "why", "can", "does", "help", "issue", "question", "problem", "error", "the", "dont"} {
		require.True(t, IsStopWord(w), w)
	}
	for _, w := range []string{"sso", "login", "install", "upgrade", "password", "api", "pricing", "timeout"} {
		require.False(t, IsStopWord(w), w)
	}
	list := StopWords()
	require.Contains(t, list, "how")
	require.IsNonDecreasing(t, list)
}

func TestKeys(t *testing.T) {
	for in, want := range map[string][]string{
		"How do I configure SSO with Okta?":           {"configur", "sso", "okta", "configur sso", "sso okta"},
		"Why doesn't the user's password reset work?": {"user", "password", "reset", "user password", "password reset"},
		"k8s deployment: pods crash (error 137)":      {"k8s", "deploy", "pod", "crash", "k8s deploy", "deploy pod", "pod crash"},
		"Install, installing, installation":           {"instal"},
		"SSO sso SSO login":                           {"sso", "login", "sso login"},
		"How can I help? Any question?":               {},
	} {
		require.Equal(t, want, Keys(in), "Keys(%q)", in)
	}
	require.Equal(t, []Term{{"configur", "configuring"}, {"sso", "sso"}, {"configur sso", "configuring sso"}},
		Terms("Configuring SSO"))
}

func TestSurfacesShowTheMostFrequentForm(t *testing.T) {
	var s Surfaces
	for _, title := range []string{"Configuring SSO", "configure SSO", "Configuring sso again", "configured"} {
		s.Add(Terms(title))
	}
	require.Equal(t, "configuring", s.Best("configur"))
	require.Equal(t, "configuring sso", s.Best("configur sso"))
	require.Equal(t, "sso", s.Best("sso"))
	require.Equal(t, "unknown", s.Best("unknown"))
	var tie Surfaces
	tie.Add([]Term{{"x", "xb"}, {"x", "xa"}})
	require.Equal(t, "xa", tie.Best("x"), "a tie goes to the alphabetically first")
}

func FuzzTerms(f *testing.F) {
	f.Add("How do I configure SSO with Okta?")
	f.Add("k8s'\u2019 https://a www.b 12 \xff")
	f.Fuzz(func(t *testing.T, s string) {
		for _, term := range Terms(s) {
			require.NotEmpty(t, term.Key)
			require.NotEmpty(t, term.Surface)
		}
	})
}
