package events

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/segmentio/encoding/json"
)

// Decode parses one event from JSON. Unknown fields, trailing data and
// input over MaxEventBytes are errors; field names match exactly. Decode
// does not validate: call Registry.Validate.
func Decode(data []byte) (Event, error) {
	var e Event
	if len(data) > MaxEventBytes {
		return e, fmt.Errorf("event: %d bytes, more than the %d allowed", len(data), MaxEventBytes)
	}
	if !utf8.Valid(data) {
		return e, errors.New("event: not valid UTF-8")
	}
	rest, err := json.Parse(data, &e, json.DisallowUnknownFields|json.DontMatchCaseInsensitiveStructFields)
	if err != nil {
		return Event{}, describe(err)
	}
	if len(rest) != 0 {
		return Event{}, fmt.Errorf("event: unexpected data after the JSON object: %.40q", rest)
	}
	return e, nil
}

// describe turns decoder errors into messages that name the field.
func describe(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "(event)"
		}
		return fmt.Errorf("%s: want %s, got JSON %s", field, te.Type, te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("event: malformed JSON at byte %d: %v", se.Offset, se)
	}
	var ts timestampError
	if errors.As(err, &ts) {
		return fmt.Errorf("timestamp: %w", err)
	}
	return fmt.Errorf("event: %w", err)
}

// Encode returns the JSON encoding of e.
func Encode(e *Event) ([]byte, error) { return AppendEncode(nil, e) }

// AppendEncode appends the JSON encoding of e to dst.
func AppendEncode(dst []byte, e *Event) ([]byte, error) {
	return json.Append(dst, e, 0)
}
