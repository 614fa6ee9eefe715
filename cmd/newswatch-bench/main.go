// Command newswatch-bench measures newswatch on loopback.
//
//	newswatch-bench fetch [-feeds 1000] [-workers 32] [-items 20]
//
//	newswatch-bench once [-feeds 1000] [-items 20] [-repeat 3]
//
// once runs the newswatch binary's `once` on a synthetic farm (a full
// refresh, 304 rounds, and a config with no sources) and prints wall, CPU
// and peak RSS of each run.
//
// fetch refreshes N synthetic feeds, served by a child process, through the
// real fetch and publish path, twice (the second time every feed answers
// 304), and times gofeed alone on the same bytes as the baseline.
//
//	newswatch-bench e2e [-feeds 1000] [-interval 2s] [-rate 100] [-match 0.05]
//	                    [-duration 60s] [-nodes 1|3] [-replicas 2]
//
// It serves N RSS feeds from an in-process HTTP server, adds items to them
// at a steady rate (a share of them matching a topic), runs newswatch's
// pipeline in-process (on an embedded NATS server, or on a three-node
// JetStream cluster with several replicas), and records every webhook and
// email that arrives. It prints sustained articles/s and alerts/s, the
// latency from an item appearing in its feed to its webhook or email
// arriving (p50/p95/p99/max), peak RSS and CPU, over the whole run and
// over the window items were added in. Feed server, receivers, NATS and
// newswatch share the process, so RSS and CPU cover them all; with
// -cpuprofile FILE the window is profiled with the feed server's and
// receivers' goroutines labelled part=harness (go tool pprof -tags FILE).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/mail"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/internal/clock"
	"newswatch/internal/harness"
	"newswatch/internal/smtptest"
	"newswatch/news"
	"newswatch/notifier"
	"newswatch/pipeline"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

type options struct {
	feeds     int
	interval  time.Duration
	rate      float64
	match     float64
	duration  time.Duration
	drain     time.Duration
	nodes     int
	replicas  int
	workers   int
	topicsCfg string
	verbose   bool
	cpuprof   string
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "fetch" {
		return fetchCmd(ctx, args[1:], stdin, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "once" {
		return onceCmd(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "e2e" {
		fmt.Fprintln(stderr, "usage: newswatch-bench e2e|fetch|once [flags]  (newswatch-bench e2e -help, fetch -help, once -help for the flags)")
		return 2
	}
	fs := flag.NewFlagSet("e2e", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.IntVar(&o.feeds, "feeds", 1000, "number of feeds")
	fs.DurationVar(&o.interval, "interval", 2*time.Second, "poll interval of every feed")
	fs.Float64Var(&o.rate, "rate", 100, "items added per second, over all feeds")
	fs.Float64Var(&o.match, "match", 0.05, "share of items that match a topic")
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "how long items are added")
	fs.DurationVar(&o.drain, "drain", 30*time.Second, "how long to wait for the last alerts")
	fs.IntVar(&o.nodes, "nodes", 1, "1: embedded NATS; 3: a three-node JetStream cluster")
	fs.IntVar(&o.replicas, "replicas", 2, "newswatch replicas on the cluster (with -nodes 3)")
	fs.IntVar(&o.workers, "workers", 32, "fetch workers per replica")
	fs.StringVar(&o.topicsCfg, "config", "config.yaml", "config file whose topics are used")
	fs.BoolVar(&o.verbose, "v", false, "log newswatch warnings")
	fs.StringVar(&o.cpuprof, "cpuprofile", "", "write a CPU profile of the measurement window to this file; the feed server's and receivers' goroutines carry the label part=harness (go tool pprof -tags FILE)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if o.nodes != 1 && o.nodes != 3 {
		fmt.Fprintln(stderr, "newswatch-bench: -nodes must be 1 or 3")
		return 2
	}
	res, err := e2e(ctx, o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "newswatch-bench: %v\n", err)
		return 1
	}
	res.print(stdout)
	return 0
}

type result struct {
	o                  options
	window             time.Duration
	items, matching    int
	articles           uint64
	feedRequests       int64
	hookLat, mailLat   []time.Duration
	hookWant, mailWant int
	hookDup, mailDup   int
	peakRSSKiB         int64
	cpu                time.Duration
	wall               time.Duration
	windowCPU          time.Duration // CPU while items were added, warm-up and drain left out
}

func e2e(ctx context.Context, o options, stderr io.Writer) (*result, error) {
	startWall, startCPU := time.Now(), cpuTime()
	topics, err := loadTopics(o.topicsCfg)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "newswatch-bench-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(dir)

	// The servers standing in for the outside world are started under a
	// profiler label, which their goroutines inherit, so that a CPU
	// profile tells their share from newswatch's (-cpuprofile).
	var (
		feeds *harness.FeedServer
		hook  *harness.Webhook
		smtp  *smtptest.Server
	)
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	pprof.Do(ctx, pprof.Labels("part", "harness"), func(context.Context) {
		if feeds, err = harness.StartFeedServer(); err != nil {
			return
		}
		if hook, err = harness.StartWebhook(secret); err != nil {
			return
		}
		smtp, err = smtptest.Listen()
	})
	defer func() {
		if feeds != nil {
			feeds.Close()
		}
		if hook != nil {
			hook.Close()
		}
		if smtp != nil {
			smtp.Close()
		}
	}()
	if err != nil {
		return nil, err
	}
	feeds.Keep = 20

	natsCfg := map[string]any{}
	replicas := 1
	if o.nodes == 3 {
		cl, err := harness.StartCluster(3, filepath.Join(dir, "nats"))
		if err != nil {
			return nil, err
		}
		defer cl.Shutdown()
		natsCfg = map[string]any{"url": cl.URL(), "replicas": 3}
		replicas = o.replicas
	}
	sources := make([]any, o.feeds)
	for i := range o.feeds {
		sources[i] = map[string]any{"id": fmt.Sprintf("feed-%d", i), "type": "feed", "url": feeds.URL(strconv.Itoa(i)), "interval": o.interval.String()}
	}
	cfg, err := parseConfig(map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"nats":     natsCfg,
		"http":     map[string]any{"listen": ""},
		"fetch": map[string]any{"interval": o.interval.String(), "timeout": "5s", "workers": o.workers,
			"per_host": 4 * o.workers, "host_interval": "-1s"},
		"sources": sources,
		"topics":  topics,
		"subscribers": []any{
			map[string]any{"id": "desk", "type": "webhook", "url": hook.URL(), "secret": secret},
			map[string]any{"id": "analyst", "type": "email", "to": []string{"analyst@example.org"}, "topics": []string{"fentanyl"}},
		},
		"smtp": map[string]any{"host": smtp.Host, "port": smtp.Port, "tls": "none", "from": "alerts@example.org"},
	})
	if err != nil {
		return nil, err
	}
	level := slog.LevelError
	if o.verbose {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var buses []*bus.Bus
	done := make(chan error, replicas)
	for i := range replicas {
		octx, ocancel := context.WithTimeout(ctx, time.Minute)
		b, err := bus.Open(octx, cfg, log.With("replica", i))
		ocancel()
		if err != nil {
			return nil, err
		}
		buses = append(buses, b)
		p, err := pipeline.New(cfg, b, log.With("replica", i), nil)
		if err != nil {
			return nil, err
		}
		go func() { done <- p.Run(runCtx, pipeline.AllRoles) }()
	}
	defer func() {
		cancel()
		for range replicas {
			<-done
		}
		for _, b := range buses {
			b.Close()
		}
	}()

	// Let every source be fetched once (empty) before measuring.
	fmt.Fprintf(stderr, "warming up: %d feeds every %s, %d node(s), %d replica(s)\n", o.feeds, o.interval, o.nodes, replicas)
	if !clock.Sleep(ctx, 2*o.interval+2*time.Second) {
		return nil, ctx.Err()
	}
	articles0, err := streamMsgs(ctx, buses[0], buses[0].Names.ArticleStream)
	if err != nil {
		return nil, err
	}

	res := &result{o: o}
	published := map[string]time.Time{} // alert id → when its item appeared
	hookWant, mailWant := map[string]bool{}, map[string]bool{}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	fmt.Fprintf(stderr, "adding %.0f items/s for %s (%.0f%% matching)\n", o.rate, o.duration, 100*o.match)
	reqs0 := feeds.Requests()
	if o.cpuprof != "" {
		f, err := os.Create(o.cpuprof)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	cpu0 := cpuTime()
	start := time.Now()
	tick := time.NewTicker(time.Duration(float64(time.Second) / o.rate))
	for n := 0; time.Since(start) < o.duration; n++ {
		select {
		case <-ctx.Done():
			tick.Stop()
			return nil, ctx.Err()
		case <-tick.C:
		}
		it := harness.Item{GUID: fmt.Sprintf("b-%d", n)}
		matching := rng.Float64() < o.match
		if matching {
			it.Title = fmt.Sprintf("Border agents seize fentanyl pills in raid %d", n)
			it.Body = "Officers found counterfeit tablets laced with fentanyl."
		} else {
			it.Title = fmt.Sprintf("Local bakery wins regional award %d", n)
			it.Body = "The shop's sourdough impressed the judges."
		}
		at := feeds.Add(strconv.Itoa(rng.IntN(o.feeds)), it)
		res.items++
		if matching {
			res.matching++
			id := news.AlertID("fentanyl", it.ArticleID())
			published[id] = at
			hookWant[id], mailWant[id] = true, true
		}
	}
	tick.Stop()
	res.window = time.Since(start)
	res.windowCPU = cpuTime() - cpu0
	if o.cpuprof != "" {
		pprof.StopCPUProfile()
	}
	res.feedRequests = feeds.Requests() - reqs0

	// Wait for the last alerts.
	deadline := time.Now().Add(o.drain)
	for time.Now().Before(deadline) {
		if countDelivered(hook.Deliveries(), hookWant) == len(hookWant) && countMail(smtp.Messages(), mailWant) == len(mailWant) {
			break
		}
		if !clock.Sleep(ctx, 100*time.Millisecond) {
			return nil, ctx.Err()
		}
	}
	articles1, err := streamMsgs(ctx, buses[0], buses[0].Names.ArticleStream)
	if err != nil {
		return nil, err
	}
	res.articles = articles1 - articles0

	res.hookWant, res.mailWant = len(hookWant), len(mailWant)
	seen := map[string]bool{}
	for _, d := range hook.Deliveries() {
		at, ok := published[d.AlertID]
		if !ok {
			continue
		}
		if seen[d.AlertID] {
			res.hookDup++
			continue
		}
		seen[d.AlertID] = true
		res.hookLat = append(res.hookLat, d.At.Sub(at))
	}
	byMID := map[string]string{}
	for id := range mailWant {
		byMID[notifier.MessageID("analyst", id)] = id
	}
	seenMail := map[string]bool{}
	for _, m := range smtp.Messages() {
		id := byMID[messageID(m)]
		at, ok := published[id]
		if !ok {
			continue
		}
		if seenMail[id] {
			res.mailDup++
			continue
		}
		seenMail[id] = true
		res.mailLat = append(res.mailLat, m.At.Sub(at))
	}
	res.peakRSSKiB = peakRSS()
	res.cpu = cpuTime() - startCPU
	res.wall = time.Since(startWall)
	return res, nil
}

func countDelivered(ds []harness.Delivery, want map[string]bool) int {
	got := map[string]bool{}
	for _, d := range ds {
		if want[d.AlertID] {
			got[d.AlertID] = true
		}
	}
	return len(got)
}

func countMail(ms []smtptest.Message, want map[string]bool) int {
	byMID := map[string]bool{}
	for id := range want {
		byMID[notifier.MessageID("analyst", id)] = true
	}
	got := map[string]bool{}
	for _, m := range ms {
		if mid := messageID(m); byMID[mid] {
			got[mid] = true
		}
	}
	return len(got)
}

func messageID(m smtptest.Message) string {
	msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
	if err != nil {
		return ""
	}
	return strings.Trim(msg.Header.Get("Message-Id"), "<> ")
}

func (r *result) print(w io.Writer) {
	mode := "1 node (embedded)"
	if r.o.nodes == 3 {
		mode = fmt.Sprintf("3-node cluster, R3, %d replicas", r.o.replicas)
	}
	secs := r.window.Seconds()
	fmt.Fprintf(w, "setup: %s; %d feeds polled every %s; %.0f items/s, %.0f%% matching; %s\n",
		mode, r.o.feeds, r.o.interval, r.o.rate, 100*r.o.match, r.window.Round(time.Second))
	fmt.Fprintf(w, "feed requests: %.0f/s\n", float64(r.feedRequests)/secs)
	fmt.Fprintf(w, "articles: %d added, %d ingested (%.1f/s)\n", r.items, r.articles, float64(r.articles)/secs)
	fmt.Fprintf(w, "alerts: %d expected per subscriber; webhook %d delivered (%.2f/s), %d repeats; email %d delivered, %d repeats\n",
		r.hookWant, len(r.hookLat), float64(len(r.hookLat))/secs, r.hookDup, len(r.mailLat), r.mailDup)
	fmt.Fprintf(w, "latency item→webhook: %s\n", quantiles(r.hookLat))
	fmt.Fprintf(w, "latency item→email:   %s\n", quantiles(r.mailLat))
	fmt.Fprintf(w, "peak RSS: %d MiB; CPU: %.1fs over %.1fs wall (%.2f cores)\n",
		r.peakRSSKiB/1024, r.cpu.Seconds(), r.wall.Seconds(), r.cpu.Seconds()/r.wall.Seconds())
	// The steady state: polling and delivery only. It still counts the
	// feed server and the receivers, which share the process.
	fmt.Fprintf(w, "CPU while items were added: %.2fs over %.1fs (%.1f%% of one core, feed server and receivers included)\n",
		r.windowCPU.Seconds(), secs, 100*r.windowCPU.Seconds()/secs)
}

func quantiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "no samples"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))].Round(time.Millisecond) }
	return fmt.Sprintf("p50 %s, p95 %s, p99 %s, max %s (n=%d)", q(0.50), q(0.95), q(0.99), s[len(s)-1].Round(time.Millisecond), len(s))
}

func loadTopics(path string) ([]map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("topics: %w", err)
	}
	var doc struct {
		Topics []map[string]any `yaml:"topics"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("topics from %s: %w", path, err)
	}
	if len(doc.Topics) == 0 {
		return nil, fmt.Errorf("no topics in %s", path)
	}
	return doc.Topics, nil
}

func parseConfig(m map[string]any) (*config.Config, error) {
	data, err := yaml.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := config.Parse(data, os.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

func streamMsgs(ctx context.Context, b *bus.Bus, name string) (uint64, error) {
	st, err := b.StreamState(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", name, err)
	}
	return st.Msgs, nil
}

// peakRSS is the process's peak resident set (VmHWM) in KiB, 0 when
// unknown.
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// cpuTime is the user and system CPU time the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
