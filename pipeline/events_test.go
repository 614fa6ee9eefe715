package pipeline

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/internal/smtptest"
	"newswatch/metrics"
	"newswatch/news"
)

// hookPayload is what a test receiver keeps of a webhook body: alerts
// and events alike.
type hookPayload struct {
	Type       string    `json:"type"`
	ID         string    `json:"id"`
	Event      string    `json:"event"`
	Summary    string    `json:"summary"`
	Source     string    `json:"source"`
	Subscriber string    `json:"subscriber"`
	Alert      string    `json:"alert"`
	Failures   int       `json:"failures"`
	At         time.Time `json:"at"`
	Next       time.Time `json:"next"`
	Article    struct {
		Title string `json:"title"`
	} `json:"article"`
}

// hook is a webhook receiver that records what it is sent and answers
// with status(payload).
type hook struct {
	mu     sync.Mutex
	got    []hookPayload
	status func(hookPayload) int
	srv    *httptest.Server
}

func newHook(t *testing.T, status func(hookPayload) int) *hook {
	h := &hook{status: status}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p hookPayload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("undecodable webhook body: %v: %s", err, body)
		}
		code := http.StatusOK
		if h.status != nil {
			code = h.status(p)
		}
		h.mu.Lock()
		if code < 300 {
			h.got = append(h.got, p)
		}
		h.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) payloads() []hookPayload {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookPayload(nil), h.got...)
}

// types lists the types received; an alert on an article is "alert.created".
func (h *hook) types() []string {
	var out []string
	for _, p := range h.payloads() {
		out = append(out, p.Type)
	}
	return out
}

func (h *hook) count(typ string) int {
	n := 0
	for _, t := range h.types() {
		if t == typ {
			n++
		}
	}
	return n
}

func (h *hook) sub(id string, topics, events []string) config.Subscriber {
	return config.Subscriber{ID: id, Type: "webhook", WebhookSink: config.WebhookSink{URL: h.srv.URL, Secret: "s3cret"}, Topics: topics, Events: events,
		Retry: config.Retry{Attempts: 2, Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond}}
}

// runPipeline runs p with roles until the test ends.
func runPipeline(t *testing.T, p *Pipeline, roles Roles) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, roles) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}

// A source that fails N times in a row raises one source.failing event,
// however often it fails after, and one source.recovered when it works
// again; a subscriber that did not ask for events gets none.
func TestSourceFailingRaisesOneEventAndOneRecovered(t *testing.T) {
	f := newFeed(t)
	f.add("Fentanyl seizure at the border")
	ops := newHook(t, nil)
	desk := newHook(t, nil)
	cfg := testConfig(t, func(c *config.Config) {
		c.Sources = []config.Source{{ID: "wire", URL: f.srv.URL, Interval: time.Minute}}
		c.Subscribers = []config.Subscriber{
			ops.sub("ops", nil, []string{"source.failing"}),
			desk.sub("desk", nil, nil),
		}
	})
	b := openBus(t, cfg)
	p := newPipeline(t, cfg, b)
	runPipeline(t, p, Roles{Notifier: true, Classifier: true})
	ctx := context.Background()

	f.setStatus(http.StatusInternalServerError)
	for range 5 {
		if r, err := p.FetchNow(ctx, cfg.Sources[0]); err != nil || r.Err == nil {
			t.Fatalf("fetch: %v %+v", err, r)
		}
	}
	waitFor(t, 15*time.Second, func() bool { return ops.count("event.source.failing") == 1 })
	f.setStatus(http.StatusOK)
	if r, err := p.FetchNow(ctx, cfg.Sources[0]); err != nil || r.Err != nil {
		t.Fatalf("recovery fetch: %v %+v", err, r)
	}
	waitFor(t, 15*time.Second, func() bool { return ops.count("event.source.recovered") == 1 && desk.count("alert.created") == 1 })
	// Deliveries to a subscriber go in stream order, so the events before
	// the recovery are all in.
	if got := ops.types(); strings.Join(got, ",") != "event.source.failing,event.source.recovered" {
		t.Errorf("ops got %v, want one failing and one recovered event", got)
	}
	fail := ops.payloads()[0]
	if fail.Event != "source.failing" || fail.Source != "wire" || fail.Failures != 3 ||
		!strings.HasPrefix(fail.Summary, "source wire failing: 3 failed fetches in a row") || !strings.Contains(fail.Summary, "500") {
		t.Errorf("failing event: %+v", fail)
	}
	if got := desk.types(); strings.Join(got, ",") != "alert.created" {
		t.Errorf("desk (no events key) got %v, want its alert only", got)
	}
}

// A subscriber with events and no topics gets the events only.
func TestEventsOnlySubscriberGetsNoAlerts(t *testing.T) {
	f := newFeed(t)
	f.add("Fentanyl seizure at the border")
	ops := newHook(t, nil)
	desk := newHook(t, nil)
	cfg := testConfig(t, func(c *config.Config) {
		c.Sources = []config.Source{{ID: "wire", URL: f.srv.URL, Interval: time.Minute}}
		c.Events.SourceFailingAfter = new(1)
		c.Subscribers = []config.Subscriber{ops.sub("ops", nil, []string{"source.failing"}), desk.sub("desk", nil, nil)}
	})
	b := openBus(t, cfg)
	p := newPipeline(t, cfg, b)
	runPipeline(t, p, Roles{Notifier: true, Classifier: true})
	ctx := context.Background()
	if _, err := p.FetchNow(ctx, cfg.Sources[0]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, func() bool { return desk.count("alert.created") == 1 })
	f.setStatus(http.StatusNotFound)
	if _, err := p.FetchNow(ctx, cfg.Sources[0]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, func() bool { return ops.count("event.source.failing") == 1 })
	if got := ops.types(); strings.Join(got, ",") != "event.source.failing" {
		t.Errorf("ops got %v, want the event only", got)
	}
}

func TestSourceEventRules(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ok := t0.Add(-time.Hour)
	for _, tc := range []struct {
		name      string
		cfg       config.Events
		st        SourceState
		want      string // event raised, or ""
		wantState string // FailingEvent after
	}{
		{"below the count", config.Events{}, SourceState{ID: "s", ConsecutiveFailures: 2, LastFetch: t0, LastSuccess: ok}, "", ""},
		{"at the count", config.Events{}, SourceState{ID: "s", ConsecutiveFailures: 3, LastFetch: t0, LastSuccess: ok}, "source.failing", "source.failing:s:" + itoa(ok.UnixNano())},
		{"already raised", config.Events{}, SourceState{ID: "s", ConsecutiveFailures: 9, LastFetch: t0, FailingEvent: "source.failing:s:1"}, "", "source.failing:s:1"},
		{"count off", config.Events{SourceFailingAfter: new(0)}, SourceState{ID: "s", ConsecutiveFailures: 50, LastFetch: t0, LastSuccess: ok}, "", ""},
		{"stale", config.Events{SourceFailingAfter: new(0), SourceStaleAfter: 30 * time.Minute}, SourceState{ID: "s", ConsecutiveFailures: 1, LastFetch: t0, LastSuccess: ok}, "source.failing", "source.failing:s:" + itoa(ok.UnixNano())},
		{"not stale yet", config.Events{SourceStaleAfter: 2 * time.Hour}, SourceState{ID: "s", ConsecutiveFailures: 1, LastFetch: t0, LastSuccess: ok}, "", ""},
		{"never worked, stale since first failure", config.Events{SourceFailingAfter: new(0), SourceStaleAfter: 30 * time.Minute}, SourceState{ID: "s", ConsecutiveFailures: 4, LastFetch: t0, FailingSince: t0.Add(-time.Hour)}, "source.failing", "source.failing:s:0"},
		{"recovered", config.Events{}, SourceState{ID: "s", LastFetch: t0, LastSuccess: t0, FailingSince: ok, FailingEvent: "source.failing:s:7"}, "source.recovered", ""},
		{"ok, never failing", config.Events{}, SourceState{ID: "s", LastFetch: t0, LastSuccess: t0}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &fetchStage{eventCfg: func() config.Events { return tc.cfg }}
			st := tc.st
			ev := s.sourceEvent(&st)
			got := ""
			if ev != nil {
				got = ev.Event
			}
			if got != tc.want || st.FailingEvent != tc.wantState {
				t.Fatalf("event %q, state %q; want %q, %q", got, st.FailingEvent, tc.want, tc.wantState)
			}
			if ev != nil && ev.ID == "" {
				t.Error("event without id")
			}
			if ev != nil && ev.Event == "source.recovered" && ev.ID != "source.recovered:s:7" {
				t.Errorf("recovered id %q does not follow its failing event", ev.ID)
			}
			if st.ConsecutiveFailures > 0 && st.FailingSince.IsZero() {
				t.Error("failing source without failing_since")
			}
		})
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// Two replicas send one heartbeat per slot between them, every slot.
func TestHeartbeatOncePerSlotWithTwoPipelines(t *testing.T) {
	ops := newHook(t, nil)
	desk := newHook(t, nil)
	const every = 300 * time.Millisecond
	cfg := testConfig(t, func(c *config.Config) {
		c.Events.Heartbeat = every
		c.Subscribers = []config.Subscriber{ops.sub("ops", nil, []string{"heartbeat"}), desk.sub("desk", nil, nil)}
	})
	b := openBus(t, cfg)
	for range 2 {
		runPipeline(t, newPipeline(t, cfg, b), AllRoles)
	}
	waitFor(t, 20*time.Second, func() bool { return ops.count("event.heartbeat") >= 5 })
	seen := map[string]bool{}
	for _, p := range ops.payloads() {
		if p.Type != "event.heartbeat" || p.Event != "heartbeat" {
			t.Fatalf("ops got %+v", p)
		}
		if seen[p.ID] {
			t.Fatalf("heartbeat %s delivered twice", p.ID)
		}
		seen[p.ID] = true
		if !p.Next.After(p.At) || p.Next.Sub(p.At) > 2*every {
			t.Errorf("heartbeat at %s says the next is due by %s", p.At, p.Next)
		}
	}
	if n := len(desk.payloads()); n != 0 {
		t.Errorf("desk (no events key) got %d payloads", n)
	}
}

// A store fault reported to the bus's Health reaches the subscribers that
// asked for store.error.
func TestStoreErrorEvent(t *testing.T) {
	ops := newHook(t, nil)
	cfg := testConfig(t, func(c *config.Config) {
		c.Subscribers = []config.Subscriber{ops.sub("ops", nil, []string{"store.error", "data.lost"})}
	})
	b := openBus(t, cfg)
	runPipeline(t, newPipeline(t, cfg, b), Roles{Notifier: true})
	b.Health.Report("store.write", "store.error", "write: no space left on device")
	b.Health.Report("store.write", "store.error", "write: no space left on device") // a repeat: no new event
	b.Health.Report("data.lost:NEWSWATCH_ALERTS", "data.lost", "200 messages lost in NEWSWATCH_ALERTS")
	// Events are published and delivered in order: a duplicate of the
	// first would come before the second.
	waitFor(t, 15*time.Second, func() bool { return ops.count("event.data.lost") == 1 })
	got := ops.payloads()
	if len(got) != 2 || got[0].Type != "event.store.error" || got[1].Type != "event.data.lost" {
		t.Fatalf("ops got %+v", got)
	}
	if got[0].Summary != "store error: write: no space left on device" {
		t.Errorf("summary %q", got[0].Summary)
	}
}

// A subscriber or stage without a consumer reaches the subscribers that
// asked for consumer.error (each fault once), and not those that did not.
func TestConsumerErrorEvent(t *testing.T) {
	ops, other := newHook(t, nil), newHook(t, nil)
	cfg := testConfig(t, func(c *config.Config) {
		c.Subscribers = []config.Subscriber{ops.sub("ops", nil, []string{"consumer.error"}), other.sub("other", nil, []string{"store.error"})}
	})
	b := openBus(t, cfg)
	runPipeline(t, newPipeline(t, cfg, b), Roles{Notifier: true})
	b.Health.Report("consumer.error:desk", bus.KindConsumerError, "maximum consumers limit reached")
	b.Health.Report("consumer.error:desk", bus.KindConsumerError, "maximum consumers limit reached") // a repeat: no new event
	b.Health.Report(bus.StageConsumerFault("classifier"), bus.KindConsumerError, "stream not found")
	waitFor(t, 15*time.Second, func() bool { return ops.count("event.consumer.error") == 2 })
	got := ops.payloads()
	if len(got) != 2 || got[0].Summary != "subscriber without a consumer: maximum consumers limit reached" ||
		got[1].Summary != "stage without a consumer: stream not found" {
		t.Fatalf("ops got %+v", got)
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(other.payloads()); n != 0 {
		t.Errorf("a subscriber that asked only for store.error got %d events", n)
	}
}

// An alert dead-lettered for one subscriber raises a deadletter event
// for the others that asked for it, never for itself.
func TestDeadLetterEvent(t *testing.T) {
	broken := newHook(t, func(p hookPayload) int {
		if p.Type == "alert.created" {
			return http.StatusBadRequest // final: dead-lettered at once
		}
		return http.StatusOK
	})
	ops := newHook(t, nil)
	cfg := testConfig(t, func(c *config.Config) {
		c.Subscribers = []config.Subscriber{
			broken.sub("broken", []string{"fentanyl"}, []string{"deadletter"}),
			ops.sub("ops", nil, []string{"deadletter"}),
		}
	})
	b := openBus(t, cfg)
	p := newPipeline(t, cfg, b)
	runPipeline(t, p, Roles{Notifier: true, Classifier: true})
	ctx := context.Background()
	src := config.Source{ID: "wire", URL: "https://news.example.org/feed"}
	if _, err := p.Publish(ctx, src, []news.Article{{ID: "a1", Source: "wire", URL: "https://news.example.org/1", Title: "Fentanyl lab found", Fetched: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, func() bool { return ops.count("event.deadletter") == 1 })
	ev := ops.payloads()[0]
	if ev.Subscriber != "broken" || ev.Alert != "fentanyl:a1" || !strings.Contains(ev.Summary, "dead-lettered") {
		t.Errorf("deadletter event %+v", ev)
	}
	// broken has taken the event off its queue without being sent it.
	waitFor(t, 15*time.Second, func() bool {
		n, err := p.Dispatcher().Backlog(ctx, "broken")
		return err == nil && n == 0
	})
	if n := broken.count("event.deadletter"); n != 0 {
		t.Errorf("broken was sent %d events about its own dead letter", n)
	}
}

// A configured source has a last-success series from the start (0 when
// it never succeeded), and loses it when it leaves the config.
func TestSourceMetricsExistFromTheStart(t *testing.T) {
	cfg := testConfig(t, func(c *config.Config) {
		c.Sources = []config.Source{
			{ID: "never", URL: "https://e.org/a", Interval: time.Hour},
			{ID: "worked", URL: "https://e.org/b", Interval: time.Hour},
		}
	})
	b := openBus(t, cfg)
	ctx := context.Background()
	ok := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	if err := saveState(ctx, b.StateKV(), SourceState{ID: "worked", Status: "ok", LastSuccess: ok}); err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	p, err := New(cfg, b, discard(), m)
	if err != nil {
		t.Fatal(err)
	}
	runPipeline(t, p, Roles{Fetcher: true})
	const name = "newswatch_source_last_success_timestamp_seconds"
	waitFor(t, 10*time.Second, func() bool { return hasSeries(t, m, name, "never") })
	if v := metricValue(t, m, name, map[string]string{"source": "never"}); v != 0 {
		t.Errorf("never: %v, want 0", v)
	}
	if v := metricValue(t, m, name, map[string]string{"source": "worked"}); v != float64(ok.Unix()) {
		t.Errorf("worked: %v, want its stored last success %d", v, ok.Unix())
	}
	next := *cfg
	next.Sources = []config.Source{{ID: "worked", URL: "https://e.org/b", Interval: time.Hour}, {ID: "added", URL: "https://e.org/c", Interval: time.Hour}}
	if err := p.Reload(ctx, &next, false); err != nil {
		t.Fatal(err)
	}
	if hasSeries(t, m, name, "never") || !hasSeries(t, m, name, "added") || !hasSeries(t, m, name, "worked") {
		t.Errorf("after reload: never %v, added %v, worked %v", hasSeries(t, m, name, "never"), hasSeries(t, m, name, "added"), hasSeries(t, m, name, "worked"))
	}
}

func hasSeries(t *testing.T, m *metrics.Metrics, name, source string) bool {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range families {
		if fam.GetName() != name {
			continue
		}
		for _, s := range fam.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "source" && l.GetValue() == source {
					return true
				}
			}
		}
	}
	return false
}

// A digest subscriber holds its alerts, never its events.
func TestDigestSubscriberGetsEventsAtOnce(t *testing.T) {
	srv := smtptest.Start(t)
	cfg := testConfig(t, func(c *config.Config) {
		c.SMTP = config.SMTP{Host: srv.Host, Port: srv.Port, TLS: "none", From: "newswatch@example.org", Timeout: 5 * time.Second}
		c.Subscribers = []config.Subscriber{{ID: "ops", Type: "email", EmailSink: config.EmailSink{To: []string{"ops@example.org"}, Digest: "24h"},
			Topics: []string{"fentanyl"}, Events: []string{"store.error"}}}
	})
	b := openBus(t, cfg)
	runPipeline(t, newPipeline(t, cfg, b), Roles{Notifier: true})
	b.Health.Report("store.write", "store.error", "write: no space left on device")
	msgs := srv.Wait(1, 15*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("%d emails, want the event at once", len(msgs))
	}
	if !strings.Contains(string(msgs[0].Data), "Subject: [newswatch] store error: write: no space left on device") {
		t.Errorf("email:\n%s", msgs[0].Data)
	}
}
