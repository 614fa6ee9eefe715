package classifier

import (
	"testing"

	"newswatch/feedback"
	"newswatch/news"
)

// BenchmarkClassifyFeedback compares the classify stage's work on the
// default topics with the same work plus what the feedback path costs per
// alert: signing its two links (done at delivery, never in the classify
// stage itself, which has no feedback code at all). The difference is
// the most the feedback path could add to an article's way through.
//
//	go test ./classifier/ -run '^$' -bench ClassifyFeedback -benchmem -cpu 1
func BenchmarkClassifyFeedback(b *testing.B) {
	arts := benchArticles(b)
	c := mustNew(b, benchSets[0].topics(b, arts)...)
	signer := feedback.NewSigner([]byte("0123456789abcdef0123456789abcdef"), "https://newswatch.example.org")
	for _, withLinks := range []bool{false, true} {
		name := "classify"
		if withLinks {
			name = "classify+links"
		}
		b.Run(name, func(b *testing.B) {
			ct := startCPU(b, articleBytes(arts))
			links := 0
			for b.Loop() {
				for i := range arts {
					for _, m := range c.Classify(&arts[i]) {
						if withLinks {
							a := news.Alert{ID: news.AlertID(m.Topic, arts[i].ID), Topic: m.Topic}
							if l := signer.Links(&a, "desk"); l != nil {
								links++
							}
						}
					}
				}
			}
			ct.stop(b)
			b.ReportMetric(float64(links)/float64(b.N), "alerts-linked/op")
		})
	}
}
