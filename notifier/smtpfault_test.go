package notifier

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/nats-io/nats.go/jetstream"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/internal/smtptest"
)

// smtpFault is how the fault server treats one mail transaction.
type smtpFault int

const (
	faultNone        smtpFault = iota
	faultRcpt550               // RCPT answered 550 5.1.1: final
	faultRcpt451               // RCPT answered 451 4.3.0: temporary
	faultCloseInData           // connection closed once the headers are read
	faultCloseAtDot            // whole message read and kept, connection closed before the reply
)

// faultTry is one mail transaction the fault server saw.
type faultTry struct {
	at    time.Time
	fault smtpFault
	data  []byte // what it read of the message: headers, or all of it
}

// faultServer is a real SMTP server (go-smtp) on 127.0.0.1 that treats
// the n-th mail transaction (1-based, counted across connections) as
// fault(n) says.
type faultServer struct {
	host  string
	port  int
	fault func(n int) smtpFault

	mu    sync.Mutex
	tries []faultTry
	kept  [][]byte // messages accepted (or read whole) by the server
}

func startFaultSMTP(t *testing.T, fault func(n int) smtpFault) *faultServer {
	t.Helper()
	fs := &faultServer{fault: fault}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &faultSession{srv: fs, conn: c, try: -1}, nil
	}))
	s.Domain = "localhost"
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	fs.host, fs.port = "127.0.0.1", l.Addr().(*net.TCPAddr).Port
	return fs
}

func (fs *faultServer) snapshot() ([]faultTry, [][]byte) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]faultTry(nil), fs.tries...), append([][]byte(nil), fs.kept...)
}

type faultSession struct {
	srv  *faultServer
	conn *smtp.Conn
	try  int // index in srv.tries of the transaction in progress
}

func (s *faultSession) Mail(string, *smtp.MailOptions) error {
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	s.srv.tries = append(s.srv.tries, faultTry{at: time.Now(), fault: s.srv.fault(len(s.srv.tries) + 1)})
	s.try = len(s.srv.tries) - 1
	return nil
}

func (s *faultSession) current() smtpFault {
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	return s.srv.tries[s.try].fault
}

func (s *faultSession) Rcpt(string, *smtp.RcptOptions) error {
	switch s.current() {
	case faultRcpt550:
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	case faultRcpt451:
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	return nil
}

func (s *faultSession) Data(r io.Reader) error {
	fault := s.current()
	var data []byte
	switch fault {
	case faultCloseInData:
		// Read up to the blank line that ends the headers, then hang up
		// while the client is still sending the body.
		br := bufio.NewReader(r)
		for {
			line, err := br.ReadBytes('\n')
			data = append(data, line...)
			if err != nil || len(bytes.TrimSpace(line)) == 0 {
				break
			}
		}
		s.conn.Conn().Close()
	default:
		var err error
		if data, err = io.ReadAll(r); err != nil {
			return err
		}
	}
	s.srv.mu.Lock()
	s.srv.tries[s.try].data = data
	if fault != faultCloseInData {
		s.srv.kept = append(s.srv.kept, data)
	}
	s.srv.mu.Unlock()
	if fault == faultCloseAtDot {
		// The server has the message, the client never hears so.
		s.conn.Conn().Close()
		return errors.New("connection closed")
	}
	return nil
}

func (s *faultSession) Reset()        {}
func (s *faultSession) Logout() error { return nil }

// headerOf reads a header from the start of a message (headers only will do).
func headerOf(t *testing.T, data []byte, key string) string {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("no message headers: %v\n%s", err, data)
	}
	return m.Header.Get(key)
}

// startEmailSub starts an email subscriber of the fentanyl topic on d,
// sending through host:port without TLS.
func startEmailSub(t *testing.T, d *Dispatcher, id, host string, port int, r config.Retry) {
	t.Helper()
	sub := config.Subscriber{ID: id, Type: "email", EmailSink: config.EmailSink{To: []string{"desk@example.org"}}, Topics: []string{"fentanyl"},
		Timeout: 2 * time.Second, Retry: r}
	sink, err := NewEmail(sub, config.SMTP{Host: host, Port: port, TLS: "none", From: "alerts@example.org", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	if err := d.Start(context.Background(), sub, sink); err != nil {
		t.Fatal(err)
	}
}

// deadLetters reads every dead letter of a subscriber.
func deadLetters(t *testing.T, b *bus.Bus, sub string) []DeadLetter {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := b.JS.Stream(ctx, b.Names.DeadStream)
	if err != nil {
		t.Fatal(err)
	}
	subject := b.Names.DeadSubject(sub)
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	n := int(info.State.Subjects[subject])
	if n == 0 {
		return nil
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	var out []DeadLetter
	for len(out) < n {
		batch, err := cons.Fetch(n-len(out), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range batch.Messages() {
			var dl DeadLetter
			if err := json.Unmarshal(m.Data(), &dl); err != nil {
				t.Fatal(err)
			}
			out = append(out, dl)
			got++
		}
		if got == 0 {
			t.Fatalf("read %d of %d dead letters", len(out), n)
		}
	}
	return out
}

// checkSchedule checks that the tries at the given times follow the
// retry schedule: no try before the back-off of the one before it ran
// out (the lower bound of its jitter).
func checkSchedule(t *testing.T, r config.Retry, at []time.Time) {
	t.Helper()
	for i := 1; i < len(at); i++ {
		if gap, want := at[i].Sub(at[i-1]), r.Delay(i, 0); gap < want {
			t.Errorf("try %d came %s after try %d, before its back-off of at least %s", i+1, gap, i, want)
		}
	}
}

// firstN is a fault for the first n transactions, none after.
func firstN(n int, f smtpFault) func(int) smtpFault {
	return func(try int) smtpFault {
		if try <= n {
			return f
		}
		return faultNone
	}
}

// faultRetry is a short schedule: 4 tries, 150ms, 300ms, 300ms apart
// (±20%).
var faultRetry = config.Retry{Attempts: 4, Initial: 150 * time.Millisecond, Max: 300 * time.Millisecond}

// TestSMTPFaults sends one alert through the dispatcher to an email
// subscriber whose server misbehaves, and checks that each fault is
// retried on the subscriber's schedule or dead-lettered when final, that
// the alert is either delivered or in the dead-letter stream with the
// error, and that every try is the same message (one Message-ID).
func TestSMTPFaults(t *testing.T) {
	cases := []struct {
		name  string
		fault func(n int) smtpFault
		tries int  // transactions the server sees
		dead  bool // the alert ends in the dead-letter stream
		kept  int  // messages the server ends up with
		err   string
	}{
		{"RCPT 550 is final", firstN(100, faultRcpt550), 1, true, 0, "550"},
		{"RCPT 451 is retried", firstN(2, faultRcpt451), 3, false, 1, ""},
		{"RCPT 451 until no tries are left", firstN(100, faultRcpt451), faultRetry.Attempts, true, 0, "451"},
		{"close mid-DATA is retried", firstN(2, faultCloseInData), 3, false, 1, ""},
		{"close mid-DATA until no tries are left", firstN(100, faultCloseInData), faultRetry.Attempts, true, 0, "DATA"},
		// The server kept the first copy but the reply was lost: the
		// repeat is a duplicate the reader's client can drop by its
		// Message-ID.
		{"close before the reply is retried", firstN(1, faultCloseAtDot), 2, false, 2, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := openBus(t, t.TempDir())
			defer b.Close()
			fs := startFaultSMTP(t, tc.fault)
			d := NewDispatcher(b, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
			defer d.Close()
			startEmailSub(t, d, "desk", fs.host, fs.port, faultRetry)
			id := publishAlerts(t, b, "fentanyl", 1, 0)[0]

			waitFor(t, "the alert to be settled", 15*time.Second, func() bool {
				st := statusOf(d, "desk")
				return st.Delivered+st.DeadLettered == 1
			})
			st := statusOf(d, "desk")
			tries, kept := fs.snapshot()
			if len(tries) != tc.tries {
				t.Errorf("server saw %d tries, want %d", len(tries), tc.tries)
			}
			failures := tc.tries - 1 // the last try delivered
			if tc.dead {
				failures = tc.tries
			}
			if st.Failures != int64(failures) {
				t.Errorf("status %+v, want %d failed tries", st, failures)
			}
			at := make([]time.Time, len(tries))
			for i, tr := range tries {
				at[i] = tr.at
			}
			checkSchedule(t, faultRetry, at)

			// Nothing lost: delivered, or dead-lettered with the error.
			dls := deadLetters(t, b, "desk")
			if tc.dead {
				if st.DeadLettered != 1 || st.Delivered != 0 || len(dls) != 1 {
					t.Fatalf("status %+v, %d dead letters; want the alert dead-lettered", st, len(dls))
				}
				dl := dls[0]
				if dl.Alert.ID != id || len(dl.Attempts) != tc.tries || !strings.Contains(dl.Reason, tc.err) {
					t.Errorf("dead letter: alert %s, %d attempts, reason %q; want %s, %d, naming %q",
						dl.Alert.ID, len(dl.Attempts), dl.Reason, id, tc.tries, tc.err)
				}
				for _, a := range dl.Attempts {
					if !strings.Contains(a.Error, tc.err) {
						t.Errorf("attempt error %q does not name %q", a.Error, tc.err)
					}
				}
			} else if st.Delivered != 1 || len(dls) != 0 {
				t.Errorf("status %+v, %d dead letters; want the alert delivered", st, len(dls))
			}
			if len(kept) != tc.kept {
				t.Errorf("server kept %d messages, want %d", len(kept), tc.kept)
			}
			if n, _ := d.Backlog(context.Background(), "desk"); n != 0 {
				t.Errorf("backlog %d, want 0", n)
			}

			// Every copy the server saw of the message, whole or cut off,
			// is the same message.
			want := "<" + MessageID("desk", id) + ">"
			for i, tr := range tries {
				if tr.data == nil {
					continue // rejected before DATA
				}
				if got := headerOf(t, tr.data, "Message-Id"); got != want {
					t.Errorf("try %d: Message-ID %q, want %q", i+1, got, want)
				}
			}
		})
	}
}

// TestSMTPServerDown: while the server is down (connections refused)
// the alert waits on the subscriber's schedule, and is delivered once
// the server is back; a server that stays down ends with the alert in
// the dead-letter stream with the connection error, after every try.
func TestSMTPServerDown(t *testing.T) {
	t.Run("recovers", func(t *testing.T) {
		b := openBus(t, t.TempDir())
		defer b.Close()
		mail := smtptest.Start(t)
		mail.Down()
		d := NewDispatcher(b, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
		defer d.Close()
		r := config.Retry{Attempts: 20, Initial: 100 * time.Millisecond, Max: 200 * time.Millisecond}
		startEmailSub(t, d, "desk", mail.Host, mail.Port, r)
		ids := publishAlerts(t, b, "fentanyl", 2, 0)
		waitFor(t, "failed tries", 10*time.Second, func() bool { return statusOf(d, "desk").Failures >= 2 })
		if st := statusOf(d, "desk"); st.Delivered != 0 || st.DeadLettered != 0 || st.LastResult != "retry" ||
			!strings.Contains(st.LastError, "connect") {
			t.Errorf("while down: %+v", st)
		}
		if err := mail.Up(); err != nil {
			t.Fatal(err)
		}
		msgs := mail.Wait(2, 15*time.Second)
		if len(msgs) != 2 {
			t.Fatalf("%d emails after the server came back, want 2", len(msgs))
		}
		for i, m := range msgs {
			want := "<" + MessageID("desk", ids[i]) + ">"
			if got := headerOf(t, m.Data, "Message-Id"); got != want {
				t.Errorf("email %d: Message-ID %q, want %q (in order)", i, got, want)
			}
		}
		waitFor(t, "both delivered", 5*time.Second, func() bool { return statusOf(d, "desk").Delivered == 2 })
		if dls := deadLetters(t, b, "desk"); len(dls) != 0 {
			t.Errorf("%d dead letters, want none", len(dls))
		}
	})
	t.Run("stays down", func(t *testing.T) {
		b := openBus(t, t.TempDir())
		defer b.Close()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		d := NewDispatcher(b, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
		defer d.Close()
		startEmailSub(t, d, "desk", "127.0.0.1", port, faultRetry)
		id := publishAlerts(t, b, "fentanyl", 1, 0)[0]
		waitFor(t, "the dead letter", 15*time.Second, func() bool { return statusOf(d, "desk").DeadLettered == 1 })
		dls := deadLetters(t, b, "desk")
		if len(dls) != 1 {
			t.Fatalf("%d dead letters, want 1", len(dls))
		}
		dl := dls[0]
		if dl.Alert.ID != id || len(dl.Attempts) != faultRetry.Attempts || !strings.Contains(dl.Reason, "connect") {
			t.Errorf("dead letter: alert %s, %d attempts, reason %q", dl.Alert.ID, len(dl.Attempts), dl.Reason)
		}
		at := make([]time.Time, len(dl.Attempts))
		for i, a := range dl.Attempts {
			at[i] = a.At
		}
		checkSchedule(t, faultRetry, at)
		if st := statusOf(d, "desk"); st.Failures != int64(faultRetry.Attempts) || st.Delivered != 0 {
			t.Errorf("status %+v", st)
		}
	})
}

// TestSMTPFaultInBurst: the connection a burst of alerts shares is closed
// mid-DATA on the second alert: it is retried on a new connection, and
// every alert arrives once, in order, with its own Message-ID.
func TestSMTPFaultInBurst(t *testing.T) {
	b := openBus(t, t.TempDir())
	defer b.Close()
	fs := startFaultSMTP(t, func(n int) smtpFault {
		if n == 2 {
			return faultCloseInData
		}
		return faultNone
	})
	d := NewDispatcher(b, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	defer d.Close()
	startEmailSub(t, d, "desk", fs.host, fs.port, faultRetry)
	ids := publishAlerts(t, b, "fentanyl", 3, 0)
	waitFor(t, "every alert delivered", 15*time.Second, func() bool { return statusOf(d, "desk").Delivered == 3 })
	tries, kept := fs.snapshot()
	if len(tries) != 4 || len(kept) != 3 {
		t.Fatalf("server saw %d tries and kept %d messages, want 4 and 3", len(tries), len(kept))
	}
	for i, m := range kept {
		if got, want := headerOf(t, m, "Message-Id"), "<"+MessageID("desk", ids[i])+">"; got != want {
			t.Errorf("email %d: Message-ID %q, want %q", i, got, want)
		}
	}
	if got, want := headerOf(t, tries[1].data, "Message-Id"), "<"+MessageID("desk", ids[1])+">"; got != want {
		t.Errorf("cut-off try: Message-ID %q, want %q", got, want)
	}
	if st := statusOf(d, "desk"); st.Failures != 1 || st.DeadLettered != 0 {
		t.Errorf("status %+v", st)
	}
}

// TestSMTPServerSilent: a server that accepts the connection and then
// answers nothing, before or after its greeting, is a server down: each
// try ends at the SMTP timeout and is retried, and the client hangs up
// rather than leave the connection open for the next try to add to.
func TestSMTPServerSilent(t *testing.T) {
	for _, tc := range []struct {
		name  string
		greet bool
	}{{"before greeting", false}, {"after greeting", true}} {
		t.Run(tc.name, func(t *testing.T) { testSMTPServerSilent(t, tc.greet) })
	}
}

func testSMTPServerSilent(t *testing.T, greet bool) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	closed := make(chan struct{}, 100) // one per connection the client closed
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if greet {
					_, _ = io.WriteString(c, "220 localhost ESMTP\r\n")
				}
				_, _ = io.Copy(io.Discard, c) // until the client closes it
				closed <- struct{}{}
			}()
		}
	}()
	sub := config.Subscriber{ID: "desk", Type: "email", EmailSink: config.EmailSink{To: []string{"desk@example.org"}}}
	e, err := NewEmail(sub, config.SMTP{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, TLS: "none",
		From: "alerts@example.org", Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	retry, err := e.Notify(context.Background(), sampleAlert())
	if err == nil || !retry {
		t.Fatalf("Notify = %v, %v; want a retried error", retry, err)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the connection to the silent server is still open after the try failed")
	}
}
