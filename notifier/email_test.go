package notifier

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"newswatch/config"
)

func emailSub() config.Subscriber {
	return config.Subscriber{ID: "analyst", Type: "email", EmailSink: config.EmailSink{To: []string{"analyst@example.org", "Desk <desk@example.org>"}}}
}

func newTestEmail(t *testing.T, ts *testSMTP, mode string, sub config.Subscriber) *Email {
	t.Helper()
	e, err := NewEmail(sub, ts.config(mode))
	if err != nil {
		t.Fatal(err)
	}
	e.tlsConfig.RootCAs = ts.roots
	t.Cleanup(func() { e.Close() })
	return e
}

// parsedMail is a received message taken apart.
type parsedMail struct {
	header netmail.Header
	parts  map[string]string // media type -> decoded body
	order  []string
}

func parseMail(t *testing.T, data []byte) parsedMail {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not an RFC 5322 message: %v\n%s", err, data)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q (%v), want multipart/alternative", m.Header.Get("Content-Type"), err)
	}
	pm := parsedMail{header: m.Header, parts: map[string]string{}}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pt, pp, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if !strings.EqualFold(pp["charset"], "utf-8") {
			t.Errorf("part %s charset = %q", pt, pp["charset"])
		}
		var r io.Reader = p
		switch strings.ToLower(p.Header.Get("Content-Transfer-Encoding")) {
		case "quoted-printable":
			r = quotedprintable.NewReader(p)
		case "base64":
			r = base64.NewDecoder(base64.StdEncoding, p)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		pm.parts[pt] = string(b)
		pm.order = append(pm.order, pt)
	}
	return pm
}

func (pm parsedMail) subject(t *testing.T) string {
	s, err := new(mime.WordDecoder).DecodeHeader(pm.header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEmailMIMEHeadersAndAuth(t *testing.T) {
	ts := startSMTP(t, modeStartTLS, "alerts", "s3cret-pass")
	e := newTestEmail(t, ts, "starttls", emailSub())
	a := sampleAlert()
	retry, err := e.Notify(context.Background(), a)
	if err != nil || retry {
		t.Fatalf("Notify = %v, %v", retry, err)
	}
	got := ts.received()
	if len(got) != 1 {
		t.Fatalf("received %d messages", len(got))
	}
	g := got[0]
	if !g.tls || g.user != "alerts" {
		t.Errorf("tls %v user %q: want STARTTLS and authenticated", g.tls, g.user)
	}
	if g.from != "alerts@example.org" || strings.Join(g.to, ",") != "analyst@example.org,desk@example.org" {
		t.Errorf("envelope from %q to %q", g.from, g.to)
	}
	pm := parseMail(t, g.data)
	if want := "[newswatch] Fentanyl and synthetic opioids: US and China agree on fentanyl precursor controls"; pm.subject(t) != want {
		t.Errorf("Subject = %q, want %q", pm.subject(t), want)
	}
	if id := pm.header.Get("Message-Id"); id != "<"+MessageID("analyst", a.ID)+">" || !strings.HasSuffix(id, "@newswatch>") {
		t.Errorf("Message-ID = %q", id)
	}
	if pm.header.Get("Auto-Submitted") != "auto-generated" || pm.header.Get("X-Newswatch-Topic") != "fentanyl" {
		t.Errorf("headers: %v", pm.header)
	}
	if _, err := pm.header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	if strings.Join(pm.order, ",") != "text/plain,text/html" {
		t.Fatalf("parts = %v, want text then HTML (the last is preferred)", pm.order)
	}
	text, html := pm.parts["text/plain"], pm.parts["text/html"]
	for _, want := range []string{a.Article.Title, a.Article.URL, "fentanyl in title (x2)", a.Article.Summary, a.ID} {
		if !strings.Contains(text, want) {
			t.Errorf("text part lacks %q:\n%s", want, text)
		}
	}
	for _, want := range []string{
		`<a href="https://news.example.org/world/china-fentanyl?id=7&amp;ref=rss">US and China agree on fentanyl precursor controls</a>`,
		`<mark>fentanyl</mark>`,
		`Fentanyl and synthetic opioids`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML part lacks %q:\n%s", want, html)
		}
	}

	// A redelivery is the same message to mail clients.
	if _, err := e.Notify(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	got = ts.received()
	if pm2 := parseMail(t, got[1].data); pm2.header.Get("Message-Id") != pm.header.Get("Message-Id") {
		t.Errorf("Message-ID changed on redelivery: %q vs %q", pm2.header.Get("Message-Id"), pm.header.Get("Message-Id"))
	}
	if MessageID("analyst", a.ID) == MessageID("desk", a.ID) {
		t.Error("Message-ID does not depend on the subscriber")
	}
}

func TestEmailTLSModes(t *testing.T) {
	t.Run("implicit tls", func(t *testing.T) {
		ts := startSMTP(t, modeTLS, "alerts", "pw")
		e := newTestEmail(t, ts, "tls", emailSub())
		if _, err := e.Notify(context.Background(), sampleAlert()); err != nil {
			t.Fatal(err)
		}
		if g := ts.received(); len(g) != 1 || !g[0].tls || g[0].user != "alerts" {
			t.Fatalf("received %+v", g)
		}
	})
	t.Run("none", func(t *testing.T) {
		ts := startSMTP(t, modePlain, "", "")
		e := newTestEmail(t, ts, "none", emailSub())
		if _, err := e.Notify(context.Background(), sampleAlert()); err != nil {
			t.Fatal(err)
		}
		if g := ts.received(); len(g) != 1 || g[0].tls {
			t.Fatalf("received %+v", g)
		}
	})
	t.Run("starttls required but not offered", func(t *testing.T) {
		ts := startSMTP(t, modePlain, "", "")
		e := newTestEmail(t, ts, "starttls", emailSub())
		retry, err := e.Notify(context.Background(), sampleAlert())
		if err == nil || !retry || len(ts.received()) != 0 {
			t.Fatalf("Notify = %v, %v; want a retryable error and nothing sent in clear", retry, err)
		}
		if !strings.Contains(err.Error(), "smtp.tls: none") {
			t.Errorf("the error does not name smtp.tls: none: %v", err)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		ts := startSMTP(t, modeStartTLS, "", "")
		e, err := NewEmail(emailSub(), ts.config("starttls")) // no RootCAs
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		if retry, err := e.Notify(context.Background(), sampleAlert()); err == nil || !retry {
			t.Fatalf("Notify = %v, %v; want a retryable error", retry, err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		ts := startSMTP(t, modeStartTLS, "alerts", "right")
		cfg := ts.config("starttls")
		cfg.Password = "wrong-PASSWORD-value"
		e, err := NewEmail(emailSub(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		e.tlsConfig.RootCAs = ts.roots
		defer e.Close()
		retry, err := e.Notify(context.Background(), sampleAlert())
		if err == nil || !retry {
			t.Fatalf("Notify = %v, %v; want a retryable error", retry, err)
		}
		if strings.Contains(err.Error(), "wrong-PASSWORD-value") {
			t.Fatalf("error leaks the password: %v", err)
		}
	})
}

func TestEmailReusesOneConnection(t *testing.T) {
	ts := startSMTP(t, modeStartTLS, "alerts", "pw")
	e := newTestEmail(t, ts, "starttls", emailSub())
	for i := 0; i < 5; i++ {
		a := sampleAlert()
		a.ID += string(rune('a' + i))
		if _, err := e.Notify(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	if n, c := len(ts.received()), ts.acceptedConns(); n != 5 || c != 1 {
		t.Fatalf("%d messages over %d connections, want 5 over 1", n, c)
	}
	// The server drops the idle connection: the next send redials once,
	// transparently.
	ts.dropConnections()
	time.Sleep(50 * time.Millisecond)
	if retry, err := e.Notify(context.Background(), sampleAlert()); err != nil {
		t.Fatalf("after server closed the connection: %v, %v", retry, err)
	}
	if n, c := len(ts.received()), ts.acceptedConns(); n != 6 || c != 2 {
		t.Fatalf("%d messages over %d connections, want 6 over 2", n, c)
	}
	// Close releases the connection; the sink stays usable.
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Notify(context.Background(), sampleAlert()); err != nil {
		t.Fatal(err)
	}
	if c := ts.acceptedConns(); c != 3 {
		t.Fatalf("%d connections after Close and a send, want 3", c)
	}
}

func TestEmailIdleConnectionIsClosed(t *testing.T) {
	ts := startSMTP(t, modePlain, "", "")
	e := newTestEmail(t, ts, "none", emailSub())
	e.idle = 50 * time.Millisecond
	if _, err := e.Notify(context.Background(), sampleAlert()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		e.mu.Lock()
		open := e.conn != nil
		e.mu.Unlock()
		if !open {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("idle connection still open")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEmailRejections(t *testing.T) {
	cases := []struct {
		name      string
		err       error
		wantRetry bool
	}{
		{"550 no such user is final", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}, false},
		{"452 try later retries", &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startSMTP(t, modePlain, "", "")
			ts.rcptErr = tc.err
			e := newTestEmail(t, ts, "none", emailSub())
			retry, err := e.Notify(context.Background(), sampleAlert())
			if err == nil || retry != tc.wantRetry {
				t.Fatalf("Notify = %v, %v; want retry %v", retry, err, tc.wantRetry)
			}
			// The connection survives a rejection and is reused.
			ts.mu.Lock()
			ts.rcptErr = nil
			ts.mu.Unlock()
			if _, err := e.Notify(context.Background(), sampleAlert()); err != nil {
				t.Fatal(err)
			}
			if c := ts.acceptedConns(); c != 1 {
				t.Errorf("%d connections, want 1", c)
			}
		})
	}
	t.Run("server down retries", func(t *testing.T) {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		e, err := NewEmail(emailSub(), config.SMTP{Host: "127.0.0.1", Port: port, TLS: "none", From: "a@example.org", Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if retry, err := e.Notify(context.Background(), sampleAlert()); err == nil || !retry {
			t.Fatalf("Notify = %v, %v", retry, err)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		ts := startSMTP(t, modePlain, "", "")
		e := newTestEmail(t, ts, "none", emailSub())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if retry, err := e.Notify(ctx, sampleAlert()); !errors.Is(err, context.Canceled) || !retry {
			t.Fatalf("Notify = %v, %v", retry, err)
		}
	})
}

func TestEmailHeaderInjection(t *testing.T) {
	ts := startSMTP(t, modePlain, "", "")
	e := newTestEmail(t, ts, "none", emailSub())
	a := sampleAlert()
	a.Article.Title = "Breaking\r\nBcc: victim@example.net\r\n\r\n<b>body</b>"
	a.TopicName = "Topic\nX-Injected: 1"
	a.Topic = "fentanyl\r\nX-Injected-Topic: 1"
	if _, err := e.Notify(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	g := ts.received()[0]
	if len(g.to) != 2 {
		t.Fatalf("envelope recipients %v: injected", g.to)
	}
	pm := parseMail(t, g.data)
	for k := range pm.header {
		if strings.HasPrefix(strings.ToLower(k), "bcc") || strings.Contains(strings.ToLower(k), "injected") {
			t.Errorf("injected header %q", k)
		}
	}
	if want := "[newswatch] Topic X-Injected: 1: Breaking Bcc: victim@example.net <b>body</b>"; pm.subject(t) != want {
		t.Errorf("Subject = %q, want %q", pm.subject(t), want)
	}
}

func TestEmailTemplatesFromFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sub := emailSub()
	sub.Templates = config.Templates{
		Subject: write("s.tmpl", "ALERT {{.Topic}} / {{.Title}}\nsecond line"),
		Text:    write("t.tmpl", "custom text {{.Alert.Article.Source}}"),
		HTML:    write("h.tmpl", `<p class="x">custom {{.Title}}</p>`),
	}
	ts := startSMTP(t, modePlain, "", "")
	e := newTestEmail(t, ts, "none", sub)
	a := sampleAlert()
	a.Article.Title = `<script>alert(1)</script>`
	if _, err := e.Notify(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	pm := parseMail(t, ts.received()[0].data)
	if s := pm.subject(t); s != "ALERT Fentanyl and synthetic opioids / <script>alert(1)</script> second line" {
		t.Errorf("Subject = %q", s)
	}
	if pm.parts["text/plain"] != "custom text example-feed" {
		t.Errorf("text = %q", pm.parts["text/plain"])
	}
	if h := pm.parts["text/html"]; h != `<p class="x">custom &lt;script&gt;alert(1)&lt;/script&gt;</p>` {
		t.Errorf("html = %q", h)
	}

	// Bad templates fail at construction, naming the file.
	for name, tc := range map[string]config.Templates{
		"missing file":  {Text: filepath.Join(dir, "nope.tmpl")},
		"syntax":        {HTML: write("bad.tmpl", "{{.Title")},
		"unknown field": {Subject: write("field.tmpl", "{{.NoSuchField}}")},
	} {
		sub.Templates = tc
		if _, err := NewEmail(sub, ts.config("none")); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.Contains(err.Error(), dir) {
			t.Errorf("%s: error does not name the file: %v", name, err)
		}
	}
}

func TestNewEmailRejects(t *testing.T) {
	ok := config.SMTP{Host: "127.0.0.1", Port: 25, TLS: "none", From: "a@example.org", Timeout: time.Second}
	for name, tc := range map[string]struct {
		sub  config.Subscriber
		smtp config.SMTP
	}{
		"no recipients":  {config.Subscriber{ID: "x"}, ok},
		"bad recipient":  {config.Subscriber{ID: "x", EmailSink: config.EmailSink{To: []string{"not an address"}}}, ok},
		"crlf recipient": {config.Subscriber{ID: "x", EmailSink: config.EmailSink{To: []string{"a@example.org\r\nBcc: b@example.org"}}}, ok},
		"bad from":       {emailSub(), config.SMTP{Host: "h", From: "nobody", TLS: "none"}},
		"bad tls mode":   {emailSub(), config.SMTP{Host: "h", From: "a@example.org", TLS: "ssl"}},
		"no host":        {emailSub(), config.SMTP{From: "a@example.org", TLS: "none"}},
	} {
		if _, err := NewEmail(tc.sub, tc.smtp); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
