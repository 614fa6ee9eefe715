package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// freeAddr is a 127.0.0.1 address with a port nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// relTimes masks the relative times of a table ("3s ago", "in 59m58s"),
// which move between two runs, as does the padding after them.
var relTimes = regexp.MustCompile(`\b(\d+h)?(\d+m)?\d+(\.\d+)?m?s\b`)

// spaces are a table's padding, which follows the widest time.
var spaces = regexp.MustCompile(` {2,}`)

// sources and deadletters list work against a running daemon (through its
// API, with the config's auth) and print what they print once it stopped;
// their tables say the problem in words, and -v/-json give the whole error.
func TestInspectWhileDaemonRuns(t *testing.T) {
	feeds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/feed.xml" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/rss+xml")
		_, _ = io.WriteString(w, `<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>`+
			`<item><guid>g1</guid><title>Fentanyl seizure at the border</title><link>https://news.example.org/g1</link><description>Agents seized fentanyl.</description></item>`+
			`</channel></rss>`)
	}))
	t.Cleanup(feeds.Close)
	refusing := newReceiver(t, func(int) int { return http.StatusBadRequest })
	t.Setenv("NW_INSPECT_TOKEN", opsToken)
	dir := t.TempDir()
	d := startDaemon(t, dir, map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"http":     map[string]any{"listen": freeAddr(t), "auth": map[string]any{"bearer_token": "${NW_INSPECT_TOKEN}"}},
		"log":      map[string]any{"level": "info"},
		"sources": []any{
			map[string]any{"id": "wire", "url": feeds.URL + "/feed.xml", "interval": "1h"},
			map[string]any{"id": "gone", "url": feeds.URL + "/old.xml", "interval": "1h"},
		},
		"topics": []any{map[string]any{"id": "fentanyl", "query": "fentanyl"}},
		"subscribers": []any{
			map[string]any{"id": "desk", "type": "webhook", "url": refusing.srv.URL + "/hook", "secret": secret,
				"retry": map[string]any{"attempts": 1, "initial": "10ms", "max": "10ms"}},
		},
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, dl := d.do(t, "GET", "/api/deadletters", bearer())
		_, src := d.do(t, "GET", "/api/sources?status=pending", bearer())
		if strings.Contains(dl, `"seq"`) && strings.Contains(src, `"total": 0`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter and fetched sources after 60s:\n%s\n%s\n%s", dl, src, d.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	commands := [][]string{
		{"sources"}, {"sources", "-v"}, {"sources", "-json"},
		{"deadletters", "list"}, {"deadletters", "list", "-v"}, {"deadletters", "list", "-json"},
	}
	outputs := func(when string) []string {
		var outs []string
		for _, c := range commands {
			args := append(append([]string{}, c...), "-config", d.path)
			if c[0] == "deadletters" {
				args = append([]string{c[0], c[1], "-config", d.path}, c[2:]...)
			}
			code, out, errs := runCLI(t, args...)
			if code != 0 {
				t.Fatalf("%s: %q: exit %d\n%s", when, args, code, errs)
			}
			outs = append(outs, spaces.ReplaceAllString(relTimes.ReplaceAllString(out, "T"), "  "))
		}
		return outs
	}
	running := outputs("daemon running")
	d.stop()
	stopped := outputs("daemon stopped")
	for i, c := range commands {
		if running[i] != stopped[i] {
			t.Errorf("%q while the daemon runs:\n%s\nonce it stopped:\n%s", c, running[i], stopped[i])
		}
	}

	table, verbose, js := running[0], running[1], running[2]
	if !strings.Contains(table, "NEXT FETCH") || !strings.Contains(table, "the feed is gone (HTTP 404): check the URL") {
		t.Errorf("sources table lacks the problem in words:\n%s", table)
	}
	if !strings.Contains(verbose, "gone ("+feeds.URL+"/old.xml):\n  ") || !strings.Contains(verbose, "404") {
		t.Errorf("sources -v lacks the whole error:\n%s", verbose)
	}
	var line struct {
		ID        string  `json:"id"`
		URL       string  `json:"url"`
		Error     string  `json:"error"`
		Problem   string  `json:"problem"`
		NextDue   *string `json:"next_due"`
		NextFetch *string `json:"next_fetch"`
	}
	for l := range strings.Lines(js) {
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("sources -json: %v: %s", err, l)
		}
		if line.NextDue == nil || line.NextFetch == nil || *line.NextDue != *line.NextFetch {
			t.Errorf("sources -json: next_due and next_fetch differ or are missing: %s", l)
		}
		if line.ID == "gone" && (line.Error == "" || line.Problem == "" || line.URL != feeds.URL+"/old.xml") {
			t.Errorf("sources -json for gone: %s", l)
		}
	}
	dl, dlVerbose, dlJSON := running[3], running[4], running[5]
	if !strings.Contains(dl, "PROBLEM") || !strings.Contains(dl, "the receiver refused the alert (HTTP 400 Bad Request)") || !strings.Contains(dl, "1 dead letter\n") {
		t.Errorf("deadletters list:\n%s", dl)
	}
	if !strings.Contains(dlVerbose, "try 1 at ") || !strings.Contains(dlVerbose, "status 400") {
		t.Errorf("deadletters list -v lacks every attempt:\n%s", dlVerbose)
	}
	if !strings.Contains(dlJSON, `"attempts":[{`) || !strings.Contains(dlJSON, `"alert":{`) {
		t.Errorf("deadletters list -json is not the whole record:\n%s", dlJSON)
	}
	if strings.Contains(strings.Join(running, ""), opsToken) {
		t.Errorf("an output holds the API token")
	}
}
