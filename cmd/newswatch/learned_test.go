package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/feedback"
	"newswatch/internal/harness"
	"newswatch/news"
)

// learnedText is a fentanyl article about trafficking (relevant) or about
// a pharmaceutical lawsuit (not relevant): title, then body.
func learnedText(i int, relevant bool) (string, string) {
	words := []string{"verdict", "pharmaceutical", "settlement", "jury", "lawsuit", "patch"}
	if relevant {
		words = []string{"seizure", "border", "precursor", "trafficking", "cartel", "smuggling"}
	}
	var b strings.Builder
	for j := range 30 {
		b.WriteString(words[(i+j)%len(words)] + " officials said ")
	}
	return "Fentanyl " + words[i%len(words)], b.String()
}

// learnedConfig writes a config whose fentanyl topic has the learned
// stage enabled, and stores labels of each kind.
func learnedConfig(t *testing.T, labels int) string {
	t.Helper()
	dir := t.TempDir()
	path := harness.WriteConfig(t, dir, map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"log":      map[string]any{"level": "warn"},
		"topics": []any{map[string]any{"id": "fentanyl", "query": "fentanyl",
			"learned": map[string]any{"enabled": true, "min_labels": 10}}},
	})
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := bus.Open(ctx, cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	store := feedback.NewStore(b.FeedbackKV())
	for i := range labels {
		for _, rel := range []bool{true, false} {
			title, body := learnedText(i, rel)
			a := news.Article{ID: fmt.Sprintf("art-%v-%d", rel, i), Title: title, Content: body}
			label := feedback.NotRelevant
			if rel {
				label = feedback.Relevant
			}
			if _, err := store.Put(ctx, feedback.Record{AlertID: news.AlertID("fentanyl", a.ID), Topic: "fentanyl", ArticleID: a.ID,
				Subscriber: "desk", Label: label, At: time.Unix(int64(1e9+i), 0), Article: feedback.ArticleOf(&a)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return path
}

func TestFeedbackModelAndExplainShowTheLearnedStage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		labels int
		model  []string // in `feedback model`
		veto   bool
		reason string // in explain's text when not acting
	}{
		{"enough labels", 30, []string{"ACTING", "query alone", "query + learned", "may act"}, true, ""},
		{"too few labels", 5, []string{"enabled, NOT acting", "too few labels"}, false, "not acting: too few labels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := learnedConfig(t, tc.labels)
			code, stdout, stderr := runCLI(t, "feedback", "model", "-config", path, "-topic", "fentanyl")
			if code != 0 {
				t.Fatalf("feedback model exited %d\n%s\n%s", code, stdout, stderr)
			}
			for _, want := range tc.model {
				if !strings.Contains(stdout, want) {
					t.Errorf("feedback model lacks %q:\n%s", want, stdout)
				}
			}

			title, body := learnedText(99, false)
			file := filepath.Join(t.TempDir(), "article.txt")
			if err := os.WriteFile(file, []byte(title+"\n"+body), 0o644); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr = runCLI(t, "explain", "-config", path, file)
			if code != 0 {
				t.Fatalf("explain exited %d\n%s\n%s", code, stdout, stderr)
			}
			if got := strings.Contains(stdout, "vetoed by learned stage"); got != tc.veto {
				t.Errorf("explain says vetoed: %v, want %v\n%s", got, tc.veto, stdout)
			}
			if tc.veto && !regexp.MustCompile(`-0\.\d+\s+body\s+(verdict|pharmaceutical|settlement|jury|lawsuit|patch)`).MatchString(stdout) {
				t.Errorf("explain lists no contributing term of the bad side:\n%s", stdout)
			}
			if !strings.Contains(stdout, tc.reason) {
				t.Errorf("explain lacks %q:\n%s", tc.reason, stdout)
			}
			code, stdout, _ = runCLI(t, "explain", "-config", path, "-json", file)
			var line struct {
				Topics []struct {
					Matched bool
					Learned *struct {
						Active, Vetoed bool
						Score          float64
					}
				}
			}
			if code != 0 || json.Unmarshal([]byte(stdout), &line) != nil || len(line.Topics) != 1 || line.Topics[0].Learned == nil {
				t.Fatalf("explain -json = %d %s", code, stdout)
			}
			if l := line.Topics[0].Learned; !line.Topics[0].Matched || l.Vetoed != tc.veto || l.Active != tc.veto {
				t.Errorf("explain -json learned = %+v", *l)
			}
		})
	}
}
