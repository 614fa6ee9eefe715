package notifier

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"newswatch/config"
)

// testSMTP is a real SMTP server (go-smtp) on 127.0.0.1 that keeps what it
// receives.
type testSMTP struct {
	host  string
	port  int
	roots *x509.CertPool

	mu       sync.Mutex
	msgs     []gotMail
	accepted int        // TCP connections accepted
	conns    []net.Conn // open server-side connections
	user     string     // required login, when set
	pass     string
	rcptErr  error // returned by RCPT when set
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

// testCert returns a certificate for 127.0.0.1 and a pool that trusts it.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	// httptest's built-in certificate covers 127.0.0.1.
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return srv.TLS.Certificates[0], roots
}

func startSMTP(t testing.TB, mode smtpMode, user, pass string) *testSMTP {
	t.Helper()
	ts := &testSMTP{user: user, pass: pass}
	cert, roots := testCert(t)
	ts.roots = roots
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &testSession{srv: ts, conn: c}, nil
	}))
	s.Domain = "localhost"
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.MaxMessageBytes = 4 << 20
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener = &countingListener{Listener: l, srv: ts}
	switch mode {
	case modeStartTLS:
		s.TLSConfig = tlsCfg
	case modeTLS:
		ln = tls.NewListener(ln, tlsCfg)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	addr := l.Addr().(*net.TCPAddr)
	ts.host, ts.port = "127.0.0.1", addr.Port
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
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]gotMail(nil), ts.msgs...)
}

func (ts *testSMTP) acceptedConns() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.accepted
}

// dropConnections closes every connection from the server side, as a
// server does with idle clients.
func (ts *testSMTP) dropConnections() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, c := range ts.conns {
		c.Close()
	}
	ts.conns = nil
}

type countingListener struct {
	net.Listener
	srv *testSMTP
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.srv.mu.Lock()
		l.srv.accepted++
		l.srv.conns = append(l.srv.conns, c)
		l.srv.mu.Unlock()
	}
	return c, err
}

type testSession struct {
	srv  *testSMTP
	conn *smtp.Conn
	user string
	cur  gotMail
}

func (s *testSession) AuthMechanisms() []string {
	if s.srv.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *testSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.srv.user || password != s.srv.pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.user = username
		return nil
	}), nil
}

func (s *testSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.user != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.cur = gotMail{from: from, tls: isTLS, user: s.user}
	return nil
}

func (s *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.srv.mu.Lock()
	err := s.srv.rcptErr
	s.srv.mu.Unlock()
	if err != nil {
		return err
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(s.cur.to) == 0 {
		return errors.New("no recipients")
	}
	s.cur.data = b
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, s.cur)
	s.srv.mu.Unlock()
	return nil
}

func (s *testSession) Reset()        { s.cur = gotMail{} }
func (s *testSession) Logout() error { return nil }
