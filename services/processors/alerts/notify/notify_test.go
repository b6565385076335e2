package notify_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/alerts"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/processors/alerts/notify"
)

const testSecret = "s3cret-hmac-key"

// delivery is a realistic delivery to target.
func delivery(id, target string) alerts.Delivery {
	started := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	return alerts.Delivery{
		ID:     id + "/" + target,
		Target: target,
		Notification: alerts.Notification{
			ID:        id,
			Rule:      "activity-drop",
			Community: "acme",
			Severity:  "critical",
			Status:    alerts.StateFiring,
			Title:     "Activity dropped in acme",
			Text:      "Daily activities: 42 vs baseline 12.5 over the last 7 days.",
			URL:       "https://orbitflow.example.com/alerts/" + id,
			At:        started.Add(time.Hour),
			Alerts: []alerts.Alert{{
				ID: "a1", Key: "github", State: alerts.StateFiring, Value: 42, Baseline: 12.5,
				Summary: "activities up", StartedAt: started, Labels: map[string]string{"source": "github"},
			}},
		},
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func newSender(t *testing.T, name string, target notify.Target) notify.Sender {
	t.Helper()
	s, err := notify.NewSender(name, target)
	require.NoError(t, err)
	return s
}

func TestWebhookSignsTheExactBody(t *testing.T) {
	d := delivery("n1", "ops")
	type receipt struct {
		header http.Header
		body   []byte
	}
	got := make(chan receipt, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := notify.Verify([]byte(testSecret), r.Header, body, time.Minute, time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		got <- receipt{r.Header.Clone(), body}
	}))
	defer srv.Close()

	s := newSender(t, "ops", notify.Target{Type: notify.TypeWebhook, URL: srv.URL + "/hook", Secret: testSecret})
	require.NoError(t, s.Send(ctxT(t, 10*time.Second), d))
	r := <-got
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	require.Equal(t, d.ID, r.header.Get(alerts.HeaderDelivery))
	var n alerts.Notification
	require.NoError(t, json.Unmarshal(r.body, &n))
	require.Equal(t, d.Notification, n)

	ts, err := strconv.ParseInt(r.header.Get(alerts.HeaderTimestamp), 10, 64)
	require.NoError(t, err)
	require.Equal(t, notify.Sign([]byte(testSecret), ts, r.body), r.header.Get(alerts.HeaderSignature))

	now := time.Unix(ts, 0)
	require.ErrorIs(t, notify.Verify([]byte("wrong"), r.header, r.body, time.Minute, now), notify.ErrSignature, "wrong secret")
	require.ErrorIs(t, notify.Verify([]byte(testSecret), r.header, append(r.body, ' '), time.Minute, now), notify.ErrSignature, "altered body")
	err = notify.Verify([]byte(testSecret), r.header, r.body, 5*time.Minute, now.Add(10*time.Minute))
	require.ErrorIs(t, err, notify.ErrSignature, "a replay ten minutes later")
	require.ErrorContains(t, err, "away from now")
	require.ErrorIs(t, notify.Verify([]byte(testSecret), r.header, r.body, 5*time.Minute, now.Add(-10*time.Minute)), notify.ErrSignature, "from the future")
	require.NoError(t, notify.Verify([]byte(testSecret), r.header, r.body, 5*time.Minute, now.Add(4*time.Minute)))
}

func TestVerifyRejectsMalformedHeaders(t *testing.T) {
	body := []byte(`{"id":"x"}`)
	now := time.Unix(1_770_000_000, 0)
	good := notify.Sign([]byte(testSecret), now.Unix(), body)
	for _, tc := range []struct {
		name, ts, sig string
	}{
		{"no timestamp", "", good},
		{"timestamp not a number", "yesterday", good},
		{"no signature", strconv.FormatInt(now.Unix(), 10), ""},
		{"other algorithm", strconv.FormatInt(now.Unix(), 10), "sha1=" + strings.TrimPrefix(good, "sha256=")},
		{"signature of another timestamp", strconv.FormatInt(now.Unix()+1, 10), good},
		{"truncated signature", strconv.FormatInt(now.Unix(), 10), good[:len(good)-2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.ts != "" {
				h.Set(alerts.HeaderTimestamp, tc.ts)
			}
			if tc.sig != "" {
				h.Set(alerts.HeaderSignature, tc.sig)
			}
			require.ErrorIs(t, notify.Verify([]byte(testSecret), h, body, time.Minute, now), notify.ErrSignature)
		})
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("1770000000", "sha256=00", []byte(`{}`))
	f.Add("-1", "sha256=", []byte(nil))
	f.Add("99999999999999999999", "x", []byte("body"))
	now := time.Unix(1_770_000_000, 0)
	f.Fuzz(func(t *testing.T, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(alerts.HeaderTimestamp, ts)
		h.Set(alerts.HeaderSignature, sig)
		err := notify.Verify([]byte(testSecret), h, body, time.Minute, now)
		if err == nil {
			n, perr := strconv.ParseInt(ts, 10, 64)
			require.NoError(t, perr)
			require.Equal(t, notify.Sign([]byte(testSecret), n, body), sig)
		}
		// A valid signature is accepted whatever the body.
		h.Set(alerts.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		h.Set(alerts.HeaderSignature, notify.Sign([]byte(testSecret), now.Unix(), body))
		require.NoError(t, notify.Verify([]byte(testSecret), h, body, time.Minute, now))
	})
}

func TestHTTPStatusClassification(t *testing.T) {
	var code atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := int(code.Load()); c >= 300 && c < 400 {
			w.Header().Set("Location", "https://elsewhere.example.com/")
		}
		w.WriteHeader(int(code.Load()))
		fmt.Fprint(w, "nope\r\nsecond line")
	}))
	defer srv.Close()
	// The query string stands for a token in the URL: it must never show.
	s := newSender(t, "ops", notify.Target{Type: notify.TypeWebhook, URL: srv.URL + "/hook?token=SECRETQ", Secret: testSecret})
	for _, tc := range []struct {
		code      int
		permanent bool
	}{
		{400, true}, {401, true}, {403, true}, {404, true}, {405, true}, {410, true}, {413, true}, {422, true},
		{408, false}, {409, false}, {429, false}, {500, false}, {502, false}, {503, false}, {504, false},
		{302, false}, // not followed: a redirected POST loses its body
	} {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			code.Store(int32(tc.code))
			err := s.Send(ctxT(t, 10*time.Second), delivery("n1", "ops"))
			require.Error(t, err)
			require.Equal(t, tc.permanent, errors.Is(err, notify.ErrPermanent), "%v", err)
			require.ErrorContains(t, err, "target ops")
			require.ErrorContains(t, err, "HTTP "+strconv.Itoa(tc.code))
			require.ErrorContains(t, err, `"nope  second line"`, "the answer's start, on one line")
			require.NotContains(t, err.Error(), "SECRETQ")
			require.NotContains(t, err.Error(), testSecret)
			var se *notify.StatusError
			require.ErrorAs(t, err, &se)
			require.Equal(t, tc.code, se.Code)
		})
	}
}

func TestHTTPRetryAfterIsKept(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	s := newSender(t, "chat", notify.Target{Type: notify.TypeSlack, URL: srv.URL})
	err := s.Send(ctxT(t, 10*time.Second), delivery("n1", "chat"))
	var se *notify.StatusError
	require.ErrorAs(t, err, &se)
	require.Equal(t, 30*time.Second, se.RetryAfter)
	require.False(t, errors.Is(err, notify.ErrPermanent))
}

func TestHTTPNetworkErrorsAreTransientAndRedacted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now

	s := newSender(t, "ops", notify.Target{Type: notify.TypeWebhook, URL: "http://" + addr + "/hook?token=SECRETQ", Secret: testSecret})
	err = s.Send(ctxT(t, 10*time.Second), delivery("n1", "ops"))
	require.Error(t, err)
	require.False(t, errors.Is(err, notify.ErrPermanent))
	require.ErrorContains(t, err, "target ops")
	require.NotContains(t, err.Error(), "SECRETQ")

	// A target that never answers: the attempt ends at the target's timeout.
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	defer srv.Close()
	defer close(hang)
	s = newSender(t, "slow", notify.Target{Type: notify.TypeWebhook, URL: srv.URL, Secret: testSecret, Timeout: 200 * time.Millisecond})
	err = s.Send(ctxT(t, 10*time.Second), delivery("n1", "slow"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.False(t, errors.Is(err, notify.ErrPermanent))
}

// slackMessage is what a Slack incoming webhook accepts.
type slackMessage struct {
	Text   string `json:"text"`
	Blocks []struct {
		Type string `json:"type"`
		Text struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"text"`
	} `json:"blocks"`
}

// slackServer answers like Slack and hands over each message.
func slackServer(t *testing.T) (*httptest.Server, chan slackMessage) {
	got := make(chan slackMessage, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m slackMessage
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if r.Header.Get("Content-Type") != "application/json" || dec.Decode(&m) != nil {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		got <- m
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// checkBlockKit checks the limits Slack enforces.
func checkBlockKit(t *testing.T, m slackMessage) string {
	t.Helper()
	require.NotEmpty(t, m.Text)
	require.NotEmpty(t, m.Blocks)
	require.LessOrEqual(t, len(m.Blocks), 50)
	var all []string
	for _, b := range m.Blocks {
		require.Equal(t, "section", b.Type)
		require.Equal(t, "mrkdwn", b.Text.Type)
		require.NotEmpty(t, b.Text.Text)
		require.Less(t, len([]rune(b.Text.Text)), 3000)
		all = append(all, b.Text.Text)
	}
	return strings.Join(all, "\n")
}

func TestSlackMessage(t *testing.T) {
	srv, got := slackServer(t)
	s := newSender(t, "chat", notify.Target{Type: notify.TypeSlack, URL: srv.URL + "/services/T0/B0/XYZ"})
	d := delivery("n1", "chat")
	require.NoError(t, s.Send(ctxT(t, 10*time.Second), d))
	m := <-got
	text := checkBlockKit(t, m)
	require.Contains(t, m.Text, "Activity dropped in acme")
	require.Contains(t, text, "CRITICAL")
	require.Contains(t, text, "Activity dropped in acme")
	require.Contains(t, text, "*42*")
	require.Contains(t, text, "baseline 12.5")
	require.Contains(t, text, "(+236%)")
	require.Contains(t, text, "<"+d.Notification.URL+"|")
}

func TestSlackMessageStaysWithinLimits(t *testing.T) {
	srv, got := slackServer(t)
	s := newSender(t, "chat", notify.Target{Type: notify.TypeSlack, URL: srv.URL})
	d := delivery("n2", "chat")
	d.Notification.Title = strings.Repeat("<b>long & title ", 100)
	d.Notification.URL = "https://orbitflow.example.com/alerts?rule=a&x=<|>"
	d.Notification.Alerts = nil
	for i := range 25 {
		d.Notification.Alerts = append(d.Notification.Alerts, alerts.Alert{Key: fmt.Sprintf("member-%d`<x>", i), State: alerts.StateFiring,
			Value: float64(i) + 0.123456, Baseline: 3, Summary: strings.Repeat("é", 1000)})
	}
	require.NoError(t, s.Send(ctxT(t, 10*time.Second), d))
	text := checkBlockKit(t, <-got)
	require.Contains(t, text, "and 15 more")
	require.Contains(t, text, "`member-9'&lt;x&gt;`")
	require.NotContains(t, text, "member-10'", "only the first ten alerts")
	require.Contains(t, text, "*9.123*")
	require.NotContains(t, text, "<b>", "mrkdwn control characters are escaped")
	require.Contains(t, text, "&lt;b&gt;long &amp; title")
	require.Contains(t, text, "<https://orbitflow.example.com/alerts?rule=a&amp;x=%3C%7C%3E|Open in Orbitflow>")

	// No alerts: the text carries the numbers.
	d.Notification.Alerts = nil
	require.NoError(t, s.Send(ctxT(t, 10*time.Second), d))
	require.Contains(t, checkBlockKit(t, <-got), "42 vs baseline 12.5")
}

func emailTarget(addr string) notify.Target {
	return notify.Target{Type: notify.TypeEmail, SMTP: addr, TLS: notify.TLSNone, From: "Orbitflow <alerts@orbitflow.example.com>",
		To: []string{"ops@example.com", "Jane Doe <jane@example.com>"}}
}

// readMail parses a received message and decodes its body.
func readMail(t *testing.T, data []byte) (*mail.Message, string) {
	t.Helper()
	msg, err := mail.ReadMessage(bufio.NewReader(strings.NewReader(string(data))))
	require.NoError(t, err)
	require.Equal(t, "quoted-printable", msg.Header.Get("Content-Transfer-Encoding"))
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	require.NoError(t, err)
	return msg, string(body)
}

func TestEmailMessage(t *testing.T) {
	srv := kittest.NewSMTPServer(t, nil)
	s := newSender(t, "mail", emailTarget(srv.Addr()))
	d := delivery("n1", "mail")
	require.NoError(t, s.Send(ctxT(t, 10*time.Second), d))
	m := <-srv.Got
	require.Equal(t, "alerts@orbitflow.example.com", m.From)
	require.Equal(t, []string{"ops@example.com", "jane@example.com"}, m.To)
	msg, body := readMail(t, m.Data)
	require.Equal(t, "[critical] Activity dropped in acme", msg.Header.Get("Subject"))
	to, err := msg.Header.AddressList("To")
	require.NoError(t, err)
	require.Equal(t, []*mail.Address{{Address: "ops@example.com"}, {Name: "Jane Doe", Address: "jane@example.com"}}, to)
	from, err := msg.Header.AddressList("From")
	require.NoError(t, err)
	require.Equal(t, "alerts@orbitflow.example.com", from[0].Address)
	_, err = msg.Header.Date()
	require.NoError(t, err)
	require.Equal(t, "1.0", msg.Header.Get("MIME-Version"))
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "text/plain", mt)
	require.Equal(t, "utf-8", params["charset"])
	require.Contains(t, body, "42 vs baseline 12.5")
	require.Contains(t, body, d.Notification.URL)

	// A retry carries the same Message-ID.
	require.NoError(t, s.Send(ctxT(t, 10*time.Second), d))
	again, _ := readMail(t, (<-srv.Got).Data)
	require.NotEmpty(t, msg.Header.Get("Message-ID"))
	require.Equal(t, msg.Header.Get("Message-ID"), again.Header.Get("Message-ID"))
	other := delivery("n2", "mail")
	require.NoError(t, s.Send(ctxT(t, 10*time.Second), other))
	third, _ := readMail(t, (<-srv.Got).Data)
	require.NotEqual(t, msg.Header.Get("Message-ID"), third.Header.Get("Message-ID"))
}

func TestEmailHeaderInjection(t *testing.T) {
	srv := kittest.NewSMTPServer(t, nil)
	s := newSender(t, "mail", emailTarget(srv.Addr()))
	d := delivery("n1", "mail")
	d.Notification.Title = "Drop\r\nBcc: victim@example.com\r\n\r\nfake body"
	d.Notification.Severity = "critical\nX-Evil: 1"
	require.NoError(t, s.Send(ctxT(t, 10*time.Second), d))
	m := <-srv.Got
	require.Equal(t, []string{"ops@example.com", "jane@example.com"}, m.To)
	msg, _ := readMail(t, m.Data)
	require.Empty(t, msg.Header.Get("Bcc"))
	require.Empty(t, msg.Header.Get("X-Evil"))
	require.Contains(t, msg.Header.Get("Subject"), "Bcc: victim@example.com")

	// Non-ASCII subjects are encoded (RFC 2047) and decode back.
	d.Notification.Title = "Activité en baisse — ça chute"
	d.Notification.Severity = "warning"
	require.NoError(t, s.Send(ctxT(t, 10*time.Second), d))
	msg, _ = readMail(t, (<-srv.Got).Data)
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	require.NoError(t, err)
	require.Equal(t, "[warning] Activité en baisse — ça chute", subject)
}

func TestEmailReplyClassification(t *testing.T) {
	for _, tc := range []struct {
		cmd, reply string
		permanent  bool
	}{
		{"RCPT", "550 5.1.1 no such user", true},
		{"MAIL", "553 5.7.1 sender rejected", true},
		{"DATA", "554 5.6.0 message refused", true},
		{"DATA", "451 4.3.0 try again later", false},
		{"RCPT", "452 4.2.2 mailbox full", false},
		{"MAIL", "421 4.3.2 shutting down", false},
		{"AUTH", "535 5.7.8 bad credentials", true},
	} {
		t.Run(tc.cmd+" "+tc.reply[:3], func(t *testing.T) {
			srv := kittest.NewSMTPServer(t, func(_ int, cmd string) string {
				if cmd == tc.cmd {
					return tc.reply
				}
				return ""
			})
			target := emailTarget(srv.Addr())
			target.Username, target.Password = "notifier", "hunter2"
			s := newSender(t, "mail", target)
			err := s.Send(ctxT(t, 10*time.Second), delivery("n1", "mail"))
			require.Error(t, err)
			require.Equal(t, tc.permanent, errors.Is(err, notify.ErrPermanent), "%v", err)
			require.ErrorContains(t, err, "target mail")
			require.ErrorContains(t, err, tc.reply[:3])
			require.NotContains(t, err.Error(), "hunter2")
		})
	}
}

func TestEmailTimeout(t *testing.T) {
	// A relay that accepts the connection and never greets.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(io.Discard, c) // until the client gives up
	}()
	defer wg.Wait()
	defer ln.Close()
	target := emailTarget(ln.Addr().String())
	target.Timeout = 200 * time.Millisecond
	s := newSender(t, "mail", target)
	err = s.Send(ctxT(t, 10*time.Second), delivery("n1", "mail"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.False(t, errors.Is(err, notify.ErrPermanent))
}

func TestTargetValidate(t *testing.T) {
	t.Setenv("ORBITFLOW_TEST_HOOK_SECRET", "from-env")
	webhook := notify.Target{Type: notify.TypeWebhook, URL: "https://hooks.example.com/x", Secret: "env:ORBITFLOW_TEST_HOOK_SECRET"}
	email := emailTarget("smtp.example.com:587")
	email.TLS = ""
	for _, tc := range []struct {
		name   string
		target notify.Target
		want   []string // each error, as a substring; none means valid
	}{
		{"webhook", webhook, nil},
		{"slack", notify.Target{Type: notify.TypeSlack, URL: "https://hooks.slack.com/services/T/B/X", Timeout: 5 * time.Second, MaxAttempts: 3}, nil},
		{"email", email, nil},
		{"email with auth over starttls", func() notify.Target {
			e := email
			e.Username, e.Password = "u", "p"
			return e
		}(), nil},
		{"email with auth in clear to loopback", func() notify.Target {
			e := emailTarget("127.0.0.1:25")
			e.Username, e.Password = "u", "p"
			return e
		}(), nil},
		{"bad url", notify.Target{Type: notify.TypeWebhook, URL: "x", Secret: "k"},
			[]string{`targets.ops.url: want an http(s) URL, got "x"`}},
		{"url path redacted", notify.Target{Type: notify.TypeSlack, URL: "ftp://hooks.slack.com/services/T/B/SECRETPATH"},
			[]string{`targets.ops.url: want an http(s) URL, got "ftp://hooks.slack.com/…"`}},
		{"url from unset env", notify.Target{Type: notify.TypeSlack, URL: "env:ORBITFLOW_TEST_UNSET_URL"},
			[]string{"targets.ops.url: environment variable ORBITFLOW_TEST_UNSET_URL is not set"}},
		{"webhook without secret", notify.Target{Type: notify.TypeWebhook, URL: "https://h.example.com"},
			[]string{"targets.ops.secret: want the HMAC key"}},
		{"webhook secret unresolvable", notify.Target{Type: notify.TypeWebhook, URL: "https://h.example.com", Secret: "env:ORBITFLOW_TEST_UNSET_SECRET"},
			[]string{"targets.ops.secret: environment variable ORBITFLOW_TEST_UNSET_SECRET is not set"}},
		{"webhook secret file missing", notify.Target{Type: notify.TypeWebhook, URL: "https://h.example.com", Secret: "file:/nonexistent/orbitflow-secret"},
			[]string{"targets.ops.secret: read secret file"}},
		{"bad type", notify.Target{Type: "pager"}, []string{`targets.ops.type: want webhook, slack or email, got "pager"`}},
		{"bounds", notify.Target{Type: notify.TypeSlack, URL: "http://h.example.com", Timeout: 2 * time.Minute, MaxAttempts: 101},
			[]string{"targets.ops.timeout: want 0 (default 10s) or 100ms..1m0s, got 2m0s", "targets.ops.max_attempts: want 0 (default 8) or 1..100, got 101"}},
		{"fields of another type", notify.Target{Type: notify.TypeSlack, URL: "http://h.example.com", Secret: "k", SMTP: "h:25"},
			[]string{"targets.ops.secret: only for webhook targets", "targets.ops.smtp: only for email targets"}},
		{"email problems", notify.Target{Type: notify.TypeEmail, SMTP: "smtp.example.com", From: "not an address", To: []string{"ok@example.com", "bad\r\nBcc: x@example.com"},
			TLS: "ssl", Username: "u", URL: "https://x.example.com"},
			[]string{`targets.ops.smtp: want host:port of the mail relay (e.g. smtp.example.com:587), got "smtp.example.com"`,
				`targets.ops.from: want an e-mail address, got "not an address"`,
				`targets.ops.to[1]: want an e-mail address`,
				`targets.ops.tls: want starttls, tls or none, got "ssl"`,
				"targets.ops.username: username and password go together",
				"targets.ops.url: only for webhook and slack targets"}},
		{"email without recipients", notify.Target{Type: notify.TypeEmail, SMTP: "h.example.com:25", From: "a@example.com"},
			[]string{"targets.ops.to: want at least one recipient address, got none"}},
		{"password in clear to a remote relay", notify.Target{Type: notify.TypeEmail, SMTP: "smtp.example.com:25", From: "a@example.com", To: []string{"b@example.com"},
			TLS: notify.TLSNone, Username: "u", Password: "hunter2"},
			[]string{"targets.ops.tls: none would send the password in clear to smtp.example.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := tc.target.Validate("targets.ops")
			var got []string
			for _, err := range errs {
				got = append(got, err.Error())
				for _, secret := range []string{"from-env", "hunter2", "SECRETPATH"} {
					require.NotContains(t, err.Error(), secret)
				}
			}
			require.Len(t, got, len(tc.want), "%q", got)
			for i, w := range tc.want {
				require.Contains(t, got[i], w)
			}
			_, err := notify.NewSender("ops", tc.target)
			if len(tc.want) == 0 {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}

func TestAttemptsDefault(t *testing.T) {
	require.Equal(t, notify.DefaultMaxAttempts, notify.Target{}.Attempts())
	require.Equal(t, 3, notify.Target{MaxAttempts: 3}.Attempts())
}
