// Command rsschild serves one feed body on loopback, fetches it several
// times at once through a fetcher.Fetcher and prints its own peak
// resident set (VmHWM, Linux) as "peak-rss-kb: N". The fetcher package's
// peak-RSS test builds it without -race, whatever the test binary was
// built with, so that the bound it checks means the same under -race.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"time"

	"newswatch/config"
	"newswatch/fetcher"
)

func main() {
	bodyPath := flag.String("body", "", "file holding the feed body to serve")
	fetches := flag.Int("fetches", 4, "fetches of the body at once")
	flag.Parse()
	if err := run(*bodyPath, *fetches); err != nil {
		fmt.Fprintln(os.Stderr, "rsschild:", err)
		os.Exit(1)
	}
}

func run(bodyPath string, fetches int) error {
	body, err := os.ReadFile(bodyPath)
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	// No per-host limits: the fetches run together, as four sources on
	// four hosts would.
	f := fetcher.New(config.Fetch{Timeout: 2 * time.Minute, HostInterval: -1, PerHost: fetches}, nil)
	var wg sync.WaitGroup
	for i := range fetches {
		wg.Go(func() {
			src := config.Source{ID: fmt.Sprintf("src%d", i), Type: "feed", URL: fmt.Sprintf("%s/%d", srv.URL, i), Interval: time.Minute}
			res, err := f.Fetch(context.Background(), src, fetcher.Validator{})
			n := 0
			if res != nil {
				n = len(res.Articles)
			}
			fmt.Printf("fetch %d: %d bytes, %d articles, err %v\n", i, len(body), n, err)
		})
	}
	wg.Wait()
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return fmt.Errorf("peak RSS: %w", err)
	}
	for line := range strings.Lines(string(st)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fmt.Printf("peak-rss-kb: %s\n", strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return nil
		}
	}
	return fmt.Errorf("peak RSS: no VmHWM in /proc/self/status")
}
