package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mmcdole/gofeed"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/fetcher/fetchtest"
	"newswatch/pipeline"
)

// fetchCmd runs `newswatch-bench fetch` (and `feeds`, the feed server
// process it starts).
func fetchCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "feeds" {
		return serveFeeds(args[1:], stdin, stdout, stderr)
	}
	fs := flag.NewFlagSet("fetch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, fetchHelp); fs.PrintDefaults() }
	cfgPath := fs.String("config", "config.yaml", "config file whose topics are used")
	feeds := fs.Int("feeds", 1000, "number of synthetic feeds")
	workers := fs.Int("workers", 32, "concurrent fetches")
	items := fs.Int("items", 20, "items per feed")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	repeat := fs.Int("repeat", 3, "how many times the seen round and gofeed alone are measured, alternately (the medians are reported)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "newswatch-bench: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "newswatch-bench: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	if *repeat < 1 {
		fmt.Fprintln(stderr, "newswatch-bench fetch: -repeat must be at least 1")
		return 2
	}
	r, err := benchFetch(ctx, stderr, *cfgPath, *feeds, *workers, *items, *repeat)
	if err != nil {
		fmt.Fprintf(stderr, "newswatch-bench fetch: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, r)
	return 0
}

const fetchHelp = `Usage: newswatch-bench fetch [-feeds N] [-workers W] [-items K] [-repeat R] [-config FILE]

Serves N synthetic feeds (K items of ~1 KB HTML, 5% on topic) from a
separate process on 127.0.0.1, then refreshes them all through the real
fetcher and publish path (embedded NATS in a temporary data dir, topics
from the config), and a second time when every feed answers 304. In the
same run it times gofeed alone parsing the same bytes, the floor a
refresh can reach. A third round gives every feed one new item (the steady
state: a 200 whose other items were all seen before). The seen round and
gofeed alone are measured R times, alternately, and their medians
compared, since one CPU figure on a shared machine is noisy. Prints wall
time, feeds/s, CPU time and peak RSS.

`

// serveFeeds is the feed server process of the fetch benchmark: it prints
// its base URL, then serves until stdin closes.
func serveFeeds(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("feeds", flag.ContinueOnError)
	fs.SetOutput(stderr)
	feeds := fs.Int("feeds", 1000, "number of synthetic feeds")
	items := fs.Int("items", 20, "items per feed")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	srv := fetchtest.NewServer(fetchtest.Options{Feeds: *feeds, Items: *items})
	defer srv.Close()
	fmt.Fprintln(stdout, srv.Server.URL)
	// "touch" gives every feed one new item and new validators.
	lines := bufio.NewScanner(stdin)
	for lines.Scan() {
		if lines.Text() == "touch" {
			srv.Touch()
			fmt.Fprintln(stdout, "touched")
		}
	}
	return 0
}

func benchFetch(ctx context.Context, stderr io.Writer, cfgPath string, n, workers, items, repeat int) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	child := exec.CommandContext(ctx, exe, "fetch", "feeds", "-feeds", fmt.Sprint(n), "-items", fmt.Sprint(items))
	stdin, _ := child.StdinPipe()
	stdout, _ := child.StdoutPipe()
	child.Stderr = stderr
	if err := child.Start(); err != nil {
		return "", fmt.Errorf("start feed server: %w", err)
	}
	defer func() { stdin.Close(); _ = child.Wait() }()
	childOut := bufio.NewReader(stdout)
	line, err := childOut.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("feed server: %w", err)
	}
	base := strings.TrimSpace(line)

	topics := []config.Topic{{ID: "fentanyl", Query: "fentanyl"}, {ID: "us-china", Query: "china AND (US OR washington)"}}
	if c, err := config.Load(cfgPath); err == nil {
		topics = c.Topics
	}
	dir, err := os.MkdirTemp("", "newswatch-bench-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	cfg := &config.Config{DataDir: filepath.Join(dir, "data"), Topics: topics}
	cfg.Fetch.Workers = workers
	// Every synthetic feed is on one loopback host: lift the per-host
	// politeness that would otherwise serialise them.
	cfg.Fetch.PerHost = workers
	cfg.Fetch.HostInterval = -1
	for i := range n {
		cfg.Sources = append(cfg.Sources, config.Source{ID: fmt.Sprintf("feed-%d", i), Type: "feed",
			URL: fmt.Sprintf("%s/feed/%d.xml", base, i), Interval: time.Hour})
	}
	cfg.ApplyDefaults()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := bus.Open(ctx, cfg, log)
	if err != nil {
		return "", err
	}
	defer b.Close()
	p, err := pipeline.New(cfg, b, log, nil)
	if err != nil {
		return "", err
	}

	round := func() (time.Duration, time.Duration, int, int, error) {
		var newArticles, failed atomic.Int64
		var firstErr atomic.Value
		start, cpu0 := time.Now(), cpuTime()
		jobs := make(chan config.Source)
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for src := range jobs {
					r, err := p.FetchNow(ctx, src)
					if err == nil {
						err = r.Err
					}
					if err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err)
					}
					newArticles.Add(int64(r.New))
				}
			}()
		}
		for _, s := range cfg.Sources {
			jobs <- s
		}
		close(jobs)
		wg.Wait()
		var err error
		if e, ok := firstErr.Load().(error); ok {
			err = fmt.Errorf("%d feeds failed, first: %w", failed.Load(), e)
		}
		return time.Since(start), cpuTime() - cpu0, int(newArticles.Load()), int(failed.Load()), err
	}
	fullWall, fullCPU, newArticles, _, err := round()
	if err != nil {
		return "", err
	}
	rssAfterFull := peakRSS() << 10
	nmWall, nmCPU, _, _, err := round()
	if err != nil {
		return "", err
	}
	rss := peakRSS() << 10
	touch := func() error {
		if _, err := io.WriteString(stdin, "touch\n"); err != nil {
			return fmt.Errorf("feed server: %w", err)
		}
		if _, err := childOut.ReadString('\n'); err != nil {
			return fmt.Errorf("feed server: %w", err)
		}
		return nil
	}

	// Baseline: gofeed alone on the same bytes, one parser per worker.
	local := fetchtest.NewServer(fetchtest.Options{Feeds: n, Items: items})
	bodies := make([][]byte, n)
	var total int64
	for i := range bodies {
		bodies[i] = local.Body(i)
		total += int64(len(bodies[i]))
	}
	local.Close()
	gofeedAlone := func() (time.Duration, time.Duration) {
		start, cpu0 := time.Now(), cpuTime()
		var wg sync.WaitGroup
		next := atomic.Int64{}
		for range runtime.NumCPU() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				fp := gofeed.NewParser()
				for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
					_, _ = fp.Parse(bytes.NewReader(bodies[i]))
				}
			}()
		}
		wg.Wait()
		return time.Since(start), cpuTime() - cpu0
	}

	// The seen round and the baseline alternate, so that a noisy
	// neighbour weighs on both alike.
	var seenWalls, seenCPUs, baseWalls, baseCPUs []time.Duration
	for range repeat {
		if err := touch(); err != nil {
			return "", err
		}
		wall, cpu, seenNew, _, err := round()
		if err != nil {
			return "", err
		}
		if seenNew != n {
			return "", fmt.Errorf("the round of touched feeds found %d new articles, want one a feed (%d)", seenNew, n)
		}
		seenWalls, seenCPUs = append(seenWalls, wall), append(seenCPUs, cpu)
		wall, cpu = gofeedAlone()
		baseWalls, baseCPUs = append(baseWalls, wall), append(baseCPUs, cpu)
	}
	seenWall, seenCPU := median(seenWalls), median(seenCPUs)
	baseWall, baseCPU := median(baseWalls), median(baseCPUs)

	var out strings.Builder
	fmt.Fprintf(&out, "feeds: %d × %d items, %.1f MB in all; workers: %d; GOMAXPROCS: %d\n", n, items, float64(total)/1e6, workers, runtime.GOMAXPROCS(0))
	fmt.Fprintf(&out, "full refresh:   wall %8s  %8.0f feeds/s  cpu %8s  new articles %d\n", fullWall.Round(time.Millisecond), float64(n)/fullWall.Seconds(), fullCPU.Round(time.Millisecond), newArticles)
	fmt.Fprintf(&out, "304 refresh:    wall %8s  %8.0f feeds/s  cpu %8s\n", nmWall.Round(time.Millisecond), float64(n)/nmWall.Seconds(), nmCPU.Round(time.Millisecond))
	fmt.Fprintf(&out, "seen refresh:   wall %8s  %8.0f feeds/s  cpu %8s  (one new item a feed, the others seen before; median of %d)\n", seenWall.Round(time.Millisecond), float64(n)/seenWall.Seconds(), seenCPU.Round(time.Millisecond), repeat)
	fmt.Fprintf(&out, "gofeed alone:   wall %8s  %8.0f feeds/s  cpu %8s  (median of %d)\n", baseWall.Round(time.Millisecond), float64(n)/baseWall.Seconds(), baseCPU.Round(time.Millisecond), repeat)
	fmt.Fprintf(&out, "full refresh cpu / gofeed cpu: %.2f×\n", fullCPU.Seconds()/baseCPU.Seconds())
	fmt.Fprintf(&out, "seen refresh cpu / gofeed cpu: %.2f× (medians of %d; each round against the baseline beside it: %s)\n", seenCPU.Seconds()/baseCPU.Seconds(), repeat, ratioRange(seenCPUs, baseCPUs))
	fmt.Fprintf(&out, "peak RSS: %.0f MB after the full refresh, %.0f MB after the 304 round (embedded NATS included)\n", float64(rssAfterFull)/(1<<20), float64(rss)/(1<<20))
	return out.String(), nil
}

// median returns the middle of ds (the mean of the two middle ones for an
// even count).
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ratioRange is the lowest and highest of a[i]/b[i].
func ratioRange(a, b []time.Duration) string {
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range a {
		r := a[i].Seconds() / b[i].Seconds()
		lo, hi = math.Min(lo, r), math.Max(hi, r)
	}
	return fmt.Sprintf("%.2f–%.2f×", lo, hi)
}
