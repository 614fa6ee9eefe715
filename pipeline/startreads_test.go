package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"newswatch/config"
	"newswatch/metrics"
)

// TestSourceMetricsReadStatesInOnePass: the last-success series given to
// every source at start and at each reload used to cost one store read
// per source, one after another, while the scheduler's watch reads the
// same states in one pass: with many sources, start-up and reloads wait
// on a round trip each. It reads them in one pass, and still gives each
// source its stored last success.
func TestSourceMetricsReadStatesInOnePass(t *testing.T) {
	const n = 60
	cfg := testConfig(t, func(c *config.Config) {
		for i := range n {
			c.Sources = append(c.Sources, config.Source{ID: fmt.Sprintf("s%02d", i), URL: "https://e.org/", Interval: time.Hour})
		}
	})
	b := openBus(t, cfg)
	p, err := New(cfg, b, discard(), metrics.New())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	success := time.Unix(1_700_000_000, 0).UTC()
	for i := range n / 2 { // half the sources have a state
		data, _ := json.Marshal(SourceState{ID: fmt.Sprintf("s%02d", i), Status: "ok", LastSuccess: success})
		if _, err := b.StateKV().Put(ctx, fmt.Sprintf("s%02d", i), data); err != nil {
			t.Fatal(err)
		}
	}

	before := b.NC.Stats().OutMsgs
	p.initSourceMetrics(ctx)
	if sent := b.NC.Stats().OutMsgs - before; sent >= n/2 {
		t.Errorf("reading %d sources' states for their metrics sent %d requests, want a few (one pass)", n, sent)
	}

	got := map[string]float64{}
	mfs, err := p.m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "newswatch_source_last_success_timestamp_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				got[l.GetValue()] = m.GetGauge().GetValue()
			}
		}
	}
	for i := range n {
		id, want := fmt.Sprintf("s%02d", i), float64(0)
		if i < n/2 {
			want = float64(success.Unix())
		}
		if v, ok := got[id]; !ok || v != want {
			t.Errorf("%s last success = %v (series %v), want %v", id, v, ok, want)
		}
	}
}
