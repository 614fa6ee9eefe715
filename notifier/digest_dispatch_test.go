package notifier

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"newswatch/config"
	"newswatch/internal/smtptest"
)

// fakeClock runs at real speed plus an offset the test can move forward.
type fakeClock struct{ offset atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *fakeClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

func digestStatus(d *Dispatcher, id string) SubscriberStatus {
	for _, s := range d.Status() {
		if s.ID == id {
			return s
		}
	}
	return SubscriberStatus{}
}

func waitStatus(t *testing.T, d *Dispatcher, id string, cond func(SubscriberStatus) bool) SubscriberStatus {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := digestStatus(d, id)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("status of %s never met the condition: %+v", id, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDigestSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	mail := smtptest.Start(t)
	smtp := config.SMTP{Host: mail.Host, Port: mail.Port, TLS: "none", From: "alerts@example.org", Timeout: 5 * time.Second}
	sub := config.Subscriber{ID: "morning", Type: "email", To: []string{"desk@example.org"}, Topics: []string{"fentanyl"},
		Digest: "1h", Timeout: 5 * time.Second, Retry: fastRetry}
	clock := &fakeClock{}

	b := openBus(t, dir)
	d := NewDispatcher(b, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	d.now = clock.now
	d.digestAckWait = 2 * time.Second // how soon held alerts return after a crash
	sink, err := NewEmail(sub, smtp)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background(), sub, sink); err != nil {
		t.Fatal(err)
	}
	publishAlerts(t, b, "fentanyl", 3, 0)
	waitStatus(t, d, "morning", func(s SubscriberStatus) bool { return s.Held == 3 })
	if n := len(mail.Messages()); n != 0 {
		t.Fatalf("%d emails sent before the digest was due", n)
	}
	// Restart between two digests: the held alerts come back.
	d.Close()
	sink.Close()
	b.Close()

	b = openBus(t, dir)
	defer b.Close()
	d = NewDispatcher(b, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	d.now = clock.now
	d.digestAckWait = 2 * time.Second // how soon held alerts return after a crash
	defer d.Close()
	sink, err = NewEmail(sub, smtp)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if err := d.Start(context.Background(), sub, sink); err != nil {
		t.Fatal(err)
	}
	publishAlerts(t, b, "fentanyl", 2, 3)
	waitStatus(t, d, "morning", func(s SubscriberStatus) bool { return s.Held == 5 })
	clock.advance(time.Hour)
	st := waitStatus(t, d, "morning", func(s SubscriberStatus) bool { return s.Delivered == 5 })
	if st.Held != 0 || st.LastResult != "ok" {
		t.Errorf("after the digest: %+v", st)
	}
	msgs := mail.Wait(1, 5*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("%d emails, want one digest", len(msgs))
	}
	body := string(msgs[0].Data)
	for i := range 5 {
		if !strings.Contains(body, "Story "+string(rune('0'+i))) {
			t.Errorf("digest lacks alert %d", i)
		}
	}
	if n, _ := d.Backlog(context.Background(), "morning"); n != 0 {
		t.Errorf("backlog after the digest = %d", n)
	}
}
