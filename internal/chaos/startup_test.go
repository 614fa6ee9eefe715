package chaos

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"newswatch/bus"
	"newswatch/internal/harness"
)

// TestTwoReplicasStartTogether starts two replicas at the same instant
// against a fresh three-node cluster with R3 streams, as compose and a
// two-replica Deployment do. Concurrent creates of one R3 stream can go
// unanswered; both replicas must still be up well within the daemon's
// one-minute start budget.
func TestTwoReplicasStartTogether(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node NATS cluster; skipped with -short")
	}
	t.Parallel()
	for round := range 2 {
		cl, err := harness.StartCluster(3, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		cfg := parseConfig(t, map[string]any{
			"data_dir": filepath.Join(t.TempDir(), "data"),
			"nats":     map[string]any{"url": cl.URL(), "replicas": 3},
			"http":     map[string]any{"listen": ""},
			"topics":   harness.RepoTopics(t, "../../config.yaml"),
		})
		const budget = 40 * time.Second
		ctx, cancel := context.WithTimeout(context.Background(), budget)
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make([]error, 2)
		took := make([]time.Duration, 2)
		for i := range 2 {
			wg.Go(func() {
				<-start
				t0 := time.Now()
				b, err := bus.Open(ctx, cfg, testLogger(t, []string{"a", "b"}[i]))
				took[i], errs[i] = time.Since(t0), err
				if err == nil {
					b.Close()
				}
			})
		}
		close(start)
		wg.Wait()
		cancel()
		cl.Shutdown()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d: replica %d: open after %s: %v", round, i, took[i].Round(time.Millisecond), err)
			} else {
				t.Logf("round %d: replica %d up after %s", round, i, took[i].Round(time.Millisecond))
			}
		}
	}
}
