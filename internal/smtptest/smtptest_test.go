package smtptest

import (
	"crypto/tls"
	"errors"
	"net/smtp"
	"strings"
	"testing"
)

// send delivers one message over STARTTLS with a login, as the email sink
// does, and returns the first error.
func send(s *Server, rcpt string) error {
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.StartTLS(&tls.Config{ServerName: "127.0.0.1", RootCAs: s.Roots}); err != nil {
		return err
	}
	if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, "127.0.0.1")); err != nil {
		return err
	}
	if err := c.Mail("a@example.org"); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte("Subject: x\r\n\r\nbody\r\n")); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func TestStartTLSLoginAndRcptHook(t *testing.T) {
	s := StartWith(t, Options{TLS: "starttls", Username: "u", Password: "p", Rcpt: func(to string) error {
		if strings.HasPrefix(to, "bad") {
			return errors.New("no such user")
		}
		return nil
	}})
	if err := send(s, "b@example.org"); err != nil {
		t.Fatal(err)
	}
	if err := send(s, "bad@example.org"); err == nil {
		t.Fatal("RCPT hook error not returned")
	}
	m := s.Messages()
	if len(m) != 1 || !m[0].TLS || m[0].User != "u" || m[0].To[0] != "b@example.org" {
		t.Fatalf("messages %+v", m)
	}
	if n := s.Accepted(); n != 2 {
		t.Errorf("%d connections accepted, want 2", n)
	}
}
