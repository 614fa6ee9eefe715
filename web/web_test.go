package web

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"newswatch/config"
	"newswatch/metrics"
	"newswatch/pipeline"
)

func TestHighlight(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"a «fentanyl» seizure", "a <mark>fentanyl</mark> seizure"},
		{"«a» and «b»", "<mark>a</mark> and <mark>b</mark>"},
		{`<script>«x»</script>`, "&lt;script&gt;<mark>x</mark>&lt;/script&gt;"},
		{"«<b>»", "<mark>&lt;b&gt;</mark>"},
		{"unbalanced « here", "unbalanced « here"},
		{"中美«芬太尼»合作", "中美<mark>芬太尼</mark>合作"},
	} {
		if got := string(highlight(tc.in)); got != tc.want {
			t.Errorf("highlight(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://example.org/rss.xml", "https://example.org/rss.xml"},
		{"https://u:p@example.org/rss?x=1", "https://example.org/rss?x=1"},
		{"https://example.org/rss?api_key=abc&q=fentanyl", "https://example.org/rss?api_key=REDACTED&q=fentanyl"},
		{"https://example.org/rss?Access-Token=abc#frag", "https://example.org/rss?Access-Token=REDACTED"},
		{"not a url", "(unparsable URL)"},
		// As written: neither re-encoded nor re-ordered.
		{"https://example.org/feeds/%7Ewire/rss?z=1&q=fentanyl+china&a=%2F", "https://example.org/feeds/%7Ewire/rss?z=1&q=fentanyl+china&a=%2F"},
		{"https://例え.jp/新闻/rss?q=中国", "https://例え.jp/新闻/rss?q=中国"},
		{"https://user:p@ss@example.org/x?token=a%26b&v=1", "https://example.org/x?token=REDACTED&v=1"},
		{"https://example.org/x?flag&key", "https://example.org/x?flag&key"},
	} {
		if got := RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestScrubEveryEncoding(t *testing.T) {
	secret := `p&ss<w"rd>/x y`
	bodies := []string{
		secret,
		`p\u0026ss\u003cw\"rd\u003e/x y`, // encoding/json
		"p&amp;ss&lt;w&#34;rd&gt;/x y",   // html/template, html.EscapeString
		"p%26ss%3Cw%22rd%3E%2Fx+y",       // url.QueryEscape
	}
	for _, b := range bodies {
		if got := string(scrub([]byte("before "+b+" after"), []string{secret})); got != "before [redacted] after" {
			t.Errorf("scrub(%q) = %q", b, got)
		}
	}
}

// The config's secrets are replaced where they stand and nowhere else:
// a webhook's path, a port or a short value is no secret of its own
// (reported: "url=http://127.0.0.1:8099[redacted]/old.xml",
// "<a href="/api[redacted]">", "articles[redacted]1.html").
func TestScrubLeavesUnrelatedText(t *testing.T) {
	t.Setenv("NW_SHORT", "ft")
	cfg, err := config.Parse([]byte(`
sources:
  - {id: old, url: "http://127.0.0.1:8099/old.xml"}
  - {id: keyed, url: "http://127.0.0.1:8099/feed.xml?api_key=key-1a2b3c4d&page=2"}
topics: [{id: t, query: x}]
subscribers:
  - {id: news, type: webhook, url: "http://127.0.0.1:8098/news", secret: whsecret-1}
  - {id: alerts, type: webhook, url: "http://127.0.0.1:8098/alerts", secret: whsecret-2}
  - {id: ft, type: webhook, url: "http://127.0.0.1:8098/ft", secret: whsecret-3, headers: {X-Tag: "${NW_SHORT}"}}
  - {id: chat, type: webhook, format: slack, url: "http://127.0.0.1:8098/services/T0AAA1/B0BBB2/Xk3mQ9rT2vLp8wZs4nYc"}
`), os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	secrets := cfg.Secrets()
	for _, tc := range []struct{ in, want string }{
		{`level=WARN msg="fetch failed" url=http://127.0.0.1:8099/old.xml`, ""},
		{`"url": "http://127.0.0.1:8099/feed.xml"`, ""},
		{`<a href="/api/alerts">/api/alerts</a> <a href="/api/news">`, ""},
		{`url=http://127.0.0.1:8098/articles/ft1.html`, ""},
		{`url=http://127.0.0.1:8098/news/item.html`, ""},
		{`{"q": "whsecret-10"}`, ""},
		{`Post "http://127.0.0.1:8098/news": connection refused`, `Post "[redacted]": connection refused`},
		{`Post "http://127.0.0.1:8098/alerts?x=1": refused`, `Post "[redacted]?x=1": refused`},
		{`signed with whsecret-1, then whsecret-2.`, `signed with [redacted], then [redacted].`},
		{`GET http://127.0.0.1:8099/feed.xml?api_key=key-1a2b3c4d&page=2`, `GET http://127.0.0.1:8099/feed.xml?api_key=[redacted]&page=2`},
		{`u=http%3A%2F%2Fx%2F%3Fapi_key%3Dkey-1a2b3c4d`, `u=http%3A%2F%2Fx%2F%3Fapi_key%3D[redacted]`},
		{`"line\nkey-1a2b3c4d"`, `"line\n[redacted]"`},
		{`404 no route POST /services/T0AAA1/B0BBB2/Xk3mQ9rT2vLp8wZs4nYc`, `404 no route POST /services/T0AAA1/B0BBB2/[redacted]`},
		{`url=http://127.0.0.1:8099/services/feed.xml`, ""},
	} {
		want := tc.want
		if want == "" {
			want = tc.in
		}
		if got := string(scrub([]byte(tc.in), secrets)); got != want {
			t.Errorf("scrub(%s)\n got %s\nwant %s", tc.in, got, want)
		}
	}
}

func TestAuth(t *testing.T) {
	auth := config.HTTPAuth{Basic: config.BasicAuth{Username: "ops", Password: "pw"}, BearerToken: "tok"}
	srv := New(nil, nil, discard(), WithAuth(func() config.HTTPAuth { return auth }))
	srv.Handle("GET /api/x", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("x")) }))
	h := srv.Handler()
	b64 := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		path, auth string
		want       int
	}{
		{"/healthz", "", 200},
		{"/readyz", "", 401},
		{"/api/x", "", 401},
		{"/api/x", "Bearer tok", 200},
		{"/api/x", "bearer tok", 200},
		{"/api/x", "Bearer tok2", 401},
		{"/api/x", "Bearer ", 401},
		{"/api/x", b64("ops:pw"), 200},
		{"/api/x", b64("ops:pw2"), 401},
		{"/api/x", b64("op:pw"), 401},
		{"/api/x", b64("tok:"), 401},
	} {
		rec := get(t, h, tc.path, "Authorization", tc.auth)
		if rec.Code != tc.want {
			t.Errorf("GET %s with %q = %d, want %d", tc.path, tc.auth, rec.Code, tc.want)
		}
		if rec.Code == 401 && !strings.Contains(rec.Header().Get("WWW-Authenticate"), "Basic") {
			t.Errorf("401 without a Basic challenge: %q", rec.Header().Get("WWW-Authenticate"))
		}
	}
	// Token only: the challenge is Bearer.
	auth = config.HTTPAuth{BearerToken: "tok"}
	rec := get(t, h, "/api/x")
	if rec.Code != 401 || !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("token only: %d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	// Auth off (read per request, so a reload turns it off at once).
	auth = config.HTTPAuth{}
	if rec := get(t, h, "/api/x"); rec.Code != 200 {
		t.Errorf("without auth configured: %d", rec.Code)
	}
}

func TestReloadEndpoint(t *testing.T) {
	var calls int
	fail := errors.New("line 3: sources[0].url: bad")
	var next error
	srv := New(nil, nil, discard(), WithReload(func(ctx context.Context) error { calls++; return next }))
	h := srv.Handler()
	if rec := get(t, h, "/-/reload"); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload = %d, want 405", rec.Code)
	}
	post := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/-/reload", nil))
		return rec
	}
	if rec := post(); rec.Code != 200 || rec.Body.String() != "reloaded\n" || calls != 1 {
		t.Errorf("reload = %d %q (calls %d)", rec.Code, rec.Body, calls)
	}
	next = fail
	if rec := post(); rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "line 3: sources[0].url: bad") ||
		!strings.Contains(rec.Body.String(), "the old config keeps running") {
		t.Errorf("failed reload = %d %q", rec.Code, rec.Body)
	}
	// In force, but a subscriber did not start: not "rejected".
	next = fmt.Errorf("%w: subscriber desk: read position: nats: timeout", pipeline.ErrSubscribersNotStarted)
	if rec := post(); rec.Code != http.StatusInternalServerError || !strings.HasPrefix(rec.Body.String(), "reloaded, but some subscribers did not start:") ||
		strings.Contains(rec.Body.String(), "old config") || !strings.Contains(rec.Body.String(), "subscriber desk") {
		t.Errorf("partly applied reload = %d %q", rec.Code, rec.Body)
	}
}

// TestTenThousandSources pages through 10,000 sources with real states in
// the bucket, and stays fast.
func TestTenThousandSources(t *testing.T) {
	const n = 10000
	var b strings.Builder
	b.WriteString("log: {level: error}\nsources:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {id: src-%05d, url: \"https://feeds.example.org/%d.xml\"}\n", i, i)
	}
	b.WriteString(topicsYAML)
	d := openDaemon(t, b.String())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Every 10th source failing, every other one ok, a few never fetched.
	now := time.Now().UTC()
	for i := range n - 10 {
		st := pipeline.SourceState{ID: fmt.Sprintf("src-%05d", i), URL: fmt.Sprintf("https://feeds.example.org/%d.xml", i),
			Status: "ok", LastFetch: now, LastSuccess: now, NextDue: now.Add(10 * time.Minute)}
		if i%10 == 0 {
			st.Status, st.Error, st.HTTPStatus, st.ConsecutiveFailures = "error", "status 503", 503, 3
		}
		data := fmt.Appendf(nil, `{"id":%q,"url":%q,"status":%q,"error":%q,"http_status":%d,"consecutive_failures":%d,"last_success":%q,"next_due":%q}`,
			st.ID, st.URL, st.Status, st.Error, st.HTTPStatus, st.ConsecutiveFailures, now.Format(time.RFC3339Nano), st.NextDue.Format(time.RFC3339Nano))
		if _, err := d.b.State.Put(ctx, st.ID, data); err != nil {
			t.Fatal(err)
		}
	}
	h := New(d.m, nil, discard(), WithStatus(NewPipelineBackend(d.b, d.p))).Handler()

	start := time.Now()
	rec := get(t, h, "/")
	took := time.Since(start)
	t.Logf("status page with %d sources: %s", n, took)
	if took > 5*time.Second {
		t.Errorf("status page with %d sources took %s", n, took)
	}
	page := rec.Body.String()
	if rows := strings.Count(page, `<tr class="source"`); rows != defaultPerPage {
		t.Errorf("page shows %d source rows, want %d", rows, defaultPerPage)
	}
	for _, want := range []string{"10000 sources", ">8991 ok<", ">999 failing<", ">10 pending<", "page 1 of 200", `rel="next"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Needs attention rolls the 999 sources failing the same way up into
	// one line, with the rows of the first of them, not all 999.
	if attention, _, ok := strings.Cut(page, `id="alerts"`); !ok || strings.Count(attention, `<li class="issue rollup"`) != 1 ||
		!strings.Contains(attention, "<strong>999 sources</strong>") ||
		strings.Count(attention, `<li class="issue" data-source=`) != maxAttention ||
		!strings.Contains(attention, `data-source="src-00090"`) || !strings.Contains(attention, ">989 more failing this way</a>") {
		t.Errorf("needs attention of 999 failing sources:\n%s", attention)
	}
	if len(page) > 200_000 {
		t.Errorf("page is %d bytes", len(page))
	}

	// Failing sources only, page 3 of them.
	rec = get(t, h, "/api/sources?status=error&page=3&per_page=100")
	var p struct {
		Total, Page, Pages int
		Sources            []Source
	}
	decode(t, rec, &p)
	if p.Total != 999 || p.Pages != 10 || len(p.Sources) != 100 || p.Sources[0].ID != "src-02000" || p.Sources[0].Problem == "" {
		t.Errorf("status=error page 3: total %d pages %d len %d first %+v", p.Total, p.Pages, len(p.Sources), p.Sources[0])
	}
	rec = get(t, h, "/?q=src-0999")
	if rows := strings.Count(rec.Body.String(), `<tr class="source"`); rows != 10 {
		t.Errorf("q=src-0999 shows %d rows, want 10", rows)
	}
	if rec := get(t, h, "/api/sources?per_page=100000"); rec.Code != http.StatusBadRequest {
		t.Errorf("per_page=100000 = %d, want 400", rec.Code)
	}
}

// TestNothingNeedsAttention: a source that fetches says so at the top; once
// it fails, it is named there instead.
func TestNothingNeedsAttention(t *testing.T) {
	d := openDaemon(t, "log: {level: error}\nsources:\n  - {id: calm, url: \"https://feeds.example.org/calm.xml\"}\n"+topicsYAML)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := New(d.m, nil, discard(), WithStatus(NewPipelineBackend(d.b, d.p))).Handler()
	for _, tc := range []struct {
		status, want, not string
	}{
		{"ok", "Nothing needs attention", `data-source="calm"`},
		{"error", `<li class="issue" data-source="calm">`, "Nothing needs attention"},
	} {
		now := time.Now().UTC().Format(time.RFC3339Nano)
		state := fmt.Sprintf(`{"id":"calm","url":"https://feeds.example.org/calm.xml","status":%q,"error":"status 503","http_status":503,"last_success":%q}`, tc.status, now)
		if _, err := d.b.State.Put(ctx, "calm", []byte(state)); err != nil {
			t.Fatal(err)
		}
		// The backend caches source states for 2 s.
		var attention string
		waitFor(t, "the page to show the source "+tc.status, 10*time.Second, func() bool {
			page := get(t, h, "/").Body.String()
			attention, _, _ = strings.Cut(page, `id="alerts"`)
			return strings.Contains(attention, tc.want)
		})
		if strings.Contains(attention, tc.not) {
			t.Errorf("source %s: needs attention holds %q:\n%s", tc.status, tc.not, attention)
		}
	}
}

// TestProblemOfKind: a stored error kind decides, not words in the
// message (here a URL holding "limit" and "private"); without a kind, a
// state written before kinds existed, the text still does.
func TestProblemOfKind(t *testing.T) {
	const msg = "fetch s https://example.org/private/limits.xml: fetcher: cannot parse"
	for _, tc := range []struct {
		kind, err, want string
	}{
		{pipeline.ErrorKindParse, msg, "the response is not a feed newswatch can read"},
		{pipeline.ErrorKindParse, "fetch s https://example.org/: fetcher: not a feed: got an HTML page; it advertises a feed at https://example.org/rss", "the URL is an HTML page, not a feed: use the site's feed URL (the whole error names it when the page advertises one) or type: page"},
		{pipeline.ErrorKindTooLarge, "fetch s https://example.org/feed.xml: fetcher: body too large", "the response is larger than fetch.max_body_bytes"},
		{pipeline.ErrorKindPrivateNetwork, "fetch s https://example.org/parse.xml: no", "the address is private and fetch.allow_private_networks is off"},
		{pipeline.ErrorKindTimeout, "fetch s https://example.org/parse.xml: slow", "the site did not answer in time"},
		{"", "fetch s https://example.org/feed.xml: fetcher: body too large", "the response is larger than fetch.max_body_bytes"},
	} {
		if got := ProblemOf(tc.kind, tc.err, 0, 1); got != tc.want {
			t.Errorf("ProblemOf(%q, %q) = %q, want %q", tc.kind, tc.err, got, tc.want)
		}
	}
}

// A feed that was read fine and now answers an HTML page (a login or
// consent wall) had the advice for a page configured as a feed: "use the
// site's feed URL", although the URL is the feed's.
func TestSourceNowAnsweringHTML(t *testing.T) {
	src := config.Source{ID: "wire", Type: "feed", URL: "https://example.org/rss.xml"}
	const err = "fetch wire https://example.org/rss.xml: fetcher: not a feed: got an HTML page, not RSS, Atom or JSON Feed"
	for _, tc := range []struct {
		name        string
		lastSuccess time.Time
		want        string
	}{
		{"never read", time.Time{}, htmlNotFeed + "; 2 failures in a row"},
		{"read before", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			"the feed, which was read fine before, now answers an HTML page (a login, consent or bot-check page?): open the URL in a browser; 2 failures in a row"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := pipeline.SourceState{ID: src.ID, URL: src.URL, Status: "error", Error: err, ErrorKind: pipeline.ErrorKindParse,
				ConsecutiveFailures: 2, LastSuccess: tc.lastSuccess}
			if got := SourceOf(src, st).Problem; got != tc.want {
				t.Errorf("problem = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestProblemInWords(t *testing.T) {
	for _, tc := range []struct {
		err        string
		code, fail int
		want       string
	}{
		{"status 404", 404, 1, "the feed is gone (HTTP 404): check the URL"},
		{"status 503", 503, 3, "the site has a server error (HTTP 503); 3 failures in a row"},
		{`Get "x": dial tcp: lookup nowhere.invalid: no such host`, 0, 1, "the host name does not resolve (DNS)"},
		{"fetch: timeout after 30s: context deadline exceeded", 0, 1, "the site did not answer in time"},
		{"fetch s https://example.org/feed.xml: waiting for a turn at example.org: context deadline exceeded", 0, 2,
			"other fetches to the same host held its turns (fetch.per_host) until the time ran out; the site was not asked; 2 failures in a row"},
		{"fetch s https://example.org/loop: fetcher: too many redirects (5)", 0, 1, "the site redirects in a loop or too many times: check the URL"},
		{"", 0, 0, ""},
	} {
		if got := Problem(tc.err, tc.code, tc.fail); got != tc.want {
			t.Errorf("Problem(%q, %d, %d) = %q, want %q", tc.err, tc.code, tc.fail, got, tc.want)
		}
	}
}

// ownRoutesBackend lets WithStatus register its routes; none is served.
type ownRoutesBackend struct{ Backend }

func (ownRoutesBackend) Secrets() []string { return nil }

// The paths config refuses for a WebSub callback must cover every route
// the server answers itself, or a callback could shadow one of them
// (served without http.auth).
func TestOwnRoutesReservedInConfig(t *testing.T) {
	s := New(metrics.New(), nil, discard(), WithStatus(ownRoutesBackend{}),
		WithReload(func(context.Context) error { return nil }))
	if len(s.own) < 8 {
		t.Fatalf("only %d own routes recorded: %q", len(s.own), s.own)
	}
	for _, pattern := range s.own {
		_, path, _ := strings.Cut(pattern, " ")
		path = strings.TrimSuffix(path, "{$}")
		if !config.ReservedWebPath(path) {
			t.Errorf("route %q is not reserved in config: a WebSub callback could be served there", pattern)
		}
	}
	for _, free := range []string{"/websub/", "/hooks/websub", "/metrics-feed/"} {
		if config.ReservedWebPath(free) {
			t.Errorf("ReservedWebPath(%q) = true, want false", free)
		}
	}
}
