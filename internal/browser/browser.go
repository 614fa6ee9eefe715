// Package browser starts headless Chromium for the browser tests of the
// status page, the trends pages and the query preview, the same way for
// each: it finds the browser (a test fails without one under CI, and
// skips loudly otherwise) and starts it again when it exits before it
// listens, which happens on a loaded machine.
package browser

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"newswatch/internal/fixture"
)

// Exe finds Chromium: $CHROMIUM, else the usual names on PATH.
func Exe(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	fixture.Missing(t, "Chromium is not installed (apt-get install chromium, or set CHROMIUM to the browser)")
	return ""
}

// startAttempts bounds the starts of a browser that exits before it
// listens.
const startAttempts = 3

// Start runs headless Chromium with a window of width × height until ctx
// ends or the test is over, with the network domain enabled, and returns
// the browser's context for chromedp.Run.
func Start(ctx context.Context, t testing.TB, width, height int) context.Context {
	t.Helper()
	exe := Exe(t)
	for attempt := 1; ; attempt++ {
		actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
			chromedp.ExecPath(exe),
			chromedp.Headless,
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.NoFirstRun,
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.Flag("disable-dev-shm-usage", true),
			chromedp.UserDataDir(t.TempDir()),
			chromedp.WindowSize(width, height),
		)
		bctx, cancelBrowser := chromedp.NewContext(actx)
		_, err := chromedp.Call(bctx, network.Enable, network.EnableParams{})
		if err == nil {
			t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
			return bctx
		}
		cancelBrowser()
		cancelAlloc()
		if attempt == startAttempts || ctx.Err() != nil {
			t.Fatalf("start chromium (%d attempts): %v", attempt, err)
		}
		t.Logf("start chromium, attempt %d: %v", attempt, err)
	}
}
