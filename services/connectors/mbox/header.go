package mbox

import (
	"bytes"
	"strings"
)

// header holds the fields of a message header by lowercased name, in
// order of appearance.
type header map[string][]string

// get returns the first value of the field name (any case), unfolded and
// trimmed; "" when absent.
func (h header) get(name string) string {
	if v := h[strings.ToLower(name)]; len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}

// parseHeader reads the header of an RFC 5322 message leniently: folded
// lines are unfolded, the header ends at the first empty line, and a line
// that is not a field after at least one field ends it too (as the body
// start, the way most mail readers recover from a missing empty line). It
// reports false when the message does not start with a field.
func parseHeader(msg []byte) (header, bool) {
	h := header{}
	var key string
	var val strings.Builder
	commit := func() {
		if key != "" {
			h[key] = append(h[key], val.String())
		}
		key = ""
		val.Reset()
	}
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line, msg = msg[:i], msg[i+1:]
		} else {
			msg = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if key == "" {
				if len(h) == 0 {
					return nil, false
				}
				break
			}
			val.WriteByte(' ')
			val.Write(bytes.TrimSpace(line))
			continue
		}
		colon := bytes.IndexByte(line, ':')
		name := bytes.TrimRight(line[:max(colon, 0)], " \t")
		if colon <= 0 || !fieldName(name) {
			if len(h) == 0 && key == "" {
				return nil, false
			}
			break
		}
		commit()
		key = strings.ToLower(string(name))
		val.Write(bytes.TrimSpace(line[colon+1:]))
	}
	commit()
	return h, len(h) > 0
}

// fieldName reports whether b is a field name: printable ASCII, no colon.
func fieldName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}
