package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestRepoConfigIsValid(t *testing.T) {
	c, err := Load("../config.yaml")
	if err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	if len(c.Sources) == 0 || len(c.Topics) < 2 {
		t.Errorf("config.yaml has %d sources and %d topics", len(c.Sources), len(c.Topics))
	}
}

func TestParseDefaultsAndEnv(t *testing.T) {
	c, err := Parse([]byte(`
sources:
  - id: a
    url: https://example.org/rss
topics:
  - id: t
    query: x
subscribers:
  - id: desk
    type: webhook
    url: https://example.org/hook
    secret: ${SECRET}
    retry: {attempts: 3}
`), env(map[string]string{"SECRET": "s3cr#t: {yaml}"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Subscribers[0].Secret != "s3cr#t: {yaml}" {
		t.Errorf("secret = %q", c.Subscribers[0].Secret)
	}
	if c.Sources[0].Type != "feed" || c.Sources[0].Interval != 10*time.Minute || c.Fetch.Timeout != 30*time.Second {
		t.Errorf("defaults not applied: %+v %+v", c.Sources[0], c.Fetch)
	}
	r := c.Subscribers[0].Retry
	if r.Attempts != 3 || r.Initial != 30*time.Second || r.Max != 6*time.Hour {
		t.Errorf("retry = %+v", r)
	}
	if c.NATS.SubjectPrefix != "newswatch" || c.DataDir != "./data" {
		t.Errorf("nats/data_dir defaults: %+v %q", c.NATS, c.DataDir)
	}
}

func TestProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // each must appear in one problem, with its line
	}{
		{"unknown key with hint", "sources:\n  - id: a\n    url: https://e.org/\n    intervall: 5m\n", []string{"line 4: sources[0].intervall: unknown key \"intervall\" (did you mean \"interval\"?)"}},
		{"unset env var", "smtp:\n  password: ${NOPE}\n", []string{"line 2: environment variable NOPE is not set"}},
		{"bad id and type", "sources:\n  - id: Bad_ID\n    type: rss\n    url: ftp://x\n", []string{
			`line 2: sources[0].id: id "Bad_ID" must match [a-z0-9-]+`,
			`line 3: sources[0].type: unknown type "rss" (feed or page)`,
			`line 4: sources[0].url: "ftp://x" is not an http(s) URL`,
		}},
		{"duplicate topic", "topics:\n  - {id: t, query: a}\n  - {id: t, query: b}\n", []string{`line 3: topics[1].id: duplicate topic id "t"`}},
		{"subscriber checks", "topics:\n  - {id: t, query: a}\nsubscribers:\n  - id: s\n    type: email\n    topics: [t, nope]\n", []string{
			`line 6: subscribers[0].topics[1]: unknown topic "nope"`,
			`subscribers[0].to: an email subscriber needs at least one address in to`,
			`smtp.host: email subscribers need smtp.host`,
		}},
		{"wrong type", "fetch:\n  timeout: soon\n", []string{"line 2:"}},
		{"syntax error", "sources: [\n", []string{"line"}},
		{"quiet hours", "smtp: {host: h, from: f@e.org}\nsubscribers:\n  - id: s\n    type: email\n    to: [a@e.org]\n    quiet_hours: 25:00-07:00\n    max_per_hour: -1\n", []string{
			`line 6: subscribers[0].quiet_hours: quiet hours "25:00-07:00": want HH:MM-HH:MM`,
			`line 7: subscribers[0].max_per_hour: must not be negative`,
		}},
		{"fold on a webhook", "subscribers:\n  - id: s\n    type: webhook\n    url: https://e.org/h\n    secret: x\n    max_per_hour: 5\n", []string{"quiet_hours and max_per_hour are for email subscribers"}},
		{"retention", "nats:\n  article_max_age: 6h\n  dedup_window: 12h\nfetch:\n  workers: -1\nsubscribers:\n  - id: s\n    type: webhook\n    url: https://e.org/h\n    secret: x\n    retry: {initial: -1s}\n  - id: t\n    type: webhook\n    url: https://e.org/h\n    secret: x\n", []string{
			"line 3: nats.dedup_window: must not exceed nats.article_max_age (6h0m0s)",
			"line 5: fetch.workers: must be at least 1",
			"line 11: subscribers[0].retry.initial: initial must be positive",
			"line 12: subscribers[1].retry: the retry schedule spans up to 25h14m0s",
		}},
		{"websub path", "http: {listen: 127.0.0.1:8080}\nwebsub:\n  callback_url: https://news.example.org/\n", []string{"line 3: websub.callback_url: needs a path of its own"}},
		{"websub under the api", "http: {listen: 127.0.0.1:8080}\nwebsub:\n  callback_url: https://news.example.org/api/hooks\n", []string{"websub.callback_url: needs a path of its own"}},
		{"page without selectors", "sources:\n  - id: p\n    type: page\n    url: https://e.org/\n", []string{"selectors.items"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), env(nil))
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("err = %v, want Problems", err)
			}
			for _, w := range tt.want {
				found := false
				for _, p := range ps {
					if strings.Contains(p.String(), w) {
						found = true
					}
				}
				if !found {
					t.Errorf("no problem %q in:\n%v", w, ps)
				}
			}
		})
	}
}

func TestSecretFromFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "smtp_password"), []byte("s3cr3t from a file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := parse([]byte("smtp:\n  password: ${file:smtp_password}\n  username: u-${USER_SUFFIX}\n"),
		env(map[string]string{"USER_SUFFIX": "desk"}), dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTP.Password != "s3cr3t from a file" || c.SMTP.Username != "u-desk" {
		t.Errorf("smtp = %+v", c.SMTP)
	}
	if got := c.Expanded(); len(got) != 2 || got[0] != "s3cr3t from a file" || got[1] != "desk" {
		t.Errorf("Expanded() = %q", got)
	}
	_, err = parse([]byte("smtp:\n  password: ${file:missing}\n"), env(nil), dir)
	if err == nil || !strings.Contains(err.Error(), "line 2: read secret file:") {
		t.Errorf("missing file: %v", err)
	}
}

func TestSecretsNotInProblems(t *testing.T) {
	_, err := Parse([]byte("subscribers:\n  - id: s\n    type: webhook\n    url: ${HOOK}\n    secret: ${SECRET}\n"),
		env(map[string]string{"HOOK": "not a url TOPSECRET", "SECRET": "x"}))
	if err == nil || strings.Contains(err.Error(), "TOPSECRET") {
		t.Errorf("problems reveal the secret URL: %v", err)
	}
}

func TestSourcesOPML(t *testing.T) {
	c, err := parse([]byte(`
sources_opml: feeds.opml
sources:
  - id: listed
    url: https://example.org/listed.xml
`), env(nil), "testdata")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range c.Sources {
		got = append(got, s.ID+"="+s.URL)
		if s.Type != "feed" || s.Interval != 10*time.Minute {
			t.Errorf("imported source %s: %+v", s.ID, s)
		}
	}
	want := []string{
		"listed=https://example.org/listed.xml",
		"bbc-news-china=https://feeds.bbci.co.uk/news/world/asia/china/rss.xml",
		"china-the-guardian=https://www.theguardian.com/world/china/rss",
		"bbc=https://feeds.bbci.co.uk/zhongwen/simp/rss.xml",
		"politica-cronica=https://example.org/cronica.xml",
		"bbc-news-china-2=https://example.org/other-bbc.xml",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("sources:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	_, err = parse([]byte("sources_opml: missing.opml\n"), env(nil), "testdata")
	if err == nil || !strings.Contains(err.Error(), "line 1: sources_opml: read") {
		t.Errorf("missing OPML: %v", err)
	}
}

func TestParseOPML(t *testing.T) {
	const doc = `<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>subs</title></head><body>
  <outline text="World">
    <outline text="BBC News - World" type="rss" xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml"/>
    <outline text="Le Monde – International" title="Le Monde – Économie &amp; Monde" xmlUrl="https://www.lemonde.fr/international/rss_full.xml"/>
    <outline text="BBC News - World" xmlUrl="https://feeds.bbci.co.uk/news/world/asia/rss.xml"/>
    <outline text="dup" xmlUrl="https://FEEDS.bbci.co.uk/news/world/rss.xml#x"/>
  </outline>
  <outline text="新华网" xmlUrl="http://www.xinhuanet.com/rss/world.xml"/>
  <outline text="bad scheme" xmlUrl="ftp://example.org/feed"/>
  <outline text="taken" xmlUrl="https://example.org/feed"/>
</body></opml>`
	srcs, err := parseOPML(strings.NewReader(doc), []Source{{ID: "taken", URL: "https://example.org/other"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"bbc-news-world https://feeds.bbci.co.uk/news/world/rss.xml",
		"le-monde-economie-monde https://www.lemonde.fr/international/rss_full.xml",
		"bbc-news-world-2 https://feeds.bbci.co.uk/news/world/asia/rss.xml",
		"xinhuanet-com http://www.xinhuanet.com/rss/world.xml",
		"taken-2 https://example.org/feed",
	}
	var got []string
	for _, s := range srcs {
		got = append(got, s.ID+" "+s.URL)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := parseOPML(strings.NewReader("not xml at all"), nil); err == nil {
		t.Error("garbage accepted")
	}
	deep := "<opml><body>" + strings.Repeat("<outline>", 100) + strings.Repeat("</outline>", 100) + "</body></opml>"
	if _, err := parseOPML(strings.NewReader(deep), nil); err == nil || !strings.Contains(err.Error(), "deep") {
		t.Errorf("deep nesting: err = %v", err)
	}
}
