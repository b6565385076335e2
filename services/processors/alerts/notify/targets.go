package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/orbitflow/orbitflow/schemas/alerts"
	"github.com/orbitflow/orbitflow/services/kit/config"
)

// maxResponseBody bounds how much of an answer is read; the rest is
// discarded with the connection.
const maxResponseBody = 64 << 10

// transport is shared by every HTTP target, so a reload of the rules file
// does not leave idle connections behind per old sender.
var transport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 4
	t.ResponseHeaderTimeout = MaxTimeout
	return t
}()

// poster POSTs JSON to one URL and classifies the answer.
type poster struct {
	name   string // the target's name
	kind   string // webhook, slack
	url    string
	where  string // the URL redacted, for errors
	client *http.Client
	// timeout bounds one attempt.
	timeout time.Duration
}

func newPoster(name, kind string, u *url.URL, timeout time.Duration) poster {
	return poster{name: name, kind: kind, url: u.String(), where: redactURL(u.String()), timeout: timeout,
		client: &http.Client{
			Transport: transport,
			// A redirected POST would lose its body or its method; the
			// target's URL should be the final one.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}}
}

// post sends body with headers and returns nil on a 2xx answer.
func (p poster) post(ctx context.Context, body []byte, header http.Header) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return Permanent(fmt.Errorf("notify: target %s: %s: build request to %s: %v", p.name, p.kind, p.where, stripURL(err)))
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Orbitflow-Alerts/1")
	resp, err := p.client.Do(req)
	if err != nil {
		// url.Error would print the full URL, query and all.
		return fmt.Errorf("notify: target %s: %s: POST %s: %w", p.name, p.kind, p.where, stripURL(err))
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody)) // let the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = &StatusError{Target: p.name, Kind: p.kind, Where: p.where, Code: resp.StatusCode,
		Body: oneLine(string(answer), 200), RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	if permanentHTTP(resp.StatusCode) {
		return Permanent(err)
	}
	return err
}

// StatusError is a non-2xx answer of an HTTP target.
type StatusError struct {
	Target string // the target's name
	Kind   string // webhook, slack
	Where  string // scheme and host of the URL
	Code   int
	Body   string // the start of the answer, on one line
	// RetryAfter is the target's Retry-After, if it sent one.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("notify: target %s: %s: %s answered HTTP %d %s", e.Target, e.Kind, e.Where, e.Code, http.StatusText(e.Code))
	if e.Body != "" {
		s += ": " + strconv.Quote(e.Body)
	}
	return s
}

// RetryDelay is the least delay the target asked for (Retry-After), or 0.
func (e *StatusError) RetryDelay() time.Duration { return e.RetryAfter }

func permanentHTTP(code int) bool {
	switch code {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound,
		http.StatusMethodNotAllowed, http.StatusGone, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return true
	}
	return false
}

// retryAfter parses a Retry-After header (seconds or an HTTP date).
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(min(s, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), 24*time.Hour)
	}
	return 0
}

// stripURL drops the *url.Error around err: its message holds the URL.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("timed out: %w", ue.Err)
		}
		return ue.Err
	}
	return err
}

// oneLine makes s printable on one line, at most n runes.
func oneLine(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return truncate(strings.TrimSpace(s), n)
}

// webhookSender POSTs the notification as JSON, signed.
type webhookSender struct {
	poster
	secret []byte
}

func (w *webhookSender) Send(ctx context.Context, d alerts.Delivery) error {
	body, kind, err := webhookBody(d)
	if err != nil {
		return Permanent(fmt.Errorf("notify: target %s: encode notification: %w", w.name, err))
	}
	if strings.ContainsAny(d.ID, "\r\n\x00") {
		return Permanent(fmt.Errorf("notify: target %s: delivery id %q is not a valid header value", w.name, d.ID))
	}
	ts := time.Now().Unix()
	h := http.Header{}
	h.Set(alerts.HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(alerts.HeaderDelivery, d.ID)
	h.Set(alerts.HeaderKind, kind)
	h.Set(alerts.HeaderSignature, Sign(w.secret, ts, body))
	return w.post(ctx, body, h)
}

// slackSender POSTs a Block Kit message to a Slack incoming webhook (or
// anything compatible: Mattermost, Rocket.Chat ...).
type slackSender struct{ poster }

func (s *slackSender) Send(ctx context.Context, d alerts.Delivery) error {
	body, err := json.Marshal(slackPayload(notificationOf(d)))
	if err != nil {
		return Permanent(fmt.Errorf("notify: target %s: encode message: %w", s.name, err))
	}
	return s.post(ctx, body, nil)
}

type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type string     `json:"type"`
	Text *slackText `json:"text,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Slack limits: a section's text is at most 3000 characters.
const (
	slackMaxText   = 2900
	slackMaxAlerts = 10
)

func section(text string) slackBlock {
	return slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: truncate(text, slackMaxText)}}
}

// slackPayload renders n: a headline (severity, status, title), the
// numbers of up to slackMaxAlerts alerts, and the link.
func slackPayload(n alerts.Notification) slackMessage {
	icon := map[string]string{"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}[n.Severity]
	if n.Status == alerts.StateResolved {
		icon = ":white_check_mark:"
	}
	if icon == "" {
		icon = ":bell:"
	}
	head := fmt.Sprintf("%s *%s* · %s: *%s*", icon, slackEscape(strings.ToUpper(oneLine(n.Severity, 20))),
		slackEscape(oneLine(n.Status, 20)), slackEscape(oneLine(n.Title, 300)))
	if n.Rule != "" || n.Community != "" {
		head += fmt.Sprintf("\nrule %s · community %s", slackEscape(oneLine(n.Rule, 100)), slackEscape(oneLine(n.Community, 100)))
	}
	msg := slackMessage{Text: fallbackText(n), Blocks: []slackBlock{section(head)}}

	var lines []string
	for i, a := range n.Alerts {
		if i == slackMaxAlerts {
			lines = append(lines, fmt.Sprintf("…and %d more", len(n.Alerts)-slackMaxAlerts))
			break
		}
		key := a.Key
		if key == "" {
			key = n.Community
		}
		line := fmt.Sprintf("• `%s` %s: value *%s* vs baseline %s%s", slackEscape(strings.ReplaceAll(oneLine(key, 80), "`", "'")),
			slackEscape(oneLine(a.State, 20)), formatNum(a.Value), formatNum(a.Baseline), change(a.Value, a.Baseline))
		if a.Summary != "" {
			line += " — " + slackEscape(oneLine(a.Summary, 160))
		}
		lines = append(lines, line)
	}
	if len(lines) > 0 {
		msg.Blocks = append(msg.Blocks, section(strings.Join(lines, "\n")))
	} else if n.Text != "" {
		msg.Blocks = append(msg.Blocks, section(slackEscape(n.Text)))
	}
	if n.URL != "" {
		msg.Blocks = append(msg.Blocks, section("<"+slackLinkURL(n.URL)+"|Open in Orbitflow>"))
	}
	return msg
}

func fallbackText(n alerts.Notification) string {
	s := fmt.Sprintf("[%s] %s", oneLine(n.Severity, 20), oneLine(n.Title, 300))
	if n.Status == alerts.StateResolved {
		s += " (resolved)"
	}
	return s
}

// slackEscape escapes Slack's control characters in mrkdwn text.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// slackLinkURL keeps a URL from ending the <url|label> link early.
func slackLinkURL(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "%3C", ">", "%3E", "|", "%7C", " ", "%20").Replace(s)
}

// formatNum prints a number briefly: integers as such, others with four
// significant digits.
func formatNum(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return strconv.FormatFloat(v, 'g', -1, 64)
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// change is the relative change from baseline to value, e.g. " (+25%)".
func change(value, baseline float64) string {
	if baseline == 0 || math.IsNaN(value) || math.IsNaN(baseline) || math.IsInf(value, 0) || math.IsInf(baseline, 0) {
		return ""
	}
	pct := (value - baseline) / math.Abs(baseline) * 100
	return fmt.Sprintf(" (%+.0f%%)", pct)
}

// emailSender sends one message per delivery through an SMTP relay.
type emailSender struct {
	name     string
	addr     string // host:port
	host     string
	tls      string
	timeout  time.Duration
	from     *mail.Address
	to       []*mail.Address
	username string
	password string
}

func newEmailSender(name string, t Target) (*emailSender, error) {
	host, _, _ := net.SplitHostPort(t.SMTP) // validated
	from, _ := parseAddress(t.From)
	s := &emailSender{name: name, addr: t.SMTP, host: host, tls: t.TLS, timeout: t.Timeout, from: from, username: t.Username}
	for _, to := range t.To {
		a, _ := parseAddress(to)
		s.to = append(s.to, a)
	}
	if t.Password != "" {
		p, err := config.ResolveSecret(t.Password)
		if err != nil {
			return nil, fmt.Errorf("targets.%s.password: %w", name, err)
		}
		s.password = p
	}
	return s, nil
}

func (s *emailSender) Send(ctx context.Context, d alerts.Delivery) error {
	msg := s.message(d, time.Now())
	if err := s.send(ctx, msg); err != nil {
		err = fmt.Errorf("notify: target %s: smtp %s: %w", s.name, s.addr, err)
		var te *textproto.Error
		if errors.As(err, &te) && te.Code >= 500 && te.Code < 600 {
			return Permanent(err)
		}
		return err
	}
	return nil
}

// send runs one SMTP session. The connection is closed when ctx ends, so
// nothing here blocks past it.
func (s *emailSender) send(ctx context.Context, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	dialer := &net.Dialer{}
	var conn net.Conn
	var err error
	if s.tls == TLSImplicit {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: s.tlsConfig()}).DialContext(ctx, "tcp", s.addr)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		return ctxErr(ctx, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return ctxErr(ctx, fmt.Errorf("greeting: %w", err))
	}
	defer c.Close()
	if err := c.Hello(helloName()); err != nil {
		return ctxErr(ctx, fmt.Errorf("EHLO: %w", err))
	}
	encrypted := s.tls == TLSImplicit
	if s.tls == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tlsConfig()); err != nil {
				return ctxErr(ctx, fmt.Errorf("STARTTLS: %w", err))
			}
			encrypted = true
		}
	}
	if s.username != "" && !encrypted && !isLoopback(s.host) {
		return Permanent(errors.New("the relay does not offer STARTTLS: refusing to send the password in clear (use tls: tls, or a relay that offers STARTTLS)"))
	}
	if s.username != "" {
		// PlainAuth itself refuses an unencrypted connection to anything
		// but loopback.
		if err := c.Auth(smtp.PlainAuth("", s.username, s.password, s.host)); err != nil {
			return ctxErr(ctx, fmt.Errorf("AUTH as %s: %w", s.username, err))
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return ctxErr(ctx, fmt.Errorf("MAIL FROM: %w", err))
	}
	for _, to := range s.to {
		if err := c.Rcpt(to.Address); err != nil {
			return ctxErr(ctx, fmt.Errorf("RCPT TO %s: %w", to.Address, err))
		}
	}
	w, err := c.Data()
	if err != nil {
		return ctxErr(ctx, fmt.Errorf("DATA: %w", err))
	}
	if _, err := w.Write(msg); err != nil {
		return ctxErr(ctx, fmt.Errorf("DATA: %w", err))
	}
	if err := w.Close(); err != nil {
		return ctxErr(ctx, fmt.Errorf("end of DATA: %w", err))
	}
	// The relay took the message; a failed QUIT changes nothing.
	_ = c.Quit()
	return nil
}

func (s *emailSender) tlsConfig() *tls.Config {
	return &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
}

// ctxErr reports a session cut short by ctx (or by the connection's
// deadline, which is ctx's) as ctx's error: a closed connection's error
// says less.
func ctxErr(ctx context.Context, err error) error {
	cause := ctx.Err()
	if cause == nil && errors.Is(err, os.ErrDeadlineExceeded) {
		cause = context.DeadlineExceeded
	}
	if cause != nil {
		return fmt.Errorf("%w (%v)", cause, err)
	}
	return err
}

func helloName() string {
	h, err := os.Hostname()
	if err != nil || h == "" || strings.ContainsAny(h, " \r\n") {
		return "localhost"
	}
	return h
}

// message renders d as an RFC 5322 message, CRLF line ends. Header values
// are stripped of line breaks; the Message-ID derives from the delivery id,
// so every retry carries the same one.
func (s *emailSender) message(d alerts.Delivery, now time.Time) []byte {
	n := notificationOf(d)
	subject := fmt.Sprintf("[%s] %s", oneLine(n.Severity, 20), oneLine(n.Title, 200))
	if n.Status == alerts.StateResolved {
		subject += " (resolved)"
	}
	text := n.Text
	if n.URL != "" {
		text = strings.TrimRight(text, "\n") + "\n\n" + n.URL + "\n"
	}
	return s.mail(Mail{ID: d.ID, Subject: subject, Text: text}, now, alerts.HeaderDelivery, d.ID)
}

// headerValue strips what could end a header or start another.
func headerValue(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return ' '
		}
		return r
	}, s)
}
