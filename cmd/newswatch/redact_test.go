package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A webhook's path is no secret on its own: with webhooks at .../news and
// .../alerts and feeds under .../news/, the log, /api/sources and the
// status page show every other URL as it is (reported:
// "url=http://127.0.0.1:8099[redacted]/old.xml",
// "http://127.0.0.1:8099[redacted]/feed.xml", `<a href="/api[redacted]">`).
func TestRedactionLeavesOtherURLs(t *testing.T) {
	feeds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/news/feed.xml" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/rss+xml")
		_, _ = io.WriteString(w, `<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><guid>g1</guid><title>weather</title><link>https://news.example.org/news/g1</link></item></channel></rss>`)
	}))
	t.Cleanup(feeds.Close)
	hooks := newReceiver(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := "http://" + ln.Addr().String() + "/news/old.xml" // nothing listens
	_ = ln.Close()
	dir := t.TempDir()
	d := startDaemon(t, dir, map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"http":     map[string]any{"listen": "127.0.0.1:0"},
		"log":      map[string]any{"level": "info"},
		"sources": []any{
			map[string]any{"id": "wire", "url": feeds.URL + "/news/feed.xml", "interval": "1h"},
			map[string]any{"id": "old", "url": gone, "interval": "1h"},
		},
		"topics": []any{map[string]any{"id": "t", "query": "fentanyl"}},
		"subscribers": []any{
			map[string]any{"id": "desk", "type": "webhook", "url": hooks.srv.URL + "/news", "secret": secret},
			map[string]any{"id": "pager", "type": "webhook", "url": hooks.srv.URL + "/alerts", "secret": secret},
		},
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(d.stderr.String(), `msg="fetch failed"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no fetch failure logged after 30s:\n%s", d.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if want := "url=" + gone; !strings.Contains(d.stderr.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, d.stderr)
	}
	_, body := d.do(t, "GET", "/api/sources", "")
	if want := `"url": "` + feeds.URL + `/news/feed.xml"`; !strings.Contains(body, want) {
		t.Errorf("/api/sources lacks %s:\n%s", want, body)
	}
	_, page := d.do(t, "GET", "/", "")
	for _, want := range []string{`<a href="/api/alerts">`, `<a href="/api/sources">`, feeds.URL + "/news/feed.xml"} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %s", want)
		}
	}
	if strings.Contains(page+body+d.stderr.String(), "[redacted]") {
		t.Errorf("something was redacted where no secret stood:\n%s\n%s", body, d.stderr)
	}
}
