package web

import (
	"context"
	"newswatch/internal/browser"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestPreviewInBrowser types a query into the preview page in headless
// Chromium and checks that matches arrive with the hit highlighted and
// the per-day chart drawn, then saves a screenshot.
func TestPreviewInBrowser(t *testing.T) {
	base := previewServer(t, testArchive())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bctx := browser.Start(ctx, t, 1100, 900)
	if _, err := chromedp.Call(bctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": "Bearer tok"},
	}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx,
		chromedp.Navigate(base+"/topics/china/preview"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-state="done"]`)),
	); err != nil {
		t.Fatalf("load the page: %v", err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.getElementById("q").value = ""; true`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx,
		// A compile error is shown with its position marked.
		chromedp.SendKeys(chromedp.CSS(`#q`), "fentanyl AND (china"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-state="error"] .err .caret`)),
		chromedp.SendKeys(chromedp.CSS(`#q`), ")"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-state="done"] #matches mark`)),
	); err != nil {
		t.Fatalf("type a query: %v", err)
	}
	mark, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(`#matches mark`)))
	if err != nil {
		t.Fatal(err)
	}
	bars, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelectorAll("#chart rect.bar").length + " bars, " + document.getElementById("counts").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if mark != "fentanyl" && mark != "china" && mark != "Beijing" && mark != "China" {
		t.Errorf("highlighted %q, want a query term", mark)
	}
	if want := "2 bars, matched: 1"; len(bars) < len(want) || bars[:len(want)] != want {
		t.Errorf("chart and counts: %q, want %q…", bars, want)
	}
	dir := os.Getenv("NEWSWATCH_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "testdata", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "preview.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}
}
