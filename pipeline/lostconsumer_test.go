package pipeline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"newswatch/config"
	"newswatch/metrics"
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
