package fetcher

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"

	"newswatch/config"
	"newswatch/fetcher/fetchtest"
)

// The refresh benchmark of issue 3, without the bus: N synthetic feeds
// (20 items of ~1 KB HTML) served on loopback, refreshed through Fetch by
// a pool of workers. Each N runs three sub-benchmarks:
//
//	gofeed  gofeed alone parsing the same bytes, one feed after another
//	full    every feed changed: a full fetch and parse of all N
//	304     nothing changed: every feed answers 304 Not Modified
//
// "full" also reports cpu-ratio: its process CPU time (client, loopback
// server and parsing) over gofeed's for the same bytes. Run with
//
//	go test ./fetcher/ -run '^$' -bench Refresh -benchtime 3x
//	NEWSWATCH_BENCH_FEEDS=1000,10000 go test ./fetcher/ -run '^$' -bench Refresh -benchtime 3x
func BenchmarkRefresh(b *testing.B) {
	counts := []int{1000}
	if v := os.Getenv("NEWSWATCH_BENCH_FEEDS"); v != "" {
		counts = counts[:0]
		for _, s := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n <= 0 {
				b.Fatalf("NEWSWATCH_BENCH_FEEDS: bad count %q", s)
			}
			counts = append(counts, n)
		}
	}
	workers := 32
	for _, n := range counts {
		srv := fetchtest.NewServer(fetchtest.Options{Feeds: n})
		srcs := srv.Sources()
		f := New(config.Fetch{Timeout: 30 * time.Second, PerHost: workers, HostInterval: -1}, nil)
		var gofeedCPU time.Duration // per refresh, measured by the gofeed run

		b.Run(fmt.Sprintf("feeds=%d/gofeed", n), func(b *testing.B) {
			var buf bytes.Buffer
			var total time.Duration
			var size int64
			for i := 0; i < b.N; i++ {
				for k := 0; k < n; k++ {
					buf.Reset()
					buf.Write(srv.Body(k))
					size += int64(buf.Len())
					c0 := cpuTime()
					if _, err := gofeed.NewParser().Parse(bytes.NewReader(buf.Bytes())); err != nil {
						b.Fatal(err)
					}
					total += cpuTime() - c0
				}
			}
			gofeedCPU = total / time.Duration(b.N)
			b.ReportMetric(float64(gofeedCPU.Milliseconds()), "cpu-ms/refresh")
			b.ReportMetric(float64(size)/float64(b.N)/float64(n)/1024, "KB/feed")
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "feeds/s")
		})

		validators := make([]Validator, n)
		b.Run(fmt.Sprintf("feeds=%d/full", n), func(b *testing.B) {
			var cpu time.Duration
			for i := 0; i < b.N; i++ {
				srv.Bump() // new items and validators everywhere
				c0 := cpuTime()
				articles := refresh(b, f, srcs, validators, workers, false)
				cpu += cpuTime() - c0
				if articles != n*20 {
					b.Fatalf("%d articles, want %d", articles, n*20)
				}
			}
			per := cpu / time.Duration(b.N)
			b.ReportMetric(float64(per.Milliseconds()), "cpu-ms/refresh")
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "feeds/s")
			if gofeedCPU > 0 {
				b.ReportMetric(float64(per)/float64(gofeedCPU), "cpu-ratio")
			}
			b.ReportMetric(float64(maxRSS())/1024, "peak-rss-MB")
		})

		b.Run(fmt.Sprintf("feeds=%d/304", n), func(b *testing.B) {
			refresh(b, f, srcs, validators, workers, false) // prime validators
			b.ResetTimer()
			var cpu time.Duration
			for i := 0; i < b.N; i++ {
				c0 := cpuTime()
				refresh(b, f, srcs, validators, workers, true)
				cpu += cpuTime() - c0
			}
			b.ReportMetric(float64((cpu / time.Duration(b.N)).Milliseconds()), "cpu-ms/refresh")
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "feeds/s")
			b.ReportMetric(float64(maxRSS())/1024, "peak-rss-MB")
		})
		srv.Close()
	}
}

// refresh fetches every source once with a pool of workers, keeping each
// source's validator, and returns the number of articles.
func refresh(b *testing.B, f *Fetcher, srcs []config.Source, validators []Validator, workers int, want304 bool) int {
	jobs := make(chan int)
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				res, err := f.Fetch(context.Background(), srcs[i], validators[i])
				if err != nil {
					b.Error(err)
					continue
				}
				if want304 && !res.NotModified {
					b.Errorf("%s: status %d, want 304", srcs[i].ID, res.Status)
				}
				validators[i] = res.Validator
				mu.Lock()
				total += len(res.Articles)
				mu.Unlock()
			}
		}()
	}
	for i := range srcs {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return total
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// maxRSS is the process's peak resident set in KB (Linux units).
func maxRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss
}
