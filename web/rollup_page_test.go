package web

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Fourteen sources without DNS are one line of "Needs attention" naming
// them, their own rows a click away; problems of their own stay a line
// each; /api/sources still has every source as it was.
func TestNeedsAttentionRollsUpSameProblem(t *testing.T) {
	var yaml strings.Builder
	yaml.WriteString("log: {level: error}\nsources:\n")
	var dnsIDs []string
	for i := range 14 {
		id := fmt.Sprintf("wire-%02d", i)
		dnsIDs = append(dnsIDs, id)
		fmt.Fprintf(&yaml, "  - {id: %s, url: \"https://%s.example.org/rss\"}\n", id, id)
	}
	for _, id := range []string{"gone", "busy", "odd-1", "odd-2", "fine"} {
		fmt.Fprintf(&yaml, "  - {id: %s, url: \"https://%s.example.org/rss\"}\n", id, id)
	}
	d := openDaemon(t, yaml.String()+topicsYAML)
	last := time.Now().Add(-time.Hour)
	for i, id := range dnsIDs {
		putState(t, d, id, "error", `fetch `+id+` https://`+id+`.example.org/rss: Get "https://`+id+`.example.org/rss": dial tcp: lookup `+id+`.example.org: no such host`, 0, 1+i%4, last)
	}
	putState(t, d, "gone", "error", "status 404", 404, 2, last)
	putState(t, d, "busy", "error", "status 503", 503, 1, last)
	putState(t, d, "odd-1", "error", "something else", 0, 1, last)
	putState(t, d, "odd-2", "error", "another thing", 0, 1, last)
	putState(t, d, "fine", "ok", "", 0, 0, time.Now())
	h := New(d.m, nil, discard(), WithStatus(NewPipelineBackend(d.b, d.p))).Handler()

	page := get(t, h, "/").Body.String()
	attention, _, ok := strings.Cut(page, `id="alerts"`)
	if !ok {
		t.Fatalf("no alerts section:\n%s", page)
	}
	lines := strings.Count(attention, `<li class="issue rollup"`)
	rolled, _, _ := strings.Cut(attention[strings.Index(attention, `<li class="issue rollup"`)+1:], "</details>")
	summary, rows, _ := strings.Cut(rolled, "</summary>")
	if lines != 1 || !strings.Contains(summary, `data-problem="the host name does not resolve (DNS)"`) ||
		!strings.Contains(summary, "<strong>14 sources</strong>") || !strings.Contains(summary, "the same way: the host name does not resolve (DNS)") ||
		!strings.Contains(summary, "wire-00, wire-01, wire-02") || !strings.Contains(summary, "wire-09 and 4 more)") ||
		strings.Contains(summary, "failures in a row") {
		t.Errorf("want one line for the 14 sources without DNS, naming them; got %d:\n%s", lines, attention)
	}
	// Their own rows, with their own counts, are in the line's details.
	if strings.Count(rows, `<li class="issue" data-source="wire-`) != maxAttention ||
		!strings.Contains(rows, "the host name does not resolve (DNS); 4 failures in a row") ||
		!strings.Contains(rows, ">4 more failing this way</a>") {
		t.Errorf("the rolled-up line's rows:\n%s", rows)
	}
	// A problem of its own is a line of its own; a vague one too.
	for _, id := range []string{"gone", "busy", "odd-1", "odd-2"} {
		if n := strings.Count(attention, `<li class="issue" data-source="`+id+`"`); n != 1 {
			t.Errorf("source %s is on %d lines of needs attention, want 1:\n%s", id, n, attention)
		}
	}
	if strings.Contains(attention, `data-source="fine"`) || strings.Contains(attention, "more failing sources") {
		t.Errorf("needs attention:\n%s", attention)
	}

	// The API has each source on its own, unchanged.
	var api struct {
		Total   int
		Sources []map[string]any
	}
	decode(t, get(t, h, "/api/sources?status=error"), &api)
	if api.Total != 18 || len(api.Sources) != 18 {
		t.Fatalf("/api/sources?status=error: %d sources, want 18", api.Total)
	}
	if p, _ := api.Sources[3]["problem"].(string); p != "the host name does not resolve (DNS); 4 failures in a row" {
		raw, _ := json.Marshal(api.Sources[3])
		t.Errorf("/api/sources' wire-03 = %s", raw)
	}
	for _, s := range api.Sources {
		if _, ok := s["id"]; !ok || len(s) < 10 {
			t.Errorf("/api/sources row %v", s)
		}
	}
}
