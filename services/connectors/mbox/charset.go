package mbox

import (
	"bytes"
	"io"
	"mime"
	"strings"
	"unicode/utf8"
)

// cp1252High maps windows-1252 bytes 0x80–0x9F; the five bytes the code
// page leaves undefined map to the C1 code point of the same value, as
// ISO-8859-1 does. Bytes 0xA0–0xFF are ISO-8859-1, code point = byte.
var cp1252High = [32]rune{
	'€', 0x81, '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 0x8D, 'Ž', 0x8F,
	0x90, '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', 0x9D, 'ž', 'Ÿ',
}

// latin9 holds the eight ISO-8859-15 code points that differ from ISO-8859-1.
var latin9 = map[byte]rune{0xA4: '€', 0xA6: 'Š', 0xA8: 'š', 0xB4: 'Ž', 0xB8: 'ž', 0xBC: 'Œ', 0xBD: 'œ', 0xBE: 'Ÿ'}

// cp1252Rune decodes one windows-1252 byte.
func cp1252Rune(b byte) rune {
	if b >= 0x80 && b < 0xA0 {
		return cp1252High[b-0x80]
	}
	return rune(b)
}

// decodeSingleByte decodes b in a single-byte charset: "latin1" (also
// windows-1252, a superset in practice) or "latin9".
func decodeSingleByte(b []byte, latin9Table bool) string {
	var sb strings.Builder
	sb.Grow(len(b) + len(b)/4)
	for _, c := range b {
		if r, ok := latin9[c]; latin9Table && ok {
			sb.WriteRune(r)
			continue
		}
		sb.WriteRune(cp1252Rune(c))
	}
	return sb.String()
}

// repairUTF8 keeps the valid UTF-8 of s and reads every byte that is not
// part of a valid sequence as windows-1252: mail software of every era
// writes Latin-1 bytes into headers labeled UTF-8 or not labeled at all,
// and "Lucía" is a better guess than "Luc\uFFFDa". The result is always
// valid UTF-8.
func repairUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var sb strings.Builder
	sb.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			sb.WriteRune(cp1252Rune(s[i]))
			i++
			continue
		}
		sb.WriteString(s[i : i+size])
		i += size
	}
	return sb.String()
}

// charsetReader is the mime.WordDecoder's CharsetReader. It never fails:
// the Latin charsets are decoded by table, and any other charset (Shift_JIS,
// KOI8-R, GB2312, misspellings...) falls back to repairUTF8, which keeps
// ASCII and valid UTF-8 and reads the rest as windows-1252. A name may come
// out garbled; the message is never lost over it.
func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	b, err := io.ReadAll(input)
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(strings.TrimSpace(charset)) {
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "windows-1252", "cp1252", "x-cp1252", "cp819", "ibm819":
		return strings.NewReader(decodeSingleByte(b, false)), nil
	case "iso-8859-15", "iso8859-15", "latin9", "latin-9", "l9":
		return strings.NewReader(decodeSingleByte(b, true)), nil
	default:
		return bytes.NewReader([]byte(repairUTF8(string(b)))), nil
	}
}

// wordDecoder decodes RFC 2047 encoded-words with the fallbacks above.
var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

// decodeHeader decodes the encoded-words of a header value and returns
// valid UTF-8. A malformed encoded-word is kept as written (DecodeHeader
// fails only on a charset error, which charsetReader never returns).
func decodeHeader(v string) string {
	v = repairUTF8(v)
	if strings.Contains(v, "=?") {
		if d, err := wordDecoder.DecodeHeader(v); err == nil {
			v = d
		}
	}
	return repairUTF8(v)
}
