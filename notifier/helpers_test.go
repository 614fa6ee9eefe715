package notifier

import (
	"time"

	"newswatch/news"
)

// sampleAlert is a realistic alert with every field set.
func sampleAlert() *news.Alert {
	pub := time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	return &news.Alert{
		V:         1,
		ID:        "fentanyl:3f2a9c1e5b7d4a60",
		Topic:     "fentanyl",
		TopicName: "Fentanyl and synthetic opioids",
		Score:     4.5,
		Matches: []news.Match{
			{Term: "fentanyl", Field: "title", Count: 2, Snippet: "US and China agree on «fentanyl» precursor controls"},
			{Term: "precursor chemicals", Field: "content", Count: 1, Snippet: "curbs on «precursor chemicals» shipped"},
		},
		Article: news.Article{
			V:          1,
			ID:         "3f2a9c1e5b7d4a60",
			Source:     "example-feed",
			URL:        "https://news.example.org/world/china-fentanyl?id=7&ref=rss",
			GUID:       "urn:example:7",
			Title:      "US and China agree on fentanyl precursor controls",
			Summary:    "Officials announced joint curbs on precursor chemicals.",
			Content:    "Officials from both countries announced joint curbs on precursor chemicals shipped to cartels.",
			Categories: []string{"World", "China"},
			Authors:    []string{"A. Reporter"},
			Language:   "en",
			Published:  pub,
			Fetched:    pub.Add(5 * time.Minute),
		},
		Created: pub.Add(6 * time.Minute),
	}
}
