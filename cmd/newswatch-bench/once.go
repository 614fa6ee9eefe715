package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"newswatch/config"
	"newswatch/fetcher/fetchtest"
)

const onceHelp = `Usage: newswatch-bench once [-feeds N] [-items K] [-repeat R] [-bin PATH] [-config FILE]

Runs the whole 'newswatch once' binary, as cron would, on a synthetic farm
served from this process on 127.0.0.1: N feeds of K items of 1-3 KB HTML,
20% on topic, gzip, with per_host: 16 and host_interval: -1ms (every feed
shares one host), the topics of FILE and one webhook subscriber of every
topic (a local receiver). It prints wall time, CPU (user+sys) and peak RSS
of the newswatch process for:

  full    the first run: every item is new, fetched, stored, classified
          and delivered;
  304     every later run: every feed answers 304;
  empty   a config with no sources on an initialised data dir: start,
          check and exit.

The binary is built from this module unless -bin names one. With
-memprofile DIR it is built with -tags memprofile and writes, at its heap's
peak, a heap profile and the runtime's memory figures to DIR/<run>/
(go tool pprof -sample_index=inuse_space DIR/full/*.heap).

`

type onceOptions struct {
	feeds, items, repeat int
	bin, cfgPath         string
	memprofile           string
	timeout              time.Duration
	verbose              bool
}

func onceCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "child" {
		return onceChild(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("once", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, onceHelp); fs.PrintDefaults() }
	var o onceOptions
	fs.IntVar(&o.feeds, "feeds", 1000, "number of synthetic feeds")
	fs.IntVar(&o.items, "items", 20, "items per feed")
	fs.IntVar(&o.repeat, "repeat", 3, "runs of the 304 and empty cases")
	fs.StringVar(&o.bin, "bin", "", "newswatch binary (default: go build newswatch/cmd/newswatch)")
	fs.StringVar(&o.cfgPath, "config", "config.yaml", "config file whose topics are used")
	fs.DurationVar(&o.timeout, "timeout", 0, "newswatch once -timeout (default: its own, 2m; 10,000 feeds need more)")
	fs.StringVar(&o.memprofile, "memprofile", "", "write heap profiles at each run's peak to this directory")
	fs.BoolVar(&o.verbose, "v", false, "copy newswatch's log (warnings and errors) to stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := benchOnce(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "newswatch-bench once: %v\n", err)
		return 1
	}
	return 0
}

// onceRun is one newswatch process as seen from outside.
type onceRun struct {
	wall, cpu time.Duration
	maxRSS    int64 // bytes
	summary   string
}

func benchOnce(ctx context.Context, o onceOptions, stdout, stderr io.Writer) error {
	dir, err := os.MkdirTemp("", "newswatch-bench-once-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.bin == "" {
		o.bin = filepath.Join(dir, "newswatch")
		args := []string{"build", "-o", o.bin}
		if o.memprofile != "" {
			args = append(args, "-tags", "memprofile")
		}
		build := exec.CommandContext(ctx, "go", append(args, "newswatch/cmd/newswatch")...)
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("go build newswatch: %w\n%s", err, out)
		}
	}

	farm := fetchtest.NewServer(fetchtest.Options{Feeds: o.feeds, Items: o.items,
		ItemBytes: 1024, ItemBytesMax: 3072, OnTopic: 0.2, Gzip: true})
	defer farm.Close()
	var hooks atomic.Int64
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		hooks.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()

	// The topics are copied as the file writes them, not through
	// config.Topic, so that a binary older than a topic key still reads
	// the config (a baseline built from an earlier commit).
	topics := []map[string]any{{"id": "fentanyl", "query": "fentanyl"}}
	if ts, err := loadTopics(o.cfgPath); err == nil {
		topics = ts
	}
	ids := make([]string, len(topics))
	for i, t := range topics {
		ids[i], _ = t["id"].(string)
	}
	write := func(name string, sources []config.Source) (string, error) {
		doc := map[string]any{
			"data_dir": filepath.Join(dir, name+"-data"),
			"http":     map[string]any{"listen": ""},
			"log":      map[string]any{"level": "warn"},
			"fetch":    map[string]any{"per_host": 16, "host_interval": "-1ms", "allow_private_networks": true},
			"topics":   topics,
			"sources":  sources,
			"subscribers": []map[string]any{{"id": "hook", "type": "webhook", "url": recv.URL,
				"secret": "whsec_bmV3c3dhdGNoLWJlbmNoLXNlY3JldA==", "topics": ids}},
		}
		b, err := yaml.Marshal(doc)
		if err != nil {
			return "", err
		}
		path := filepath.Join(dir, name+".yaml")
		return path, os.WriteFile(path, b, 0o600)
	}
	farmCfg, err := write("farm", farm.Sources())
	if err != nil {
		return err
	}
	emptyCfg, err := write("empty", nil)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	usage := filepath.Join(dir, "rusage")
	runs := map[string]int{}
	run := func(name, cfgPath string) (onceRun, error) {
		var out, errb bytes.Buffer
		// A child started from this process inherits its peak RSS as
		// its own Maxrss (Linux counts the memory it was started from),
		// so newswatch is started from a small process of its own.
		args := []string{"once", "child", usage, o.bin, "once", "-config", cfgPath}
		if o.timeout > 0 {
			args = append(args, "-timeout", o.timeout.String())
		}
		cmd := exec.CommandContext(ctx, self, args...)
		if o.memprofile != "" {
			runs[name]++
			pdir := filepath.Join(o.memprofile, fmt.Sprintf("%s-%d", name, runs[name]))
			if err := os.MkdirAll(pdir, 0o750); err != nil {
				return onceRun{}, err
			}
			cmd.Env = append(os.Environ(), "NEWSWATCH_MEMPROFILE="+pdir)
		}
		cmd.Stdout, cmd.Stderr = &out, &errb
		if o.verbose {
			cmd.Stderr = io.MultiWriter(&errb, stderr)
		}
		err := cmd.Run()
		r := onceRun{summary: strings.TrimSpace(out.String())}
		if err != nil {
			return r, fmt.Errorf("newswatch once: %w\nstdout: %s\nstderr: %s", err, out.String(), errb.String())
		}
		b, err := os.ReadFile(usage)
		if err != nil {
			return r, err
		}
		var wall, cpu, rss int64
		if _, err := fmt.Sscan(string(b), &wall, &cpu, &rss); err != nil {
			return r, fmt.Errorf("rusage %q: %w", b, err)
		}
		r.wall, r.cpu, r.maxRSS = time.Duration(wall), time.Duration(cpu), rss
		return r, nil
	}

	var total, zipped int64
	for i := range o.feeds {
		total += int64(len(farm.Body(i)))
	}
	fmt.Fprintf(stdout, "farm: %d feeds × %d items (1-3 KB, 20%% on topic), %.1f MB, gzip; per_host 16, host_interval -1ms\n",
		o.feeds, o.items, float64(total)/1e6)
	line := func(name string, r onceRun) {
		fmt.Fprintf(stdout, "%-6s wall %8s  cpu %8s  peak RSS %4.0f MB  | %s\n", name,
			r.wall.Round(time.Millisecond), r.cpu.Round(time.Millisecond), float64(r.maxRSS)/(1<<20), r.summary)
	}
	full, err := run("full", farmCfg)
	if err != nil {
		return err
	}
	_, _, zipped = farm.Stats()
	line("full", full)
	for range max(o.repeat, 1) {
		r, err := run("304", farmCfg)
		if err != nil {
			return err
		}
		line("304", r)
	}
	if _, err := run("init", emptyCfg); err != nil { // creates the streams
		return err
	}
	for range max(o.repeat, 1) {
		r, err := run("empty", emptyCfg)
		if err != nil {
			return err
		}
		line("empty", r)
	}
	fmt.Fprintf(stdout, "bytes on the wire, full refresh: %.1f MB; webhooks received: %d\n", float64(zipped)/1e6, hooks.Load())
	return nil
}

// onceChild runs a command and writes its wall time, CPU time (ns) and
// peak RSS (bytes) to a file: `once child FILE CMD ARGS...`.
func onceChild(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 {
		fmt.Fprintln(stderr, "usage: newswatch-bench once child FILE CMD [ARGS...]")
		return 2
	}
	cmd := exec.CommandContext(ctx, args[1], args[2:]...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		fmt.Fprintln(stderr, err)
		return 1
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		fmt.Fprintln(stderr, "no rusage on this system")
		return 1
	}
	cpu := ru.Utime.Nano() + ru.Stime.Nano()
	if err := os.WriteFile(args[0], fmt.Appendf(nil, "%d %d %d\n", wall.Nanoseconds(), cpu, ru.Maxrss<<10), 0o600); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return cmd.ProcessState.ExitCode()
}
