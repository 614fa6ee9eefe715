package notifier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"newswatch/config"
	"newswatch/internal/smtptest"
	"newswatch/metrics"
	"newswatch/news"
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
	sub := config.Subscriber{ID: "morning", Type: "email", EmailSink: config.EmailSink{To: []string{"desk@example.org"}, Digest: "1h"}, Topics: []string{"fentanyl"},
		Timeout: 5 * time.Second, Retry: fastRetry}
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

func TestRateCapAndQuietHoursFoldIntoDigest(t *testing.T) {
	mail := smtptest.Start(t)
	smtp := config.SMTP{Host: mail.Host, Port: mail.Port, TLS: "none", From: "alerts@example.org", Timeout: 5 * time.Second}
	b := openBus(t, t.TempDir())
	defer b.Close()
	clock := &fakeClock{}
	// Start at a quarter past the hour so that the cap's hour does not
	// roll over during the test.
	now := time.Now()
	clock.advance(now.Truncate(time.Hour).Add(75 * time.Minute).Sub(now))
	d := NewDispatcher(b, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	d.now = clock.now
	defer d.Close()
	start := func(sub config.Subscriber) {
		sink, err := NewEmail(sub, smtp)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sink.Close() })
		if err := d.Start(context.Background(), sub, sink); err != nil {
			t.Fatal(err)
		}
	}
	// Capped at 2 an hour.
	start(config.Subscriber{ID: "capped", Type: "email", EmailSink: config.EmailSink{To: []string{"capped@example.org"}, MaxPerHour: 2}, Topics: []string{"fentanyl"},
		Timeout: 5 * time.Second, Retry: fastRetry})
	// Quiet for the hour around the (fake) time now.
	q := clock.now()
	window := fmt.Sprintf("%02d:%02d-%02d:%02d", q.Add(-30*time.Minute).Hour(), q.Add(-30*time.Minute).Minute(),
		q.Add(30*time.Minute).Hour(), q.Add(30*time.Minute).Minute())
	start(config.Subscriber{ID: "sleeper", Type: "email", EmailSink: config.EmailSink{To: []string{"sleeper@example.org"}, QuietHours: window}, Topics: []string{"fentanyl"},
		Timeout: 5 * time.Second, Retry: fastRetry})

	publishAlerts(t, b, "fentanyl", 5, 0)
	waitStatus(t, d, "capped", func(s SubscriberStatus) bool { return s.Delivered == 2 && s.Held == 3 })
	waitStatus(t, d, "sleeper", func(s SubscriberStatus) bool { return s.Held == 5 })
	to := func(addr string) []smtptest.Message {
		var out []smtptest.Message
		for _, m := range mail.Messages() {
			if m.To[0] == addr {
				out = append(out, m)
			}
		}
		return out
	}
	if n := len(to("capped@example.org")); n != 2 {
		t.Errorf("capped subscriber got %d emails in its first hour, want 2", n)
	}
	if n := len(to("sleeper@example.org")); n != 0 {
		t.Errorf("quiet subscriber got %d emails during quiet hours", n)
	}

	clock.advance(time.Hour) // past the hour and past the quiet window
	waitStatus(t, d, "capped", func(s SubscriberStatus) bool { return s.Delivered == 5 && s.Held == 0 })
	waitStatus(t, d, "sleeper", func(s SubscriberStatus) bool { return s.Delivered == 5 && s.Held == 0 })
	mail.Wait(4, 5*time.Second)
	if n := len(to("capped@example.org")); n != 3 {
		t.Errorf("capped subscriber got %d emails, want 2 alerts and 1 digest", n)
	}
	if m := to("sleeper@example.org"); len(m) != 1 || !strings.Contains(string(m[0].Data), "Story 4") {
		t.Errorf("quiet subscriber got %d emails, want one digest of all 5", len(m))
	}
}

func TestFoldPolicy(t *testing.T) {
	q, err := config.ParseQuietHours("22:00-07:00")
	if err != nil {
		t.Fatal(err)
	}
	p := &foldPolicy{quiet: &q, maxPerHour: 1}
	day := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	if !p.hold(day.Add(23*time.Hour)) || !p.hold(day.Add(6*time.Hour+59*time.Minute)) {
		t.Error("not held inside quiet hours")
	}
	if got := p.flushAt(day.Add(23 * time.Hour)); !got.Equal(day.Add(31 * time.Hour)) {
		t.Errorf("flush at %s, want 07:00 next day", got)
	}
	noon := day.Add(12 * time.Hour)
	if p.hold(noon) {
		t.Error("first alert of the hour held")
	}
	p.sent(noon)
	if !p.hold(noon.Add(time.Minute)) {
		t.Error("second alert of the hour not held (cap 1)")
	}
	if got := p.flushAt(noon.Add(time.Minute)); !got.Equal(day.Add(13 * time.Hour)) {
		t.Errorf("overflow flush at %s, want 13:00", got)
	}
	if p.hold(noon.Add(time.Hour)) {
		t.Error("the cap did not reset with the hour")
	}
}

// slowDigest is a digest sink whose first send hangs, then fails with a
// retryable error (a mail server that times out).
type slowDigest struct {
	calls atomic.Int32
	slow  time.Duration
}

func (s *slowDigest) Notify(context.Context, *news.Alert) (bool, error) { return false, nil }

func (s *slowDigest) NotifyDigest(ctx context.Context, as []*news.Alert) (bool, error) {
	if s.calls.Add(1) == 1 {
		time.Sleep(s.slow)
		return true, errors.New("smtp: timeout")
	}
	return false, nil
}

// A digest send that outlasts the ack wait must not let the held alerts
// be acknowledged: they survive a restart before the retry.
func TestDigestHeldAlertsSurviveSlowFailedSend(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{}
	sub := config.Subscriber{ID: "morning", Type: "email", EmailSink: config.EmailSink{To: []string{"x@example.org"}, Digest: "1h"}, Topics: []string{"fentanyl"},
		Timeout: 5 * time.Second, Retry: config.Retry{Attempts: 5, Initial: time.Hour, Max: time.Hour}}
	b := openBus(t, dir)
	d := NewDispatcher(b, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	d.now = clock.now
	d.digestAckWait = 2 * time.Second
	if err := d.Start(context.Background(), sub, &slowDigest{slow: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	publishAlerts(t, b, "fentanyl", 3, 0)
	waitStatus(t, d, "morning", func(s SubscriberStatus) bool { return s.Held == 3 })
	clock.advance(2 * time.Hour)
	waitStatus(t, d, "morning", func(s SubscriberStatus) bool { return s.LastResult == "retry" })
	time.Sleep(3 * time.Second) // past another ack wait
	if n, _ := d.Backlog(context.Background(), "morning"); n != 3 {
		t.Errorf("before the restart the consumer holds %d alerts, want 3", n)
	}
	d.Close()
	b.Close()
	b = openBus(t, dir)
	defer b.Close()
	d = NewDispatcher(b, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if n, _ := d.Backlog(context.Background(), "morning"); n != 3 {
		t.Errorf("after the restart %d alerts are left, want 3: held alerts were lost", n)
	}
}

// failingDigest fails every digest with an error worth retrying.
type failingDigest struct{ calls atomic.Int32 }

func (f *failingDigest) Notify(context.Context, *news.Alert) (bool, error) {
	return true, errors.New("smtp: 451 try later")
}

func (f *failingDigest) NotifyDigest(context.Context, []*news.Alert) (bool, error) {
	f.calls.Add(1)
	return true, errors.New("smtp: 451 try later")
}

// A digest's failed tries are kept in the store like an alert's: a
// restart does not give a failing digest its tries afresh, and its dead
// letters list every try.
func TestDigestTriesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{}
	sub := config.Subscriber{ID: "morning", Type: "email", EmailSink: config.EmailSink{To: []string{"x@example.org"}, Digest: "1h"}, Topics: []string{"fentanyl"},
		Timeout: 5 * time.Second, Retry: config.Retry{Attempts: 3, Initial: time.Hour, Max: time.Hour}}
	start := func() (*Dispatcher, *failingDigest) {
		b := openBus(t, dir)
		d := NewDispatcher(b, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
		d.now = clock.now
		d.digestAckWait = 2 * time.Second // how soon held alerts return after the restart
		sink := &failingDigest{}
		if err := d.Start(context.Background(), sub, sink); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close(); b.Close() })
		return d, sink
	}
	d, sink := start()
	publishAlerts(t, d.b, "fentanyl", 2, 0)
	waitStatus(t, d, "morning", func(s SubscriberStatus) bool { return s.Held == 2 })
	for try := int64(1); try <= 2; try++ {
		clock.advance(3 * time.Hour) // past the digest, then past the retry
		waitStatus(t, d, "morning", func(s SubscriberStatus) bool { return s.Failures == try })
	}
	if st := digestStatus(d, "morning"); st.DeadLettered != 0 || st.LastResult != "retry" {
		t.Fatalf("after two of three tries: %+v, want a retry pending", st)
	}
	d.Close()
	d.b.Close()

	d, sink = start()
	waitStatus(t, d, "morning", func(s SubscriberStatus) bool { return s.Held == 2 })
	clock.advance(3 * time.Hour)
	st := waitStatus(t, d, "morning", func(s SubscriberStatus) bool { return s.Failures > 0 })
	if sink.calls.Load() != 1 || st.DeadLettered != 2 {
		t.Fatalf("the third try after the restart: %d sends, status %+v; want one send and both alerts dead-lettered", sink.calls.Load(), st)
	}
	for _, dl := range deadLetters(t, d.b, "morning") {
		if len(dl.Attempts) != 3 || !strings.Contains(dl.Reason, "after 3 tries") {
			t.Errorf("dead letter of %s: %d attempts, reason %q; want 3 tries", dl.Alert.ID, len(dl.Attempts), dl.Reason)
		}
	}
}

// TestDigestHoldErrorsReported: held alerts that cannot be renewed (kept
// in progress) or handed back at stop, here because the connection is
// gone, are logged at WARN with the subscriber and the error, and
// counted in newswatch_digest_hold_errors_total.
func TestDigestHoldErrorsReported(t *testing.T) {
	mail := smtptest.Start(t)
	smtp := config.SMTP{Host: mail.Host, Port: mail.Port, TLS: "none", From: "alerts@example.org", Timeout: 5 * time.Second}
	sub := config.Subscriber{ID: "morning", Type: "email", EmailSink: config.EmailSink{To: []string{"desk@example.org"}, Digest: "1h"}, Topics: []string{"fentanyl"},
		Timeout: 5 * time.Second, Retry: fastRetry}
	b := openBus(t, t.TempDir())
	defer b.Close()
	var logs logBuffer
	m := metrics.New()
	d := NewDispatcher(b, bufLogger(&logs), m)
	d.digestAckWait = 400 * time.Millisecond // renewed every 100ms
	sink, err := NewEmail(sub, smtp)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if err := d.Start(context.Background(), sub, sink); err != nil {
		t.Fatal(err)
	}
	publishAlerts(t, b, "fentanyl", 2, 0)
	waitStatus(t, d, "morning", func(s SubscriberStatus) bool { return s.Held == 2 })

	b.NC.Close()
	holdErrors := func(op string) float64 {
		return counterValue(t, m, "newswatch_digest_hold_errors_total", "morning", "op", op)
	}
	waitFor(t, "a failed renewal counted", 10*time.Second, func() bool { return holdErrors("renew") >= 2 })
	d.Close()
	if got := holdErrors("release"); got != 2 {
		t.Errorf("failed releases counted %v, want 2", got)
	}
	for _, want := range []string{"renew held alerts", "hand back held alerts"} {
		if !logHas(logs.String(), "WARN", want, "subscriber=morning", "err=") {
			t.Errorf("no WARN %q with subscriber and error:\n%s", want, logs.String())
		}
	}
}

// logHas reports whether one line of log holds level and every part.
func logHas(log, level string, parts ...string) bool {
	for line := range strings.SplitSeq(log, "\n") {
		if !strings.Contains(line, "level="+level) {
			continue
		}
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

// counterValue is a counter's value for subscriber and one more label.
func counterValue(t *testing.T, m *metrics.Metrics, name, subscriber, label, value string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, mt := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range mt.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["subscriber"] == subscriber && labels[label] == value {
				return mt.GetCounter().GetValue()
			}
		}
	}
	return 0
}
