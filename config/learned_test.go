package config

import (
	"errors"
	"strings"
	"testing"
)

func TestLearned(t *testing.T) {
	base := "sources: []\ntopics:\n  - id: t\n    query: x\n"
	noEnv := func(string) (string, bool) { return "", false }
	for _, tt := range []struct {
		name, yaml, problem string
	}{
		{"off by default", base, ""},
		{"enabled with settings", base + "    learned: {enabled: true, threshold: 0.3, min_labels: 50, max_recall_loss: 0.1}\n", ""},
		// Each problem names the key and its value, not the three at once.
		{"threshold 1", base + "    learned: {enabled: true, threshold: 1}\n", "topics[0].learned.threshold: 1 "},
		{"negative threshold", base + "    learned: {threshold: -0.1}\n", "topics[0].learned.threshold: -0.1 "},
		{"negative min_labels", base + "    learned: {min_labels: -1}\n", "topics[0].learned.min_labels: -1 "},
		{"recall loss above 1", base + "    learned: {max_recall_loss: 2}\n", "topics[0].learned.max_recall_loss: 2 "},
		{"unknown key", base + "    learned: {enable: true}\n", "enable"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), noEnv)
			if tt.problem == "" {
				if err != nil {
					t.Fatalf("unexpected problems: %v", err)
				}
				return
			}
			var ps Problems
			if !errors.As(err, &ps) && tt.problem != "enable" || err == nil || !strings.Contains(err.Error(), tt.problem) {
				t.Fatalf("problems %v, want one about %s", err, tt.problem)
			}
		})
	}
	c, err := Parse([]byte(base), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Topics[0].Learned, (Learned{Threshold: 0.2, MinLabels: 20, MaxRecallLoss: 0.05}); got != want {
		t.Errorf("defaults %+v, want %+v", got, want)
	}
}
