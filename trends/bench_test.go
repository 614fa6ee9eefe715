package trends

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"

	"newswatch/config"
)

// BenchmarkSeries50Topics30Days answers the series of 50 topics over 30
// days, as GET /api/topics/{id}/series does for each (points, spike
// detection with its 14-day baseline, JSON), from a full series in
// memory: one op is all 50 topics.
func BenchmarkSeries50Topics30Days(b *testing.B) {
	var topics []config.Topic
	for i := range 50 {
		topics = append(topics, config.Topic{ID: fmt.Sprintf("topic-%02d", i), Query: "x", Spikes: config.Spikes{Enabled: i%2 == 0}})
	}
	cfg := testConfig(b, topics...)
	bs := openBus(b, cfg)
	s := New(bs, cfg, discard())
	end := HourOf(time.Now())
	start := end - (30*24-1)*hourSec
	ctx := context.Background()
	mark, _ := json.Marshal(built{At: time.Now(), Since: time.Unix(start, 0)})
	for i, t := range topics {
		syn := makeSynth(t.ID, start, 30, i%5 == 0, uint64(i))
		s.mem.Add(syn.obs, map[string]bool{})
		// As after a rebuild from the archive.
		if _, err := bs.Store.Put(ctx, builtKey(t.ID), mark); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for _, t := range topics {
			doc, ok := s.Series(ctx, t.ID, 30)
			if !ok || len(doc.Points) != 30*24 {
				b.Fatal("no series")
			}
			if err := json.NewEncoder(io.Discard).Encode(doc); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/50-topics")
}

// BenchmarkEntryAdd is the cost of counting one article into a
// topic-hour entry that holds a busy hour's ids already (decode, merge,
// encode), as each KV update does.
func BenchmarkEntryAdd(b *testing.B) {
	e := &entry{}
	for i := range 500 {
		e.add([]Obs{{ID: fmt.Sprintf("%024d", i), Source: fmt.Sprintf("s%d", i%40), Score: float64(i % 10)}})
	}
	data, _ := json.Marshal(e)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		x, err := decodeEntry(data)
		if err != nil {
			b.Fatal(err)
		}
		x.add([]Obs{{ID: fmt.Sprintf("new-%d", i), Source: "s1", Score: 1}})
		if _, err := json.Marshal(x); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpkeep is the series' own cost per alert: alerts of a day
// (40 sources, one topic) are on the stream, and the timer runs while a
// fresh upkeep counts them all into the bucket.
func BenchmarkUpkeep(b *testing.B) {
	cfg := testConfig(b, config.Topic{ID: "wave", Query: "x"})
	bs := openBus(b, cfg)
	now := HourOf(time.Now())
	obs := make([]Obs, b.N)
	for i := range obs {
		obs[i] = Obs{Topic: "wave", Hour: now - int64(i%24)*hourSec, ID: fmt.Sprintf("a%08d", i),
			Source: fmt.Sprintf("s%d", i%40), Title: "A title of a usual length for a news article", URL: "https://example.org/x", Score: 1}
	}
	publishAlerts(b, bs, obs)
	s := New(bs, cfg, discard())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ResetTimer()
	go func() { _ = s.Upkeep(ctx) }()
	waitFor(b, 5*time.Minute, func() bool { return consumerDone(bs) })
}
