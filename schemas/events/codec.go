package events

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/segmentio/encoding/json"
)

// DecodeError is the error Decode returns for input that is not an event
// of this schema. It names the field when there is one.
type DecodeError struct {
	Path   string // field path ("actor.nickname", "targets[1].kind"); "" for the document itself
	Offset int64  // byte offset of the problem in the input; -1 when unknown
	Reason string
}

func (e *DecodeError) Error() string {
	where := e.Path
	if where == "" {
		where = "event"
	}
	if e.Offset >= 0 {
		return fmt.Sprintf("%s: %s (at byte %d)", where, e.Reason, e.Offset)
	}
	return where + ": " + e.Reason
}

const parseFlags = json.DisallowUnknownFields | json.DontMatchCaseInsensitiveStructFields

// Decode parses one event from JSON. Field names match exactly; unknown
// fields, trailing data, input that is not valid UTF-8 and input over
// MaxEventBytes are errors (*DecodeError, naming the field or the byte
// offset). Decode does not validate or normalize: call Normalize, then
// Registry.Validate. It is safe for concurrent use and does not keep data.
func Decode(data []byte) (Event, error) { return decode(data, parseFlags) }

// DecodeShared is Decode without copying: the strings of the returned Event
// share data's memory (except where the JSON had escapes), so data must not
// change while the Event or any of its strings is in use. It saves most of
// Decode's allocations where the input outlives the event anyway, as a
// message buffer held until its batch is written does.
func DecodeShared(data []byte) (Event, error) { return decode(data, parseFlags|json.DontCopyString) }

func decode(data []byte, flags json.ParseFlags) (Event, error) {
	var e Event
	if len(data) > MaxEventBytes {
		return e, &DecodeError{Offset: -1, Reason: fmt.Sprintf("%d bytes, more than the %d allowed", len(data), MaxEventBytes)}
	}
	if !utf8.Valid(data) {
		return e, &DecodeError{Offset: int64(invalidUTF8At(data)), Reason: "not valid UTF-8"}
	}
	// The decoder sizes a nil map for 64 entries (~5 KB); a map made here
	// grows from small instead. Nil again when the input has no attributes.
	e.Attributes = map[string]string{}
	rest, err := json.Parse(data, &e, flags)
	if err != nil {
		return Event{}, explain(data, err)
	}
	if len(e.Attributes) == 0 {
		e.Attributes = nil
	}
	if rest = trimJSONSpace(rest); len(rest) != 0 {
		return Event{}, &DecodeError{Offset: int64(len(data) - len(rest)), Reason: "unexpected data after the event object"}
	}
	return e, nil
}

// Encode returns the JSON encoding of e: fields in declaration order,
// attributes sorted by key, timestamps in TimestampLayout, no HTML escaping.
// Equal events encode to equal bytes.
func Encode(e *Event) ([]byte, error) { return AppendEncode(nil, e) }

// AppendEncode appends the encoding of e (see Encode) to dst and returns
// the extended slice; with a reused dst it does not allocate for the buffer.
func AppendEncode(dst []byte, e *Event) ([]byte, error) {
	return json.Append(dst, e, json.SortMapKeys)
}

func trimJSONSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// explain turns a decoder error into a *DecodeError with the field path.
// The fast decoder does not track paths, so this walks the input once
// more against the schema's shape; it runs only for rejected input.
func explain(data []byte, cause error) error {
	w := walker{dec: stdjson.NewDecoder(bytes.NewReader(data))}
	w.dec.UseNumber()
	w.value(eventShape, "")
	if w.problem != nil {
		return w.problem
	}
	var se *json.SyntaxError
	if errors.As(cause, &se) {
		return &DecodeError{Offset: se.Offset, Reason: "malformed JSON: " + se.Error()}
	}
	var te *json.UnmarshalTypeError
	if errors.As(cause, &te) {
		return &DecodeError{Path: te.Field, Offset: te.Offset, Reason: fmt.Sprintf("want %s, got JSON %s", te.Type, te.Value)}
	}
	return &DecodeError{Offset: -1, Reason: cause.Error()}
}

// shape is the JSON form of a schema node, for explain.
type shape struct {
	kind   byte // 's' string, 'i' integer, 'b' bool, 't' timestamp, 'o' object, 'a' array, 'm' string map
	fields map[string]*shape
	elem   *shape
}

var eventShape = func() *shape {
	str, integer, boolean, ts := &shape{kind: 's'}, &shape{kind: 'i'}, &shape{kind: 'b'}, &shape{kind: 't'}
	actor := &shape{kind: 'o', fields: map[string]*shape{
		"source": str, "source_id": str, "username": str, "display_name": str, "email_sha256": str,
		"email_domain_sha256": str, "is_bot": boolean,
	}}
	target := &shape{kind: 'o', fields: map[string]*shape{"source": str, "source_id": str, "username": str, "kind": str}}
	return &shape{kind: 'o', fields: map[string]*shape{
		"id": str, "schema_version": integer, "community": str, "source": str, "type": str,
		"occurred_at": ts, "received_at": ts, "actor": actor, "channel": str, "thread_id": str,
		"parent_id": str, "targets": {kind: 'a', elem: target}, "url": str, "title": str,
		"attributes": {kind: 'm', elem: str},
	}}
}()

type walker struct {
	dec     *stdjson.Decoder
	problem *DecodeError
}

func (w *walker) fail(path, reason string) bool {
	w.problem = &DecodeError{Path: path, Offset: w.dec.InputOffset(), Reason: reason}
	return false
}

func (w *walker) token(path string) (stdjson.Token, bool) {
	tok, err := w.dec.Token()
	if err != nil {
		var se *stdjson.SyntaxError
		if errors.As(err, &se) {
			w.problem = &DecodeError{Offset: se.Offset, Reason: "malformed JSON: " + se.Error()}
			return nil, false
		}
		return nil, w.fail(path, "malformed JSON: "+err.Error())
	}
	return tok, true
}

// value reads one value of shape s at path; false once a problem is found.
func (w *walker) value(s *shape, path string) bool {
	tok, ok := w.token(path)
	if !ok {
		return false
	}
	if tok == nil { // null: the zero value, as the decoder does
		return true
	}
	switch s.kind {
	case 's':
		if _, ok := tok.(string); !ok {
			return w.fail(path, "want a string, got "+describeToken(tok))
		}
	case 'b':
		if _, ok := tok.(bool); !ok {
			return w.fail(path, "want true or false, got "+describeToken(tok))
		}
	case 'i':
		n, ok := tok.(stdjson.Number)
		if !ok {
			return w.fail(path, "want an integer, got "+describeToken(tok))
		}
		if _, err := strconv.ParseInt(string(n), 10, 0); err != nil {
			return w.fail(path, "want an integer, got "+string(n))
		}
	case 't':
		str, ok := tok.(string)
		if !ok {
			return w.fail(path, errTimestamp.Error()+", got "+describeToken(tok))
		}
		var t Timestamp
		if err := t.UnmarshalJSON(strconv.AppendQuote(nil, str)); err != nil {
			return w.fail(path, err.Error()+", got "+strconv.Quote(clip(str)))
		}
	case 'o', 'm':
		if d, ok := tok.(stdjson.Delim); !ok || d != '{' {
			return w.fail(path, "want an object, got "+describeToken(tok))
		}
		for w.dec.More() {
			kt, ok := w.token(path)
			if !ok {
				return false
			}
			key := kt.(string)
			var child *shape
			var childPath string
			if s.kind == 'm' {
				child, childPath = s.elem, path+"["+strconv.Quote(clip(key))+"]"
			} else {
				child, childPath = s.fields[key], join(path, key)
				if child == nil {
					return w.fail(childPath, "unknown field")
				}
			}
			if !w.value(child, childPath) {
				return false
			}
		}
		_, ok := w.token(path)
		return ok
	case 'a':
		if d, ok := tok.(stdjson.Delim); !ok || d != '[' {
			return w.fail(path, "want an array, got "+describeToken(tok))
		}
		for i := 0; w.dec.More(); i++ {
			if !w.value(s.elem, path+"["+strconv.Itoa(i)+"]") {
				return false
			}
		}
		_, ok := w.token(path)
		return ok
	}
	return true
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func describeToken(tok stdjson.Token) string {
	switch v := tok.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case stdjson.Number:
		return "the number " + clip(string(v))
	case stdjson.Delim:
		if v == '{' {
			return "an object"
		}
		return "an array"
	}
	return "null"
}
