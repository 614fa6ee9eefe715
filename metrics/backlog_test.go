package metrics

import (
	"context"
	"maps"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// backlogs gathers m and returns newswatch_subscriber_backlog per
// subscriber, checking its type and its only label on the way.
func backlogs(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "newswatch_subscriber_backlog" {
			continue
		}
		if mf.GetType().String() != "GAUGE" {
			t.Errorf("type %s, want GAUGE", mf.GetType())
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != 1 || m.GetLabel()[0].GetName() != "subscriber" {
				t.Fatalf("labels %v, want subscriber only", m.GetLabel())
			}
			out[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	return out
}

func TestBacklogReadAtScrape(t *testing.T) {
	m := New()
	backlog := map[string]int64{"desk": 3}
	m.RegisterBacklog(func(ctx context.Context) map[string]int64 {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("the backlog is read without a deadline")
		}
		return backlog
	})
	for _, want := range []map[string]float64{
		{"desk": 3},
		{"desk": 0, "pager": 7},
		{},
	} {
		backlog = map[string]int64{}
		for k, v := range want {
			backlog[k] = int64(v)
		}
		if got := backlogs(t, m.Registry); !maps.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	}
	var none *Metrics
	none.RegisterBacklog(func(context.Context) map[string]int64 { return nil })
}
