package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/textproto"
	"strings"
	"time"
)

// Mail is a message of its own (not an alert): the weekly report.
type Mail struct {
	// ID names the message for deduplication: the Message-ID derives from
	// it, so sending the same ID again is recognisably the same message.
	ID      string
	Subject string
	Text    string // the plain-text part
	HTML    string // the HTML part ("" sends text only)
}

// SendMail sends m to the recipients of the e-mail target t (named name,
// as in the rules file), over the same SMTP session rules as alert
// e-mails: STARTTLS when offered, credentials never in clear except to a
// loopback relay. A 5xx answer is permanent (errors.Is ErrPermanent).
func SendMail(ctx context.Context, name string, t Target, m Mail) error {
	if t.Type != TypeEmail {
		return fmt.Errorf("notify: target %s is a %s target; the report goes to an e-mail target (type: email)", name, t.Type)
	}
	if errs := t.Validate("targets." + name); len(errs) > 0 {
		return errors.Join(errs...)
	}
	s, err := newEmailSender(name, t.withDefaults())
	if err != nil {
		return err
	}
	if err := s.send(ctx, s.mail(m, time.Now())); err != nil {
		err = fmt.Errorf("notify: target %s: smtp %s: %w", name, s.addr, err)
		var te *textproto.Error
		if errors.As(err, &te) && te.Code >= 500 && te.Code < 600 {
			return Permanent(err)
		}
		return err
	}
	return nil
}

// mail renders m as an RFC 5322 message, CRLF line ends: the text alone,
// or multipart/alternative with the text and the HTML part, each
// quoted-printable. Header values are stripped of line breaks; the
// Message-ID derives from m.ID, so every retry carries the same one.
// extra are more header fields, as name, value pairs.
func (s *emailSender) mail(m Mail, now time.Time, extra ...string) []byte {
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, headerValue(v)) }
	header("From", s.from.String())
	to := make([]string, len(s.to))
	for i, a := range s.to {
		to[i] = a.String()
	}
	header("To", strings.Join(to, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", headerValue(m.Subject)))
	header("Date", now.Format(time.RFC1123Z))
	sum := sha256.Sum256([]byte(m.ID))
	domain := "orbitflow.invalid"
	if at := strings.LastIndexByte(s.from.Address, '@'); at >= 0 {
		domain = s.from.Address[at+1:]
	}
	header("Message-ID", "<"+hex.EncodeToString(sum[:16])+"@"+domain+">")
	for i := 0; i+1 < len(extra); i += 2 {
		header(extra[i], extra[i+1])
	}
	header("Auto-Submitted", "auto-generated")
	header("MIME-Version", "1.0")
	part := func(contentType, body string) {
		header("Content-Type", contentType+"; charset=utf-8")
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		qp := quotedprintable.NewWriter(&b)
		_, _ = qp.Write([]byte(strings.ReplaceAll(body, "\r\n", "\n")))
		_ = qp.Close()
		b.WriteString("\r\n")
	}
	if m.HTML == "" {
		part("text/plain", m.Text)
		return b.Bytes()
	}
	boundary := "orbitflow-" + hex.EncodeToString(sum[16:])
	header("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	for _, p := range []struct{ typ, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		b.WriteString("--" + boundary + "\r\n")
		part(p.typ, p.body)
	}
	b.WriteString("--" + boundary + "--\r\n")
	return b.Bytes()
}
