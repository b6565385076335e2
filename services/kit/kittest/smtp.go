package kittest

import (
	"net"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// SMTPServer is a small SMTP server on loopback: enough of RFC 5321 for
// net/smtp (EHLO, AUTH accepted as is, MAIL, RCPT, DATA, RSET, QUIT),
// without STARTTLS. Messages received arrive on Got.
type SMTPServer struct {
	ln   net.Listener
	wg   sync.WaitGroup
	conn atomic.Int32
	// Got receives every message the server accepted (buffered: 10).
	Got chan SMTPMessage
	// reply, if set, answers cmd on connection conn (1-based) instead of
	// the normal reply; "" means the normal reply.
	reply func(conn int, cmd string) string
}

// SMTPMessage is one message received: the envelope and the data.
type SMTPMessage struct {
	From string
	To   []string
	Data []byte
}

// NewSMTPServer listens on a loopback port until the test ends. reply, if
// not nil, may answer a command (upper case: EHLO, MAIL, DATA, ...) of
// connection conn (1-based) instead of the normal reply, e.g. with
// "451 4.3.0 try again later"; returning "" keeps the normal reply.
func NewSMTPServer(t testing.TB, reply func(conn int, cmd string) string) *SMTPServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("kittest: smtp listen: %v", err)
	}
	s := &SMTPServer{ln: ln, Got: make(chan SMTPMessage, 10), reply: reply}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

// Addr is the server's host:port.
func (s *SMTPServer) Addr() string { return s.ln.Addr().String() }

// Conns is how many connections the server accepted.
func (s *SMTPServer) Conns() int32 { return s.conn.Load() }

func (s *SMTPServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		n := int(s.conn.Add(1))
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			s.session(c, n)
		}()
	}
}

func (s *SMTPServer) session(c net.Conn, n int) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(c)
	_ = tp.PrintfLine("220 test.local ESMTP ready")
	var m SMTPMessage
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		cmd, arg, _ := strings.Cut(line, " ")
		cmd = strings.ToUpper(cmd)
		if s.reply != nil {
			if r := s.reply(n, cmd); r != "" {
				_ = tp.PrintfLine("%s", r)
				continue
			}
		}
		switch cmd {
		case "EHLO":
			_ = tp.PrintfLine("250-test.local greets you")
			_ = tp.PrintfLine("250-AUTH PLAIN")
			_ = tp.PrintfLine("250 8BITMIME")
		case "AUTH":
			_ = tp.PrintfLine("235 2.7.0 accepted")
		case "HELO", "NOOP":
			_ = tp.PrintfLine("250 ok")
		case "MAIL":
			m = SMTPMessage{From: between(arg, "<", ">")}
			_ = tp.PrintfLine("250 ok")
		case "RCPT":
			m.To = append(m.To, between(arg, "<", ">"))
			_ = tp.PrintfLine("250 ok")
		case "DATA":
			_ = tp.PrintfLine("354 end with <CRLF>.<CRLF>")
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			m.Data = data
			s.Got <- m
			_ = tp.PrintfLine("250 queued")
		case "RSET":
			m = SMTPMessage{}
			_ = tp.PrintfLine("250 ok")
		case "QUIT":
			_ = tp.PrintfLine("221 bye")
			return
		default:
			_ = tp.PrintfLine("502 not implemented")
		}
	}
}

func between(s, open, close string) string {
	_, rest, _ := strings.Cut(s, open)
	v, _, _ := strings.Cut(rest, close)
	return v
}
