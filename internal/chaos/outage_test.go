package chaos

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/internal/harness"
	"newswatch/internal/smtptest"
)

// TestReceiverOutage takes the webhook receiver and the SMTP server down
// while alerts keep coming, then brings them back. Subscribers whose retry
// schedule outlasts the outage get everything, in stream order, with
// nothing dead-lettered; a subscriber whose schedule is shorter than the
// outage dead-letters what it could not deliver, and loses nothing either:
// each of its alerts is delivered or in the dead-letter stream.
func TestReceiverOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 15s; skipped with -short")
	}
	t.Parallel()
	feeds, err := harness.StartFeedServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = feeds.Close() })
	desk, err := harness.StartWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(desk.Close)
	brief, err := harness.StartWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(brief.Close)
	mail := smtptest.Start(t)

	// The patient schedule spans about 5s (0.1+0.3+0.5×9, ±20%), well
	// over the 2s outage; the brief one gives up after about 0.3s.
	patient := map[string]any{"attempts": 12, "initial": "100ms", "max": "500ms"}
	short := map[string]any{"attempts": 3, "initial": "100ms", "max": "200ms"}
	dir := t.TempDir()
	subs := map[string][]string{"desk": nil, "analyst": {"fentanyl"}, "brief": nil}
	cfg := parseConfig(t, map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"http":     map[string]any{"listen": ""},
		"fetch":    map[string]any{"interval": "1s", "timeout": "2s", "host_interval": "-1s"},
		"sources": []any{
			map[string]any{"id": "wire", "type": "feed", "url": feeds.URL("wire"), "interval": "1s"},
		},
		"topics": harness.RepoTopics(t, "../../config.yaml"),
		"subscribers": []any{
			map[string]any{"id": "desk", "type": "webhook", "url": desk.URL(), "secret": secret, "timeout": "2s", "retry": patient},
			map[string]any{"id": "analyst", "type": "email", "to": []string{"analyst@example.org"}, "topics": subs["analyst"], "timeout": "2s", "retry": patient},
			map[string]any{"id": "brief", "type": "webhook", "url": brief.URL(), "secret": secret, "timeout": "2s", "retry": short},
		},
		"smtp": map[string]any{"host": mail.Host, "port": mail.Port, "tls": "none", "from": "alerts@example.org", "timeout": "2s"},
	})
	r := startReplica(t, "solo", cfg)

	// 30 items, one every 150ms (4.5s); the receivers are down from
	// 1.2s to 3.2s, while about a third of the items appear.
	want := expectation{}
	rng := rand.New(rand.NewPCG(7, 7))
	start := time.Now()
	down, up := start.Add(1200*time.Millisecond), start.Add(3200*time.Millisecond)
	isDown := false
	for n := range 30 {
		it, topic := genItem(rng, "o", n)
		feeds.Add("wire", it)
		want.expect(it, topic, subs)
		time.Sleep(150 * time.Millisecond)
		switch now := time.Now(); {
		case !isDown && now.After(down) && now.Before(up):
			desk.Down()
			brief.Down()
			mail.Down()
			isDown = true
			t.Logf("receivers down at +%s", now.Sub(start).Round(time.Millisecond))
		case isDown && now.After(up):
			if err := desk.Up(); err != nil {
				t.Fatal(err)
			}
			if err := brief.Up(); err != nil {
				t.Fatal(err)
			}
			if err := mail.Up(); err != nil {
				t.Fatal(err)
			}
			isDown = false
			t.Logf("receivers up at +%s", now.Sub(start).Round(time.Millisecond))
		}
	}
	if len(want["analyst"]) == 0 || len(want["desk"]) == len(want["analyst"]) {
		t.Fatalf("the generated items do not exercise both topics: %v", want)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	complete := func() bool {
		return len(harness.Count(want["desk"], harness.FromWebhook(desk.Deliveries())).Lost) == 0 &&
			len(harness.Count(want["analyst"], emailDelivered(t, "analyst", want["analyst"], mail.Messages())).Lost) == 0
	}
	if !waitFor(30*time.Second, complete) {
		t.Errorf("not every alert arrived within 30s of the last item")
	}
	// The brief subscriber settles every alert too: delivered or dead.
	var briefDead []string
	settled := waitFor(30*time.Second, func() bool {
		briefDead = briefDead[:0]
		for _, dl := range deadLetters(ctx, t, r.b, "brief") {
			briefDead = append(briefDead, dl.Alert.ID)
		}
		got := harness.FromWebhook(brief.Deliveries())
		for _, id := range briefDead {
			got = append(got, harness.Delivered{AlertID: id, DeliveryID: "dead:" + id, Verified: true})
		}
		return len(harness.Count(want["brief"], got).Lost) == 0
	})
	time.Sleep(500 * time.Millisecond) // let a straggling repeat show
	r.stop()

	// Read the outcome from a fresh connection to the same store.
	seqs := func() map[string]uint64 {
		b := reopen(t, cfg)
		defer b.Close()
		return alertSeqs(ctx, t, b)
	}()

	hooks := webhookDelivered(t, "desk", desk.Deliveries())
	wt := harness.Count(want["desk"], hooks)
	emails := emailDelivered(t, "analyst", want["analyst"], mail.Messages())
	et := harness.Count(want["analyst"], emails)
	t.Logf("desk (webhook): %s", wt)
	t.Logf("analyst (email): %s", et)
	for name, tl := range map[string]harness.Tally{"desk": wt, "analyst": et} {
		if !tl.OK() {
			t.Errorf("%s: %s", name, tl)
		}
	}
	order := func(ds []harness.Delivered) []string {
		ids := make([]string, len(ds))
		for i, d := range ds {
			ids[i] = d.AlertID
		}
		return ids
	}
	if err := checkOrder(seqs, order(hooks)); err != nil {
		t.Errorf("desk: out of order: %v", err)
	}
	if err := checkOrder(seqs, order(emails)); err != nil {
		t.Errorf("analyst: out of order: %v", err)
	}

	b := reopen(t, cfg)
	defer b.Close()
	for _, sub := range []string{"desk", "analyst"} {
		if dl := deadLetters(ctx, t, b, sub); len(dl) > 0 {
			t.Errorf("%s: %d dead letters although the outage was shorter than its retry schedule; first: %s: %s",
				sub, len(dl), dl[0].Alert.ID, dl[0].Reason)
		}
	}
	briefDelivered := harness.Count(want["brief"], harness.FromWebhook(brief.Deliveries()))
	t.Logf("brief (webhook, short schedule): %d delivered, %d dead-lettered, %d expected",
		briefDelivered.Expected-len(briefDelivered.Lost), len(briefDead), len(want["brief"]))
	if !settled {
		t.Errorf("brief: some alerts neither delivered nor dead-lettered: %v", briefDelivered.Lost)
	}
	if len(briefDead) == 0 {
		t.Errorf("brief: nothing dead-lettered although a 2s outage outlasts its 0.3s retry schedule")
	}
	for _, id := range briefDead {
		if !want["brief"][id] {
			t.Errorf("brief: dead letter for unexpected alert %s", id)
		}
	}
}

// reopen opens the bus of a stopped embedded replica again.
func reopen(t *testing.T, cfg *config.Config) *bus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, cfg, testLogger(t, "reader"))
	if err != nil {
		t.Fatalf("reopen bus: %v", err)
	}
	return b
}
