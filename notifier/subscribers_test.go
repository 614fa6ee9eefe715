package notifier

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"newswatch/config"
)

func TestSubscribersApply(t *testing.T) {
	b := openBus(t, t.TempDir())
	defer b.Close()
	h := newHookServer(t, nil)
	d := NewDispatcher(b, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	subs := NewSubscribers(d, nil, nil)
	defer subs.Close()
	ctx := context.Background()
	a, c := dispatchSub("a", h.srv.URL, fastRetry), dispatchSub("c", h.srv.URL, fastRetry)
	smtp := config.SMTP{Host: "127.0.0.1", Port: 2525, From: "nw@example.org"}
	sinkOf := func(sub config.Subscriber) Sink {
		t.Helper()
		s, err := subs.Sink(sub, smtp)
		if err != nil {
			t.Fatalf("Sink(%s): %v", sub.ID, err)
		}
		return s
	}

	if err := subs.Apply(ctx, []config.Subscriber{a, c}, smtp); err != nil {
		t.Fatal(err)
	}
	if !d.Running("a") || !d.Running("c") {
		t.Fatal("a and c should run")
	}
	first := sinkOf(a)

	steps := []struct {
		name      string
		subs      []config.Subscriber
		smtp      config.SMTP
		wantErr   string
		running   []string
		stopped   []string
		sameSinkA bool
	}{
		{name: "unchanged keeps the sink", subs: []config.Subscriber{a, c}, smtp: smtp,
			running: []string{"a", "c"}, sameSinkA: true},
		{name: "smtp change rebuilds", subs: []config.Subscriber{a, c}, smtp: config.SMTP{Host: "127.0.0.2", Port: 2525, From: "nw@example.org"},
			running: []string{"a", "c"}},
		{name: "removed is stopped", subs: []config.Subscriber{a}, smtp: smtp,
			running: []string{"a"}, stopped: []string{"c"}},
		{name: "bad one fails, others run", subs: []config.Subscriber{a, {ID: "bad", Type: "webhook", WebhookSink: config.WebhookSink{URL: "ftp://x"}}}, smtp: smtp,
			wantErr: "not an http(s) URL", running: []string{"a"}, stopped: []string{"bad"}, sameSinkA: true},
		{name: "failed one is tried again unchanged", subs: []config.Subscriber{a, {ID: "bad", Type: "webhook", WebhookSink: config.WebhookSink{URL: "ftp://x"}}}, smtp: smtp,
			wantErr: "not an http(s) URL", running: []string{"a"}, sameSinkA: true},
	}
	prev := first
	for _, st := range steps {
		err := subs.Apply(ctx, st.subs, st.smtp)
		if st.wantErr == "" && err != nil || st.wantErr != "" && (err == nil || !strings.Contains(err.Error(), st.wantErr)) {
			t.Fatalf("%s: Apply err = %v, want %q", st.name, err, st.wantErr)
		}
		for _, id := range st.running {
			if !d.Running(id) {
				t.Errorf("%s: %s not running", st.name, id)
			}
		}
		for _, id := range st.stopped {
			if d.Running(id) {
				t.Errorf("%s: %s still running", st.name, id)
			}
		}
		cur, err := subs.Sink(a, st.smtp)
		if err != nil {
			t.Fatalf("%s: Sink(a): %v", st.name, err)
		}
		if (cur == prev) != st.sameSinkA {
			t.Errorf("%s: sink of a reused = %v, want %v", st.name, cur == prev, st.sameSinkA)
		}
		prev = cur
	}

	// A running subscriber's sink is not swapped for one built from
	// another config behind the dispatcher's back.
	other := a
	other.Format = "slack"
	if _, err := subs.Sink(other, smtp); err == nil || !strings.Contains(err.Error(), "another config") {
		t.Errorf("Sink with another config of a running subscriber: err = %v", err)
	}
	if cur, _ := subs.Sink(a, smtp); cur != prev {
		t.Error("the running sink of a was replaced")
	}

	subs.Close()
	if d.Running("a") {
		t.Error("a runs after Close")
	}
}

func TestSubscribersByHand(t *testing.T) {
	subs := NewSubscribers(nil, nil, nil)
	defer subs.Close()
	smtp := config.SMTP{Host: "127.0.0.1", Port: 2525, From: "nw@example.org"}
	a := dispatchSub("a", "https://hooks.example.org/news", fastRetry)
	if err := subs.Apply(context.Background(), []config.Subscriber{a}, smtp); err == nil {
		t.Error("Apply without a dispatcher should fail")
	}
	s1, err := subs.Sink(a, smtp)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := subs.Sink(a, smtp)
	if err != nil || s2 != s1 {
		t.Errorf("second Sink = %v, %v; want the first one again", s2, err)
	}
	b := a
	b.Format = "slack"
	s3, err := subs.Sink(b, smtp)
	if err != nil || s3 == s1 {
		t.Errorf("Sink with a changed config = %v, %v; want a new sink", s3, err)
	}
	if _, err := subs.Sink(config.Subscriber{ID: "x", Type: "pager"}, smtp); err == nil {
		t.Error("unknown type should fail")
	}
}

func TestSubscribersDrained(t *testing.T) {
	b := openBus(t, t.TempDir())
	defer b.Close()
	ok := newHookServer(t, nil)
	later := newHookServer(t, func(n int, w http.ResponseWriter) bool {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
		return false
	})
	d := NewDispatcher(b, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	subs := NewSubscribers(d, nil, nil)
	defer subs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	deadline := time.Now().Add(time.Minute)
	if bl := subs.Drained(ctx, deadline); !bl.Done || bl.Pending != 0 {
		t.Fatalf("no subscribers: %+v, want done", bl)
	}
	err := subs.Apply(ctx, []config.Subscriber{
		dispatchSub("ok", ok.srv.URL, fastRetry), dispatchSub("later", later.srv.URL, fastRetry),
	}, config.SMTP{})
	if err != nil {
		t.Fatal(err)
	}
	publishAlerts(t, b, "fentanyl", 2, 0)
	var bl Backlog
	for ctx.Err() == nil {
		if bl = subs.Drained(ctx, deadline); bl.Done {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// "ok" took both alerts; "later" holds both behind a retry an hour
	// away, beyond the deadline.
	if !bl.Done || bl.Pending != 2 || bl.Retrying != 1 {
		t.Errorf("Drained = %+v, want done with 2 pending and 1 retrying", bl)
	}
	if got := len(ok.wait(t, 2, 5*time.Second)); got != 2 {
		t.Errorf("ok received %d, want 2", got)
	}
}

// TestSubscribersDrainedCountsJustPublished asks right after each alert
// is stored, before the server may have counted it for the subscriber's
// consumer: Drained is never done while the alert has not arrived (once
// would end with it undelivered).
func TestSubscribersDrainedCountsJustPublished(t *testing.T) {
	b := openBus(t, t.TempDir())
	defer b.Close()
	h := newHookServer(t, nil)
	d := NewDispatcher(b, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	subs := NewSubscribers(d, nil, nil)
	defer subs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := subs.Apply(ctx, []config.Subscriber{dispatchSub("desk", h.srv.URL, fastRetry)}, config.SMTP{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	const rounds = 400
	early := 0
	for i := range rounds {
		id := publishAlerts(t, b, "fentanyl", 1, i)[0]
		if bl := subs.Drained(ctx, deadline); bl.Done {
			h.mu.Lock()
			if !slices.Contains(h.ids, id) {
				early++
			}
			h.mu.Unlock()
		}
		h.wait(t, i+1, 10*time.Second)
	}
	if early > 0 {
		t.Errorf("Drained was done %d times of %d with the alert just stored not delivered", early, rounds)
	}
}
