package notifier

import (
	"crypto/x509"
	"sync"
	"testing"
	"time"

	"newswatch/config"
	"newswatch/internal/smtptest"
)

// testSMTP is a real SMTP server (internal/smtptest, go-smtp) on 127.0.0.1
// that keeps what it receives, seen the way the email tests look at it.
type testSMTP struct {
	srv   *smtptest.Server
	host  string
	port  int
	roots *x509.CertPool
	user  string // required login, when set
	pass  string

	mu      sync.Mutex
	rcptErr error // returned by RCPT when set
}

type gotMail struct {
	from string
	to   []string
	data []byte
	tls  bool
	user string
}

type smtpMode int

const (
	modeStartTLS smtpMode = iota // STARTTLS offered
	modeTLS                      // implicit TLS
	modePlain                    // no TLS at all
)

func startSMTP(t testing.TB, mode smtpMode, user, pass string) *testSMTP {
	t.Helper()
	ts := &testSMTP{user: user, pass: pass}
	o := smtptest.Options{Username: user, Password: pass, Rcpt: func(string) error {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		return ts.rcptErr
	}}
	switch mode {
	case modeStartTLS:
		o.TLS = "starttls"
	case modeTLS:
		o.TLS = "tls"
	}
	ts.srv = smtptest.StartWith(t, o)
	ts.host, ts.port, ts.roots = ts.srv.Host, ts.srv.Port, ts.srv.Roots
	return ts
}

func (ts *testSMTP) config(mode string) config.SMTP {
	return config.SMTP{
		Host: ts.host, Port: ts.port, TLS: mode,
		Username: ts.user, Password: ts.pass,
		From: "newswatch <alerts@example.org>", Timeout: 5 * time.Second,
	}
}

func (ts *testSMTP) received() []gotMail {
	var out []gotMail
	for _, m := range ts.srv.Messages() {
		out = append(out, gotMail{from: m.From, to: m.To, data: m.Data, tls: m.TLS, user: m.User})
	}
	return out
}

func (ts *testSMTP) acceptedConns() int { return ts.srv.Accepted() }

// dropConnections closes every connection from the server side, as a
// server does with idle clients.
func (ts *testSMTP) dropConnections() { ts.srv.DropConnections() }
