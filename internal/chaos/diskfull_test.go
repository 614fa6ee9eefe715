package chaos

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"newswatch/internal/harness"
)

// TestDiskFull runs newswatch with data_dir on a small tmpfs, fills it
// while items arrive, and frees it again. While the disk is full /readyz
// must fail with the reason, the metrics must say so and the log must
// have an ERROR; once space returns, fetching and delivery must resume by
// themselves and every item must arrive.
func TestDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a tmpfs and waits for recovery; skipped with -short")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	harness.MountTmpfs(t, data, "24m", "the full-disk fault")
	t.Parallel()
	bin := buildBinary(t, dir)
	feeds, err := harness.StartFeedServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = feeds.Close() })
	hook, err := harness.StartWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hook.Close)
	addr := pickAddr(t)
	path := harness.WriteConfig(t, dir, map[string]any{
		"data_dir": data,
		"http":     map[string]any{"listen": addr},
		"log":      map[string]any{"level": "info"},
		"fetch":    map[string]any{"interval": "1s", "timeout": "2s", "host_interval": "-1s"},
		"sources": []any{
			map[string]any{"id": "wire", "type": "feed", "url": feeds.URL("a"), "interval": "1s"},
		},
		"topics": harness.RepoTopics(t, "../../config.yaml"),
		"subscribers": []any{
			map[string]any{"id": "desk", "type": "webhook", "url": hook.URL(), "secret": secret, "timeout": "2s",
				"retry": map[string]any{"attempts": 100, "initial": "200ms", "max": "1s"}},
		},
	})
	logPath := filepath.Join(dir, "newswatch.log")
	defer func() {
		if t.Failed() {
			t.Logf("newswatch log (tail):\n%s", tail(logPath, 12000))
		}
	}()
	p := startProc(t, bin, logPath, "run", "-config", path)
	defer p.kill()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if !waitFor(30*time.Second, func() bool { c, _ := get("/readyz"); return c == 200 }) {
		t.Fatal("not ready after 30s")
	}

	want := expectation{}
	subs := map[string][]string{"desk": nil}
	add := func(prefix string, n int) {
		for i := range n {
			it := harness.Item{GUID: fmt.Sprintf("%s-%d", prefix, i),
				Title: fmt.Sprintf(kinds[0].title, i), Body: fmt.Sprintf(kinds[0].body, i)}
			feeds.Add("a", it)
			want.expect(it, kinds[0].topic, subs)
		}
	}
	complete := func() bool {
		return len(harness.Count(want["desk"], webhookDelivered(t, "desk", hook.Deliveries())).Lost) == 0
	}
	add("before", 3)
	if !waitFor(30*time.Second, complete) {
		t.Fatal("the alerts before the disk filled did not arrive")
	}

	// Fill the disk, then publish while it is full.
	filler := filepath.Join(data, "filler")
	fill(t, filler)
	add("full", 5)
	var body string
	if !waitFor(60*time.Second, func() bool {
		var c int
		c, body = get("/readyz")
		return c == http.StatusServiceUnavailable
	}) {
		t.Fatalf("/readyz while the disk is full: %q, want 503", body)
	}
	t.Logf("readyz while full: %s", strings.TrimSpace(body))
	if !strings.Contains(body, "store") {
		t.Errorf("readyz does not name the store: %q", body)
	}
	_, metrics := get("/metrics")
	if !strings.Contains(metrics, "newswatch_store_healthy 0") || !strings.Contains(metrics, `newswatch_faults{kind="store.error"} 1`) {
		t.Errorf("metrics do not show the store fault:\n%s", grepLines(metrics, "newswatch_store", "newswatch_faults"))
	}
	_, problems := get("/api/problems")
	if !strings.Contains(problems, `"store.error"`) || !strings.Contains(problems, "no space left") {
		t.Errorf("/api/problems: %s", problems)
	}
	if _, page := get("/"); !strings.Contains(page, `id="problems"`) {
		t.Error("the status page has no problems block")
	}
	if log, _ := os.ReadFile(logPath); !strings.Contains(string(log), "level=ERROR") {
		t.Error("no ERROR in the log while the disk is full")
	}

	// Space returns: everything resumes, nothing is lost.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	add("after", 3)
	if !waitFor(90*time.Second, func() bool { c, _ := get("/readyz"); return c == 200 && complete() }) {
		_, body = get("/readyz")
		tl := harness.Count(want["desk"], webhookDelivered(t, "desk", hook.Deliveries()))
		t.Fatalf("after space returned: readyz %q; deliveries %s", body, tl)
	}
	_, metrics = get("/metrics")
	if !strings.Contains(metrics, "newswatch_store_healthy 1") {
		t.Errorf("metrics after recovery:\n%s", grepLines(metrics, "newswatch_store", "newswatch_faults"))
	}
	t.Logf("after recovery: %s", harness.Count(want["desk"], webhookDelivered(t, "desk", hook.Deliveries())))
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(45 * time.Second):
		t.Error("no exit 45s after SIGTERM")
	}
}

// fill writes to path until the filesystem is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill: %v", err)
			}
			return
		}
	}
}

func pickAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func grepLines(s string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}
