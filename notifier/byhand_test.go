package notifier

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"newswatch/config"
	"newswatch/internal/smtptest"
	"newswatch/metrics"
	"newswatch/news"
)

// deliveriesOK is newswatch_deliveries_total{subscriber,outcome="ok"} as
// the registry holds it.
func deliveriesOK(t *testing.T, m *metrics.Metrics, subscriber string) float64 {
	t.Helper()
	return deliveries(t, m, subscriber, "ok")
}

// deliveries is newswatch_deliveries_total{subscriber,outcome} as the
// registry holds it.
func deliveries(t *testing.T, m *metrics.Metrics, subscriber, outcome string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "newswatch_deliveries_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range mt.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["subscriber"] == subscriber && labels["outcome"] == outcome {
				return mt.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func storyReport(id, source, title string) *news.Alert {
	a := sampleAlert()
	a.Article.ID, a.Article.Source, a.Article.Title = id, source, title
	a.ID = news.AlertID("fentanyl", id)
	return a
}

func mailHeader(t *testing.T, m smtptest.Message) netmail.Header {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("not an RFC 5322 message: %v", err)
	}
	return msg.Header
}

// A delivery by hand through a manager running the subscriber takes the
// queue's path: the running sink, the story (a later report is a reply in
// the first one's thread), the metric and the status. A manager without
// a dispatcher delivers it as a new alert.
func TestDeliverByHand(t *testing.T) {
	b := openBus(t, t.TempDir())
	defer b.Close()
	mail := smtptest.Start(t)
	smtp := config.SMTP{Host: mail.Host, Port: mail.Port, TLS: "none", From: "alerts@example.org", Timeout: 5 * time.Second}
	sub := config.Subscriber{ID: "analyst", Type: "email", EmailSink: config.EmailSink{To: []string{"desk@example.org"}},
		Topics: []string{"fentanyl"}, Timeout: 5 * time.Second, Retry: fastRetry}
	m := metrics.New()
	d := NewDispatcher(b, slog.New(slog.NewTextHandler(io.Discard, nil)), m)
	d.SetTopics([]config.Topic{{ID: "fentanyl"}})
	subs := NewSubscribers(d, nil, nil)
	defer subs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := subs.Apply(ctx, []config.Subscriber{sub}, smtp); err != nil {
		t.Fatal(err)
	}

	first := storyReport("first", "wire", "Record fentanyl seizure at Arizona border crossing")
	data, _ := json.Marshal(first)
	if _, err := b.JS.Publish(ctx, b.Names.AlertSubject("fentanyl"), data, jetstream.WithMsgID(first.ID)); err != nil {
		t.Fatal(err)
	}
	if n := len(mail.Wait(1, 10*time.Second)); n != 1 {
		t.Fatalf("%d emails from the queue, want 1", n)
	}
	waitFor(t, "the queue's delivery counted", 5*time.Second, func() bool { return deliveriesOK(t, m, "analyst") == 1 })

	later := storyReport("later", "other-outlet", "Record fentanyl seizure at Arizona border crossing, officials say")
	res, err := subs.Deliver(ctx, sub, smtp, later)
	if err != nil || !res.Tried || !res.FollowUp {
		t.Fatalf("Deliver = %+v, %v; want a follow-up", res, err)
	}
	msgs := mail.Wait(2, 10*time.Second)
	if len(msgs) != 2 {
		t.Fatalf("%d emails, want 2", len(msgs))
	}
	root := mailHeader(t, msgs[0]).Get("Message-Id")
	if h := mailHeader(t, msgs[1]); h.Get("In-Reply-To") != root || root == "" {
		t.Errorf("replayed report not threaded: In-Reply-To %q, first Message-Id %q", h.Get("In-Reply-To"), root)
	}
	if got := deliveriesOK(t, m, "analyst"); got != 2 {
		t.Errorf(`newswatch_deliveries_total{subscriber="analyst",outcome="ok"} = %v, want 2`, got)
	}
	if st := statusOf(d, "analyst"); st.Delivered != 2 || st.FollowUps != 1 || st.LastResult != "ok" {
		t.Errorf("status after the delivery by hand = %+v", st)
	}
	if len(later.Topics) != 0 {
		t.Error("Deliver changed the caller's alert")
	}

	// Without a dispatcher there is no story: the same report goes out
	// as an alert of its own.
	solo := NewSubscribers(nil, nil, nil)
	defer solo.Close()
	res, err = solo.Deliver(ctx, sub, smtp, later)
	if err != nil || res.FollowUp {
		t.Fatalf("Deliver without a dispatcher = %+v, %v; want a plain alert", res, err)
	}
	msgs = mail.Wait(3, 10*time.Second)
	if len(msgs) != 3 {
		t.Fatalf("%d emails, want 3", len(msgs))
	}
	if h := mailHeader(t, msgs[2]); h.Get("In-Reply-To") != "" {
		t.Errorf("a delivery without story state is a reply: In-Reply-To %q", h.Get("In-Reply-To"))
	}
}

// A delivery by hand that fails says whether the queue would retry it,
// and is counted as failed, not as delivered, retried or dead-lettered
// (nothing is); a sink that cannot be built is not tried.
func TestDeliverByHandFails(t *testing.T) {
	h := newHookServer(t, func(n int, w http.ResponseWriter) bool {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		} else {
			w.WriteHeader(http.StatusBadRequest)
		}
		return false
	})
	b := openBus(t, t.TempDir())
	defer b.Close()
	m := metrics.New()
	d := NewDispatcher(b, slog.New(slog.NewTextHandler(io.Discard, nil)), m)
	subs := NewSubscribers(d, nil, nil)
	defer subs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub := dispatchSub("desk", h.srv.URL, fastRetry)

	for _, tc := range []struct {
		name      string
		wantRetry bool
	}{{"503 is temporary", true}, {"400 is final", false}} {
		res, err := subs.Deliver(ctx, sub, config.SMTP{}, sampleAlert())
		if err == nil || !res.Tried || res.Retry != tc.wantRetry {
			t.Errorf("%s: Deliver = %+v, %v", tc.name, res, err)
		}
	}
	for outcome, want := range map[string]float64{"ok": 0, "failed": 2, "retry": 0, "dead": 0} {
		if got := deliveries(t, m, "desk", outcome); got != want {
			t.Errorf("deliveries_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
	bad := config.Subscriber{ID: "bad", Type: "webhook", WebhookSink: config.WebhookSink{URL: "ftp://x"}}
	if res, err := subs.Deliver(ctx, bad, config.SMTP{}, sampleAlert()); err == nil || res.Tried || !strings.Contains(err.Error(), "http") {
		t.Errorf("Deliver to an unbuildable sink = %+v, %v", res, err)
	}
}
