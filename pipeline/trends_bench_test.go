package pipeline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"newswatch/bus"
	"newswatch/classifier"
	"newswatch/config"
	"newswatch/news"
	"newswatch/trends"
)

// BenchmarkClassifyWithTrends measures the classify stage per article
// (classify, publish the alert, wait for its ack) without and with the
// series upkeep running on the same bus: upkeep is a consumer of its own
// on the alert stream, so its cost to classifying is whatever it takes
// from the shared CPU and server. "with-trends" also waits, after the
// timer stops, until every alert is counted, so that the upkeep cannot
// fall behind unseen.
func BenchmarkClassifyWithTrends(b *testing.B) {
	for _, withTrends := range []bool{false, true} {
		name := "baseline"
		if withTrends {
			name = "with-trends"
		}
		b.Run(name, func(b *testing.B) {
			cfg := &config.Config{DataDir: b.TempDir(), Topics: []config.Topic{{ID: "fentanyl", Query: "fentanyl"}}}
			cfg.ApplyDefaults()
			octx, ocancel := context.WithTimeout(context.Background(), 30*time.Second)
			bs, err := bus.Open(octx, cfg, discard())
			ocancel()
			if err != nil {
				b.Fatal(err)
			}
			defer bs.Close()
			c, err := classifier.New(cfg.Topics)
			if err != nil {
				b.Fatal(err)
			}
			s := &classifyStage{b: bs, log: discard()}
			s.setTopics(cfg.Topics, c)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var tr *trends.Service
			if withTrends {
				tr = trends.New(bs, cfg, discard())
				go func() { _ = tr.Upkeep(ctx) }()
			}
			now := time.Now().UTC()
			arts := make([]news.Article, b.N)
			for i := range arts {
				// Spread over the last day, as a day's articles are.
				pub := now.Add(-time.Duration(i%(24*60)) * time.Minute)
				arts[i] = news.Article{V: 1, ID: fmt.Sprintf("bench-%s-%08d", name, i), Source: fmt.Sprintf("src-%d", i%40),
					Title: "Fentanyl seizure at the border", Summary: "Officers found fentanyl in a truck.", Published: pub, Fetched: now}
			}
			b.ResetTimer()
			for i := range arts {
				if err := s.classify(ctx, &arts[i]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if tr != nil {
				deadline := time.Now().Add(time.Minute)
				for {
					total := 0
					for _, h := range tr.Memory().Hours("fentanyl", trends.HourOf(now.Add(-25*time.Hour)), trends.HourOf(now)) {
						total += h.Articles
					}
					if total >= b.N {
						break
					}
					if time.Now().After(deadline) {
						b.Fatalf("upkeep counted %d of %d alerts within a minute", total, b.N)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
}
