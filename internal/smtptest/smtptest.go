// Package smtptest runs a real SMTP server on loopback for tests, backed
// by github.com/emersion/go-smtp, and records every message it accepts.
package smtptest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one accepted mail.
type Message struct {
	From string
	To   []string
	Data []byte
	At   time.Time // when the server accepted it
	TLS  bool      // it came over TLS (implicit or STARTTLS)
	User string    // the user who logged in, if any
}

// Options shape a server started with StartWith.
type Options struct {
	// TLS is "" (plain, AUTH allowed without TLS), "starttls" (STARTTLS
	// offered, AUTH only after it) or "tls" (implicit TLS). The
	// certificate is for 127.0.0.1; Server.Roots trusts it.
	TLS string
	// Username and Password, when set, are required with AUTH PLAIN.
	Username, Password string
	// Rcpt, when set, is asked for every RCPT TO; an error from it is the
	// server's answer (an *smtp.SMTPError keeps its code).
	Rcpt func(to string) error
}

// Server is a running SMTP server.
type Server struct {
	Host string
	Port int

	// Username and Password, when set, are required with AUTH PLAIN.
	Username, Password string

	// Roots trusts the server's certificate (TLS modes only).
	Roots *x509.CertPool

	opt      Options
	tlsCfg   *tls.Config
	mu       sync.Mutex
	accepted int        // TCP connections accepted
	conns    []net.Conn // open server-side connections
	msgs     []Message
	rejectN  int // reject the next n messages with a 451
	received chan struct{}
	srv      *smtp.Server
	ln       net.Listener // closed by Down itself: srv only knows it once Serve runs
}

// Start starts a plain server on 127.0.0.1 and stops it when the test
// ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith starts a server shaped by o on 127.0.0.1 and stops it when the
// test ends.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	s, err := listen(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Listen starts a plain server on 127.0.0.1 outside a test (a benchmark,
// say); Close stops it.
func Listen() (*Server, error) { return listen(Options{}) }

func listen(o Options) (*Server, error) {
	s := &Server{Username: o.Username, Password: o.Password, opt: o, received: make(chan struct{}, 1024)}
	if o.TLS != "" {
		// httptest's built-in certificate covers 127.0.0.1.
		ts := httptest.NewTLSServer(http.NotFoundHandler())
		ts.Close()
		s.Roots = x509.NewCertPool()
		s.Roots.AddCert(ts.Certificate())
		s.tlsCfg = &tls.Config{Certificates: ts.TLS.Certificates}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("smtptest: listen: %w", err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	s.Host, s.Port = "127.0.0.1", addr.Port
	s.serve(ln)
	return s, nil
}

// Close stops the server for good.
func (s *Server) Close() { s.Down() }

func (s *Server) serve(l net.Listener) {
	srv := smtp.NewServer(backend{s})
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = s.opt.TLS == ""
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 4 << 20
	var ln net.Listener = &countingListener{Listener: l, s: s}
	switch s.opt.TLS {
	case "starttls":
		srv.TLSConfig = s.tlsCfg
	case "tls":
		ln = tls.NewListener(ln, s.tlsCfg)
	}
	s.mu.Lock()
	s.srv, s.ln = srv, ln
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// Down closes the listener and every open session, as a crashed mail
// server would: connections are refused until Up. Messages accepted so
// far are kept.
func (s *Server) Down() {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
		// A Down right after Start or Up may come before Serve has
		// registered the listener with srv.
		_ = ln.Close()
	}
}

// Up listens again on the same port after Down.
func (s *Server) Up() error {
	var err error
	for range 50 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", s.Addr()); err == nil {
			s.serve(ln)
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("smtptest: listen again on %s: %w", s.Addr(), err)
}

// Accepted is the number of TCP connections accepted so far.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// DropConnections closes every open connection from the server side, as
// a server does with idle clients; the server keeps listening.
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

type countingListener struct {
	net.Listener
	s *Server
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.s.mu.Lock()
		l.s.accepted++
		l.s.conns = append(l.s.conns, c)
		l.s.mu.Unlock()
	}
	return c, err
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// RejectNext makes the server answer the next n DATA commands with a
// temporary failure.
func (s *Server) RejectNext(n int) {
	s.mu.Lock()
	s.rejectN = n
	s.mu.Unlock()
}

// Messages returns a copy of every accepted message.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Wait waits until at least n messages were accepted or d passes.
func (s *Server) Wait(n int, d time.Duration) []Message {
	deadline := time.After(d)
	for {
		if m := s.Messages(); len(m) >= n {
			return m
		}
		select {
		case <-s.received:
		case <-deadline:
			return s.Messages()
		}
	}
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s, conn: c}, nil
}

type session struct {
	s    *Server
	conn *smtp.Conn
	from string
	to   []string
	user string // logged in as
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != ss.s.Username || password != ss.s.Password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		ss.user = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.Username != "" && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.s.opt.Rcpt != nil {
		if err := ss.s.opt.Rcpt(to); err != nil {
			return err
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if ss.s.rejectN > 0 {
		ss.s.rejectN--
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	_, isTLS := ss.conn.TLSConnectionState()
	ss.s.msgs = append(ss.s.msgs, Message{From: ss.from, To: append([]string(nil), ss.to...), Data: data, At: time.Now(), TLS: isTLS, User: ss.user})
	select {
	case ss.s.received <- struct{}{}:
	default:
	}
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }
