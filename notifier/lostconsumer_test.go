package notifier

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"newswatch/config"
)

// TestLostConsumerResumes deletes a subscriber's consumer while alerts
// are queued for it (its receiver down), once while it runs and once
// while it is stopped: the consumer is recreated from the last delivered
// alert, every queued alert arrives, none delivered before is sent again,
// and an ERROR says so.
func TestLostConsumerResumes(t *testing.T) {
	dir := t.TempDir()
	b := openBus(t, dir)
	t.Cleanup(b.Close)
	var down atomic.Bool
	h := newHookServer(t, func(n int, w http.ResponseWriter) bool {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return false
		}
		return true
	})
	var logs logBuffer
	t.Cleanup(func() {
		if t.Failed() {
			h.mu.Lock()
			t.Logf("receiver: %d requests, accepted %v", h.n, h.ids)
			h.mu.Unlock()
			t.Logf("dispatcher log:\n%s", logs.String())
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if c, err := b.JS.Consumer(ctx, b.Names.AlertStream, ConsumerName("desk")); err != nil {
				t.Logf("consumer: %v", err)
			} else {
				ci := c.CachedInfo()
				t.Logf("consumer: created %v start %d delivered %+v ack floor %+v pending %d ack pending %d redelivered %d waiting %d",
					ci.Created, ci.Config.OptStartSeq, ci.Delivered, ci.AckFloor, ci.NumPending, ci.NumAckPending, ci.NumRedelivered, ci.NumWaiting)
			}
		}
	})
	d := NewDispatcher(b, bufLogger(&logs), nil)
	d.checkEvery = 100 * time.Millisecond
	patient := config.Retry{Attempts: 1000, Initial: 50 * time.Millisecond, Max: 100 * time.Millisecond}
	sub := dispatchSub("desk", h.srv.URL, patient)
	startSub(t, d, sub)
	ctx := context.Background()

	first := publishAlerts(t, b, "fentanyl", 2, 0)
	h.wait(t, 2, 10*time.Second)

	// The receiver goes down; alerts queue up; the consumer is lost.
	down.Store(true)
	queued := publishAlerts(t, b, "fentanyl", 5, 10)
	waitFor(t, "a failed try", 10*time.Second, func() bool { return statusOf(d, "desk").Failures > 0 })
	if err := b.JS.DeleteConsumer(ctx, b.Names.AlertStream, ConsumerName("desk")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "an ERROR about the lost consumer", 10*time.Second, func() bool {
		return strings.Contains(logs.String(), "level=ERROR") && strings.Contains(logs.String(), "consumer was lost")
	})
	down.Store(false)
	got := h.wait(t, 7, 10*time.Second)
	if want := append(append([]string(nil), first...), queued...); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("received %v, want each once, in order: %v", got, want)
	}

	// Lost while the dispatcher is stopped (a restart finds it gone).
	d.Close()
	down.Store(true)
	more := publishAlerts(t, b, "fentanyl", 3, 20)
	if err := b.JS.DeleteConsumer(ctx, b.Names.AlertStream, ConsumerName("desk")); err != nil {
		t.Fatal(err)
	}
	logs = logBuffer{}
	down.Store(false)
	d = NewDispatcher(b, bufLogger(&logs), nil)
	defer d.Close()
	startSub(t, d, sub)
	got = h.wait(t, 10, 10*time.Second)
	if fmt.Sprint(got[7:]) != fmt.Sprint(more) {
		t.Errorf("after a restart received %v, want %v", got[7:], more)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "consumer was lost") {
		t.Errorf("no ERROR about the lost consumer:\n%s", logs.String())
	}
	// Both losses are counted (newswatch_consumers_remade_total).
	if n := b.Health.Counts().Remade[ConsumerName("desk")]; n != 2 {
		t.Errorf("consumers remade for desk: %d, want 2", n)
	}
	time.Sleep(200 * time.Millisecond)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.ids) != 10 {
		t.Errorf("received %d alerts, want 10: %v", len(h.ids), h.ids)
	}
}

// consumerStateFile is where the embedded server keeps the state of a
// subscriber's consumer under data dir dir.
func consumerStateFile(t *testing.T, dir, subscriber string) string {
	t.Helper()
	var found string
	suffix := filepath.Join("obs", ConsumerName(subscriber), "o.dat")
	err := filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, string(filepath.Separator)+suffix) {
			found = path
		}
		return err
	})
	if err != nil || found == "" {
		t.Fatalf("no state file of consumer %s under %s (err %v)", ConsumerName(subscriber), dir, err)
	}
	return found
}

// TestLostConsumerStaleState: a consumer made anew right after the lost
// one was deleted can find an old state of the lost one in its directory
// (the server's last flush of the old consumer landing after the
// deletion), and the server restores it. Here that state file is put in
// place by hand: the subscriber must neither get delivered alerts again
// nor wait for the old one's ack wait, but get each queued alert once.
func TestLostConsumerStaleState(t *testing.T) {
	dir := t.TempDir()
	h := newHookServer(t, nil)
	sub := dispatchSub("desk", h.srv.URL, fastRetry)
	run := func(logs *logBuffer) (*Dispatcher, func()) {
		b := openBusLog(t, dir, bufLogger(logs)) // the bus makes consumers again
		d := NewDispatcher(b, bufLogger(logs), nil)
		startSub(t, d, sub)
		return d, func() { d.Close(); b.Close() }
	}
	var logs logBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dispatcher log:\n%s", logs.String())
		}
	})

	// An old state of the consumer: two alerts delivered, flushed as the
	// server stops.
	d, stop := run(&logs)
	want := publishAlerts(t, d.b, "fentanyl", 2, 0)
	h.wait(t, 2, 10*time.Second)
	stop()
	old, err := os.ReadFile(consumerStateFile(t, dir, "desk"))
	if err != nil {
		t.Fatal(err)
	}

	// Three more delivered; then the consumer is lost, its old state
	// lands in its place, and two more are queued.
	d, stop = run(&logs)
	want = append(want, publishAlerts(t, d.b, "fentanyl", 3, 10)...)
	h.wait(t, 5, 10*time.Second)
	d.Close()
	file := consumerStateFile(t, dir, "desk")
	if err := d.b.DeleteConsumer(context.Background(), d.b.Names.AlertStream, ConsumerName("desk")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, old, 0o600); err != nil {
		t.Fatal(err)
	}
	want = append(want, publishAlerts(t, d.b, "fentanyl", 2, 20)...)
	d = NewDispatcher(d.b, bufLogger(&logs), nil)
	defer stop()
	defer d.Close()
	startSub(t, d, sub)

	got := h.wait(t, 7, 10*time.Second)
	// Anything sent again would come right behind the queued alerts.
	waitFor(t, "the consumer to settle", 10*time.Second, func() bool {
		n, err := d.Backlog(context.Background(), "desk")
		return err == nil && n == 0
	})
	h.mu.Lock()
	got = append([]string(nil), h.ids...)
	h.mu.Unlock()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("received %v, want each once, in order: %v", got, want)
	}
	if !strings.Contains(logs.String(), "came back with the state of the one deleted before it") {
		t.Errorf("no WARN about the stale state:\n%s", logs.String())
	}
}
