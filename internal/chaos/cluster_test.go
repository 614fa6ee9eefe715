package chaos

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"newswatch/internal/harness"
	"newswatch/internal/smtptest"
)

// TestCluster runs two newswatch replicas, with every role, against a
// three-node JetStream cluster with streams replicated three times. Each
// matching item must reach each subscriber once, and each source must be
// fetched once per due time although both replicas schedule it. Then one
// replica crashes and the NATS node leading the alert stream goes down,
// mid-run: every alert must still arrive, and any repeat must carry the
// id of its first delivery.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node NATS cluster for about a minute; skipped with -short")
	}
	t.Parallel()
	cl, err := harness.StartCluster(3, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Shutdown)
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
	mail := smtptest.Start(t)

	subs := map[string][]string{"desk": nil, "analyst": {"fentanyl"}}
	retry := map[string]any{"attempts": 50, "initial": "200ms", "max": "1s"}
	cfg := parseConfig(t, map[string]any{
		"data_dir": filepath.Join(t.TempDir(), "data"),
		"nats":     map[string]any{"url": cl.URL(), "replicas": 3},
		"http":     map[string]any{"listen": ""},
		"fetch":    map[string]any{"interval": "1s", "timeout": "1s", "host_interval": "-1s"},
		"sources": []any{
			map[string]any{"id": "wire-a", "type": "feed", "url": feeds.URL("a"), "interval": "1s"},
			map[string]any{"id": "wire-b", "type": "feed", "url": feeds.URL("b"), "interval": "1s"},
		},
		"topics": harness.RepoTopics(t, "../../config.yaml"),
		"subscribers": []any{
			map[string]any{"id": "desk", "type": "webhook", "url": desk.URL(), "secret": secret, "timeout": "2s", "retry": retry},
			map[string]any{"id": "analyst", "type": "email", "to": []string{"analyst@example.org"}, "topics": subs["analyst"], "timeout": "2s", "retry": retry},
		},
		"smtp": map[string]any{"host": mail.Host, "port": mail.Port, "tls": "none", "from": "alerts@example.org", "timeout": "2s"},
	})
	ra := startReplica(t, "a", cfg)
	rb := startReplica(t, "b", cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	streams := []string{ra.b.Names.FetchStream, ra.b.Names.ArticleStream, ra.b.Names.AlertStream, ra.b.Names.DeadStream}
	for _, name := range streams {
		s, err := ra.b.JS.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if r := s.CachedInfo().Config.Replicas; r != 3 {
			t.Errorf("stream %s has %d replicas, want 3", name, r)
		}
	}

	rng := rand.New(rand.NewPCG(11, 3))
	want := expectation{}
	publish := func(prefix string, n int, mid func()) {
		for i := range n {
			it, topic := genItem(rng, prefix, i)
			feeds.Add([]string{"a", "b"}[rng.IntN(2)], it)
			want.expect(it, topic, subs)
			if i == n/2 && mid != nil {
				mid()
			}
			time.Sleep(150 * time.Millisecond)
		}
	}
	tallies := func() (harness.Tally, harness.Tally) {
		return harness.Count(want["desk"], webhookDelivered(t, "desk", desk.Deliveries())),
			harness.Count(want["analyst"], emailDelivered(t, "analyst", want["analyst"], mail.Messages()))
	}
	complete := func() bool {
		w, e := tallies()
		return len(w.Lost) == 0 && len(e.Lost) == 0
	}

	// Phase 1: both replicas healthy.
	reqs0, start := feeds.Requests(), time.Now()
	publish("c1", 20, nil)
	if !waitFor(20*time.Second, complete) {
		t.Errorf("phase 1: not every alert arrived within 20s")
	}
	elapsed := time.Since(start)
	time.Sleep(500 * time.Millisecond)
	w, e := tallies()
	t.Logf("phase 1 (two replicas, three nodes): webhook: %s", w)
	t.Logf("phase 1: email: %s", e)
	for name, tl := range map[string]harness.Tally{"webhook": w, "email": e} {
		if !tl.OK() || tl.Duplicates > 0 {
			t.Errorf("phase 1 %s: want each alert exactly once: %s", name, tl)
		}
	}
	// Two sources due every second: about two fetches a second in all,
	// not four, though both replicas schedule both sources.
	reqs := feeds.Requests() - reqs0
	ideal := 2 * elapsed.Seconds()
	t.Logf("phase 1: %d feed requests in %s (one fetch per source per second: %.0f)", reqs, elapsed.Round(time.Millisecond), ideal)
	if float64(reqs) > 1.4*ideal+4 {
		t.Errorf("phase 1: %d feed requests in %s; with each source fetched once per due time it would be about %.0f",
			reqs, elapsed.Round(time.Millisecond), ideal)
	}
	if len(want["desk"]) == 0 || len(want["analyst"]) == 0 {
		t.Fatal("phase 1 generated no matching item: the test proves nothing")
	}
	if t.Failed() {
		return
	}

	// Phase 2: halfway through, replica b crashes and the node leading
	// the alert stream goes down.
	var killed string
	publish("c2", 20, func() {
		rb.crash()
		info, err := ra.b.JS.Stream(ctx, ra.b.Names.AlertStream)
		if err != nil {
			t.Errorf("alert stream: %v", err)
			return
		}
		killed = info.CachedInfo().Cluster.Leader
		if s := cl.Node(killed); s != nil {
			s.Shutdown()
			t.Logf("phase 2: replica b crashed; node %s (alert stream leader) shut down", killed)
		} else {
			t.Errorf("alert stream leader %q is not a known node", killed)
		}
	})
	start = time.Now()
	// A crashed replica's unacknowledged work comes back when its ack
	// wait ends (20s for a delivery, 30s for an article or a fetch job);
	// the bound leaves room for a slow, loaded machine.
	converged := waitFor(75*time.Second, complete)
	took := time.Since(start)
	time.Sleep(500 * time.Millisecond)
	w, e = tallies()
	t.Logf("phase 2 (one replica, two nodes): converged %v, %s after the last item", converged, took.Round(10*time.Millisecond))
	t.Logf("phase 2: webhook: %s", w)
	t.Logf("phase 2: email: %s", e)
	if !converged {
		t.Errorf("phase 2: not every alert arrived within 75s of the last item")
	}
	for name, tl := range map[string]harness.Tally{"webhook": w, "email": e} {
		if !tl.OK() {
			t.Errorf("phase 2 %s: %s", name, tl)
		}
	}

	// The surviving replica still has R3 streams with two live peers.
	info, err := ra.b.JS.Stream(ctx, ra.b.Names.AlertStream)
	if err != nil {
		t.Fatalf("alert stream after the node loss: %v", err)
	}
	if l := info.CachedInfo().Cluster.Leader; l == "" || l == killed {
		t.Errorf("alert stream leader after the node loss = %q", l)
	}
}
