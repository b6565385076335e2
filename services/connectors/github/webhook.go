package github

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/orbitflow/orbitflow/services/connectors/source"
)

// Webhook headers.
const (
	HeaderEvent     = "X-GitHub-Event"
	HeaderDelivery  = "X-GitHub-Delivery"
	HeaderSignature = "X-Hub-Signature-256"
)

// Webhook is GitHub's webhook deliveries; it implements source.Webhook.
// The zero value is ready and safe for concurrent use.
type Webhook struct{}

var _ source.Webhook = Webhook{}

// Verify checks X-Hub-Signature-256, "sha256=" and the hex HMAC-SHA256 of
// body keyed with secret, in constant time. It returns a
// *source.InputError naming the header when the signature is missing,
// malformed or wrong, or when secret is empty. now is not used: GitHub
// signs no timestamp.
func (Webhook) Verify(secret []byte, h http.Header, body []byte, now time.Time) error {
	if len(secret) == 0 {
		return &source.InputError{Field: HeaderSignature, Reason: "no secret configured to check it"}
	}
	sig := h.Get(HeaderSignature)
	if sig == "" {
		return &source.InputError{Field: HeaderSignature, Reason: "missing"}
	}
	hexSum, ok := strings.CutPrefix(sig, "sha256=")
	if !ok {
		return &source.InputError{Field: HeaderSignature, Reason: "malformed: want sha256=<hex>"}
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil || len(got) != sha256.Size {
		return &source.InputError{Field: HeaderSignature, Reason: "malformed: want 64 hex digits after sha256="}
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return &source.InputError{Field: HeaderSignature, Reason: "does not match the body"}
	}
	return nil
}

// Normalize maps a delivery: the event name is X-GitHub-Event, the body
// its JSON payload. The delivery id (X-GitHub-Delivery) is kept as the
// attribute "delivery"; event ids do not depend on it. A missing event
// header or a body that is not a JSON object of the expected shape is a
// *source.InputError.
func (Webhook) Normalize(env source.Env, h http.Header, body []byte) (source.Result, error) {
	name := h.Get(HeaderEvent)
	if name == "" {
		return source.Result{}, source.Missing(HeaderEvent)
	}
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		return source.Result{}, &source.InputError{Field: "body", Reason: "malformed JSON: " + err.Error()}
	}
	it := item{env: env, name: name, p: &p, delivery: h.Get(HeaderDelivery)}
	return it.normalize()
}
