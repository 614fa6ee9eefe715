package notifier

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"newswatch/internal/logtest"
	"strings"
	"sync"
	"testing"
	"time"
)

type logBuffer = logtest.Buffer

func bufLogger(buf *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func statusOf(d *Dispatcher, id string) SubscriberStatus {
	for _, s := range d.Status() {
		if s.ID == id {
			return s
		}
	}
	return SubscriberStatus{}
}

// TestGoneRule: a 410 disables the subscriber in the store and keeps every
// alert queued, the one that got the 410 too; a restart with the same
// config (a reload, a `once` run) stays disabled without trying again; a
// changed config or Enable resumes, and every alert arrives.
func TestGoneRule(t *testing.T) {
	dir := t.TempDir()
	b := openBus(t, dir)
	defer func() { b.Close() }()
	gone := newHookServer(t, func(n int, w http.ResponseWriter) bool { w.WriteHeader(http.StatusGone); return false })
	var logs logBuffer
	d := NewDispatcher(b, bufLogger(&logs), nil)
	d.checkEvery = 100 * time.Millisecond
	sub := dispatchSub("desk", gone.srv.URL, fastRetry)
	startSub(t, d, sub)
	want := publishAlerts(t, b, "fentanyl", 3, 0)
	waitFor(t, "the subscriber to be disabled", 10*time.Second, func() bool { return d.Disabled("desk") })

	st := statusOf(d, "desk")
	if st.DeadLettered != 0 || st.LastResult != "gone" || !strings.Contains(st.DisabledReason, "410") || st.DisabledAt.IsZero() {
		t.Errorf("status = %+v, want disabled with its reason, nothing dead-lettered", st)
	}
	if d.Running("desk") {
		t.Error("Running is true while disabled")
	}
	if n, _ := d.Backlog(context.Background(), "desk"); n != 3 {
		t.Errorf("backlog = %d, want all 3 alerts queued", n)
	}
	if dis, err := Disabled(context.Background(), b, "desk"); err != nil || dis == nil {
		t.Fatalf("disabled state not in the store: %v, %v", dis, err)
	}
	if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "stay queued") ||
		!strings.Contains(l, "newswatch subscribers enable desk") || strings.Contains(l, "dead-letter") {
		t.Errorf("log does not state the rule:\n%s", l)
	}

	// A restart with the same config, as `once` under cron does: still
	// disabled, nothing tried, and the log says how to enable it.
	d.Close()
	b.Close()
	b = openBus(t, dir)
	logs = logBuffer{}
	d = NewDispatcher(b, bufLogger(&logs), nil)
	d.checkEvery = 100 * time.Millisecond
	// The embedded server keeps a nak in memory only: after its restart
	// the alert that got the 410 comes back when its ack wait ends.
	d.ackWait = time.Second
	startSub(t, d, sub)
	time.Sleep(500 * time.Millisecond)
	gone.mu.Lock()
	tries := gone.n
	gone.mu.Unlock()
	if tries != 1 {
		t.Errorf("the gone receiver was tried %d times, want 1: a disabled subscriber must not be tried again", tries)
	}
	if !d.Disabled("desk") || d.Running("desk") {
		t.Errorf("after a restart with the same config: disabled %v, running %v", d.Disabled("desk"), d.Running("desk"))
	}
	if l := logs.String(); !strings.Contains(l, "stays disabled") || !strings.Contains(l, "newswatch subscribers enable desk") {
		t.Errorf("start does not say how to enable it:\n%s", l)
	}

	// A changed config (the receiver moved) enables it: every alert
	// arrives, in order.
	ok := newHookServer(t, nil)
	moved := sub
	moved.URL = ok.srv.URL
	startSub(t, d, moved)
	got := ok.wait(t, 3, 10*time.Second)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after re-enabling received %v, want %v", got, want)
	}
	if dis, _ := Disabled(context.Background(), b, "desk"); dis != nil || d.Disabled("desk") {
		t.Errorf("still disabled after a config change: %+v", dis)
	}
	d.Close()
}

// TestGoneEnable: Enable (`newswatch subscribers enable`) resumes a
// running, disabled subscriber without a restart.
func TestGoneEnable(t *testing.T) {
	b := openBus(t, t.TempDir())
	defer b.Close()
	var mu sync.Mutex
	goneNow := true
	h := newHookServer(t, func(n int, w http.ResponseWriter) bool {
		mu.Lock()
		defer mu.Unlock()
		if goneNow {
			w.WriteHeader(http.StatusGone)
			return false
		}
		return true
	})
	d := NewDispatcher(b, bufLogger(&logBuffer{}), nil)
	d.checkEvery = 100 * time.Millisecond
	defer d.Close()
	startSub(t, d, dispatchSub("desk", h.srv.URL, fastRetry))
	want := publishAlerts(t, b, "fentanyl", 2, 0)
	waitFor(t, "the subscriber to be disabled", 10*time.Second, func() bool { return d.Disabled("desk") })
	mu.Lock()
	goneNow = false
	mu.Unlock()
	if was, err := Enable(context.Background(), b, "desk"); err != nil || !was {
		t.Fatalf("Enable = %v, %v", was, err)
	}
	got := h.wait(t, 2, 10*time.Second)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after Enable received %v, want %v", got, want)
	}
	if d.Disabled("desk") || !d.Running("desk") {
		t.Error("still disabled after Enable")
	}
	if was, _ := Enable(context.Background(), b, "desk"); was {
		t.Error("Enable of an enabled subscriber reports it was disabled")
	}
}
