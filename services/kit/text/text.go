// Package text finds what short English texts (titles of issues, topics,
// tickets) are about, without any outside service: a tokenizer, a stop
// word list, the Porter stemmer and keyword extraction.
//
// A title becomes a set of terms: the Porter stems of its words that are
// not stop words, and each pair of stems adjacent once the stop words are
// gone ("How do I configure SSO with Okta?" → configur, sso, okta,
// "configur sso", "sso okta"). Titles sharing a term share a topic; a
// topic is shown by the words its titles used most (Surfaces).
//
// Everything here is pure and safe for concurrent use.
package text

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MinTokenLen is the fewest runes a token has: single letters ("a", the
// "s" of "it's" once split) carry no topic.
const MinTokenLen = 2

// maxTokenLen drops runs longer than any word (hashes, base64, ids).
const maxTokenLen = 40

// Tokens splits s into lowercase tokens: runs of Unicode letters and
// digits; an apostrophe inside a word is dropped ("don't" → "dont",
// "user's" → "users"). Left out: web addresses (a whitespace-separated
// field containing "://" or starting with "www."), tokens of digits only
// ("2024", "404"), tokens shorter than MinTokenLen runes or longer than
// 40. Tokens mixing letters and digits stay whole ("oauth2", "k8s",
// "s3"); "v1.2" gives "v1" (the "2" is digits only).
func Tokens(s string) []string {
	var out []string
	for _, field := range strings.Fields(s) {
		lf := strings.ToLower(field)
		if strings.Contains(lf, "://") || strings.HasPrefix(strings.TrimLeft(lf, "(<[\"'"), "www.") {
			continue
		}
		var tok strings.Builder
		flush := func() {
			t := tok.String()
			tok.Reset()
			if n := utf8.RuneCountInString(t); n < MinTokenLen || n > maxTokenLen || digitsOnly(t) {
				return
			}
			out = append(out, t)
		}
		runes := []rune(lf)
		for i, r := range runes {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r):
				tok.WriteRune(r)
			case (r == '\'' || r == '’') && tok.Len() > 0 && i+1 < len(runes) && unicode.IsLetter(runes[i+1]):
				// inside a word: "don't", "user's"
			default:
				flush()
			}
		}
		flush()
	}
	return out
}

func digitsOnly(s string) bool {
	for _, r := range s {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// IsStopWord reports whether the lowercase token w carries no topic in a
// title: an English function word (StopWords), or a word that says a
// title is a question or a complaint but not what about.
func IsStopWord(w string) bool {
	_, ok := stopWords[w]
	return ok
}

// StopWords returns the stop word list, sorted (a copy).
func StopWords() []string {
	out := make([]string, 0, len(stopWords))
	for w := range stopWords {
		out = append(out, w)
	}
	slices.Sort(out)
	return out
}

// stopWords: English function words (pronouns, articles, auxiliaries,
// prepositions, conjunctions, common adverbs, contractions written
// without the apostrophe as Tokens leaves them), and the generic words of
// question titles:
//
//   - asking: how, what, why, when, where, which, who, can, could, would,
//     should, possible, anyone, someone, please, help, thanks, hi, hello;
//   - complaining without a subject: issue, problem, question, error,
//     bug, trouble, fail (with their inflections), not, doesnt, cant,
//     wont, unable;
//   - the verbs of any request: get, use, make, want, need, try, work,
//     know, way, like, best (and inflections).
//
// "error" and "bug" are stop words on purpose: nearly every complaint
// has them, so as topics they would lead every week's list and say
// nothing; their neighbours remain ("timeout", "login", "sso"). Product
// words stay: install, upgrade, config, deploy, login, password, api.
var stopWords = setOf(
	// function words
	"a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are", "as", "at",
	"be", "because", "been", "before", "being", "below", "between", "both", "but", "by",
	"did", "do", "does", "doing", "done", "down", "during", "each", "either", "else", "etc", "ever", "every",
	"few", "for", "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him",
	"himself", "his", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "myself",
	"no", "nor", "now", "of", "off", "on", "once", "one", "only", "or", "other", "our", "ours", "ourselves", "out",
	"over", "own", "same", "she", "so", "some", "such", "than", "that", "the", "their", "theirs", "them", "themselves",
	"then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "upon", "us",
	"very", "via", "was", "we", "were", "while", "with", "within", "without", "you", "your", "yours", "yourself",
	"yourselves", "will", "shall", "may", "might", "must", "let", "lets", "still", "yet", "even", "much", "many",
	"see", "something", "anything", "nothing", "everything", "thing", "things", "another", "able", "instead", "really",
	"im", "ive", "id", "ill", "youre", "youve", "thats", "theres", "isnt", "arent", "wasnt", "werent",
	"dont", "didnt", "doesnt", "hasnt", "havent", "hadnt", "shouldnt", "wouldnt", "couldnt",
	// asking
	"how", "what", "why", "when", "where", "which", "who", "whom", "whose", "whether",
	"can", "could", "would", "should", "possible", "anyone", "anybody", "someone", "somebody", "please",
	"help", "helps", "helping", "thanks", "thank", "hi", "hello", "hey",
	// complaining without a subject
	"issue", "issues", "problem", "problems", "question", "questions", "error", "errors", "bug", "bugs",
	"trouble", "troubles", "fail", "fails", "failed", "failing", "failure", "not", "cant", "cannot",
	"wont", "unable",
	// the verbs of any request
	"get", "gets", "getting", "got", "use", "uses", "used", "using", "make", "makes", "making", "made",
	"want", "wants", "wanted", "need", "needs", "needed", "try", "tries", "tried", "trying",
	"work", "works", "worked", "working", "know", "way", "ways", "like", "best",
)

func setOf(words ...string) map[string]struct{} {
	m := make(map[string]struct{}, len(words))
	for _, w := range words {
		m[w] = struct{}{}
	}
	return m
}

// Term is one keyword of a title: a stem ("configur") or two stems
// adjacent once stop words are gone ("configur sso"), and the words it
// came from ("configuring", "configuring sso").
type Term struct {
	Key     string
	Surface string
}

// Terms returns the terms of title, each key once (its first
// occurrence), unigrams in title order then bigrams in title order.
func Terms(title string) []Term {
	var words, stems []string
	for _, t := range Tokens(title) {
		if IsStopWord(t) {
			continue
		}
		words = append(words, t)
		stems = append(stems, Stem(t))
	}
	seen := make(map[string]bool, 2*len(stems))
	var out []Term
	add := func(key, surface string) {
		if !seen[key] {
			seen[key] = true
			out = append(out, Term{Key: key, Surface: surface})
		}
	}
	for i, s := range stems {
		add(s, words[i])
	}
	for i := 1; i < len(stems); i++ {
		if stems[i] != stems[i-1] {
			add(stems[i-1]+" "+stems[i], words[i-1]+" "+words[i])
		}
	}
	return out
}

// Keys returns the keys of Terms(title).
func Keys(title string) []string {
	terms := Terms(title)
	out := make([]string, len(terms))
	for i, t := range terms {
		out[i] = t.Key
	}
	return out
}

// Surfaces counts, per term key, the words it came from, to show each
// topic by its most frequent form. The zero value is ready; not safe for
// concurrent use.
type Surfaces struct {
	counts map[string]map[string]int
}

// Add counts the surfaces of terms.
func (s *Surfaces) Add(terms []Term) {
	if s.counts == nil {
		s.counts = make(map[string]map[string]int)
	}
	for _, t := range terms {
		m := s.counts[t.Key]
		if m == nil {
			m = make(map[string]int, 1)
			s.counts[t.Key] = m
		}
		m[t.Surface]++
	}
}

// Best returns key's most frequent surface, the alphabetically first of
// equally frequent ones; key itself when none was added.
func (s *Surfaces) Best(key string) string {
	best, n := key, 0
	for w, c := range s.counts[key] {
		if c > n || c == n && w < best {
			best, n = w, c
		}
	}
	return best
}
