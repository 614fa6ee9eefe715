package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"newswatch/config"
	"newswatch/metrics"
	"newswatch/news"
	"newswatch/notifier"

	"github.com/nats-io/nats.go/jetstream"
)

// TestStagesRecreateTheirLostConsumers deletes the classifier's and the
// fetcher's consumers while the daemon runs: items published after that
// still arrive, once each.
func TestStagesRecreateTheirLostConsumers(t *testing.T) {
	for _, lost := range []struct {
		stream  func(*Pipeline) string
		durable string
	}{
		{func(p *Pipeline) string { return p.b.Names.ArticleStream }, classifierConsumer},
		{func(p *Pipeline) string { return p.b.Names.FetchStream }, "fetcher"},
	} {
		t.Run(lost.durable, func(t *testing.T) {
			f := newFeed(t)
			hook := newTitleHook(t)
			cfg := testConfig(t, func(c *config.Config) {
				c.Sources = []config.Source{{ID: "wire", URL: f.srv.URL, Interval: time.Second}}
				c.Subscribers = []config.Subscriber{{ID: "desk", Type: "webhook", WebhookSink: config.WebhookSink{URL: hook.URL, Secret: "s3cret"}}}
			})
			b := openBus(t, cfg)
			p, err := New(cfg, b, discard(), metrics.New())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx, AllRoles) }()
			defer func() {
				cancel()
				<-done
			}()

			f.add("Fentanyl ring broken up")
			waitFor(t, 15*time.Second, func() bool { return len(hook.titles()) >= 1 })
			// The series exists before the first remake, so that a rule
			// on its increase can fire then.
			if n, ok := b.Health.Counts().Remade[lost.durable]; !ok || n != 0 {
				t.Errorf("consumers remade for %s before any loss: %d (present %v), want 0", lost.durable, n, ok)
			}
			dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
			err = b.DeleteConsumer(dctx, lost.stream(p), lost.durable)
			dcancel()
			if err != nil {
				t.Fatal(err)
			}
			f.add("Second fentanyl story")
			waitFor(t, 20*time.Second, func() bool { return len(hook.titles()) >= 2 })
			time.Sleep(2 * time.Second)
			if got := hook.titles(); fmt.Sprint(got) != "[Fentanyl ring broken up Second fentanyl story]" {
				t.Errorf("delivered %q", got)
			}
			// Counted, not only logged (newswatch_consumers_remade_total).
			if n := b.Health.Counts().Remade[lost.durable]; n != 1 {
				t.Errorf("consumers remade for %s: %d, want 1", lost.durable, n)
			}
		})
	}
}

// TestStartsWithASubscriberWithoutItsConsumer starts the notifier while
// the alert stream takes no more consumers: the subscriber whose consumer
// cannot be made must not stop the daemon. It runs without it, shown as a
// consumer.error fault, and once the stream takes one, gets its consumer
// and its alerts.
func TestStartsWithASubscriberWithoutItsConsumer(t *testing.T) {
	hook := newHook(t, nil)
	cfg := testConfig(t, func(c *config.Config) {
		c.Subscribers = []config.Subscriber{hook.sub("desk", nil, nil)}
	})
	b := openBus(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := b.JS.Stream(ctx, b.Names.AlertStream)
	if err != nil {
		t.Fatal(err)
	}
	// Another client holds the stream's one consumer slot.
	sc := s.CachedInfo().Config
	sc.MaxConsumers = 1
	if _, err := b.JS.UpdateStream(ctx, sc); err != nil {
		t.Fatal(err)
	}
	if _, err := b.JS.CreateOrUpdateConsumer(ctx, b.Names.AlertStream, jetstream.ConsumerConfig{Durable: "hold", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}

	p := newPipeline(t, cfg, b)
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx, Roles{Notifier: true}) }()
	waitFor(t, 15*time.Second, func() bool {
		for _, f := range b.Health.Blocking() {
			if f.Key == "consumer.error:desk" {
				return true
			}
		}
		return false
	})
	select {
	case err := <-done:
		t.Fatalf("Run ended with a subscriber without its consumer: %v", err)
	default:
	}

	// The slot is free: the consumer is made, the alert delivered.
	if err := b.DeleteConsumer(ctx, b.Names.AlertStream, "hold"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, func() bool { return len(b.Health.Blocking()) == 0 })
	a := news.Alert{V: news.Version, Topic: "fentanyl", Score: 1, Created: time.Now().UTC(),
		Article: news.Article{V: news.Version, ID: "a1", Source: "wire", Title: "Fentanyl ring", URL: "https://news.example.org/1"}}
	a.ID = news.AlertID(a.Topic, a.Article.ID)
	data, _ := json.Marshal(a)
	if _, err := b.JS.Publish(ctx, b.Names.AlertSubject(a.Topic), data, jetstream.WithMsgID(a.ID)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, func() bool { return len(hook.payloads()) == 1 })
	stop()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestOnceDoesNotWaitForASubscriberWithoutItsConsumer: in a pass where
// one subscriber's consumer cannot be made (another client holds its
// name), the pass waited for that queue until its timeout, although it
// could not drain. It now ends once the other subscriber's queue is
// empty, names the subscriber without a consumer in its summary, keeps
// the fault for the report, and is not OK.
func TestOnceDoesNotWaitForASubscriberWithoutItsConsumer(t *testing.T) {
	f := newFeed(t)
	desk, late := newTitleHook(t), newTitleHook(t)
	cfg := testConfig(t, func(c *config.Config) {
		c.Sources = []config.Source{{ID: "wire", URL: f.srv.URL}}
		c.Subscribers = []config.Subscriber{
			{ID: "desk", Type: "webhook", WebhookSink: config.WebhookSink{URL: desk.URL, Secret: "s3cret"}},
			{ID: "late", Type: "webhook", WebhookSink: config.WebhookSink{URL: late.URL, Secret: "s3cret"}},
		}
	})
	b := openBus(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := b.JS.CreateOrUpdateConsumer(ctx, b.Names.AlertStream, jetstream.ConsumerConfig{
		Durable: notifier.ConsumerName("late"), DeliverSubject: "elsewhere.late", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	f.add("Fentanyl ring broken up")
	p := newPipeline(t, cfg, b)
	sum, err := p.Once(ctx, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if sum.TimedOut || sum.Delivered != 1 || sum.Pending != 0 || fmt.Sprint(sum.NoConsumer) != "[late]" || sum.OK() {
		t.Errorf("summary: timed out %v, delivered %d, pending %d, without a consumer %v, OK %v; want 1 delivered, nothing pending, late without a consumer, not timed out and not OK",
			sum.TimedOut, sum.Delivered, sum.Pending, sum.NoConsumer, sum.OK())
	}
	if !strings.Contains(sum.String(), "subscribers without a consumer: late") {
		t.Errorf("summary line %q does not name late", sum.String())
	}
	var named bool
	for _, f := range sum.Faults {
		named = named || f.Key == "consumer.error:late"
	}
	if !named {
		t.Errorf("summary faults %+v lack consumer.error:late", sum.Faults)
	}
	if got := desk.titles(); len(got) != 1 {
		t.Errorf("desk got %q", got)
	}
	if got := late.titles(); len(got) != 0 {
		t.Errorf("late got %q without a consumer", got)
	}
}
