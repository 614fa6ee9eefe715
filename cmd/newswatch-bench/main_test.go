package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestE2ESmoke runs a few seconds of the benchmark on a handful of feeds:
// the command must finish and count every alert it expected.
func TestE2ESmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the pipeline for about 10s; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"e2e", "-feeds", "5", "-interval", "1s", "-rate", "10", "-match", "0.5",
		"-duration", "3s", "-drain", "15s", "-config", "../../config.yaml"}, strings.NewReader(""), &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	t.Log(out.String())
	var want, got int
	for _, line := range strings.Split(out.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, "alerts: "); ok {
			if _, err := fmt.Sscanf(rest, "%d expected per subscriber; webhook %d delivered", &want, &got); err != nil {
				t.Fatalf("unreadable alerts line %q: %v", line, err)
			}
		}
	}
	if want == 0 || got != want {
		t.Errorf("webhook got %d of %d expected alerts:\n%s", got, want, out.String())
	}
	if !strings.Contains(out.String(), "latency item→webhook: p50") {
		t.Errorf("no latency line:\n%s", out.String())
	}
}

// TestMain lets the test binary stand in for newswatch-bench when the fetch
// benchmark starts its feed server process (os.Executable is the test).
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && (os.Args[1] == "fetch" || os.Args[1] == "once" && os.Args[2] == "child") {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestFetchSmoke refreshes a few synthetic feeds through the fetch and
// publish path: every item is new the first time, every feed answers 304
// the second.
func TestFetchSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"fetch", "-feeds", "20", "-items", "5", "-config", "../../config.yaml"}, strings.NewReader(""), &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	for _, want := range []string{"new articles 100\n", "304 refresh:", "gofeed alone:", "peak RSS:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestOnceSmoke runs the once mode on a tiny farm: the full run stores and
// delivers every item, the 304 and empty runs find nothing new, and every
// run reports its wall time, CPU and peak RSS.
func TestOnceSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"once", "-feeds", "5", "-items", "4", "-repeat", "1", "-config", "../../config.yaml"}, strings.NewReader(""), &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	t.Log(out.String())
	row := regexp.MustCompile(`(?m)^(full|304|empty) +wall +\S+ +cpu +\S+ +peak RSS +(\d+) MB +\| sources: (\d+) ok, 0 failed; new articles: (\d+);`)
	got := map[string][]string{}
	for _, m := range row.FindAllStringSubmatch(out.String(), -1) {
		got[m[1]] = m
	}
	for _, c := range []struct{ name, sources, articles string }{
		{"full", "5", "20"}, {"304", "5", "0"}, {"empty", "0", "0"},
	} {
		m, ok := got[c.name]
		if !ok {
			t.Errorf("no %s row:\n%s", c.name, out.String())
			continue
		}
		if m[2] == "0" || m[3] != c.sources || m[4] != c.articles {
			t.Errorf("%s: peak RSS %s MB, %s sources, %s new articles; want RSS > 0, %s sources, %s articles", c.name, m[2], m[3], m[4], c.sources, c.articles)
		}
	}
}
