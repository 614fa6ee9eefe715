package notifier

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"time"

	mail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"newswatch/config"
	"newswatch/news"
)

// idleTimeout is how long an SMTP connection is kept open after the last
// message: long enough to carry a burst of alerts, short enough not to
// hold a server slot through quiet hours.
const idleTimeout = 30 * time.Second

// Email sends alerts as multipart/alternative (text and HTML) mail over
// SMTP. One connection is reused across a burst and closed when idle;
// sends are serialised on it. It is safe for concurrent use.
type Email struct {
	sub         string
	from        string
	to          []string
	tmpl        *mailTemplates
	client      *mail.Client
	implicitTLS bool
	tlsConfig   *tls.Config // shared with client; tests add a RootCAs
	idle        time.Duration
	links       LinkFunc // feedback links; nil: none

	mu      sync.Mutex
	conn    *smtp.Client // nil when not connected
	raw     net.Conn     // conn's network connection, to interrupt it
	timer   *time.Timer  // closes conn when idle
	lastUse time.Time
}

// NewEmail returns the sink for an email subscriber, sending through
// server s. It does not connect: the first Notify does.
func NewEmail(sub config.Subscriber, s config.SMTP) (*Email, error) {
	if len(sub.To) == 0 {
		return nil, fmt.Errorf("email %s: no recipients", sub.ID)
	}
	for _, addr := range append([]string{s.From}, sub.To...) {
		if strings.ContainsAny(addr, "\r\n") {
			return nil, fmt.Errorf("email %s: address %q contains a line break", sub.ID, headerSafe(addr, 100))
		}
		if _, err := netmail.ParseAddress(addr); err != nil {
			return nil, fmt.Errorf("email %s: address %q: %w", sub.ID, addr, err)
		}
	}
	tmpl, err := loadTemplates(sub.Templates)
	if err != nil {
		return nil, fmt.Errorf("email %s: %w", sub.ID, err)
	}
	e := &Email{
		sub:       sub.ID,
		from:      s.From,
		to:        append([]string(nil), sub.To...),
		tmpl:      tmpl,
		tlsConfig: &tls.Config{ServerName: s.Host, MinVersion: tls.VersionTLS12},
		idle:      idleTimeout,
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	opts := []mail.Option{
		mail.WithTimeout(timeout),
		mail.WithDialContextFunc(e.dial),
		mail.WithTLSConfig(e.tlsConfig),
		// A NOOP before and an RSET after every message would triple the
		// round trips of a burst; a dead connection shows at MAIL FROM
		// instead, and send redials once.
		mail.WithoutNoop(),
		mail.WithoutRset(),
	}
	switch s.TLS {
	case "starttls", "":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case "tls":
		e.implicitTLS = true
		opts = append(opts, mail.WithSSL())
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		return nil, fmt.Errorf("email %s: unknown smtp tls mode %q (starttls, tls or none)", sub.ID, s.TLS)
	}
	if s.Port != 0 {
		opts = append(opts, mail.WithPort(s.Port))
	}
	if s.Username != "" {
		// The strongest mechanism the server offers. PLAIN and LOGIN
		// refuse to send the password over an unencrypted connection
		// (except to localhost), so tls: none with auth needs SCRAM or
		// CRAM-MD5.
		opts = append(opts,
			mail.WithOpportunisticSMTPAuth(mail.SMTPAuthSCRAMSHA256, mail.SMTPAuthSCRAMSHA1,
				mail.SMTPAuthCramMD5, mail.SMTPAuthPlain, mail.SMTPAuthLogin),
			mail.WithUsername(s.Username),
			mail.WithPassword(s.Password),
		)
	}
	e.client, err = mail.NewClient(s.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("email %s: smtp client: %w", sub.ID, err)
	}
	return e, nil
}

// dial connects to the server, doing implicit TLS itself so that the
// connection it keeps (to interrupt on cancellation) is the one in use.
// go-mail calls it with e.mu held.
func (e *Email) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if e.implicitTLS {
		tc := tls.Client(c, e.tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, err
		}
		c = tc
	}
	e.raw = c
	return c, nil
}

// MessageID is the Message-ID (without angle brackets) of the email for
// alert a to subscriber sub: stable, so a redelivered alert is the same
// message to mail clients and can be dropped as a duplicate.
func MessageID(sub, alertID string) string { return deliveryKey(sub, alertID) + "@newswatch" }

// message builds the email for a; st is set for a follow-up.
func (e *Email) message(a *news.Alert, st *Story) (*mail.Msg, error) {
	a = withLinks(e.links, a, e.sub)
	d := newMailData(a)
	d.Story = st
	subject, text, html, err := e.tmpl.render(d)
	if err != nil {
		return nil, err
	}
	if st != nil {
		subject = "Re: " + subject
	}
	m, err := e.newMsg(subject, MessageID(e.sub, a.ID), text, html)
	if err != nil {
		return nil, err
	}
	if st != nil {
		// Mail clients thread on these: every report of a story hangs
		// under its first email.
		root := "<" + MessageID(e.sub, st.ID) + ">"
		m.SetGenHeader(mail.HeaderInReplyTo, root)
		m.SetGenHeader(mail.HeaderReferences, root)
	}
	m.SetGenHeader("X-Newswatch-Topic", headerSafe(a.Topic, 100))
	// Every topic of the subscriber's the article matched, for filters
	// (X-Newswatch-Topic stays the alert's own, first, topic).
	ids := make([]string, 0, len(a.AllTopics()))
	for _, t := range a.AllTopics() {
		ids = append(ids, t.ID)
	}
	m.SetGenHeader("X-Newswatch-Topics", headerSafe(strings.Join(ids, ", "), 300))
	m.SetGenHeader("X-Newswatch-Alert", headerSafe(a.ID, 200))
	return m, nil
}

// newMsg builds a multipart/alternative message to the subscriber.
func (e *Email) newMsg(subject, messageID, text, html string) (*mail.Msg, error) {
	m := mail.NewMsg(mail.WithNoDefaultUserAgent())
	if err := m.From(e.from); err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	if err := m.To(e.to...); err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	m.Subject(subject)
	m.SetMessageIDWithValue(messageID)
	m.SetDate()
	m.SetUserAgent("newswatch")
	// RFC 3834: no vacation auto-replies to an automated sender.
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	m.SetGenHeader("X-Auto-Response-Suppress", "All")
	m.SetBodyString(mail.TypeTextPlain, text)
	m.AddAlternativeString(mail.TypeTextHTML, html)
	return m, nil
}

// Notify sends a. It implements Sink: SMTP 5xx rejections are final,
// 4xx and connection failures are retried.
func (e *Email) Notify(ctx context.Context, a *news.Alert) (bool, error) {
	return e.notify(ctx, a, nil)
}

// NotifyFollowUp sends a as a later report of story st: a reply to the
// story's first email (In-Reply-To, References), so that clients thread
// them. It implements FollowUpSink.
func (e *Email) NotifyFollowUp(ctx context.Context, a *news.Alert, st Story) (bool, error) {
	return e.notify(ctx, a, &st)
}

func (e *Email) notify(ctx context.Context, a *news.Alert, st *Story) (bool, error) {
	if a.Event != nil {
		return e.notifyEvent(ctx, a)
	}
	m, err := e.message(a, st)
	if err != nil {
		return false, fmt.Errorf("email %s: alert %s: %w", e.sub, a.ID, err)
	}
	retry, err := e.send(ctx, m)
	if err != nil {
		return retry, fmt.Errorf("email %s: alert %s: %w", e.sub, a.ID, err)
	}
	return false, nil
}

func (e *Email) send(ctx context.Context, m *mail.Msg) (bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return true, err
		}
		reused := e.conn != nil
		if !reused {
			c, err := e.client.DialToSMTPClientWithContext(ctx)
			if err != nil {
				// go-mail leaves the connection open when EHLO, STARTTLS
				// or AUTH fails; every retry would add one.
				e.dropLocked()
				// A server down, a TLS or an auth failure concerns every
				// message, not this one: retry, and the backlog follows
				// once the operator has fixed it.
				if strings.Contains(err.Error(), "does not support STARTTLS") {
					return true, fmt.Errorf("connect: %w (a server without TLS, such as a local relay, needs smtp.tls: none)", err)
				}
				return true, fmt.Errorf("connect: %w", err)
			}
			e.conn = c
		}
		// go-mail takes no context: cancellation expires the
		// connection's deadline, which fails the I/O in progress.
		raw := e.raw
		stop := context.AfterFunc(ctx, func() {
			if raw != nil {
				raw.SetDeadline(time.Unix(1, 0))
			}
		})
		err := e.client.SendWithSMTPClient(e.conn, m)
		stopped := stop()
		if err == nil {
			e.lastUse = time.Now()
			e.armIdle()
			return false, nil
		}
		var se *mail.SendError
		isSE := errors.As(err, &se)
		code := 0
		if isSE {
			code = se.ErrorCode()
		}
		if code >= 400 && code < 600 && stopped {
			// The server answered: the connection is still good.
			return code < 500, err
		}
		// No SMTP reply: the connection is broken or was cancelled.
		e.dropLocked()
		// A reused connection the server closed while idle fails before
		// any of the message was sent: try once on a fresh one.
		if reused && attempt == 0 && stopped && isSE && (se.Reason == mail.ErrSMTPMailFrom || se.Reason == mail.ErrConnCheck) {
			continue
		}
		return true, err
	}
}

// armIdle (re)starts the timer that closes the connection when idle.
func (e *Email) armIdle() {
	if e.timer == nil {
		e.timer = time.AfterFunc(e.idle, e.closeIdle)
		return
	}
	e.timer.Reset(e.idle)
}

func (e *Email) closeIdle() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conn != nil && time.Since(e.lastUse) >= e.idle {
		e.quitLocked()
	}
}

// quitLocked says QUIT and closes; errors do not matter, the connection
// is gone either way.
func (e *Email) quitLocked() {
	if e.conn != nil {
		_ = e.client.CloseWithSMTPClient(e.conn)
	}
	e.dropLocked()
}

func (e *Email) dropLocked() {
	if e.raw != nil {
		_ = e.raw.Close()
	}
	e.conn, e.raw = nil, nil
}

// Close releases the reused SMTP connection, if any. The Email stays
// usable: a later Notify connects again.
func (e *Email) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.timer != nil {
		e.timer.Stop()
	}
	e.quitLocked()
	return nil
}

// emailKind registers the email sink (see Kind).
var emailKind = Kind{
	New: func(sub config.Subscriber, smtp config.SMTP) (Sink, error) {
		e, err := NewEmail(sub, smtp)
		if err != nil {
			return nil, err
		}
		return e, nil
	},
	Target: func(sub config.Subscriber) string { return strings.Join(sub.To, ", ") },
}

func (e *Email) setLinks(f LinkFunc) { e.links = f }
