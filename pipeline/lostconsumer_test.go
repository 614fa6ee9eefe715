package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"newswatch/config"
	"newswatch/metrics"
	"newswatch/news"

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
