package notifier

import (
	"strings"
	"testing"

	"newswatch/config"
)

// The classifier marks a snippet cut out of a longer text with "…" at the
// cut ends; the email templates must not add their own ellipsis on top.
func TestEmailSnippetEllipsis(t *testing.T) {
	tm, err := loadTemplates(config.Templates{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, snippet string
		lead, trail   bool // whether the text was cut there
	}{
		{"cut both ends", "…curbs on «precursor chemicals» shipped…", true, true},
		{"whole text", "«Fentanyl» seized", false, false},
		{"cut at the end", "US and China agree on «fentanyl» precursor…", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := sampleAlert()
			a.Matches = a.Matches[:1]
			a.Matches[0].Snippet = tc.snippet
			_, text, html, err := tm.render(newMailData(a))
			if err != nil {
				t.Fatal(err)
			}
			for part, body := range map[string]string{"text": text, "html": html} {
				for _, bad := range []string{"...…", "…...", "……", "&hellip;…", "…&hellip;", "&hellip;&hellip;"} {
					if strings.Contains(body, bad) {
						t.Errorf("%s part has a double ellipsis %q:\n%s", part, bad, body)
					}
				}
			}
			line := ""
			for _, l := range strings.Split(text, "\n") {
				if strings.Contains(l, "fentanyl in title") {
					line = l
				}
			}
			if line == "" {
				t.Fatalf("text part has no match line:\n%s", text)
			}
			if got := strings.Contains(line, `"…`); got != tc.lead {
				t.Errorf("leading ellipsis = %v, want %v: %q", got, tc.lead, line)
			}
			if got := strings.Contains(line, `…"`); got != tc.trail {
				t.Errorf("trailing ellipsis = %v, want %v: %q", got, tc.trail, line)
			}
			if strings.Contains(line, "...") {
				t.Errorf("text part adds an ASCII ellipsis: %q", line)
			}
		})
	}
}
