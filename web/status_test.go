package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"newswatch/pipeline"
)

// The secrets of the test config: none may appear in any response.
var testSecrets = []string{
	"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", // webhook signing secret
	"rotatedSecret-4711",                     // second signing secret
	"HEADERSECRET77",                         // webhook header value
	"HOOKSECRETPATH",                         // credential in a webhook URL's path
	"SRCSECRET123",                           // api_key in a source URL
	"userpw99",                               // password in a source URL
	"feedtoken-8086",                         // from the environment, in a source URL's path
	"smtp-pass-5150",                         // SMTP password, from the environment
}

const topicsYAML = `
topics:
  - id: fentanyl
    name: Fentanyl and synthetic opioids
    query: 'fentanyl OR "synthetic opioid"'
  - id: weather
    name: Weather
    query: 'storm OR rain'
`

// liveDaemon runs a pipeline with real data: a feed that yields two
// fentanyl alerts and one weather alert, two failing sources whose errors
// quote their secret-bearing URLs, a webhook subscriber that gets its
// alerts and one that dead-letters.
func liveDaemon(t *testing.T) (*daemon, *Server, *hookServer) {
	t.Helper()
	t.Setenv("NW_TEST_FEEDTOKEN", "feedtoken-8086")
	t.Setenv("NW_TEST_SMTP", "smtp-pass-5150")
	feed := feedServer(t,
		item{"f1", "Fentanyl seizure: 5 < 10 & <script>alert(1)</script>", "Agents seized 40 kg of fentanyl hidden in a truck."},
		item{"f2", "Synthetic opioid deaths rise", "A synthetic opioid crisis deepens, officials said."},
		item{"w1", "Storms expected this weekend", "Heavy rain and wind across several states."},
		item{"x1", "Local team wins the championship", "The home side won after a dramatic final."},
	)
	desk := newHookServer(t)
	dead := closedAddr(t)
	d := openDaemon(t, fmt.Sprintf(`
log: {level: error}
http: {listen: ""}
smtp:
  password: ${NW_TEST_SMTP}
sources:
  - id: wire
    url: %s
  - id: broken
    url: http://reader:userpw99@%s/feed.xml?api_key=SRCSECRET123&lang=en
  - id: tokened
    url: http://%s/feeds/${NW_TEST_FEEDTOKEN}/rss
%s
subscribers:
  - id: desk
    type: webhook
    url: %s/hooks/desk
    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
    secrets: [rotatedSecret-4711]
    topics: [fentanyl]
  - id: broken-hook
    type: webhook
    url: http://%s/services/T000/HOOKSECRETPATH
    secret: raw-secret-value
    headers: {Authorization: "Bearer HEADERSECRET77"}
    topics: [fentanyl]
    retry: {attempts: 1, initial: 10ms, max: 10ms}
`, feed.URL, dead, dead, topicsYAML, desk.URL, dead))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Deliveries start first: subscribers get alerts raised from now on.
	d.run(t, pipeline.Roles{Classifier: true, Notifier: true})
	waitFor(t, "subscribers to start", 10*time.Second, func() bool { return len(d.p.Dispatcher().Status()) == 2 })
	for _, src := range d.cfg.Sources {
		if _, err := d.p.FetchNow(ctx, src); err != nil {
			t.Fatalf("fetch %s: %v", src.ID, err)
		}
	}
	waitFor(t, "two deliveries to desk", 30*time.Second, func() bool { return desk.count() == 2 })
	waitFor(t, "two dead letters", 30*time.Second, func() bool {
		s, err := d.b.JS.Stream(ctx, d.b.Names.DeadStream)
		if err != nil {
			return false
		}
		info, err := s.Info(ctx)
		return err == nil && info.State.Msgs == 2
	})
	srv := New(d.m, nil, discard(), WithStatus(NewPipelineBackend(d.b, d.p)))
	return d, srv, desk
}

func TestStatusPageAndAPI(t *testing.T) {
	_, srv, _ := liveDaemon(t)
	h := srv.Handler()

	rec := get(t, h, "/")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET / = %d\n%s", rec.Code, rec.Body)
	}
	page := rec.Body.String()
	for _, want := range []string{
		`id="sources-table"`, `data-source="wire"`, `data-source="broken"`,
		"nothing listens at that address (connection refused)", // last error in words
		`data-topic="fentanyl"`, `data-subscriber="desk"`, `data-subscriber="broken-hook"`,
		"Synthetic opioid deaths rise",
		"<mark>fentanyl</mark>",                           // matched term
		"Fentanyl seizure: 5 &lt; 10 &amp;",               // feed content escaped
		`class="dead" data-alert="fentanyl:`,              // dead letters listed
		"gave up after 1 tries",                           // with the reason
		`<meta name="viewport"`,                           // phone-readable
		"3 sources: <span class=\"st st-ok\">1 ok</span>", // summary
	} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>") {
		t.Error("status page contains a script element")
	}
	// The page leads with what needs attention, then the latest alerts,
	// then the rest.
	at, al, so, de := strings.Index(page, `id="attention"`), strings.Index(page, `id="alerts"`), strings.Index(page, `id="sources-table"`), strings.Index(page, `id="dead-table"`)
	if at < 0 || !(at < al && al < so && so < de) {
		t.Errorf("sections at attention %d, alerts %d, sources %d, dead letters %d: want them in that order", at, al, so, de)
	} else {
		attention := page[at:al]
		for _, want := range []string{`data-source="broken"`, `data-source="tokened"`, "nothing listens at that address",
			`data-subscriber="broken-hook"`, "its last delivery was dead-lettered", "2 deliveries gave up"} {
			if !strings.Contains(attention, want) {
				t.Errorf("needs attention lacks %q:\n%s", want, attention)
			}
		}
		for _, fine := range []string{`data-source="wire"`, `data-subscriber="desk"`, "Nothing needs attention"} {
			if strings.Contains(attention, fine) {
				t.Errorf("needs attention holds %q:\n%s", fine, attention)
			}
		}
	}
	// Alert counts of the last 24 hours, per topic.
	for topic, n := range map[string]string{"fentanyl": "2", "weather": "1"} {
		re := regexp.MustCompile(`data-topic="` + topic + `">\s*<td>.*?</td>\s*<td class="num"[^>]*>(\d+)</td>`)
		if m := re.FindStringSubmatch(page); m == nil || m[1] != n {
			t.Errorf("topic %s: 24h count %v, want %s", topic, m, n)
		}
	}

	var sources struct {
		Total   int
		Counts  map[string]int
		Sources []Source
	}
	decode(t, get(t, h, "/api/sources"), &sources)
	if sources.Total != 3 || sources.Counts["ok"] != 1 || sources.Counts["error"] != 2 {
		t.Errorf("/api/sources = %+v", sources)
	}
	byID := map[string]Source{}
	for _, s := range sources.Sources {
		byID[s.ID] = s
	}
	if w := byID["wire"]; w.Status != "ok" || w.LastSuccess.IsZero() || w.NextFetch.IsZero() || w.ItemsSeen != 4 {
		t.Errorf("wire = %+v", w)
	}
	if b := byID["broken"]; b.Status != "error" || b.Problem == "" || b.ConsecutiveFailures != 1 || !strings.Contains(b.URL, "api_key=REDACTED") {
		t.Errorf("broken = %+v", b)
	}

	var topics struct{ Topics []Topic }
	decode(t, get(t, h, "/api/topics"), &topics)
	if len(topics.Topics) != 2 || topics.Topics[0].Alerts24h != 2 || topics.Topics[1].Alerts24h != 1 {
		t.Errorf("/api/topics = %+v", topics)
	}
	if got := strings.Join(topics.Topics[0].Subscribers, ","); got != "desk,broken-hook" {
		t.Errorf("fentanyl subscribers = %q", got)
	}

	var subs struct{ Subscribers []Subscriber }
	decode(t, get(t, h, "/api/subscribers"), &subs)
	if len(subs.Subscribers) != 2 {
		t.Fatalf("/api/subscribers = %+v", subs)
	}
	if s := subs.Subscribers[0]; s.ID != "desk" || !s.Running || s.Delivered != 2 || s.LastResult != "ok" || s.Backlog != 0 {
		t.Errorf("desk = %+v", s)
	}
	if s := subs.Subscribers[1]; s.ID != "broken-hook" || s.DeadLettered != 2 || s.LastResult != "dead" || s.LastError == "" {
		t.Errorf("broken-hook = %+v", s)
	}

	var alerts struct {
		Alerts     []Alert
		NextBefore uint64 `json:"next_before"`
	}
	decode(t, get(t, h, "/api/alerts"), &alerts)
	if len(alerts.Alerts) != 3 {
		t.Fatalf("/api/alerts has %d alerts, want 3", len(alerts.Alerts))
	}
	for i := 1; i < len(alerts.Alerts); i++ {
		if alerts.Alerts[i].Seq >= alerts.Alerts[i-1].Seq {
			t.Errorf("alerts not newest first: %d then %d", alerts.Alerts[i-1].Seq, alerts.Alerts[i].Seq)
		}
	}
	// Paging and the topic filter.
	decode(t, get(t, h, "/api/alerts?limit=1"), &alerts)
	if len(alerts.Alerts) != 1 || alerts.NextBefore == 0 {
		t.Fatalf("limit=1: %+v", alerts)
	}
	first := alerts.Alerts[0].Seq
	decode(t, get(t, h, fmt.Sprintf("/api/alerts?limit=5&before=%d", first)), &alerts)
	if len(alerts.Alerts) != 2 || alerts.Alerts[0].Seq >= first {
		t.Errorf("before=%d: %+v", first, alerts.Alerts)
	}
	decode(t, get(t, h, "/api/alerts?topic=weather"), &alerts)
	if len(alerts.Alerts) != 1 || alerts.Alerts[0].Topic != "weather" || len(alerts.Alerts[0].Matches) == 0 {
		t.Errorf("topic=weather: %+v", alerts.Alerts)
	}

	var dead struct {
		DeadLetters []DeadLetter `json:"dead_letters"`
	}
	decode(t, get(t, h, "/api/deadletters"), &dead)
	if len(dead.DeadLetters) != 2 || dead.DeadLetters[0].Subscriber != "broken-hook" || dead.DeadLetters[0].Attempts != 1 {
		t.Errorf("/api/deadletters = %+v", dead)
	}

	for _, target := range []string{"/api/alerts?limit=0", "/api/alerts?before=x", "/api/sources?page=0", "/?before=-1"} {
		if rec := get(t, h, target); rec.Code != http.StatusBadRequest {
			t.Errorf("GET %s = %d, want 400", target, rec.Code)
		}
	}
}

func decode(t *testing.T, rec interface {
	Result() *http.Response
}, v any) {
	t.Helper()
	resp := rec.Result()
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestNoSecretServed reads every page and endpoint of a daemon whose
// config is full of secrets, some of which also sit in error messages
// (a failing source's URL, a failing webhook), and finds none of them.
func TestNoSecretServed(t *testing.T) {
	_, srv, _ := liveDaemon(t)
	h := srv.Handler()
	// The secrets must be in the underlying data, or this test proves
	// nothing: the failing source's error quotes its URL.
	st := srv.secretList()
	for _, s := range testSecrets {
		found := false
		for _, x := range st {
			if strings.Contains(x, s) {
				found = true
			}
		}
		if !found {
			t.Errorf("secret %q is not in the scrub list", s)
		}
	}
	for _, target := range []string{
		"/", "/?status=error", "/?topic=fentanyl", "/?q=broken",
		"/api/sources", "/api/sources?status=error", "/api/topics", "/api/subscribers",
		"/api/alerts", "/api/deadletters", "/api/feedback", "/readyz", "/metrics",
	} {
		rec := get(t, h, target)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s = %d", target, rec.Code)
		}
		body := rec.Body.String()
		for _, s := range testSecrets {
			if strings.Contains(body, s) {
				t.Errorf("GET %s serves the secret %q", target, s)
			}
		}
		for _, s := range []string{"raw-secret-value"} {
			if strings.Contains(body, s) {
				t.Errorf("GET %s serves %q", target, s)
			}
		}
	}
}
