package trends

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/news"
)

func checkSeries(t *testing.T, m *Memory, topic string, want map[int64][2]int, from, to int64) {
	t.Helper()
	hours := m.Hours(topic, from, to)
	bad := 0
	for i, h := range hours {
		hour := from + int64(i)*hourSec
		w := want[hour]
		if h.Articles != w[0] || len(h.Sources) != w[1] {
			if bad++; bad <= 5 {
				t.Errorf("%s hour %d: %d articles from %d sources, want %d from %d", topic, hour, h.Articles, len(h.Sources), w[0], w[1])
			}
		}
	}
	if bad > 5 {
		t.Errorf("... %d hours wrong in all", bad)
	}
}

// TestRestartMidSeries stops the series' upkeep in the middle of the
// alert stream, replays part of what it had counted (a crash between
// storing the counts and acknowledging the alerts), restarts it on the
// same bus with an empty memory, and checks every hour is counted
// exactly once: no bucket lost, nothing counted twice.
func TestRestartMidSeries(t *testing.T) {
	cfg := testConfig(t, config.Topic{ID: "wave", Query: "x"})
	b := openBus(t, cfg)
	const days = 10
	end := HourOf(time.Now())
	start := end - (days*24-1)*hourSec
	syn := makeSynth("wave", start, days, true, 3)
	half := len(syn.obs) / 2
	publishAlerts(t, b, syn.obs[:half])

	first := New(b, cfg, discard())
	ctx1, stop1 := context.WithCancel(context.Background())
	done1 := make(chan error, 1)
	go func() { done1 <- first.Upkeep(ctx1) }()
	last := syn.obs[half-1].Hour
	waitCounted(t, first, b, "wave", last, expected(syn.obs[:half])[last][0])
	// More alerts arrive while it runs; it stops part-way through them.
	publishAlerts(t, b, syn.obs[half:half+half/2])
	stop1()
	if err := <-done1; err != nil {
		t.Fatal(err)
	}
	// A crash after storing counts and before acking: those alerts come
	// again, and their counts were stored already.
	if err := first.Apply(context.Background(), syn.obs[:half]); err != nil {
		t.Fatal(err)
	}
	// Duplicated publishes are dropped by the stream, not counted.
	publishAlerts(t, b, syn.obs[half-100:])

	second := New(b, cfg, discard())
	ctx2, stop2 := context.WithCancel(context.Background())
	defer stop2()
	go func() { _ = second.Watch(ctx2) }()
	go func() { _ = second.Upkeep(ctx2) }()
	waitFor(t, 30*time.Second, func() bool { return consumerDone(b) && second.loaded.Load() })
	// The watch may trail the last write by a moment.
	want := expected(syn.obs)
	waitFor(t, 5*time.Second, func() bool {
		last := syn.obs[len(syn.obs)-1].Hour
		return second.mem.Get("wave", last).Articles == want[last][0]
	})
	checkSeries(t, second.mem, "wave", want, start, end)

	// A third process that only watches sees the same series.
	third := New(b, cfg, discard())
	go func() { _ = third.Watch(ctx2) }()
	waitFor(t, 10*time.Second, third.loaded.Load)
	checkSeries(t, third.mem, "wave", want, start, end)
}

// TestRebuildFromArchive counts a topic's articles from the article
// archive when its series was never rebuilt, once: a second rebuild and
// the alerts of the same articles change nothing.
func TestRebuildFromArchive(t *testing.T) {
	cfg := testConfig(t, config.Topic{ID: "opioids", Query: "fentanyl"})
	b := openBus(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	now := time.Now().UTC()
	var arts []news.Article
	for i := range 40 {
		title := "weather report"
		if i%2 == 0 {
			title = "fentanyl seizure at the border"
		}
		pub := now.Add(-time.Duration(i) * 3 * time.Hour)
		arts = append(arts, news.Article{V: 1, ID: news.ArticleID("", "https://example.org/"+title+string(rune('a'+i))),
			Source: []string{"a", "b", "c"}[i%3], Title: title, Published: pub, Fetched: pub.Add(time.Minute)})
	}
	want := map[int64][2]int{}
	srcs := map[int64]map[string]bool{}
	for _, a := range arts {
		data, _ := json.Marshal(a)
		if _, err := b.JS.Publish(ctx, b.Names.ArticleSubject(a.Source), data, jetstream.WithMsgID(a.ID)); err != nil {
			t.Fatal(err)
		}
		if a.Title == "weather report" {
			continue
		}
		h := HourOf(a.Published)
		if srcs[h] == nil {
			srcs[h] = map[string]bool{}
		}
		srcs[h][a.Source] = true
		want[h] = [2]int{want[h][0] + 1, len(srcs[h])}
	}
	s := New(b, cfg, discard())
	if err := s.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	from, to := HourOf(now.Add(-5*24*time.Hour)), HourOf(now)
	checkSeries(t, s.mem, "opioids", want, from, to)
	if since, ok := s.Since(ctx, "opioids"); !ok || since.After(time.Now()) || time.Since(since) > time.Minute {
		t.Errorf("since = %v, %v; want the time of the archive's first article", since, ok)
	}

	// Rebuilt again (marker lost) and the same articles' alerts counted:
	// still once each.
	if err := b.Store.Delete(ctx, builtKey("opioids")); err != nil {
		t.Fatal(err)
	}
	if err := s.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	var obs []Obs
	for _, a := range arts {
		if a.Title != "weather report" {
			obs = append(obs, ObsOf("opioids", &a, 1, a.Fetched))
		}
	}
	if err := s.Apply(ctx, obs); err != nil {
		t.Fatal(err)
	}
	checkSeries(t, s.mem, "opioids", want, from, to)
}

func TestArticleTime(t *testing.T) {
	fetched := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		pub, fetch time.Time
		want       time.Time
	}{
		{"published is used", fetched.Add(-5 * time.Hour), fetched, fetched.Add(-5 * time.Hour)},
		{"no published date", time.Time{}, fetched, fetched},
		{"published in the future", fetched.Add(3 * time.Hour), fetched, fetched},
		{"clock skew within an hour", fetched.Add(30 * time.Minute), fetched, fetched.Add(30 * time.Minute)},
		{"nothing but the fallback", time.Time{}, time.Time{}, fetched.Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := news.Article{Published: tt.pub, Fetched: tt.fetch}
			if got := ArticleTime(&a, fetched.Add(time.Hour)); !got.Equal(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEntryAddDedupes(t *testing.T) {
	e := &entry{}
	o := []Obs{{ID: "a", Source: "x", Score: 1}, {ID: "b", Source: "y", Score: 3}, {ID: "a", Source: "x", Score: 1}}
	if !e.add(o) {
		t.Fatal("no change")
	}
	if e.add(o[:1]) {
		t.Error("adding a counted id changed the entry")
	}
	h := e.hour()
	if h.Articles != 2 || len(h.Sources) != 2 || len(h.Top) != 2 || h.Top[0].ID != "b" {
		t.Errorf("hour = %+v", h)
	}
}

// TestUpkeepMakesItsLostConsumerAgain deletes the upkeep's consumer while
// it runs: alerts published after that are counted, and the ones counted
// before are not counted twice.
func TestUpkeepMakesItsLostConsumerAgain(t *testing.T) {
	cfg := testConfig(t, config.Topic{ID: "wave", Query: "x"})
	b := openBus(t, cfg)
	end := HourOf(time.Now())
	start := end - (2*24-1)*hourSec
	syn := makeSynth("wave", start, 2, true, 3)
	half := len(syn.obs) / 2
	publishAlerts(t, b, syn.obs[:half])

	s := New(b, cfg, discard())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Upkeep(ctx) }()
	last := syn.obs[half-1].Hour
	waitCounted(t, s, b, "wave", last, expected(syn.obs[:half])[last][0])

	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dcancel()
	if err := b.DeleteConsumer(dctx, b.Names.AlertStream, trendsConsumer); err != nil {
		t.Fatal(err)
	}
	publishAlerts(t, b, syn.obs[half:])
	want := expected(syn.obs)
	last = syn.obs[len(syn.obs)-1].Hour
	waitCounted(t, s, b, "wave", last, want[last][0])
	checkSeries(t, s.mem, "wave", want, start, end)
	if n := b.Health.Counts().Remade[trendsConsumer]; n != 1 {
		t.Errorf("trends consumers remade: %d, want 1", n)
	}
}

// TestUpkeepWithoutConsumerIsAFault: the upkeep's consumer lost and not
// to be made again (another client took the alert stream's last consumer
// slot) is a consumer.error fault, not only a log line, and clears once
// the consumer is back.
func TestUpkeepWithoutConsumerIsAFault(t *testing.T) {
	cfg := testConfig(t, config.Topic{ID: "wave", Query: "x"})
	b := openBus(t, cfg)
	s := New(b, cfg, discard())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Upkeep(ctx) }()
	fault := bus.StageConsumerFault(trendsConsumer)
	hasFault := func() bool {
		for _, f := range b.Health.Blocking() {
			if f.Key == fault {
				return true
			}
		}
		return false
	}
	waitFor(t, 10*time.Second, func() bool { return consumerDone(b) })

	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	str, err := b.JS.Stream(dctx, b.Names.AlertStream)
	if err != nil {
		t.Fatal(err)
	}
	sc := str.CachedInfo().Config
	sc.MaxConsumers = 1
	if _, err := b.JS.UpdateStream(dctx, sc); err != nil {
		t.Fatal(err)
	}
	// Delete the upkeep's consumer and take its slot; the upkeep may make
	// it again first, so until the slot is ours.
	for try := 0; ; try++ {
		if err := b.DeleteConsumer(dctx, b.Names.AlertStream, trendsConsumer); err != nil {
			t.Fatal(err)
		}
		_, err := b.JS.CreateOrUpdateConsumer(dctx, b.Names.AlertStream, jetstream.ConsumerConfig{Durable: "hold", AckPolicy: jetstream.AckExplicitPolicy})
		if err == nil {
			break
		}
		if try == 20 {
			t.Fatalf("could not take the consumer slot: %v", err)
		}
	}
	waitFor(t, 15*time.Second, hasFault)

	if err := b.DeleteConsumer(dctx, b.Names.AlertStream, "hold"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, func() bool { return !hasFault() })
}
