package config

import (
	"errors"
	"fmt"
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
		{"key at the wrong level", "interval: 5m\nsources:\n  - id: a\n    url: https://e.org/\n    timeout: 5s\n", []string{
			`line 1: interval: unknown key "interval" here (it belongs under fetch or sources[])`,
			`line 5: sources[0].timeout: unknown key "timeout" here (it belongs under fetch, smtp or subscribers[])`,
		}},
		{"key of no section", "sources:\n  - id: a\n    url: https://e.org/\n    frobnicate: 5s\n", []string{`line 4: sources[0].frobnicate: unknown key "frobnicate"`}},
		{"unset env var", "smtp:\n  password: ${NOPE}\n", []string{"line 2: smtp.password: environment variable NOPE is not set"}},
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
		{"unknown event", "subscribers:\n  - id: ops\n    type: webhook\n    url: https://e.org/h\n    events: [consumer.error, store.eror]\n", []string{
			`line 5: subscribers[0].events[1]: unknown event "store.eror" (source.failing, store.error, data.lost, consumer.error, deadletter, heartbeat)`,
		}},
		{"wrong type", "fetch:\n  timeout: soon\n", []string{"line 2:"}},
		{"duration without a unit", "fetch:\n  timeout: 30\n", []string{`line 2: fetch.timeout: "30" is not a duration: write a number with a unit, e.g. 30s, 10m or 1h30m`}},
		{"duration in words", "sources:\n  - id: a\n    url: https://e.org/\n    interval: 1 minute\n", []string{`line 4: sources[0].interval: "1 minute" is not a duration: write a number with a unit, e.g. 30s, 10m or 1h30m (did you mean 1m?)`}},
		{"duration in days", "nats:\n  seen_ttl: 7d\n", []string{`line 2: nats.seen_ttl: "7d" is not a duration`, "(did you mean 168h?)"}},
		{"number in words", "fetch:\n  workers: eight\n", []string{`line 2: fetch.workers: "eight" is not a whole number`}},
		{"list as one value", "smtp: {host: h, from: f@e.org}\nsubscribers:\n  - id: s\n    type: email\n    to: a@e.org\n", []string{`line 5: subscribers[0].to: expected a list, found "a@e.org": write [a@e.org]`}},
		{"sources as bare URLs", "sources:\n  - https://example.org/rss\n", []string{`line 2: sources[0]: expected keys and values (key: value, one per line below it), found "https://example.org/rss": write {id: NAME, url: https://example.org/rss}`}},
		{"section as one value", "fetch: 10m\n", []string{`line 1: fetch: expected keys and values (key: value, one per line below it), found "10m"`}},
		{"unknown topic, near one", "topics:\n  - {id: us-china, query: a}\n  - {id: other, query: b}\nsubscribers:\n  - {id: s, type: webhook, url: https://e.org/h, secret: x, topics: [us-chinaa]}\n", []string{
			`line 5: subscribers[0].topics[0]: unknown topic "us-chinaa" (did you mean "us-china"?)`,
		}},
		{"unknown topic, far from all", "topics:\n  - {id: t, query: a}\n  - {id: u, query: b}\nsubscribers:\n  - {id: s, type: webhook, url: https://e.org/h, secret: x, topics: [fentanyl]}\n", []string{
			`line 5: subscribers[0].topics[0]: unknown topic "fentanyl" (the config has t, u)`,
		}},
		{"smtp missing for an email subscriber", "topics:\n  - {id: t, query: a}\nsubscribers:\n  - id: s\n    type: email\n    to: [a@e.org]\n", []string{
			`line 5: smtp.host: email subscribers need smtp.host, e.g. smtp.example.org (subscribers[0] "s" is an email subscriber)`,
			`line 5: smtp.from: email subscribers need smtp.from`,
		}},
		{"smtp host empty", "smtp:\n  host: \"\"\n  from: f@e.org\nsubscribers:\n  - {id: s, type: email, to: [a@e.org]}\n", []string{
			"line 2: smtp.host: email subscribers need smtp.host, e.g. smtp.example.org",
		}},
		{"syntax error", "sources: [\n", []string{"line"}},
		{"quiet hours", "smtp: {host: h, from: f@e.org}\nsubscribers:\n  - id: s\n    type: email\n    to: [a@e.org]\n    quiet_hours: 25:00-07:00\n    max_per_hour: -1\n", []string{
			`line 6: subscribers[0].quiet_hours: quiet hours "25:00-07:00": want HH:MM-HH:MM`,
			`line 7: subscribers[0].max_per_hour: -1 is less than the minimum 0`,
		}},
		{"fold on a webhook", "subscribers:\n  - id: s\n    type: webhook\n    url: https://e.org/h\n    secret: x\n    max_per_hour: 5\n", []string{"quiet_hours and max_per_hour are for email subscribers"}},
		{"retention", "nats:\n  article_max_age: 6h\n  dedup_window: 12h\nfetch:\n  workers: -1\nsubscribers:\n  - id: s\n    type: webhook\n    url: https://e.org/h\n    secret: x\n    retry: {initial: -1s}\n  - id: t\n    type: webhook\n    url: https://e.org/h\n    secret: x\n", []string{
			"line 3: nats.dedup_window: must not exceed nats.article_max_age (6h0m0s)",
			"line 5: fetch.workers: -1 is less than the minimum 1",
			"line 11: subscribers[0].retry.initial: -1s is less than the minimum 10ms",
			"line 12: subscribers[1].retry: the retry schedule spans up to 25h14m0s",
		}},
		{"websub path", "http: {listen: 127.0.0.1:8080}\nwebsub:\n  callback_url: https://news.example.org/\n", []string{"line 3: websub.callback_url: needs a path of its own"}},
		{"websub under the api", "http: {listen: 127.0.0.1:8080}\nwebsub:\n  callback_url: https://news.example.org/api/hooks\n", []string{"websub.callback_url: needs a path of its own"}},
		{"source without url", "sources:\n  - id: a\n    type: feed\n", []string{`line 2: sources[0].url: a source needs a url (its feed's or page's http(s) address)`}},
		{"source url without scheme", "sources:\n  - id: a\n    url: example.org/rss\n  - id: b\n    url: 127.0.0.1:8099/feed.xml\n", []string{
			`line 3: sources[0].url: "example.org/rss" is not an http(s) URL (did you mean "https://example.org/rss"?)`,
			`line 5: sources[1].url: "127.0.0.1:8099/feed.xml" is not an http(s) URL (did you mean "http://127.0.0.1:8099/feed.xml"?)`,
		}},
		{"webhook without url", "subscribers:\n  - id: s\n    type: webhook\n    secret: x\n", []string{`line 2: subscribers[0].url: a webhook needs a url (the receiver's http(s) address)`}},
		{"slack as a type", "subscribers:\n  - id: s\n    type: slack\n    url: https://hooks.slack.com/services/x\n", []string{
			`line 3: subscribers[0].type: unknown type "slack" (webhook or email): for slack, write type: webhook and format: slack`,
		}},
		{"page without selectors", "sources:\n  - id: p\n    type: page\n    url: https://e.org/\n", []string{"selectors.items"}},
		{"alias of the wrong type", "x-d: &d {a: 1}\nfetch:\n  timeout: *d\n", []string{
			`line 3, column 12: fetch.timeout: expected a duration, found keys and values (through *d, the value of &d on line 1)`,
		}},
		{"wrong type in a merged mapping", "x-src: &src\n  interval: 5 minutes\nsources:\n  - <<: *src\n    id: a\n    url: https://e.org/\n", []string{
			`line 2: sources[0].interval: "5 minutes" is not a duration`,
		}},
		{"unknown key in a merged mapping", "x-src: &src\n  intervall: 5m\nsources:\n  - <<: *src\n    id: a\n    url: https://e.org/\n", []string{
			`line 2: sources[0].intervall: unknown key "intervall" (did you mean "interval"?)`,
		}},
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
	// The error names the file as resolved, relative to the config's
	// directory, so that a wrong mount or working directory shows.
	_, err = parse([]byte("smtp:\n  password: ${file:missing}\n"), env(nil), dir)
	want := "line 2: smtp.password: ${file:missing}: cannot read " + filepath.Join(dir, "missing") + ": no such file or directory"
	if err == nil || err.Error() != want {
		t.Errorf("missing file: %v\nwant %s", err, want)
	}
	rel, err := filepath.Rel(mustGetwd(t), dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = parse([]byte("smtp:\n  password: ${file:missing}\n"), env(nil), rel)
	if err == nil || err.Error() != want {
		t.Errorf("missing file, config dir relative: %v\nwant %s", err, want)
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

// TestBounds: every numeric and duration key refuses absurd values with
// the bound and the line, and takes the bounds themselves.
func TestBounds(t *testing.T) {
	const (
		src = "sources:\n  - id: a\n    url: https://e.org/rss\n    interval: %s\n"
		top = "topics:\n  - id: t\n    query: x\n    %s\n"
		sub = "nats: {article_max_age: 87600h}\nsubscribers:\n  - id: s\n    type: webhook\n    url: https://e.org/h\n    secret: x\n    %s\n"
		em  = "smtp: {host: h, from: f@e.org}\nsubscribers:\n  - id: s\n    type: email\n    to: [a@e.org]\n    max_per_hour: %s\n"
	)
	tests := []struct {
		key, tmpl string
		ok        []string
		bad       map[string]string // value: message
	}{
		{"fetch.workers", "fetch:\n  workers: %s\n", []string{"1", "1024"}, map[string]string{
			"100000000": "line 2: fetch.workers: 100000000 is more than the maximum 1024", "-1": "line 2: fetch.workers: -1 is less than the minimum 1"}},
		{"fetch.per_host", "fetch:\n  per_host: %s\n", []string{"0", "1024"}, map[string]string{
			"1025": "line 2: fetch.per_host: 1025 is more than the maximum 1024", "-1": "-1 is less than the minimum 0"}},
		{"fetch.timeout", "fetch:\n  timeout: %s\n", []string{"100ms", "10m"}, map[string]string{
			"1ns": "line 2: fetch.timeout: 1ns is less than the minimum 100ms", "2h": "line 2: fetch.timeout: 2h is more than the maximum 10m", "-5s": "-5s is less than the minimum 100ms"}},
		{"fetch.interval", "fetch:\n  interval: %s\n", []string{"1s", "720h"}, map[string]string{
			"1ms": "line 2: fetch.interval: 1ms is less than the minimum 1s", "721h": "721h is more than the maximum 720h"}},
		{"fetch.host_interval", "fetch:\n  host_interval: %s\n", []string{"-1s", "0s", "1h"}, map[string]string{
			"2h": "line 2: fetch.host_interval: 2h is more than the maximum 1h"}},
		{"fetch.max_body_bytes", "fetch:\n  max_body_bytes: %s\n", []string{"1024", "268435456"}, map[string]string{
			"1": "line 2: fetch.max_body_bytes: 1 is less than the minimum 1024", "1099511627776": "1099511627776 is more than the maximum 268435456", "-1": "is less than the minimum 1024"}},
		{"nats.sync_interval", "nats:\n  sync_interval: %s\n", []string{"0s", "100ms", "1h"}, map[string]string{
			"1ns": "line 2: nats.sync_interval: 1ns is less than the minimum 100ms", "25h": "is more than the maximum 1h", "-1s": "-1s is less than the minimum 100ms"}},
		{"nats.dedup_window", "nats:\n  dedup_window: %s\n", []string{"1m", "24h"}, map[string]string{
			"1s": "line 2: nats.dedup_window: 1s is less than the minimum 1m"}},
		{"nats.article_max_age", "nats:\n  article_max_age: %s\n  dedup_window: 1m\n", []string{"1h", "87600h"}, map[string]string{
			"1m": "line 2: nats.article_max_age: 1m is less than the minimum 1h", "87601h": "87601h is more than the maximum 87600h"}},
		{"nats.seen_ttl", "nats:\n  seen_ttl: %s\n", []string{"1h", "87600h"}, map[string]string{
			"1s": "line 2: nats.seen_ttl: 1s is less than the minimum 1h", "1000000h": "is more than the maximum 87600h"}},
		{"sources[].interval", src, []string{"1s", "720h"}, map[string]string{
			"100ms": "line 4: sources[0].interval: 100ms is less than the minimum 1s", "8760h": "8760h is more than the maximum 720h"}},
		{"topics[].min_score", top, []string{"min_score: 0", "min_score: 1000000"}, map[string]string{
			"min_score: -1": "line 4: topics[0].min_score: -1 is less than the minimum 0", "min_score: .nan": "NaN is not a number", "min_score: 1e9": "1e+09 is more than the maximum 1e+06"}},
		{"topics[].weights", top, []string{"weights: {title: 0, content: 1000}"}, map[string]string{
			"weights: {title: 1001}": "line 4: topics[0].weights.title: 1001 is more than the maximum 1000", "weights: {url: -1}": "-1 is less than the minimum 0"}},
		{"topics[].story_window", top, []string{"story_window: 0s", "story_window: 720h"}, map[string]string{
			"story_window: 8760h": "line 4: topics[0].story_window: 8760h is more than the maximum 720h", "story_window: -1h": "-1h is less than the minimum 0s"}},
		{"subscribers[].timeout", sub, []string{"timeout: 100ms", "timeout: 10m"}, map[string]string{
			"timeout: 1ns": "line 7: subscribers[0].timeout: 1ns is less than the minimum 100ms", "timeout: 1h": "1h is more than the maximum 10m"}},
		{"subscribers[].retry.attempts", sub, []string{"retry: {attempts: 1}", "retry: {attempts: 1000, initial: 10ms, max: 10ms}"}, map[string]string{
			"retry: {attempts: 1001}": "line 7: subscribers[0].retry.attempts: 1001 is more than the maximum 1000", "retry: {attempts: -3}": "-3 is less than the minimum 1"}},
		{"subscribers[].retry.initial", sub, []string{"retry: {initial: 10ms, max: 10ms}", "retry: {initial: 24h, max: 24h}"}, map[string]string{
			"retry: {initial: 1ns}": "line 7: subscribers[0].retry.initial: 1ns is less than the minimum 10ms", "retry: {initial: 48h, max: 48h}": "48h is more than the maximum 24h"}},
		{"subscribers[].retry.max", sub, []string{"retry: {max: 168h}"}, map[string]string{
			"retry: {max: 169h}": "line 7: subscribers[0].retry.max: 169h is more than the maximum 168h", "retry: {initial: 1m, max: 1s}": "1s is less than retry.initial (1m)"}},
		{"subscribers[].max_per_hour", em, []string{"0", "10000"}, map[string]string{
			"10001": "line 6: subscribers[0].max_per_hour: 10001 is more than the maximum 10000", "-1": "-1 is less than the minimum 0"}},
		{"smtp.port", "smtp:\n  port: %s\n", []string{"1", "65535"}, map[string]string{
			"65536": "line 2: smtp.port: 65536 is more than the maximum 65535", "-25": "-25 is less than the minimum 1"}},
		{"smtp.timeout", "smtp:\n  timeout: %s\n", []string{"100ms", "10m"}, map[string]string{
			"1ns": "line 2: smtp.timeout: 1ns is less than the minimum 100ms", "1h": "1h is more than the maximum 10m"}},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			for _, v := range tt.ok {
				if _, err := Parse([]byte(fmt.Sprintf(tt.tmpl, v)), env(nil)); err != nil {
					t.Errorf("%s: %s refused: %v", tt.key, v, err)
				}
			}
			for v, want := range tt.bad {
				_, err := Parse([]byte(fmt.Sprintf(tt.tmpl, v)), env(nil))
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("%s: %s: got %v, want %q", tt.key, v, err, want)
				}
			}
		})
	}
}

// TestSyntaxErrorPositions: a YAML syntax error is reported at the line
// and column a reader would point at, with the line and a caret.
func TestSyntaxErrorPositions(t *testing.T) {
	// The starter config with its example subscriber uncommented and the
	// "subscribers: []" above it left in place.
	starter, err := os.ReadFile("../cmd/newswatch/starter.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(starter), "\n")
	desk := 0
	for i, l := range lines {
		if strings.HasPrefix(l, "  # - id: desk") {
			desk = i + 1
			for j := i; j < i+5; j++ {
				lines[j] = strings.Replace(lines[j], "  # ", "  ", 1)
			}
			break
		}
	}
	if desk == 0 || strings.TrimSpace(lines[desk-2]) != "subscribers: []" {
		t.Fatal("starter.yaml no longer has the commented example subscriber under subscribers: []")
	}

	tests := []struct {
		name      string
		yaml      string
		line, col int
		msg       string
		excerpt   string
	}{
		{"starter subscriber under []", strings.Join(lines, ""), desk, 3,
			fmt.Sprintf("did not find expected key (line %d already gives subscribers the empty value []: delete the [] to give it the entries below)", desk-1),
			fmt.Sprintf("%5d |   - id: desk\n      |   ^", desk)},
		{"tab in indentation", "data_dir: x\nfetch:\n  workers: 3\n\ttimeout: 5s\nlog:\n  level: info\n", 4, 1,
			"found a tab character that violates indentation (indent with spaces: YAML does not allow tabs there)", "    4 | \ttimeout: 5s\n      | ^"},
		{"tab after a key", "data_dir: x\nfetch:\n\tworkers: 3\n", 3, 1, "found character that cannot start any token (indent with spaces: YAML does not allow tabs there)", ""},
		{"unclosed [ on its line", "topics: [a, b\nlog:\n  level: info\nfetch:\n  workers: 2\n", 1, 9,
			"did not find expected ',' or ']' (this [ is not closed)", "    1 | topics: [a, b\n      |         ^"},
		{"unclosed [ lines before", "data_dir: x\nsources: [\n  {id: a, url: \"https://e.org/\"},\n\ntopics:\n  - id: t\n    query: x\n", 5, 7,
			"did not find expected node content (the [ on line 2, column 10 is not closed)", ""},
		{"unclosed {", "sources:\n  - {id: a, url: \"https://e.org/\"\n  - {id: b, url: \"https://f.org/\"}\n", 2, 5,
			"did not find expected ',' or '}' (this { is not closed)", ""},
		{"unclosed double quote", "data_dir: x\nfetch:\n  user_agent: \"abc\n  workers: 3\n\nlog:\n  level: info\n", 3, 15,
			`found unexpected end of stream (the " here is not closed)`, "    3 |   user_agent: \"abc\n      |               ^"},
		{"apostrophe in single quotes", "topics:\n  - id: t\n    query: 'china's talks'\n", 3, 19,
			"did not find expected key (inside '...', write a ' as '')", ""},
		{"key indented too far", "log:\n  level: info\n   format: text\n", 3, 10, "mapping values are not allowed in this context", ""},
		{"key indented too little", "log:\n  level: info\n format: text\nfetch:\n  workers: 2\n", 3, 2, "did not find expected key", ""},
		{"no excerpt of a secret", "smtp:\n  password: \"hunter2\n", 2, 13, `found unexpected end of stream (the " here is not closed)`, "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), env(nil))
			var ps Problems
			if !errors.As(err, &ps) || len(ps) != 1 {
				t.Fatalf("err = %v, want one problem", err)
			}
			p := ps[0]
			if p.Line != tt.line || p.Column != tt.col || p.Msg != tt.msg {
				t.Errorf("got line %d, column %d: %q\nwant line %d, column %d: %q", p.Line, p.Column, p.Msg, tt.line, tt.col, tt.msg)
			}
			switch tt.excerpt {
			case "":
			case "-":
				if p.Excerpt != "" {
					t.Errorf("excerpt of a secret line:\n%s", p.Excerpt)
				}
			default:
				if p.Excerpt != tt.excerpt {
					t.Errorf("excerpt:\n%s\nwant:\n%s", p.Excerpt, tt.excerpt)
				}
			}
		})
	}
}

func mustGetwd(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

// TestExpandedValuesNotInProblems: no problem message shows a value taken
// from the environment or a file; it shows the reference as written.
func TestExpandedValuesNotInProblems(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "to"), []byte("FILESEKRIT-not-an-address\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"TO":      "SEKRIT-not-an-address",
		"WORKERS": "SEKRITWORKERS",
		"NATSURL": "SEKRIT-nats",
		"FORMAT":  "SEKRIT-format",
		"HOOK":    "SEKRIT not a url",
		"LEVEL":   "SEKRIT-level",
		"TOPIC":   "SEKRIT-topic",
	}
	_, err := parse([]byte(`
nats: {url: "${NATSURL}"}
log: {level: "prefix-${LEVEL}"}
fetch:
  workers: ${WORKERS}
topics: [{id: t, query: x}]
smtp: {host: h, from: f@e.org}
subscribers:
  - id: s
    type: email
    to: ["${TO}", "${file:to}"]
    topics: [t, "${TOPIC}"]
  - id: w
    type: webhook
    url: ${HOOK}
    format: ${FORMAT}
`), env(vars), dir)
	if err == nil {
		t.Fatal("no problems")
	}
	text := err.Error()
	for _, leak := range []string{"SEKRIT", "not-an"} {
		if strings.Contains(text, leak) {
			t.Errorf("problems show an expanded value (%q):\n%s", leak, text)
		}
	}
	for _, want := range []string{
		`subscribers[0].to[0]: "${TO}" is not an email address`,
		`subscribers[0].to[1]: "${file:to}" is not an email address`,
		`subscribers[0].topics[1]: unknown topic "${TOPIC}"`,
		`log.level: unknown level "prefix-${LEVEL}"`,
		`subscribers[1].format: unknown format "${FORMAT}"`,
		`line 5: fetch.workers: "${WORKERS}" is not a whole number`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in:\n%s", want, text)
		}
	}
}

// TestMissingVarIsOneProblem: an unset ${VAR} or unreadable ${file:} is
// reported once, not once more by each check of the emptied value.
func TestMissingVarIsOneProblem(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"webhook secret", "subscribers:\n  - id: s\n    type: webhook\n    url: https://e.org/h\n    secret: ${NOPE}\n",
			"line 5: subscribers[0].secret: environment variable NOPE is not set"},
		{"email address", "smtp: {host: h, from: f@e.org}\nsubscribers:\n  - id: s\n    type: email\n    to: [\"${NOPE}\"]\n",
			"line 5: subscribers[0].to[0]: environment variable NOPE is not set"},
		{"smtp host", "smtp: {host: \"${NOPE}\", from: f@e.org}\nsubscribers:\n  - id: s\n    type: email\n    to: [a@e.org]\n",
			"line 1: smtp.host: environment variable NOPE is not set"},
		{"a number", "fetch:\n  workers: ${NOPE}\n", "line 2: fetch.workers: environment variable NOPE is not set"},
		{"a file", "subscribers:\n  - id: s\n    type: webhook\n    url: ${file:/nonexistent/hook}\n    secret: x\n",
			"line 4: subscribers[0].url: ${file:/nonexistent/hook}: cannot read /nonexistent/hook: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), env(nil))
			if err == nil || err.Error() != tt.want {
				t.Errorf("got:\n%v\nwant:\n%s", err, tt.want)
			}
		})
	}
}

// TestWrongTypeIsOneProblem: a value of the wrong type is reported once,
// at its key, not again by each check of what the decoder left empty, nor
// in the decoder's own words beside it.
func TestWrongTypeIsOneProblem(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"email to as one address", "smtp: {host: h, from: f@e.org}\nsubscribers:\n  - id: s\n    type: email\n    to: a@e.org\n",
			`line 5: subscribers[0].to: expected a list, found "a@e.org": write [a@e.org]`},
		{"timeout without unit", "fetch:\n  timeout: 30\n",
			`line 2: fetch.timeout: "30" is not a duration: write a number with a unit, e.g. 30s, 10m or 1h30m`},
		{"retry in a flow mapping", "subscribers:\n  - id: s\n    type: webhook\n    url: https://e.org/h\n    secret: x\n    retry: {attempts: 3, initial: 2 hours}\n",
			`line 6: subscribers[0].retry.initial: "2 hours" is not a duration: write a number with a unit, e.g. 30s, 10m or 1h30m (did you mean 2h?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), env(nil))
			if err == nil || err.Error() != tt.want {
				t.Errorf("got:\n%v\nwant:\n%s", err, tt.want)
			}
		})
	}
}

// TestBareEnvRef: $NAME where ${NAME} was meant is refused with a hint;
// a $ elsewhere is left alone.
func TestBareEnvRef(t *testing.T) {
	const hook = "subscribers:\n  - id: s\n    type: webhook\n    url: %s\n    secret: %s\n    headers: {Authorization: %q}\n"
	tests := []struct {
		name, url, secret, header string
		want                      []string
	}{
		{"whole secret", "https://e.org/h", "$NEWSWATCH_DESK_SECRET", "x", []string{
			"line 5: subscribers[0].secret: $NEWSWATCH_DESK_SECRET is taken literally: did you mean ${NEWSWATCH_DESK_SECRET}?"}},
		{"token in a URL", "https://hooks.example.org/services/$HOOK_TOKEN", "x", "x", []string{
			"line 4: subscribers[0].url: $HOOK_TOKEN is taken literally: did you mean ${HOOK_TOKEN}?"}},
		{"query parameter", "https://e.org/h?key=$API_KEY&x=1", "x", "x", []string{"did you mean ${API_KEY}?"}},
		{"header token", "https://e.org/h", "x", "Bearer $HOOK_TOKEN", []string{
			"line 6: subscribers[0].headers.Authorization: $HOOK_TOKEN is taken literally: did you mean ${HOOK_TOKEN}?"}},
		{"dollars in a real secret", "https://e.org/h", "pa$$W0RD$x", "x", nil},
		{"lower-case", "https://e.org/h", "$notavar", "x", nil},
		{"braces", "https://e.org/h", "${DESK}", "x", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(fmt.Sprintf(hook, tt.url, tt.secret, tt.header)), env(map[string]string{"DESK": "s"}))
			if tt.want == nil {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("got %v, want %q", err, w)
				}
			}
		})
	}
}

// TestValuePosition: an offset inside a query, folded or unescaped as the
// classifier sees it, maps back to the file's line and column.
func TestValuePosition(t *testing.T) {
	src := "topics:\n" +
		"  - id: literal\n    query: |  # a comment with ZZ1\n      fentanyl AND\n        (china OR\n\n      ZZ1 mexico)\n" +
		"  - id: folded\n    query: >-\n      fentanyl AND\n      (china OR\n\n        «中国» ZZ2)\n" +
		"  - id: plain\n    query: fentanyl AND\n      (china OR\n         ZZ3)\n" +
		"  - id: double\n    query: \"fentanyl AND \\\"a\\\" \\u4e2d\n      (china OR\n      ZZ4)\"\n" +
		"  - id: single\n    query: 'it''s\n      ZZ5'\n" +
		"  - id: oneline\n    query: 'a AND ZZ6'\n"
	c, err := Parse([]byte(src), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(src, "\n")
	for i, tp := range c.Topics {
		marker := fmt.Sprintf("ZZ%d", i+1)
		off := strings.Index(tp.Query, marker)
		if off < 0 {
			t.Fatalf("%s: no %s in %q", tp.ID, marker, tp.Query)
		}
		wantLine, wantCol := 0, 0
		for n, l := range lines {
			if j := strings.Index(l, marker); j >= 0 && !strings.Contains(l, "#") {
				wantLine, wantCol = n+1, len([]rune(l[:j]))+1
			}
		}
		line, col, ex, ok := c.ValuePosition(off, "topics", i, "query")
		if !ok || line != wantLine || col != wantCol {
			t.Errorf("%s: got line %d, column %d (ok %v), want %d, %d", tp.ID, line, col, ok, wantLine, wantCol)
		}
		if want := fmt.Sprintf("%5d | %s\n      | %s^", wantLine, lines[wantLine-1], strings.Repeat(" ", wantCol-1)); ex != want {
			t.Errorf("%s: excerpt\n%s\nwant\n%s", tp.ID, ex, want)
		}
		// The end of the query (an error such as "expected ')'") is
		// located too, right after its last character.
		if _, _, _, ok := c.ValuePosition(len(tp.Query), "topics", i, "query"); !ok {
			t.Errorf("%s: end of query not located", tp.ID)
		}
	}
	// A value put in by ${VAR} has no position in the file.
	c, err = Parse([]byte("topics:\n  - id: t\n    query: ${Q}\n"), env(map[string]string{"Q": "a AND b"}))
	if err != nil {
		t.Fatal(err)
	}
	if line, _, _, ok := c.ValuePosition(2, "topics", 0, "query"); ok || line != 3 {
		t.Errorf("expanded query: line %d, ok %v", line, ok)
	}
}

func TestExcerptHidesSecretKeys(t *testing.T) {
	for text, hidden := range map[string]bool{
		`  password: "hunter2`:                     true,
		`    secrets: [a, "b`:                      true,
		`{bearer_token: x, y: [`:                   true,
		`    headers: {Authorization: "Bearer abc`: true,
		`      "secret service" OR token*) AND (x`: false,
		`  user_agent: "abc`:                       false,
	} {
		if got := caretExcerpt(text, 1, 1) == ""; got != hidden {
			t.Errorf("%q: hidden %v, want %v", text, got, hidden)
		}
	}
}

// TestAnchorsAndMerges checks that YAML's own ways of sharing values are
// taken as written: an anchor under an x- key, a merge key (<<) and an
// alias; and that a value of the wrong type through an alias is one
// problem, at the alias.
func TestAnchorsAndMerges(t *testing.T) {
	doc := `x-feed: &feed
  interval: 5m
  type: feed
x-timeout: &timeout 20s
fetch:
  timeout: *timeout
sources:
  - <<: *feed
    id: a
    url: https://e.org/a.xml
  - <<: [*feed]
    id: b
    url: https://e.org/b.xml
    interval: 1h
`
	c, err := Parse([]byte(doc), env(nil))
	if err != nil {
		t.Fatalf("anchors, merges and aliases refused: %v", err)
	}
	if c.Fetch.Timeout != 20*time.Second || len(c.Sources) != 2 || c.Sources[0].Interval != 5*time.Minute || c.Sources[1].Interval != time.Hour {
		t.Fatalf("values not as written: timeout %s, sources %+v", c.Fetch.Timeout, c.Sources)
	}

	_, err = Parse([]byte("x-d: &d {a: 1}\nfetch:\n  timeout: *d\n"), env(nil))
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 1 {
		t.Fatalf("want one problem for a wrong type through an alias, got %v", err)
	}
}
