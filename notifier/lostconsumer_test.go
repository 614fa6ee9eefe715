package notifier

import (
	"context"
	"fmt"
	"net/http"
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
	defer b.Close()
	var down atomic.Bool
	h := newHookServer(t, func(n int, w http.ResponseWriter) bool {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return false
		}
		return true
	})
	var logs logBuffer
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
	time.Sleep(200 * time.Millisecond)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.ids) != 10 {
		t.Errorf("received %d alerts, want 10: %v", len(h.ids), h.ids)
	}
}
