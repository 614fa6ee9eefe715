package main

import (
	"bytes"
	"context"
	"fmt"
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
		"-duration", "3s", "-drain", "15s", "-config", "../../config.yaml"}, &out, &errb)
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
