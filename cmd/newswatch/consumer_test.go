package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/internal/harness"
	"newswatch/news"
	"newswatch/notifier"
)

// TestLostConsumerShowsEverywhere runs the daemon, deletes a
// subscriber's consumer while another client holds the alert stream's
// last consumer slot, and looks where an operator looks: /readyz fails
// naming the subscriber and the reason, its row in /api/subscribers and
// the status page's attention list say so, and /metrics counts it. Once
// the slot is free, all of it clears on its own and every alert queued
// meanwhile arrives, once.
func TestLostConsumerShowsEverywhere(t *testing.T) {
	quiet := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		_, _ = w.Write([]byte(`<?xml version="1.0"?><rss version="2.0"><channel><title>Quiet</title></channel></rss>`))
	}))
	t.Cleanup(quiet.Close)
	hooks := newReceiver(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	natsAddr := ln.Addr().String()
	_ = ln.Close()
	dir := t.TempDir()
	d := startDaemon(t, dir, map[string]any{
		"data_dir":    filepath.Join(dir, "data"),
		"http":        map[string]any{"listen": "127.0.0.1:0"},
		"nats":        map[string]any{"listen": natsAddr},
		"log":         map[string]any{"level": "info"},
		"sources":     []any{map[string]any{"id": "quiet", "url": quiet.URL, "interval": "1h"}},
		"topics":      []any{map[string]any{"id": "t", "query": "fentanyl"}},
		"subscribers": []any{map[string]any{"id": "desk", "type": "webhook", "url": hooks.srv.URL, "secret": secret}},
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.stderr)
		}
	})
	nc, err := nats.Connect("nats://"+natsAddr, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const stream, durable = "NEWSWATCH_ALERTS", "notify-desk"
	publish := func(from, n int) []string {
		var ids []string
		for i := from; i < from+n; i++ {
			a := news.Alert{V: news.Version, Topic: "t", Score: 1, Created: time.Now().UTC(),
				Article: news.Article{V: news.Version, ID: fmt.Sprintf("a%03d", i), Source: "quiet", Title: fmt.Sprintf("Story %d", i), URL: "https://news.example.org/" + fmt.Sprint(i)}}
			a.ID = news.AlertID("t", a.Article.ID)
			data, _ := json.Marshal(a)
			if _, err := js.Publish(ctx, "newswatch.alerts.t", data, jetstream.WithMsgID(a.ID)); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, a.ID)
		}
		return ids
	}
	received := func() []string {
		var ids []string
		for _, h := range hooks.hooks() {
			var a news.Alert
			_ = json.Unmarshal(h.Body, &a)
			ids = append(ids, a.ID)
		}
		return ids
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	setMaxConsumers := func(n int) {
		t.Helper()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		cfg := s.CachedInfo().Config
		cfg.MaxConsumers = n
		if _, err := js.UpdateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}

	want := publish(0, 2)
	wait("the first alerts", func() bool { return len(received()) == 2 })
	if code, body := d.do(t, "GET", "/readyz", ""); code != http.StatusOK {
		t.Fatalf("/readyz before the fault = %d %s", code, body)
	}

	// Another client takes the last consumer slot; the subscriber's
	// consumer is deleted; alerts keep coming.
	if _, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{Durable: "audit", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range s.ListConsumers(ctx).Info() {
		n++
	}
	setMaxConsumers(n - 1)
	if err := js.DeleteConsumer(ctx, stream, durable); err != nil {
		t.Fatal(err)
	}
	want = append(want, publish(10, 3)...)

	var ready string
	wait("/readyz to fail", func() bool {
		code, body := d.do(t, "GET", "/readyz", "")
		ready = body
		return code == http.StatusServiceUnavailable
	})
	for _, s := range []string{"consumer.error:desk", "maximum consumers"} {
		if !strings.Contains(ready, s) {
			t.Errorf("/readyz = %q, want it to name %q", ready, s)
		}
	}
	var subs struct {
		Subscribers []struct {
			ID                 string    `json:"id"`
			ConsumerError      string    `json:"consumer_error"`
			ConsumerErrorSince time.Time `json:"consumer_error_since"`
		} `json:"subscribers"`
	}
	_, body := d.do(t, "GET", "/api/subscribers", "")
	if err := json.Unmarshal([]byte(body), &subs); err != nil || len(subs.Subscribers) != 1 {
		t.Fatalf("/api/subscribers = %s (%v)", body, err)
	}
	if s := subs.Subscribers[0]; !strings.Contains(s.ConsumerError, "maximum consumers") || s.ConsumerErrorSince.IsZero() {
		t.Errorf("/api/subscribers: desk %+v, want its consumer error with the reason", s)
	}
	_, page := d.do(t, "GET", "/", "")
	attention, _, _ := strings.Cut(page, `<section id="alerts">`)
	for _, s := range []string{`data-subscriber="desk"`, "no consumer to pull from", "maximum consumers"} {
		if !strings.Contains(attention, s) {
			t.Errorf("the status page's attention list lacks %q:\n%s", s, attention)
		}
	}
	_, metrics := d.do(t, "GET", "/metrics", "")
	for _, s := range []string{`newswatch_faults{kind="consumer.error"} 1`, `newswatch_consumer_errors_total{op="recreate",subscriber="desk"}`} {
		if !strings.Contains(metrics, s) {
			t.Errorf("/metrics lacks %s", s)
		}
	}
	if got := received(); len(got) != 2 {
		t.Errorf("delivered %v without a consumer", got)
	}

	// The slot is free again: everything recovers without a hand.
	setMaxConsumers(-1)
	wait("the queued alerts", func() bool { return len(received()) >= len(want) })
	wait("/readyz to pass again", func() bool {
		code, _ := d.do(t, "GET", "/readyz", "")
		return code == http.StatusOK
	})
	_, body = d.do(t, "GET", "/api/subscribers", "")
	if strings.Contains(body, "consumer_error") {
		t.Errorf("after recovery /api/subscribers = %s", body)
	}
	_, metrics = d.do(t, "GET", "/metrics", "")
	if !strings.Contains(metrics, `newswatch_faults{kind="consumer.error"} 0`) {
		t.Errorf("after recovery /metrics lacks newswatch_faults{kind=\"consumer.error\"} 0")
	}
	time.Sleep(500 * time.Millisecond) // a repeat would come right behind
	if got := received(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("received %v, want each once, in order: %v", got, want)
	}
}

// TestOnceEndsWithoutWaitingForASubscriberWithoutItsConsumer: one of two
// subscribers has lost its consumer, and the alert stream takes no new
// one. Its queue cannot drain in this pass, so the pass must not wait
// for it until -timeout: it ends once the other subscriber has its
// alert, says which subscriber has no consumer, and exits non-zero. The
// alert stays queued for a later pass.
func TestOnceEndsWithoutWaitingForASubscriberWithoutItsConsumer(t *testing.T) {
	var story atomic.Bool
	feed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		item := ""
		if story.Load() {
			item = `<item><guid isPermaLink="false">s1</guid><title>Fentanyl ring broken up</title><link>https://news.example.org/s1</link><description>Police seized fentanyl.</description></item>`
		}
		_, _ = w.Write([]byte(`<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>` + item + `</channel></rss>`))
	}))
	t.Cleanup(feed.Close)
	desk, late := newReceiver(t, nil), newReceiver(t, nil)
	dir := t.TempDir()
	path := harness.WriteConfig(t, dir, map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"http":     map[string]any{"listen": ""},
		"sources":  []any{map[string]any{"id": "wire", "url": feed.URL}},
		"topics":   []any{map[string]any{"id": "t", "query": "fentanyl"}},
		"subscribers": []any{
			map[string]any{"id": "desk", "type": "webhook", "url": desk.srv.URL, "secret": secret},
			map[string]any{"id": "late", "type": "webhook", "url": late.srv.URL, "secret": secret},
		},
	})
	if code, stdout, stderr := runCLI(t, "once", "-config", path); code != exitOK {
		t.Fatalf("first pass: exit %d\n%s%s", code, stdout, stderr)
	}

	// Another client took the name of late's consumer (a push consumer),
	// so late's own cannot be made. (A consumer limit on the stream would
	// not last: the pass brings the stream's config up to date.)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := bus.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	durable := notifier.ConsumerName("late")
	if err := b.JS.DeleteConsumer(ctx, b.Names.AlertStream, durable); err != nil {
		t.Fatal(err)
	}
	if _, err := b.JS.CreateOrUpdateConsumer(ctx, b.Names.AlertStream, jetstream.ConsumerConfig{
		Durable: durable, DeliverSubject: "elsewhere.late", AckPolicy: jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverNewPolicy}); err != nil {
		t.Fatal(err)
	}
	b.Close()

	story.Store(true)
	const timeout = 20 * time.Second
	start := time.Now()
	code, stdout, stderr := runCLI(t, "once", "-config", path, "-timeout", timeout.String())
	took := time.Since(start)
	t.Logf("exit %d after %s\nstdout: %s\nstderr: %s", code, took.Round(time.Millisecond), stdout, stderr)
	if strings.Contains(stderr, "timed out") || took >= timeout {
		t.Errorf("the pass waited %s for a subscriber that cannot drain (timed out: %v)", took.Round(time.Millisecond), strings.Contains(stderr, "timed out"))
	}
	if code == exitOK {
		t.Error("exit 0 with a subscriber without its consumer")
	}
	if !strings.Contains(stderr, "newswatch once: problem: consumer.error:late: subscriber late: its consumer cannot be made") {
		t.Errorf("stderr does not name the subscriber without a consumer:\n%s", stderr)
	}
	if !strings.Contains(stdout, "deliveries: 1 ok") || len(desk.hooks()) != 1 {
		t.Errorf("desk got %d alerts, summary %q; want its one alert delivered", len(desk.hooks()), stdout)
	}
	if got := late.hooks(); len(got) != 0 {
		t.Errorf("late got %d alerts without a consumer", len(got))
	}

	// The stranger is gone: the next pass makes late's consumer, and the
	// alert that waited in the stream goes out, once.
	b, err = bus.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.JS.DeleteConsumer(ctx, b.Names.AlertStream, durable); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if code, stdout, stderr := runCLI(t, "once", "-config", path, "-timeout", timeout.String()); code != exitOK {
		t.Errorf("the pass after: exit %d\n%s%s", code, stdout, stderr)
	}
	if got, sent := len(late.hooks()), len(desk.hooks()); got != 1 || sent != 1 {
		t.Errorf("after the next pass late has %d alerts, desk %d; want 1 each", got, sent)
	}
}
