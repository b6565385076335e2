// Package notify delivers alert notifications to their targets: signed
// webhooks, Slack incoming webhooks and e-mail over SMTP.
//
// Targets (Target) come from the alert rules file; NewSender turns one into
// a Sender. The Notifier consumes schemas/alerts.Delivery messages from the
// ALERTS stream (subjects.AlertDelivery), sends each with the sender of its
// target, and acks it once the target took it. A target that fails for a
// while is retried with jittered exponential backoff (the message is naked
// with a delay, so nothing sleeps while holding it); one that refuses for
// good, or keeps failing for its max_attempts, gets the delivery
// dead-lettered (subjects.StageAlerts), and only then is it acked.
//
// Delivery is at least once: a retry after a send that the target took but
// whose answer was lost sends the same notification again. Receivers
// deduplicate on the delivery id (alerts.HeaderDelivery, the e-mail
// Message-ID, or Notification.ID).
package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/orbitflow/orbitflow/schemas/alerts"
	"github.com/orbitflow/orbitflow/services/kit/config"
)

// Target types.
const (
	TypeWebhook = "webhook"
	TypeSlack   = "slack"
	TypeEmail   = "email"
)

// E-mail transport security (Target.TLS).
const (
	// TLSStartTLS upgrades the connection with STARTTLS when the server
	// offers it; the default. Without it the message goes in clear, but
	// credentials never do (except to a loopback server).
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (SMTPS, usually port 465).
	TLSImplicit = "tls"
	// TLSNone never uses TLS: only sensible towards a relay on loopback.
	TLSNone = "none"
)

// Defaults and bounds of a target.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultMaxAttempts = 8
	// MaxTimeout bounds one attempt: it must end well within the
	// consumer's AckWait (subjects.AlertConsumer).
	MaxTimeout = time.Minute
	// MaxAttemptsLimit is the largest max_attempts; the consumer is
	// declared with it (subjects.AlertConsumer(MaxAttemptsLimit)).
	MaxAttemptsLimit = 100
)

// Target is one notification target of the alert rules file (YAML under
// `targets:`, keyed by name). Fields that do not apply to Type must be
// empty.
type Target struct {
	// Type is webhook, slack or email.
	Type string `yaml:"type" json:"type"`
	// URL is where webhook and slack targets POST: an http or https URL,
	// or env:NAME / file:PATH holding one (a Slack webhook URL is itself a
	// secret).
	URL string `yaml:"url" json:"url,omitempty"`
	// Secret is the webhook's HMAC-SHA256 key (env:NAME, file:PATH or the
	// value itself); required for webhook targets.
	Secret string `yaml:"secret" json:"-"`
	// Timeout bounds one attempt (connect, send, answer); 0 means
	// DefaultTimeout, at most MaxTimeout.
	Timeout time.Duration `yaml:"timeout" json:"timeout,omitempty"`
	// MaxAttempts is how many times a delivery is tried before it is
	// dead-lettered; 0 means DefaultMaxAttempts, at most MaxAttemptsLimit.
	MaxAttempts int `yaml:"max_attempts" json:"max_attempts,omitempty"`

	// SMTP is the e-mail relay, host:port.
	SMTP string `yaml:"smtp" json:"smtp,omitempty"`
	// From is the sender address ("Orbitflow <alerts@example.com>" or a
	// bare address).
	From string `yaml:"from" json:"from,omitempty"`
	// To are the recipients' addresses.
	To []string `yaml:"to" json:"to,omitempty"`
	// Username and Password authenticate with AUTH PLAIN; only over TLS,
	// or to a loopback relay. Password is env:NAME, file:PATH or the value.
	Username string `yaml:"username" json:"username,omitempty"`
	Password string `yaml:"password" json:"-"`
	// TLS is starttls (the default), tls (implicit TLS) or none.
	TLS string `yaml:"tls" json:"tls,omitempty"`
}

// Validate reports every problem with t, each as "path.field: what was
// expected, got X". Secrets are resolved (an unset variable or unreadable
// file is a problem); errors never contain a secret's value.
func (t Target) Validate(path string) []error {
	var errs []error
	add := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", path, field, fmt.Sprintf(format, a...)))
	}
	if t.Timeout != 0 && (t.Timeout < 100*time.Millisecond || t.Timeout > MaxTimeout) {
		add("timeout", "want 0 (default %s) or 100ms..%s, got %s", DefaultTimeout, MaxTimeout, t.Timeout)
	}
	if t.MaxAttempts < 0 || t.MaxAttempts > MaxAttemptsLimit {
		add("max_attempts", "want 0 (default %d) or 1..%d, got %d", DefaultMaxAttempts, MaxAttemptsLimit, t.MaxAttempts)
	}
	// only reports fields set that type does not use.
	only := func(typ string, fields map[string]bool) {
		for _, f := range []string{"url", "secret", "smtp", "from", "to", "username", "password", "tls"} {
			if fields[f] {
				add(f, "only for %s targets, but type is %q", typ, t.Type)
			}
		}
	}
	switch t.Type {
	case TypeWebhook, TypeSlack:
		if _, err := resolveURL(t.URL); err != nil {
			add("url", "%v", err)
		}
		if t.Type == TypeWebhook {
			if t.Secret == "" {
				add("secret", "want the HMAC key (env:NAME, file:PATH or the value), got nothing")
			} else if _, err := config.ResolveSecret(t.Secret); err != nil {
				add("secret", "%v", err)
			}
		} else if t.Secret != "" {
			add("secret", "only for webhook targets, but type is %q", t.Type)
		}
		only("email", map[string]bool{"smtp": t.SMTP != "", "from": t.From != "", "to": len(t.To) > 0,
			"username": t.Username != "", "password": t.Password != "", "tls": t.TLS != ""})
	case TypeEmail:
		errs = append(errs, t.validateEmail(path)...)
		only("webhook and slack", map[string]bool{"url": t.URL != "", "secret": t.Secret != ""})
	default:
		add("type", "want %s, %s or %s, got %q", TypeWebhook, TypeSlack, TypeEmail, t.Type)
	}
	return errs
}

func (t Target) validateEmail(path string) []error {
	var errs []error
	add := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", path, field, fmt.Sprintf(format, a...)))
	}
	host, port, err := net.SplitHostPort(t.SMTP)
	if p, perr := strconv.Atoi(port); err != nil || perr != nil || host == "" || p < 1 || p > 65535 {
		add("smtp", "want host:port of the mail relay (e.g. smtp.example.com:587), got %q", t.SMTP)
	}
	if _, err := parseAddress(t.From); err != nil {
		add("from", "want an e-mail address, got %q", t.From)
	}
	if len(t.To) == 0 {
		add("to", "want at least one recipient address, got none")
	}
	for i, to := range t.To {
		if _, err := parseAddress(to); err != nil {
			add(fmt.Sprintf("to[%d]", i), "want an e-mail address, got %q", to)
		}
	}
	switch t.TLS {
	case "", TLSStartTLS, TLSImplicit, TLSNone:
	default:
		add("tls", "want %s, %s or %s, got %q", TLSStartTLS, TLSImplicit, TLSNone, t.TLS)
	}
	if (t.Username == "") != (t.Password == "") {
		add("username", "username and password go together")
	}
	if t.Password != "" {
		if _, err := config.ResolveSecret(t.Password); err != nil {
			add("password", "%v", err)
		}
	}
	if t.Username != "" && t.TLS == TLSNone && host != "" && !isLoopback(host) {
		add("tls", "none would send the password in clear to %s; want starttls or tls (none only towards a loopback relay)", host)
	}
	return errs
}

// withDefaults fills the defaults of unset fields.
func (t Target) withDefaults() Target {
	if t.Timeout == 0 {
		t.Timeout = DefaultTimeout
	}
	if t.MaxAttempts == 0 {
		t.MaxAttempts = DefaultMaxAttempts
	}
	if t.Type == TypeEmail && t.TLS == "" {
		t.TLS = TLSStartTLS
	}
	return t
}

// Attempts is how many times a delivery to t is tried: MaxAttempts, or the
// default when unset.
func (t Target) Attempts() int { return t.withDefaults().MaxAttempts }

// Sender delivers notifications to one target. Send blocks for at most the
// target's timeout (or until ctx ends) and is safe for concurrent use. Its
// error wraps ErrPermanent when retrying cannot help.
type Sender interface {
	Send(ctx context.Context, d alerts.Delivery) error
}

// NewSender validates t, resolves its secrets, fills its defaults and
// returns the sender for it. name is the target's name in the rules file:
// errors say "targets.<name>..." and name which target failed.
func NewSender(name string, t Target) (Sender, error) {
	if errs := t.Validate("targets." + name); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	t = t.withDefaults()
	switch t.Type {
	case TypeWebhook:
		u, _ := resolveURL(t.URL) // validated
		secret, _ := config.ResolveSecret(t.Secret)
		return &webhookSender{poster: newPoster(name, "webhook", u, t.Timeout), secret: []byte(secret)}, nil
	case TypeSlack:
		u, _ := resolveURL(t.URL)
		return &slackSender{poster: newPoster(name, "slack", u, t.Timeout)}, nil
	default:
		return newEmailSender(name, t)
	}
}

// ErrPermanent marks errors retrying cannot fix: the target refused the
// notification (HTTP 400, 401, 403, 404, 405, 410, 413, 422; SMTP 5xx).
// Test with errors.Is.
var ErrPermanent = errors.New("permanent failure")

// Permanent marks err as permanent: errors.Is(Permanent(err), ErrPermanent).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

type permanentError struct{ err error }

func (e permanentError) Error() string        { return e.err.Error() }
func (e permanentError) Unwrap() error        { return e.err }
func (e permanentError) Is(target error) bool { return target == ErrPermanent }

// Sign returns the webhook signature header value for body sent at ts
// (Unix seconds): "sha256=" and the hex HMAC-SHA256 of "<ts>.<body>".
func Sign(secret []byte, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(strconv.AppendInt(nil, ts, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// ErrSignature is wrapped by every error of Verify.
var ErrSignature = errors.New("webhook signature")

// DefaultMaxAge is the age Verify allows when given maxAge <= 0.
const DefaultMaxAge = 5 * time.Minute

// Verify checks a webhook request as a receiver should: the signature of
// body with secret (compared in constant time) and a timestamp no further
// than maxAge from now in either direction, so a captured request cannot
// be replayed later. maxAge <= 0 means DefaultMaxAge. Receivers still
// deduplicate on alerts.HeaderDelivery: a retry is a new, valid request.
func Verify(secret []byte, header http.Header, body []byte, maxAge time.Duration, now time.Time) error {
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	tsText := header.Get(alerts.HeaderTimestamp)
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: want Unix seconds in %s, got %q", ErrSignature, alerts.HeaderTimestamp, truncate(tsText, 32))
	}
	sig := header.Get(alerts.HeaderSignature)
	if !strings.HasPrefix(sig, "sha256=") {
		return fmt.Errorf("%w: want sha256=<hex> in %s", ErrSignature, alerts.HeaderSignature)
	}
	if !hmac.Equal([]byte(sig), []byte(Sign(secret, ts, body))) {
		return fmt.Errorf("%w: does not match the body and timestamp (wrong secret or altered request)", ErrSignature)
	}
	// Checked after the signature, so the answer to a forged request
	// does not depend on its timestamp.
	age := now.Sub(time.Unix(ts, 0))
	if age > maxAge || age < -maxAge {
		return fmt.Errorf("%w: timestamp %d is %s away from now, more than %s (a replay, or clocks apart)", ErrSignature, ts, age.Round(time.Second), maxAge)
	}
	return nil
}

// resolveURL resolves an env:/file: URL and checks it is http(s) with a
// host. Its errors show the URL redacted (scheme and host only).
func resolveURL(s string) (*url.URL, error) {
	raw, err := config.ResolveSecret(s)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("want an http(s) URL, got %q", redactURL(raw))
	}
	return u, nil
}

// redactURL shows where a URL points but not its path or query, which may
// hold a token (Slack's webhook URLs do).
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err == nil && u.Host != "" {
		out := u.Scheme + "://" + u.Host
		if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil {
			out += "/…"
		}
		return out
	}
	return truncate(s, 16)
}

func parseAddress(s string) (*mail.Address, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("line break in address")
	}
	return mail.ParseAddress(s)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// truncate cuts s to at most n runes, marking the cut with "…".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j] + "…"
		}
		i++
	}
	return s
}
