package trends

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"newswatch/config"
	"newswatch/internal/browser"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "also write the topic page screenshot to docs/trends.png")

// serveWave serves the trends routes on a 20-day synthetic series with a wave three
// days ago.
func serveWave(t *testing.T) (*Service, string, int64) {
	t.Helper()
	cfg := testConfig(t, config.Topic{ID: "wave", Name: "Fentanyl trafficking", Query: "x", Spikes: config.Spikes{Enabled: true}})
	b := openBus(t, cfg)
	const days = 20
	// The series ends at the last full day, so the wave's hours never
	// straddle midnight, whatever the time of the run (the day chart
	// would then mark it twice).
	end := HourOf(time.Now())/(24*hourSec)*(24*hourSec) - hourSec
	start := end - (days*24-1)*hourSec
	syn := makeSynth("wave", start, days, true, 1)
	s := New(b, cfg, discard())
	if err := s.Apply(context.Background(), syn.obs); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for pattern, h := range s.Routes() {
		mux.Handle(pattern, h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return s, srv.URL, start + int64(waveDay*24+waveHour)*hourSec
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestSeriesAPI(t *testing.T) {
	_, url, wave := serveWave(t)
	code, body := get(t, url+"/api/topics/wave/series")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	var doc SeriesDoc
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Topic != "wave" || doc.Bucket != "1h" || len(doc.Points) != 30*24 {
		t.Fatalf("doc: topic %q bucket %q, %d points", doc.Topic, doc.Bucket, len(doc.Points))
	}
	var at *Point
	for i := range doc.Points {
		if doc.Points[i].Start.Unix() == wave {
			at = &doc.Points[i]
		}
	}
	if at == nil || at.Articles < 30 || at.Sources < 20 {
		t.Errorf("wave hour: %+v", at)
	}
	if len(doc.Spikes) != 2 || doc.Spikes[0].Bucket.Unix() != wave || doc.Spikes[1].FollowUp != 1 {
		t.Errorf("spikes: %+v", doc.Spikes)
	}
	code, body = get(t, url+"/api/topics/wave/series?days=7")
	if err := json.Unmarshal([]byte(body), &doc); code != http.StatusOK || err != nil || len(doc.Points) != 7*24 {
		t.Errorf("days=7: %d, %d points", code, len(doc.Points))
	}
	for _, tt := range []struct {
		path string
		code int
	}{
		{"/api/topics/nope/series", http.StatusNotFound},
		{"/api/topics/wave/series?days=0", http.StatusBadRequest},
		{"/api/topics/wave/series?days=31", http.StatusBadRequest},
		{"/api/topics/wave/series?days=x", http.StatusBadRequest},
		{"/topics/nope", http.StatusNotFound},
	} {
		if code, _ := get(t, url+tt.path); code != tt.code {
			t.Errorf("GET %s: %d, want %d", tt.path, code, tt.code)
		}
	}
}

func TestTopicPageEscapes(t *testing.T) {
	s, url, wave := serveWave(t)
	// A hostile title in the wave hour: the page must show it as text.
	o := Obs{Topic: "wave", Hour: wave, ID: "hostile", Source: "evil", Title: `<script>alert(1)</script>`, URL: "javascript:alert(1)", Score: 99}
	if err := s.Apply(context.Background(), []Obs{o}); err != nil {
		t.Fatal(err)
	}
	code, body := get(t, url+"/topics/wave?bucket="+strconv.FormatInt(wave, 10))
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if strings.Contains(body, "<script>alert") || strings.Contains(body, `href="javascript:`) {
		t.Errorf("page carries the hostile article unescaped")
	}
	if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("page lacks the escaped title")
	}
}

func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("NEWSWATCH_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "testdata", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestTopicPageInBrowser loads a topic's page in headless Chromium on a
// phone screen: both charts are drawn and fit the screen, the wave is
// marked, and its mark leads to the articles of that hour.
func TestTopicPageInBrowser(t *testing.T) {
	_, url, wave := serveWave(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	bctx := browser.Start(ctx, t, 390, 844)
	if err := chromedp.Do(bctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(url+"/topics/wave"),
		chromedp.WaitVisible(chromedp.CSS("svg.chart")),
	); err != nil {
		t.Fatalf("load: %v", err)
	}
	eval := func(js string, v any) {
		t.Helper()
		got, err := chromedp.Run(bctx, chromedp.Evaluate[json.RawMessage](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		if err := json.Unmarshal(got, v); err != nil {
			t.Fatalf("evaluate %s: %v (%s)", js, err, got)
		}
	}
	var charts []struct{ Bars, Marks, Width int }
	eval(`[...document.querySelectorAll('svg.chart')].map(s => ({bars: s.querySelectorAll('rect.bar').length,
		marks: s.querySelectorAll('a.spike-link').length, width: Math.round(s.getBoundingClientRect().width)}))`, &charts)
	if len(charts) != 2 || charts[0].Bars != 7*24 || charts[1].Bars < 30 || charts[1].Bars > 31 || charts[0].Marks != 2 || charts[1].Marks != 1 {
		t.Errorf("charts = %+v", charts)
	}
	var widths struct{ Page, Screen int }
	eval(`({page: document.documentElement.scrollWidth, screen: window.innerWidth})`, &widths)
	if widths.Page > widths.Screen {
		t.Errorf("on a 390px phone the page is %dpx wide", widths.Page)
	}
	for _, c := range charts {
		if c.Width > widths.Screen || c.Width < 300 {
			t.Errorf("chart %dpx wide on a %dpx screen", c.Width, widths.Screen)
		}
	}
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(artifacts(t), "topic-phone.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}
	if *updateScreenshot {
		if err := os.WriteFile(filepath.Join("..", "docs", "trends.png"), shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The first mark leads to the wave hour's articles.
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`svg.chart a.spike-link`)),
		chromedp.WaitVisible(chromedp.CSS("#articles")),
	); err != nil {
		t.Fatalf("follow the spike mark: %v", err)
	}
	var page struct {
		Href  string
		Items int
	}
	eval(`({href: location.href, items: document.querySelectorAll('#articles + ul li').length})`, &page)
	if !strings.Contains(page.Href, "bucket="+strconv.FormatInt(wave, 10)) || page.Items != topN {
		t.Errorf("after the click: %+v", page)
	}
}
