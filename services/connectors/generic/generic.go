// Package generic is the generic ingest endpoint: clients that are not a
// known platform (a product backend, a script, another tool) post normalized
// v1 events, authenticated with a bearer API key.
//
// The body is one event object or a JSON array of at most MaxBatch events.
// Events that name no community get the endpoint's; an event naming another
// community is an error. Ids are the client's: posting the same event twice
// stores it once.
package generic

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

// Source names the generic endpoint in dead letters and metrics.
const Source = "generic"

// MaxBatch bounds the events of one request.
const MaxBatch = 1000

// Webhook implements source.Webhook for the generic endpoint.
type Webhook struct{}

var _ source.Webhook = Webhook{}

// Verify checks "Authorization: Bearer <key>" against secret, the API key,
// in constant time.
func (Webhook) Verify(secret []byte, h http.Header, _ []byte, _ time.Time) error {
	auth := h.Get("Authorization")
	if auth == "" {
		return errors.New("Authorization: missing; send Authorization: Bearer <api key>")
	}
	scheme, key, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return errors.New("Authorization: want the Bearer scheme")
	}
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(key)), secret) != 1 {
		return errors.New("Authorization: unknown API key")
	}
	return nil
}

// Normalize decodes the events of body. Validation against the registry is
// left to the caller (the gateway dead-letters invalid events one by one).
func (Webhook) Normalize(env source.Env, _ http.Header, body []byte) (source.Result, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return source.Result{}, &source.InputError{Reason: "empty body; want an event object or an array of events"}
	}
	var raws []json.RawMessage
	array := body[0] == '['
	switch body[0] {
	case '{':
		raws = []json.RawMessage{body}
	case '[':
		if err := json.Unmarshal(body, &raws); err != nil {
			return source.Result{}, &source.InputError{Reason: "malformed JSON array: " + err.Error()}
		}
		if len(raws) == 0 {
			return source.Result{}, &source.InputError{Reason: "empty array; want at least one event"}
		}
		if len(raws) > MaxBatch {
			return source.Result{}, &source.InputError{Reason: fmt.Sprintf("%d events, more than the %d allowed per request", len(raws), MaxBatch)}
		}
	default:
		return source.Result{}, &source.InputError{Reason: "want an event object or an array of events"}
	}
	now := time.Now
	if env.Now != nil {
		now = env.Now
	}
	res := source.Result{Events: make([]events.Event, 0, len(raws))}
	for i, raw := range raws {
		ev, err := events.Decode(raw)
		if err != nil {
			return source.Result{}, prefixed(i, array, err)
		}
		switch {
		case ev.Community == "":
			ev.Community = env.Community
		case ev.Community != env.Community:
			return source.Result{}, &source.InputError{Field: path(i, array, "community"),
				Reason: fmt.Sprintf("event names %q but this endpoint is for %q", ev.Community, env.Community)}
		}
		ev.Normalize(now())
		env.Mark(&ev)
		res.Events = append(res.Events, ev)
	}
	return res, nil
}

// prefixed turns a decode error into an InputError whose field names the
// array element.
func prefixed(i int, array bool, err error) error {
	var de *events.DecodeError
	if errors.As(err, &de) {
		reason := de.Reason
		if de.Offset >= 0 {
			reason = fmt.Sprintf("%s (at byte %d)", reason, de.Offset)
		}
		return &source.InputError{Field: path(i, array, de.Path), Reason: reason}
	}
	return &source.InputError{Field: path(i, array, ""), Reason: err.Error()}
}

// path names field of element i ("[3].actor.source_id"), or just field when
// the body was a single object.
func path(i int, array bool, field string) string {
	if !array {
		return field
	}
	if field == "" {
		return fmt.Sprintf("[%d]", i)
	}
	return fmt.Sprintf("[%d].%s", i, field)
}
