package notifier

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/news"
)

func openBus(t testing.TB, dir string) *bus.Bus {
	t.Helper()
	return openBusLog(t, dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// openBusLog is openBus with the bus's own log going to log.
func openBusLog(t testing.TB, dir string, log *slog.Logger) *bus.Bus {
	t.Helper()
	cfg := &config.Config{DataDir: dir}
	cfg.ApplyDefaults()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func publishAlerts(t testing.TB, b *bus.Bus, topic string, n int, from int) []string {
	t.Helper()
	var ids []string
	for i := from; i < from+n; i++ {
		a := sampleAlert()
		a.Topic = topic
		a.Article.ID = fmt.Sprintf("art%04d", i)
		a.ID = news.AlertID(topic, a.Article.ID)
		a.Article.Title = "Story " + strconv.Itoa(i)
		data, _ := json.Marshal(a)
		if _, err := b.JS.Publish(context.Background(), b.Names.AlertSubject(topic), data, jetstream.WithMsgID(a.ID)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	return ids
}

// hookServer records alerts received with their webhook-id; answer says
// what to reply to the n-th request (1-based).
type hookServer struct {
	mu     sync.Mutex
	n      int
	ids    []string // alert ids accepted, in order
	hookID map[string]string
	times  []time.Time
	answer func(n int, w http.ResponseWriter) bool // true: accepted
	srv    *httptest.Server
	got    chan struct{}
}

func newHookServer(t testing.TB, answer func(n int, w http.ResponseWriter) bool) *hookServer {
	h := &hookServer{answer: answer, hookID: map[string]string{}, got: make(chan struct{}, 10000)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a news.Alert
		_ = json.NewDecoder(r.Body).Decode(&a)
		h.mu.Lock()
		h.n++
		n := h.n
		h.times = append(h.times, time.Now())
		h.mu.Unlock()
		if h.answer != nil && !h.answer(n, w) {
			return
		}
		h.mu.Lock()
		if prev, ok := h.hookID[a.ID]; ok && prev != r.Header.Get("webhook-id") {
			h.ids = append(h.ids, "MISMATCHED-ID:"+a.ID)
		}
		h.hookID[a.ID] = r.Header.Get("webhook-id")
		h.ids = append(h.ids, a.ID)
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		h.got <- struct{}{}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookServer) wait(t testing.TB, n int, d time.Duration) []string {
	t.Helper()
	deadline := time.After(d)
	for {
		h.mu.Lock()
		ids := append([]string(nil), h.ids...)
		h.mu.Unlock()
		if len(ids) >= n {
			return ids
		}
		select {
		case <-h.got:
		case <-deadline:
			t.Fatalf("received %d alerts, want %d", len(ids), n)
		}
	}
}

func dispatchSub(id, url string, r config.Retry) config.Subscriber {
	return config.Subscriber{ID: id, Type: "webhook", WebhookSink: config.WebhookSink{URL: url, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		Topics: []string{"fentanyl"}, Timeout: 2 * time.Second, Retry: r}
}

var fastRetry = config.Retry{Attempts: 20, Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}

func startSub(t testing.TB, d *Dispatcher, sub config.Subscriber) {
	t.Helper()
	sink, err := NewWebhook(sub, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background(), sub, sink); err != nil {
		t.Fatal(err)
	}
}

func TestDispatchOrderAfterOutage(t *testing.T) {
	b := openBus(t, t.TempDir())
	defer b.Close()
	// Down (503, connection-level failures look the same to the sink) for
	// the first 5 requests, then up.
	h := newHookServer(t, func(n int, w http.ResponseWriter) bool {
		if n <= 5 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return false
		}
		return true
	})
	d := NewDispatcher(b, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	defer d.Close()
	startSub(t, d, dispatchSub("desk", h.srv.URL, fastRetry))
	want := publishAlerts(t, b, "fentanyl", 8, 0)
	publishAlerts(t, b, "other-topic", 3, 100) // not subscribed
	got := h.wait(t, 8, 20*time.Second)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("received %v, want in order %v", got, want)
	}
	time.Sleep(100 * time.Millisecond)
	if st := d.Status()[0]; st.Delivered != 8 || st.Failures != 5 || st.DeadLettered != 0 {
		t.Errorf("status = %+v", st)
	}
	if n, _ := d.Backlog(context.Background(), "desk"); n != 0 {
		t.Errorf("backlog = %d, want 0", n)
	}
}

func TestDispatchRetryAfter(t *testing.T) {
	b := openBus(t, t.TempDir())
	defer b.Close()
	h := newHookServer(t, func(n int, w http.ResponseWriter) bool {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return false
		}
		return true
	})
	d := NewDispatcher(b, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	defer d.Close()
	startSub(t, d, dispatchSub("desk", h.srv.URL, fastRetry))
	publishAlerts(t, b, "fentanyl", 1, 0)
	h.wait(t, 1, 10*time.Second)
	h.mu.Lock()
	gap := h.times[1].Sub(h.times[0])
	h.mu.Unlock()
	// The configured back-off is 10ms; only Retry-After explains a wait
	// of about a second.
	if gap < 900*time.Millisecond {
		t.Errorf("retried after %s, want about 1s (Retry-After: 1)", gap)
	}
}

func TestDispatchFinalAndGone(t *testing.T) {
	b := openBus(t, t.TempDir())
	defer b.Close()
	bad := newHookServer(t, func(n int, w http.ResponseWriter) bool { w.WriteHeader(http.StatusBadRequest); return false })
	gone := newHookServer(t, func(n int, w http.ResponseWriter) bool { w.WriteHeader(http.StatusGone); return false })
	ok := newHookServer(t, nil)
	d := NewDispatcher(b, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	defer d.Close()
	startSub(t, d, dispatchSub("bad", bad.srv.URL, fastRetry))
	startSub(t, d, dispatchSub("gone", gone.srv.URL, fastRetry))
	startSub(t, d, dispatchSub("ok", ok.srv.URL, fastRetry))
	publishAlerts(t, b, "fentanyl", 3, 0)
	ok.wait(t, 3, 10*time.Second)

	deadline := time.Now().Add(10 * time.Second)
	var st map[string]SubscriberStatus
	for time.Now().Before(deadline) {
		st = map[string]SubscriberStatus{}
		for _, s := range d.Status() {
			st[s.ID] = s
		}
		if st["bad"].DeadLettered == 3 && st["gone"].Disabled {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := st["bad"]; s.DeadLettered != 3 || s.Failures != 3 {
		t.Errorf("400 receiver: %+v, want 3 alerts dead-lettered after one try each", s)
	}
	if s := st["gone"]; !s.Disabled || s.DeadLettered != 0 || s.LastResult != "gone" || s.DisabledReason == "" {
		t.Errorf("410 receiver: %+v, want disabled after its first alert, nothing dead-lettered", s)
	}
	if d.Running("gone") {
		t.Error("a disabled subscriber reports running")
	}
	// The disabled subscriber's alerts, the one that got the 410 too,
	// stay queued for it.
	if n, _ := d.Backlog(context.Background(), "gone"); n != 3 {
		t.Errorf("gone backlog = %d, want 3", n)
	}
	bad.mu.Lock()
	if bad.n != 3 {
		t.Errorf("400 receiver tried %d times, want 3 (no retries)", bad.n)
	}
	bad.mu.Unlock()
}

func TestDispatchRestartMidBacklog(t *testing.T) {
	dir := t.TempDir()
	b := openBus(t, dir)
	release := make(chan struct{})
	h := newHookServer(t, func(n int, w http.ResponseWriter) bool {
		if n == 4 {
			<-release // hold the 4th delivery while the dispatcher stops
		}
		return true
	})
	d := NewDispatcher(b, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	sub := dispatchSub("desk", h.srv.URL, fastRetry)
	startSub(t, d, sub)
	want := publishAlerts(t, b, "fentanyl", 10, 0)
	h.wait(t, 3, 10*time.Second)
	go func() { time.Sleep(50 * time.Millisecond); close(release) }()
	d.Close() // finishes the delivery in flight
	b.Close()

	b = openBus(t, dir)
	defer b.Close()
	d = NewDispatcher(b, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	defer d.Close()
	startSub(t, d, sub)
	got := h.wait(t, 10, 20*time.Second)
	time.Sleep(200 * time.Millisecond)
	h.mu.Lock()
	got = append([]string(nil), h.ids...)
	h.mu.Unlock()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after a restart received %v, want exactly once, in order: %v", got, want)
	}
}

func TestDispatchSlowSubscriberDelaysNobody(t *testing.T) {
	b := openBus(t, t.TempDir())
	defer b.Close()
	stop := make(chan struct{})
	defer close(stop)
	slow := newHookServer(t, func(n int, w http.ResponseWriter) bool {
		select { // hangs past the sink's timeout
		case <-stop:
		case <-time.After(5 * time.Second):
		}
		return false
	})
	fast := newHookServer(t, nil)
	d := NewDispatcher(b, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	defer d.Close()
	startSub(t, d, dispatchSub("slow", slow.srv.URL, fastRetry))
	startSub(t, d, dispatchSub("fast", fast.srv.URL, fastRetry))
	want := publishAlerts(t, b, "fentanyl", 5, 0)
	got := fast.wait(t, 5, 5*time.Second)
	sort.Strings(got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("fast subscriber got %v", got)
	}
}

func TestRetryDelay(t *testing.T) {
	r := config.Retry{Attempts: 10, Initial: 30 * time.Second, Max: 6 * time.Hour}
	var total time.Duration
	prev := time.Duration(0)
	for a := 1; a < r.Attempts; a++ {
		d := r.Delay(a, 0.5)
		if d < prev || d > r.Max {
			t.Errorf("attempt %d: delay %s (previous %s)", a, d, prev)
		}
		prev = d
		total += d
	}
	if r.Delay(1, 0.5) != 30*time.Second {
		t.Errorf("first delay = %s", r.Delay(1, 0.5))
	}
	if total < 18*time.Hour || total > 26*time.Hour {
		t.Errorf("10 tries span %s, want about a day", total)
	}
	if lo, hi := r.Delay(3, 0), r.Delay(3, 0.999); lo >= hi || lo < 3*time.Minute || hi > 6*time.Minute {
		t.Errorf("jitter range at attempt 3: %s..%s", lo, hi)
	}
}

func TestDispatchFoldsStoriesIntoFollowUps(t *testing.T) {
	b := openBus(t, t.TempDir())
	defer b.Close()
	var mu sync.Mutex
	var types []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct {
			Type string `json:"type"`
		}
		_ = json.NewDecoder(r.Body).Decode(&p)
		mu.Lock()
		types = append(types, p.Type)
		mu.Unlock()
	}))
	defer srv.Close()
	d := NewDispatcher(b, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	defer d.Close()
	off := time.Duration(0)
	d.SetTopics([]config.Topic{{ID: "fentanyl"}, {ID: "quiet", StoryWindow: &off}})
	sub := dispatchSub("desk", srv.URL, fastRetry)
	sub.Topics = nil
	startSub(t, d, sub)

	publish := func(topic, id, source, title string) {
		a := sampleAlert()
		a.Topic, a.Article.ID, a.Article.Source, a.Article.Title = topic, id, source, title
		a.ID = news.AlertID(topic, id)
		data, _ := json.Marshal(a)
		if _, err := b.JS.Publish(context.Background(), b.Names.AlertSubject(topic), data, jetstream.WithMsgID(a.ID)); err != nil {
			t.Fatal(err)
		}
	}
	publish("fentanyl", "a1", "reuters", "US and China agree to curb fentanyl precursor exports")
	publish("fentanyl", "a2", "ap", "US and China agree to curb fentanyl precursor exports, officials say")
	publish("fentanyl", "a3", "bbc", "Storm floods coastal towns")
	publish("quiet", "a4", "reuters", "Same headline twice")
	publish("quiet", "a5", "ap", "Same headline twice")
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(types)
		mu.Unlock()
		if n >= 5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{EventAlert, EventFollowUp, EventAlert, EventAlert, EventAlert}
	if fmt.Sprint(types) != fmt.Sprint(want) {
		t.Errorf("events = %v, want %v", types, want)
	}
	if st := d.Status()[0]; st.FollowUps != 1 || st.Delivered != 5 {
		t.Errorf("status = %+v", st)
	}
}

// BenchmarkDispatchWebhook measures delivery through the bus: alerts are
// published to the alert stream and delivered by a subscriber's durable
// consumer to a local receiver. "burst" publishes as fast as it can and
// reports sustained webhooks/s; "paced" publishes 500 alerts/s, below
// capacity, and reports the latency that delivery adds from publish to
// receipt.
func BenchmarkDispatchWebhook(b *testing.B) {
	b.Run("burst", func(b *testing.B) { benchDispatch(b, 0) })
	b.Run("paced-500", func(b *testing.B) { benchDispatch(b, 2*time.Millisecond) })
}

func benchDispatch(b *testing.B, every time.Duration) {
	bs := openBus(b, b.TempDir())
	defer bs.Close()
	var mu sync.Mutex
	sent := map[string]time.Time{}
	var lat []time.Duration
	done := make(chan struct{}, b.N+1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a struct {
			ID string `json:"id"`
		}
		_ = json.NewDecoder(r.Body).Decode(&a)
		mu.Lock()
		if t, ok := sent[a.ID]; ok {
			lat = append(lat, time.Since(t))
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		done <- struct{}{}
	}))
	defer srv.Close()
	d := NewDispatcher(bs, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	defer d.Close()
	off := time.Duration(0)
	d.SetTopics([]config.Topic{{ID: "fentanyl", StoryWindow: &off}})
	startSub(b, d, dispatchSub("desk", srv.URL, fastRetry))
	alert := sampleAlert()
	b.ResetTimer()
	start := time.Now()
	next := start
	for i := range b.N {
		a := *alert
		a.ID = fmt.Sprintf("fentanyl:bench%09d", i)
		data, _ := json.Marshal(&a)
		if every > 0 {
			next = next.Add(every)
			time.Sleep(time.Until(next))
		}
		mu.Lock()
		sent[a.ID] = time.Now()
		mu.Unlock()
		if _, err := bs.JS.PublishAsync(bs.Names.AlertSubject("fentanyl"), data, jetstream.WithMsgID(a.ID)); err != nil {
			b.Fatal(err)
		}
		if i%100 == 99 {
			<-bs.JS.PublishAsyncComplete()
		}
	}
	for range b.N {
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			b.Fatal("deliveries stalled")
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) != b.N {
		b.Fatalf("measured %d deliveries of %d", len(lat), b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "webhooks/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
