package notifier

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/metrics"
)

// consumerErrors is newswatch_consumer_errors_total{subscriber,op} as
// the registry holds it.
func consumerErrors(t *testing.T, m *metrics.Metrics, subscriber, op string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "newswatch_consumer_errors_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range mt.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["subscriber"] == subscriber && labels["op"] == op {
				return mt.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// faultOf is the bus fault under key, if any.
func faultOf(b *bus.Bus, key string) (bus.Fault, bool) {
	for _, f := range b.Health.Faults() {
		if f.Key == key {
			return f, true
		}
	}
	return bus.Fault{}, false
}

// setMaxConsumers sets the alert stream's consumer limit (-1: none).
// loseConsumerForGood deletes subscriber's consumer after another
// client's consumer took the stream's last slot: it cannot be made again
// until the limit is raised.
func loseConsumerForGood(ctx context.Context, t *testing.T, b *bus.Bus, subscriber string) {
	t.Helper()
	if _, err := b.JS.CreateOrUpdateConsumer(ctx, b.Names.AlertStream, jetstream.ConsumerConfig{
		Durable: "audit", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	setMaxConsumers(t, b, 1)
	if err := b.JS.DeleteConsumer(ctx, b.Names.AlertStream, ConsumerName(subscriber)); err != nil {
		t.Fatal(err)
	}
}

func setMaxConsumers(t *testing.T, b *bus.Bus, n int) {
	t.Helper()
	updateStream(t, b, b.Names.AlertStream, func(c *jetstream.StreamConfig) { c.MaxConsumers = n })
}

// updateStream changes a stream's config with change.
func updateStream(t *testing.T, b *bus.Bus, stream string, change func(*jetstream.StreamConfig)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := b.JS.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	change(&cfg)
	if _, err := b.JS.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}

// TestLostConsumerNotRecreated: a subscriber's consumer is deleted while
// another client holds the alert stream's last consumer slot, so it
// cannot be made again. That must show where an operator looks: the
// subscriber's status (with the server's reason), a blocking fault on the
// bus (which /readyz, the status page and the events read), and a
// counter. Once the slot is free again, the consumer is made on its own,
// the error clears, and every alert queued meanwhile arrives once.
func TestLostConsumerNotRecreated(t *testing.T) {
	b := openBus(t, t.TempDir())
	t.Cleanup(b.Close)
	h := newHookServer(t, nil)
	var logs logBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dispatcher log:\n%s", logs.String())
		}
	})
	m := metrics.New()
	d := NewDispatcher(b, bufLogger(&logs), m)
	d.checkEvery = 100 * time.Millisecond
	defer d.Close()
	startSub(t, d, dispatchSub("desk", h.srv.URL, fastRetry))
	first := publishAlerts(t, b, "fentanyl", 2, 0)
	h.wait(t, 2, 10*time.Second)

	// Another client's consumer takes the last slot; the subscriber's
	// consumer is lost; alerts keep coming.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	loseConsumerForGood(ctx, t, b, "desk")
	queued := publishAlerts(t, b, "fentanyl", 3, 10)

	waitFor(t, "the subscriber's status to say its consumer is missing", 10*time.Second, func() bool {
		return statusOf(d, "desk").ConsumerError != ""
	})
	st := statusOf(d, "desk")
	if !strings.Contains(st.ConsumerError, "maximum consumers") || st.ConsumerErrorSince.IsZero() {
		t.Errorf("status: consumer error %q since %v, want the server's reason and a time", st.ConsumerError, st.ConsumerErrorSince)
	}
	f, ok := faultOf(b, "consumer.error:desk")
	if !ok {
		t.Fatalf("no fault consumer.error:desk; faults %+v", b.Health.Faults())
	}
	if f.Kind != "consumer.error" || !bus.BlockingKind(f.Kind) || !strings.Contains(f.Detail, "maximum consumers") ||
		!strings.Contains(f.Detail, "desk") {
		t.Errorf("fault %+v: want a blocking consumer.error naming the subscriber and the reason", f)
	}
	waitFor(t, "a second failed try counted", 10*time.Second, func() bool {
		return consumerErrors(t, m, "desk", "recreate") >= 2
	})
	if c := b.Health.Counts().Faults["consumer.error"]; c != 1 {
		t.Errorf("current consumer.error faults = %d, want 1", c)
	}
	h.mu.Lock()
	if len(h.ids) != 2 {
		t.Errorf("delivered %d alerts without a consumer, want 2", len(h.ids))
	}
	h.mu.Unlock()

	// The slot is free again: everything recovers without a hand.
	setMaxConsumers(t, b, -1)
	h.wait(t, 5, 10*time.Second)
	waitFor(t, "the consumer error to clear", 10*time.Second, func() bool {
		_, faulty := faultOf(b, "consumer.error:desk")
		return statusOf(d, "desk").ConsumerError == "" && !faulty
	})
	if c := b.Health.Counts().Faults["consumer.error"]; c != 0 {
		t.Errorf("consumer.error faults after recovery = %d, want 0", c)
	}
	// A repeat would come right behind the queued alerts.
	waitFor(t, "the consumer to settle", 10*time.Second, func() bool {
		n, err := d.Backlog(context.Background(), "desk")
		return err == nil && n == 0
	})
	receivedOnce(t, h, append(append([]string(nil), first...), queued...))
}

// TestLostConsumerDuringDelivery: the consumer is deleted while an alert
// is with the receiver, so the ack that follows its delivery fails. The
// subscriber is done with that alert all the same: the consumer made
// again starts after it, and the receiver does not get it twice.
func TestLostConsumerDuringDelivery(t *testing.T) {
	b := openBus(t, t.TempDir())
	t.Cleanup(b.Close)
	inside, release := make(chan struct{}), make(chan struct{})
	h := newHookServer(t, func(n int, w http.ResponseWriter) bool {
		if n == 2 {
			close(inside)
			<-release
		}
		return true
	})
	var logs logBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dispatcher log:\n%s", logs.String())
		}
	})
	d := NewDispatcher(b, bufLogger(&logs), nil)
	d.checkEvery = 100 * time.Millisecond
	defer d.Close()
	startSub(t, d, dispatchSub("desk", h.srv.URL, fastRetry))
	want := publishAlerts(t, b, "fentanyl", 3, 0)
	select {
	case <-inside:
	case <-time.After(10 * time.Second):
		t.Fatal("the second alert did not reach the receiver")
	}
	if err := b.JS.DeleteConsumer(context.Background(), b.Names.AlertStream, ConsumerName("desk")); err != nil {
		t.Fatal(err)
	}
	close(release)
	h.wait(t, 3, 10*time.Second)
	waitFor(t, "the consumer made again to settle", 10*time.Second, func() bool {
		n, err := d.Backlog(context.Background(), "desk")
		return err == nil && n == 0
	})
	receivedOnce(t, h, want)
}

// TestConsumerPullsFail: the subscriber's consumer is there but cannot be
// pulled from (an operator made a push consumer of its name), so nothing
// is delivered although no consumer is missing. After a few failed pulls
// in a row that shows like a lost consumer; once the wrong consumer is
// gone, the subscriber's own is made again and its queue delivered once.
func TestConsumerPullsFail(t *testing.T) {
	b := openBus(t, t.TempDir())
	t.Cleanup(b.Close)
	h := newHookServer(t, nil)
	var logs logBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dispatcher log:\n%s", logs.String())
		}
	})
	m := metrics.New()
	d := NewDispatcher(b, bufLogger(&logs), m)
	d.checkEvery = time.Hour // only a failed pull looks
	hold, open := context.WithCancel(context.Background())
	defer open()
	d.HoldPullsUntil(hold)
	defer d.Close()
	startSub(t, d, dispatchSub("desk", h.srv.URL, fastRetry))

	// Before the first pull the consumer is replaced by a push consumer
	// of the same name.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.JS.DeleteConsumer(ctx, b.Names.AlertStream, ConsumerName("desk")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.JS.CreateOrUpdateConsumer(ctx, b.Names.AlertStream, jetstream.ConsumerConfig{
		Durable: ConsumerName("desk"), DeliverSubject: "elsewhere.desk", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	want := publishAlerts(t, b, "fentanyl", 3, 0)
	open()

	waitFor(t, "the subscriber's status to say it cannot pull", 15*time.Second, func() bool {
		return statusOf(d, "desk").ConsumerError != ""
	})
	if st := statusOf(d, "desk"); !strings.Contains(st.ConsumerError, "pulls from its consumer fail") {
		t.Errorf("status: consumer error %q", st.ConsumerError)
	}
	if f, ok := faultOf(b, "consumer.error:desk"); !ok || !bus.BlockingKind(f.Kind) {
		t.Errorf("fault consumer.error:desk %+v (found %v), want a blocking one", f, ok)
	}
	if n := consumerErrors(t, m, "desk", "pull"); n < pullFailsFault {
		t.Errorf("newswatch_consumer_errors_total{subscriber=desk,op=pull} = %v, want at least %d", n, pullFailsFault)
	}

	if err := b.JS.DeleteConsumer(ctx, b.Names.AlertStream, ConsumerName("desk")); err != nil {
		t.Fatal(err)
	}
	h.wait(t, 3, 15*time.Second)
	waitFor(t, "the consumer error to clear", 10*time.Second, func() bool {
		_, faulty := faultOf(b, "consumer.error:desk")
		return statusOf(d, "desk").ConsumerError == "" && !faulty
	})
	receivedOnce(t, h, want)
}

// TestNewSubscriberWithoutConsumer: a subscriber added by a reload whose
// consumer cannot be made (the stream's consumer limit is reached) used
// to be left out until the next reload, shown as "not delivered by this
// process". It now runs without a consumer, shown as such, and gets one,
// with every alert raised since it was added, as soon as the limit
// allows.
func TestNewSubscriberWithoutConsumer(t *testing.T) {
	b := openBus(t, t.TempDir())
	t.Cleanup(b.Close)
	h := newHookServer(t, nil)
	var logs logBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dispatcher log:\n%s", logs.String())
		}
	})
	d := NewDispatcher(b, bufLogger(&logs), nil)
	d.checkEvery = 100 * time.Millisecond
	subs := NewSubscribers(d, bufLogger(&logs), nil)
	defer subs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	desk := dispatchSub("desk", h.srv.URL, fastRetry)
	if err := subs.Apply(ctx, []config.Subscriber{desk}, config.SMTP{}); err != nil {
		t.Fatal(err)
	}
	setMaxConsumers(t, b, 1)

	hLate := newHookServer(t, nil)
	late := dispatchSub("late", hLate.srv.URL, fastRetry)
	err := subs.Apply(ctx, []config.Subscriber{desk, late}, config.SMTP{})
	if err == nil || !errors.Is(err, ErrNoConsumer) || !strings.Contains(err.Error(), "maximum consumers") {
		t.Errorf("Apply with a subscriber whose consumer cannot be made: err = %v, want ErrNoConsumer with the reason", err)
	}
	st := statusOf(d, "late")
	if st.ID != "late" || !strings.Contains(st.ConsumerError, "maximum consumers") || !d.Running("late") {
		t.Fatalf("late: status %+v, running %v; want it running without a consumer, with the reason", st, d.Running("late"))
	}
	if _, ok := faultOf(b, "consumer.error:late"); !ok {
		t.Errorf("no fault consumer.error:late; faults %+v", b.Health.Faults())
	}
	// A single pass does not wait for a queue that cannot drain.
	if bl := subs.Drained(ctx, time.Now().Add(time.Minute)); !bl.Done || fmt.Sprint(bl.NoConsumer) != "[late]" {
		t.Errorf("Drained = %+v, want done, with late without a consumer", bl)
	}
	want := publishAlerts(t, b, "fentanyl", 3, 0)
	h.wait(t, 3, 10*time.Second) // desk's

	setMaxConsumers(t, b, -1)
	hLate.wait(t, 3, 10*time.Second)
	waitFor(t, "late's consumer error to clear", 10*time.Second, func() bool {
		_, faulty := faultOf(b, "consumer.error:late")
		return statusOf(d, "late").ConsumerError == "" && !faulty
	})
	time.Sleep(300 * time.Millisecond)
	for name, h := range map[string]*hookServer{"desk": h, "late": hLate} {
		h.mu.Lock()
		got := append([]string(nil), h.ids...)
		h.mu.Unlock()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s received %v, want each once, in order: %v", name, got, want)
		}
	}
	// A reload that changes nothing leaves it be.
	if err := subs.Apply(ctx, []config.Subscriber{desk, late}, config.SMTP{}); err != nil {
		t.Errorf("Apply again: %v", err)
	}
}

// setDeadMsgSize sets the dead-letter stream's largest message (-1: no
// limit).
func setDeadMsgSize(t *testing.T, b *bus.Bus, n int32) {
	t.Helper()
	updateStream(t, b, b.Names.DeadStream, func(c *jetstream.StreamConfig) { c.MaxMsgSize = n })
}

// TestDeadLetterRefusedShows: a delivery gave up, but the dead-letter
// stream refuses it, so the alert is handed back and the subscriber's
// queue waits behind it. Its status used to keep its last result ("ok"),
// leaving it off the attention list; it must say it is retrying, and
// why. Once the stream takes it, the alert is dead-lettered.
func TestDeadLetterRefusedShows(t *testing.T) {
	b := openBus(t, t.TempDir())
	t.Cleanup(b.Close)
	h := newHookServer(t, func(n int, w http.ResponseWriter) bool {
		if n == 1 {
			return true
		}
		w.WriteHeader(http.StatusBadRequest) // final: dead-lettered at once
		return false
	})
	var logs logBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dispatcher log:\n%s", logs.String())
		}
	})
	d := NewDispatcher(b, bufLogger(&logs), nil)
	defer d.Close()
	startSub(t, d, dispatchSub("desk", h.srv.URL, config.Retry{Attempts: 1, Initial: 50 * time.Millisecond, Max: 50 * time.Millisecond}))
	publishAlerts(t, b, "fentanyl", 1, 0)
	h.wait(t, 1, 10*time.Second)
	waitFor(t, "the first delivery's result", 10*time.Second, func() bool { return statusOf(d, "desk").LastResult == "ok" })

	setDeadMsgSize(t, b, 16)
	publishAlerts(t, b, "fentanyl", 1, 1)
	waitFor(t, "a second refused dead letter", 10*time.Second, func() bool { return statusOf(d, "desk").Failures >= 2 })
	st := statusOf(d, "desk")
	if st.LastResult != "retry" || !strings.Contains(st.LastError, "400 Bad Request; the dead letter was not stored") || st.NextRetry.IsZero() || st.DeadLettered != 0 {
		t.Errorf("status %+v: want retry, with the dead letter's error and a next try", st)
	}

	setDeadMsgSize(t, b, -1)
	waitFor(t, "the dead letter", 10*time.Second, func() bool { return statusOf(d, "desk").DeadLettered == 1 })
	if st := statusOf(d, "desk"); st.LastResult != "dead" || !st.NextRetry.IsZero() {
		t.Errorf("status after the dead letter %+v", st)
	}
}

// receivedOnce checks, after a moment for a repeat to show, that the
// receiver got the alerts want, each once, in order.
func receivedOnce(t *testing.T, h *hookServer, want []string) {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	h.mu.Lock()
	got := append([]string(nil), h.ids...)
	h.mu.Unlock()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("received %v, want each once, in order: %v", got, want)
	}
}

func TestOnlyNoConsumer(t *testing.T) {
	started := func(id string) error {
		return fmt.Errorf("%w; %w", fmt.Errorf("subscriber %s: create consumer: maximum consumers limit reached", id), ErrNoConsumer)
	}
	failed := errors.New("subscriber mail: read position: nats: timeout")
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"one started without its consumer", errors.Join(started("desk")), true},
		{"two", errors.Join(started("desk"), started("ops")), true},
		{"and one that did not start", errors.Join(started("desk"), failed), false},
		{"one that did not start", errors.Join(failed), false},
		{"nothing", nil, false},
	} {
		if got := OnlyNoConsumer(tc.err); got != tc.want {
			t.Errorf("%s: OnlyNoConsumer(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// TestDeadLetterRefusedNoteOnce: an alert that cannot be decoded goes
// straight to the dead-letter stream, without a delivery that would set
// the subscriber's last error afresh. While the stream refuses it, the
// alert comes back every retry delay: the status must say once that the
// dead letter was not stored, not once more per try (the text grew
// without end, in memory and on the status page).
func TestDeadLetterRefusedNoteOnce(t *testing.T) {
	b := openBus(t, t.TempDir())
	t.Cleanup(b.Close)
	h := newHookServer(t, func(int, http.ResponseWriter) bool { return true })
	var logs logBuffer
	d := NewDispatcher(b, bufLogger(&logs), nil)
	defer d.Close()
	startSub(t, d, dispatchSub("desk", h.srv.URL, config.Retry{Attempts: 1, Initial: 20 * time.Millisecond, Max: 20 * time.Millisecond}))
	setDeadMsgSize(t, b, 16)
	if _, err := b.JS.Publish(context.Background(), b.Names.AlertSubject("fentanyl"), []byte("not an alert")); err != nil {
		t.Fatal(err)
	}
	const note = "the dead letter was not stored"
	waitFor(t, "three refused dead letters", 10*time.Second, func() bool {
		return strings.Count(logs.String(), "dead-letter alert; it will be redelivered") >= 3
	})
	st := statusOf(d, "desk")
	if n := strings.Count(st.LastError, note); n != 1 || st.LastResult != "retry" {
		t.Errorf("status %+v: want retry, the note once (got %d)", st, n)
	}
	setDeadMsgSize(t, b, -1)
	waitFor(t, "the dead letter", 10*time.Second, func() bool { return statusOf(d, "desk").DeadLettered == 1 })
}

// errorLines are the ERROR lines of a text log.
func errorLines(log string) []string {
	var out []string
	for line := range strings.Lines(log) {
		if strings.Contains(line, "level=ERROR") {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// TestLostConsumerLoggedOnce: a subscriber's consumer is lost and cannot
// be made again. That used to be logged at ERROR three times at once,
// from the dispatcher ("recreating it", then "without a consumer") and
// from the bus's fault report. It must be one ERROR line with the whole
// context, repeated once a minute while it lasts, and none when the
// consumer is back. A consumer lost and made again at once is one ERROR
// line too.
func TestLostConsumerLoggedOnce(t *testing.T) {
	var logs logBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	})
	// The bus and the dispatcher log to one place, as in the daemon.
	b := openBusLog(t, t.TempDir(), bufLogger(&logs))
	t.Cleanup(b.Close)
	h := newHookServer(t, nil)
	m := metrics.New()
	d := NewDispatcher(b, bufLogger(&logs), m)
	d.checkEvery = 100 * time.Millisecond
	var ahead atomic.Int64 // how far the dispatcher's clock is ahead
	d.now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	defer d.Close()
	startSub(t, d, dispatchSub("desk", h.srv.URL, fastRetry))
	publishAlerts(t, b, "fentanyl", 1, 0)
	h.wait(t, 1, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Lost, and made again at once.
	if err := b.JS.DeleteConsumer(ctx, b.Names.AlertStream, ConsumerName("desk")); err != nil {
		t.Fatal(err)
	}
	publishAlerts(t, b, "fentanyl", 1, 10)
	h.wait(t, 2, 10*time.Second)
	if got := errorLines(logs.String()); len(got) != 1 || !strings.Contains(got[0], "made again") || !strings.Contains(got[0], "subscriber=desk") {
		t.Errorf("a consumer lost and made again: ERROR lines %q, want one saying it was made again", got)
	}

	// Lost, and another client holds the last slot.
	before := len(errorLines(logs.String()))
	loseConsumerForGood(ctx, t, b, "desk")
	waitFor(t, "the subscriber's status to say its consumer is missing", 10*time.Second, func() bool {
		return statusOf(d, "desk").ConsumerError != ""
	})
	waitFor(t, "more failed tries", 10*time.Second, func() bool { return consumerErrors(t, m, "desk", "recreate") >= 3 })
	got := errorLines(logs.String())[before:]
	if len(got) != 1 {
		t.Fatalf("a consumer that cannot be made again: %d ERROR lines, want 1:\n%s", len(got), strings.Join(got, "\n"))
	}
	for _, s := range []string{"subscriber=desk", "op=recreate", "fault=consumer.error:desk", "consumer=notify-desk", "maximum consumers"} {
		if !strings.Contains(got[0], s) {
			t.Errorf("the ERROR line lacks %s: %s", s, got[0])
		}
	}

	// A minute later, one reminder.
	ahead.Store(int64(consumerErrorLog + time.Second))
	waitFor(t, "the reminder", 10*time.Second, func() bool { return len(errorLines(logs.String())) > before+1 })
	time.Sleep(300 * time.Millisecond)
	if got := errorLines(logs.String())[before:]; len(got) != 2 || !strings.Contains(got[1], "subscriber=desk") || strings.Contains(got[1], "tries=1 ") {
		t.Errorf("after a minute: ERROR lines %q, want the first and one reminder with the count of tries", got)
	}

	// Back: no more ERROR.
	setMaxConsumers(t, b, -1)
	h.wait(t, 2, 10*time.Second)
	waitFor(t, "the consumer error to clear", 10*time.Second, func() bool { return statusOf(d, "desk").ConsumerError == "" })
	if got := errorLines(logs.String())[before:]; len(got) != 2 {
		t.Errorf("after the consumer is back: ERROR lines %q, want no new one", got)
	}
}

// TestRemovedSubscriberFaultWithdrawn: a subscriber without a consumer
// that a reload removes takes its fault with it, and the log says the
// fault was withdrawn, not that it cleared: nothing was repaired.
func TestRemovedSubscriberFaultWithdrawn(t *testing.T) {
	var busLogs logBuffer
	b := openBusLog(t, t.TempDir(), bufLogger(&busLogs))
	t.Cleanup(b.Close)
	d := NewDispatcher(b, bufLogger(&busLogs), nil)
	subs := NewSubscribers(d, bufLogger(&busLogs), nil)
	defer subs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := newHookServer(t, nil)
	desk := dispatchSub("desk", h.srv.URL, fastRetry)
	if err := subs.Apply(ctx, []config.Subscriber{desk}, config.SMTP{}); err != nil {
		t.Fatal(err)
	}
	setMaxConsumers(t, b, 1)
	late := dispatchSub("late", newHookServer(t, nil).srv.URL, fastRetry)
	if err := subs.Apply(ctx, []config.Subscriber{desk, late}, config.SMTP{}); !errors.Is(err, ErrNoConsumer) {
		t.Fatalf("Apply with late: err = %v, want ErrNoConsumer", err)
	}
	if _, ok := faultOf(b, "consumer.error:late"); !ok {
		t.Fatalf("no fault consumer.error:late; faults %+v", b.Health.Faults())
	}
	if err := subs.Apply(ctx, []config.Subscriber{desk}, config.SMTP{}); err != nil {
		t.Fatalf("Apply without late: %v", err)
	}
	waitFor(t, "late's fault to go", 10*time.Second, func() bool {
		_, ok := faultOf(b, "consumer.error:late")
		return !ok
	})
	logs := busLogs.String()
	if strings.Contains(logs, "fault cleared") || !strings.Contains(logs, "fault withdrawn, not cleared: the subscriber was stopped") {
		t.Errorf("log after removing a subscriber without a consumer: want it withdrawn, not cleared:\n%s", logs)
	}
}
