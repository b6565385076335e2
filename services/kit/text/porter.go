package text

// Stem returns the Porter stem of word, a lowercase English word: the
// algorithm of M. F. Porter, "An algorithm for suffix stripping" (Program
// 14(3), 1980), steps 1a to 5b as the paper describes them. Where the
// paper and Porter's later reference code differ, this follows the paper
// (step 2 has ABLI → ABLE, not BLI → BLE, and no LOGI → LOG).
//
// Words of one or two letters, and words holding anything but the letters
// a–z, are returned as they are (a stem of "k8s" or "café" would mean
// nothing). The same word always gives the same stem; Stem allocates.
func Stem(word string) string {
	if len(word) <= 2 {
		return word
	}
	for i := 0; i < len(word); i++ {
		if word[i] < 'a' || word[i] > 'z' {
			return word
		}
	}
	b := []byte(word)
	b = step1a(b)
	b = step1b(b)
	b = step1c(b)
	b = step2(b)
	b = step3(b)
	b = step4(b)
	b = step5a(b)
	b = step5b(b)
	return string(b)
}

// consonant reports whether b[i] is a consonant: a letter other than a,
// e, i, o, u, and other than a y that follows a consonant.
func consonant(b []byte, i int) bool {
	switch b[i] {
	case 'a', 'e', 'i', 'o', 'u':
		return false
	case 'y':
		return i == 0 || !consonant(b, i-1)
	}
	return true
}

// measure is m of the paper: the number of VC sequences in b, which has
// the form [C](VC)^m[V].
func measure(b []byte) int {
	m, i, n := 0, 0, len(b)
	for i < n && consonant(b, i) {
		i++
	}
	for i < n {
		for i < n && !consonant(b, i) {
			i++
		}
		if i == n {
			break
		}
		for i < n && consonant(b, i) {
			i++
		}
		m++
	}
	return m
}

// hasVowel is *v*: b contains a vowel.
func hasVowel(b []byte) bool {
	for i := range b {
		if !consonant(b, i) {
			return true
		}
	}
	return false
}

// doubleConsonant is *d: b ends with a double consonant.
func doubleConsonant(b []byte) bool {
	n := len(b)
	return n >= 2 && b[n-1] == b[n-2] && consonant(b, n-1)
}

// cvc is *o: b ends consonant, vowel, consonant, the last not w, x or y.
func cvc(b []byte) bool {
	n := len(b)
	if n < 3 || !consonant(b, n-3) || consonant(b, n-2) || !consonant(b, n-1) {
		return false
	}
	switch b[n-1] {
	case 'w', 'x', 'y':
		return false
	}
	return true
}

func hasSuffix(b []byte, s string) bool {
	return len(b) >= len(s) && string(b[len(b)-len(s):]) == s
}

// rule is one suffix replacement of steps 2 to 4.
type rule struct{ suffix, repl string }

// replaceLongest applies, of rules, the one with the longest suffix that
// b ends with, if the stem before it satisfies cond; when the longest
// match fails its condition no shorter rule is tried (the paper's
// "longest matching suffix").
func replaceLongest(b []byte, rules []rule, cond func(stem []byte, r rule) bool) []byte {
	best := -1
	for i, r := range rules {
		if hasSuffix(b, r.suffix) && (best < 0 || len(r.suffix) > len(rules[best].suffix)) {
			best = i
		}
	}
	if best < 0 {
		return b
	}
	r := rules[best]
	stem := b[:len(b)-len(r.suffix)]
	if !cond(stem, r) {
		return b
	}
	return append(stem, r.repl...)
}

func step1a(b []byte) []byte {
	switch {
	case hasSuffix(b, "sses"), hasSuffix(b, "ies"):
		return b[:len(b)-2]
	case hasSuffix(b, "ss"):
		return b
	case hasSuffix(b, "s"):
		return b[:len(b)-1]
	}
	return b
}

func step1b(b []byte) []byte {
	if hasSuffix(b, "eed") {
		if measure(b[:len(b)-3]) > 0 {
			return b[:len(b)-1]
		}
		return b
	}
	var stem []byte
	switch {
	case hasSuffix(b, "ed") && hasVowel(b[:len(b)-2]):
		stem = b[:len(b)-2]
	case hasSuffix(b, "ing") && hasVowel(b[:len(b)-3]):
		stem = b[:len(b)-3]
	default:
		return b
	}
	switch {
	case hasSuffix(stem, "at"), hasSuffix(stem, "bl"), hasSuffix(stem, "iz"):
		return append(stem, 'e')
	case doubleConsonant(stem):
		switch stem[len(stem)-1] {
		case 'l', 's', 'z':
			return stem
		}
		return stem[:len(stem)-1]
	case measure(stem) == 1 && cvc(stem):
		return append(stem, 'e')
	}
	return stem
}

func step1c(b []byte) []byte {
	if hasSuffix(b, "y") && hasVowel(b[:len(b)-1]) {
		b[len(b)-1] = 'i'
	}
	return b
}

var step2Rules = []rule{
	{"ational", "ate"}, {"tional", "tion"}, {"enci", "ence"}, {"anci", "ance"}, {"izer", "ize"},
	{"abli", "able"}, {"alli", "al"}, {"entli", "ent"}, {"eli", "e"}, {"ousli", "ous"},
	{"ization", "ize"}, {"ation", "ate"}, {"ator", "ate"}, {"alism", "al"}, {"iveness", "ive"},
	{"fulness", "ful"}, {"ousness", "ous"}, {"aliti", "al"}, {"iviti", "ive"}, {"biliti", "ble"},
}

var step3Rules = []rule{
	{"icate", "ic"}, {"ative", ""}, {"alize", "al"}, {"iciti", "ic"}, {"ical", "ic"}, {"ful", ""}, {"ness", ""},
}

// step4Rules: ION also needs a stem ending in s or t (step4).
var step4Rules = []rule{
	{"al", ""}, {"ance", ""}, {"ence", ""}, {"er", ""}, {"ic", ""}, {"able", ""}, {"ible", ""}, {"ant", ""},
	{"ement", ""}, {"ment", ""}, {"ent", ""}, {"ion", ""}, {"ou", ""}, {"ism", ""}, {"ate", ""}, {"iti", ""},
	{"ous", ""}, {"ive", ""}, {"ize", ""},
}

func mAbove(n int) func([]byte, rule) bool {
	return func(stem []byte, _ rule) bool { return measure(stem) > n }
}

func step2(b []byte) []byte { return replaceLongest(b, step2Rules, mAbove(0)) }

func step3(b []byte) []byte { return replaceLongest(b, step3Rules, mAbove(0)) }

func step4(b []byte) []byte {
	return replaceLongest(b, step4Rules, func(stem []byte, r rule) bool {
		if measure(stem) <= 1 {
			return false
		}
		if r.suffix == "ion" { // (m>1 and (*S or *T)) ION
			last := stem[len(stem)-1]
			return last == 's' || last == 't'
		}
		return true
	})
}

func step5a(b []byte) []byte {
	if !hasSuffix(b, "e") {
		return b
	}
	stem := b[:len(b)-1]
	if m := measure(stem); m > 1 || m == 1 && !cvc(stem) {
		return stem
	}
	return b
}

func step5b(b []byte) []byte {
	if measure(b) > 1 && doubleConsonant(b) && b[len(b)-1] == 'l' {
		return b[:len(b)-1]
	}
	return b
}
