package classifier

import (
	"testing"

	"newswatch/config"
	"newswatch/news"
)

func TestDecided(t *testing.T) {
	c, err := New([]config.Topic{{ID: "t", Query: `(fentanyl OR "synthetic opioid*") AND (china OR beijing OR mexico) AND NOT sports`}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, title string
		matched     bool
		clause      string
	}{
		{"match keeps the alternatives that held", "Fentanyl precursors shipped from Beijing", true, `fentanyl AND beijing AND NOT sports`},
		{"two alternatives held", "Fentanyl from China and Mexico", true, `fentanyl AND (china OR mexico) AND NOT sports`},
		{"miss names the failed clause", "Fentanyl seizure in Ohio", false, `china OR beijing OR mexico: none found`},
		{"negation", "Fentanyl, China and sports", false, `NOT sports: sports was found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, clause, ok := c.Decided(&news.Article{Title: tc.title}, "t")
			if !ok || m != tc.matched || clause != tc.clause {
				t.Errorf("Decided(%q) = %v, %q, %v; want %v, %q", tc.title, m, clause, ok, tc.matched, tc.clause)
			}
		})
	}
	if _, _, ok := c.Decided(&news.Article{Title: "x"}, "nope"); ok {
		t.Error("unknown topic: ok")
	}
}
