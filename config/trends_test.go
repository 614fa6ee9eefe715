package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTrendsAndSpikes(t *testing.T) {
	base := "sources: []\ntopics:\n  - id: t\n    query: x\n"
	tests := []struct {
		name, yaml, problem string
	}{
		{"defaults", base, ""},
		{"enabled with settings", base + "    spikes: {enabled: true, window: 12h, min_articles: 10, min_sources: 4, threshold: 3.5}\n", ""},
		{"window not whole hours", base + "    spikes: {enabled: true, window: 90m}\n", "topics[0].spikes.window"},
		{"window too long", base + "    spikes: {window: 200h}\n", "topics[0].spikes.window"},
		{"negative threshold", base + "    spikes: {threshold: -1}\n", "topics[0].spikes"},
		{"unknown spikes key", base + "    spikes: {treshold: 3}\n", "treshold"},
		{"retention", base + "trends: {retention: 2160h}\n", ""},
		{"retention too short", base + "trends: {retention: 1h}\n", "trends.retention"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml), func(string) (string, bool) { return "", false })
			if tt.problem == "" {
				if err != nil {
					t.Fatalf("unexpected problems: %v", err)
				}
				return
			}
			var ps Problems
			if !errors.As(err, &ps) || !strings.Contains(err.Error(), tt.problem) {
				t.Fatalf("problems %v, want one about %s", err, tt.problem)
			}
			_ = c
		})
	}
	c, err := Parse([]byte(base), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	sp := c.Topics[0].Spikes
	if sp.Enabled || sp.Window != 6*time.Hour || sp.MinArticles != 5 || sp.MinSources != 3 || sp.Threshold != 5 || c.Trends.Retention != 720*time.Hour {
		t.Errorf("defaults: %+v, retention %v", sp, c.Trends.Retention)
	}
}
