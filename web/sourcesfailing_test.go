package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// putState stores a source's fetch state as the fetcher would.
func putState(t *testing.T, d *daemon, id, status, errText string, httpStatus, failures int, lastSuccess time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ls := ""
	if !lastSuccess.IsZero() {
		ls = lastSuccess.UTC().Format(time.RFC3339Nano)
	}
	state := fmt.Sprintf(`{"id":%q,"url":"https://%s.example.org/rss","status":%q,"error":%q,"http_status":%d,"consecutive_failures":%d,"last_success":%q}`,
		id, id, status, errText, httpStatus, failures, ls)
	if ls == "" {
		state = strings.Replace(state, `,"last_success":""`, "", 1)
	}
	if _, err := d.b.State.Put(ctx, id, []byte(state)); err != nil {
		t.Fatal(err)
	}
}

// Every source failing (no network, no DNS) keeps /readyz at 200 and
// "ready" on its first line, but names it on a warning line, as the
// page's problems block does; one source that fetches again clears it.
func TestReadyzWarnsWhenEverySourceFails(t *testing.T) {
	d := openDaemon(t, "log: {level: error}\nsources:\n"+
		"  - {id: alpha, url: \"https://alpha.example.org/rss\"}\n"+
		"  - {id: beta, url: \"https://beta.example.org/rss\"}\n"+
		"  - {id: gamma, url: \"https://gamma.example.org/rss\"}\n"+topicsYAML)
	lost := Fault{Key: "data.lost:NEWSWATCH_ARTICLES", Kind: "data.lost", Detail: "3 messages lost", Since: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Count: 1}
	h := New(d.m, nil, discard(), WithStatus(NewPipelineBackend(d.b, d.p)),
		WithFaults(func() []Fault { return []Fault{lost} })).Handler()
	last := time.Now().Add(-3 * time.Hour).Truncate(time.Second).UTC()
	dns := func(id string) string {
		return `fetch ` + id + ` https://` + id + `.example.org/rss: Get "https://` + id + `.example.org/rss": dial tcp: lookup ` + id + `.example.org: no such host`
	}
	readyz := func() (int, []string) {
		rec := get(t, h, "/readyz")
		return rec.Code, strings.Split(strings.TrimSpace(rec.Body.String()), "\n")
	}
	warned := func(lines []string) string {
		for _, l := range lines {
			if strings.HasPrefix(l, "warning: sources: ") {
				return l
			}
		}
		return ""
	}

	for _, tc := range []struct {
		name   string
		states func()
		want   string // in the warning line; "" for none
		page   string // in the problems block
	}{
		{"two failing, one never fetched", func() {
			putState(t, d, "alpha", "error", dns("alpha"), 0, 4, last)
			putState(t, d, "beta", "error", dns("beta"), 0, 9, time.Time{})
		}, "", ""},
		{"every source failing the same way", func() {
			putState(t, d, "gamma", "error", dns("gamma"), 0, 1, time.Time{})
		}, "all 3 sources fail the same way (the host name does not resolve (DNS)): nothing new is fetched; check this machine's network, DNS or proxy first (since " + last.Format(time.RFC3339) + ")",
			"Every source failing"},
		{"every source failing in its own way", func() {
			putState(t, d, "gamma", "error", "status 503", 503, 2, time.Time{})
		}, "all 3 sources fail: nothing new is fetched", "all 3 sources fail: nothing new is fetched"},
		{"one source fetches again", func() {
			putState(t, d, "beta", "ok", "", 0, 0, time.Now())
		}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.states()
			// The backend caches source states for 2 s.
			var lines []string
			var code int
			waitFor(t, "readyz to follow the states", 10*time.Second, func() bool {
				code, lines = readyz()
				got := warned(lines)
				if tc.want == "" {
					return got == ""
				}
				return strings.Contains(got, tc.want)
			})
			if code != http.StatusOK || lines[0] != "ready" {
				t.Errorf("/readyz = %d, first line %q; want 200 and \"ready\"\n%s", code, lines[0], strings.Join(lines, "\n"))
			}
			if len(lines) < 2 || !strings.HasPrefix(lines[1], "warning: data.lost:NEWSWATCH_ARTICLES: 3 messages lost") {
				t.Errorf("/readyz lost the data.lost warning:\n%s", strings.Join(lines, "\n"))
			}
			page := get(t, h, "/").Body.String()
			problems := ""
			if i := strings.Index(page, `id="problems"`); i >= 0 {
				problems, _, _ = strings.Cut(page[i:], "</div>")
			}
			switch {
			case tc.page == "" && strings.Contains(problems, "Every source failing"):
				t.Errorf("the problems block names every source failing when one does not fail:\n%s", problems)
			case tc.page != "" && (!strings.Contains(problems, tc.page) || !strings.Contains(problems, "(sources)")):
				t.Errorf("the problems block lacks %q:\n%s", tc.page, problems)
			}
		})
	}
}
