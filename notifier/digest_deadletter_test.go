package notifier

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"newswatch/config"
)

// A digest that failed for good hands its alerts to the dead-letter
// stream. When that stream refuses them they are handed back, not
// settled: the recorded position (where a lost consumer is recreated)
// must stay below them, or a recreated consumer would skip them.
func TestDigestDeadLetterRefusedKeepsPositionBelowItsAlerts(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{}
	sub := config.Subscriber{ID: "morning", Type: "email", EmailSink: config.EmailSink{To: []string{"x@example.org"}, Digest: "1h"}, Topics: []string{"fentanyl"},
		Timeout: 5 * time.Second, Retry: config.Retry{Attempts: 1, Initial: time.Hour, Max: time.Hour}}
	b := openBus(t, dir)
	defer b.Close()
	d := NewDispatcher(b, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	defer d.Close()
	d.now = clock.now
	if err := d.Start(context.Background(), sub, &failingDigest{}); err != nil {
		t.Fatal(err)
	}
	publishAlerts(t, b, "fentanyl", 2, 0)
	waitStatus(t, d, "morning", func(s SubscriberStatus) bool { return s.Held == 2 })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	as, err := b.JS.Stream(ctx, b.Names.AlertStream)
	if err != nil {
		t.Fatal(err)
	}
	first := as.CachedInfo().State.FirstSeq // the first held alert

	// The dead-letter stream takes no message of a dead letter's size.
	s, err := b.JS.Stream(ctx, b.Names.DeadStream)
	if err != nil {
		t.Fatal(err)
	}
	sc := s.CachedInfo().Config
	sc.MaxMsgSize = 16
	if _, err := b.JS.UpdateStream(ctx, sc); err != nil {
		t.Fatal(err)
	}

	clock.advance(2 * time.Hour)
	st := waitStatus(t, d, "morning", func(s SubscriberStatus) bool { return s.Failures == 1 })
	if st.DeadLettered != 0 {
		t.Fatalf("status %+v: the dead-letter stream took alerts it was set to refuse", st)
	}
	if n, _ := d.Backlog(ctx, "morning"); n != 2 {
		t.Errorf("the consumer holds %d alerts, want both handed back", n)
	}
	seq, ok, err := position(ctx, b, "morning")
	if err != nil {
		t.Fatal(err)
	}
	if ok && seq >= first {
		t.Errorf("position recorded at %d, the first held alert is %d: past alerts that were handed back, not settled", seq, first)
	}
}
