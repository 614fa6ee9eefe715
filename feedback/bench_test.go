package feedback

import (
	"testing"

	"newswatch/news"
)

// BenchmarkLinks is the cost a delivery pays for its two signed links.
func BenchmarkLinks(b *testing.B) {
	s := NewSigner([]byte("0123456789abcdef0123456789abcdef"), "https://newswatch.example.org")
	a := &news.Alert{ID: "fentanyl:3f2a9c1e5b7d4a60", Topic: "fentanyl"}
	for b.Loop() {
		if s.Links(a, "desk") == nil {
			b.Fatal("no links")
		}
	}
}
