package notify_test

import (
	"bufio"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/processors/alerts/notify"
)

// The weekly report's e-mail: multipart/alternative with the text and the
// HTML part, to every recipient of the target, with a Message-ID that
// depends on the mail's id only.
func TestSendMailSendsTextAndHTML(t *testing.T) {
	srv := kittest.NewSMTPServer(t, nil)
	m := notify.Mail{ID: "report/acme/2026-03-09", Subject: "Weekly report: acme, week of 9 Mar 2026",
		Text: "4 members were active.\n", HTML: "<p>4 members were <b>active</b>.</p>"}
	require.NoError(t, notify.SendMail(ctxT(t, 10*time.Second), "mail", emailTarget(srv.Addr()), m))
	got := <-srv.Got
	require.Equal(t, []string{"ops@example.com", "jane@example.com"}, got.To)
	msg, err := mail.ReadMessage(bufio.NewReader(strings.NewReader(string(got.Data))))
	require.NoError(t, err)
	require.Equal(t, "Weekly report: acme, week of 9 Mar 2026", msg.Header.Get("Subject"))
	require.Equal(t, "auto-generated", msg.Header.Get("Auto-Submitted"))
	typ, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/alternative", typ)
	parts := multipart.NewReader(msg.Body, params["boundary"])
	var types, bodies []string
	for {
		p, err := parts.NextRawPart()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		require.Equal(t, "quoted-printable", p.Header.Get("Content-Transfer-Encoding"))
		b, err := io.ReadAll(quotedprintable.NewReader(p))
		require.NoError(t, err)
		types = append(types, p.Header.Get("Content-Type"))
		bodies = append(bodies, string(b))
	}
	require.Equal(t, []string{"text/plain; charset=utf-8", "text/html; charset=utf-8"}, types)
	require.Equal(t, []string{"4 members were active.\n", "<p>4 members were <b>active</b>.</p>"}, bodies)

	// The same mail again carries the same Message-ID; another does not.
	require.NoError(t, notify.SendMail(ctxT(t, 10*time.Second), "mail", emailTarget(srv.Addr()), m))
	again, err := mail.ReadMessage(bufio.NewReader(strings.NewReader(string((<-srv.Got).Data))))
	require.NoError(t, err)
	require.Equal(t, msg.Header.Get("Message-ID"), again.Header.Get("Message-ID"))
	m.ID = "report/acme/2026-03-16"
	require.NoError(t, notify.SendMail(ctxT(t, 10*time.Second), "mail", emailTarget(srv.Addr()), m))
	other, err := mail.ReadMessage(bufio.NewReader(strings.NewReader(string((<-srv.Got).Data))))
	require.NoError(t, err)
	require.NotEqual(t, msg.Header.Get("Message-ID"), other.Header.Get("Message-ID"))
}

func TestSendMailRefusesOtherTargetsAndReportsRefusals(t *testing.T) {
	err := notify.SendMail(ctxT(t, 10*time.Second), "hook", notify.Target{Type: notify.TypeWebhook, URL: "http://127.0.0.1:1/x", Secret: "s"}, notify.Mail{ID: "x"})
	require.ErrorContains(t, err, "target hook is a webhook target; the report goes to an e-mail target (type: email)")
	srv := kittest.NewSMTPServer(t, func(_ int, cmd string) string {
		if cmd == "DATA" {
			return "554 5.7.1 rejected"
		}
		return ""
	})
	err = notify.SendMail(ctxT(t, 10*time.Second), "mail", emailTarget(srv.Addr()), notify.Mail{ID: "x", Text: "t"})
	require.ErrorIs(t, err, notify.ErrPermanent)
	require.ErrorContains(t, err, "554")
}
