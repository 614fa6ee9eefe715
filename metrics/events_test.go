package metrics

import "testing"

// gathered returns the value of each named metric without labels.
func gathered(t *testing.T, m *Metrics, names ...string) map[string]float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, name := range names {
			if mf.GetName() != name || len(mf.GetMetric()) != 1 {
				continue
			}
			v := mf.GetMetric()[0]
			switch mf.GetType().String() {
			case "GAUGE":
				out[name] = v.GetGauge().GetValue()
			case "COUNTER":
				out[name] = v.GetCounter().GetValue()
			}
		}
	}
	return out
}

func TestEventQueueReadAtScrape(t *testing.T) {
	m := New()
	pending, dropped := 0, int64(0)
	m.RegisterEvents(func() int { return pending }, func() int64 { return dropped })
	for _, c := range []struct {
		pending int
		dropped int64
	}{{0, 0}, {12, 3}, {0, 3}} {
		pending, dropped = c.pending, c.dropped
		got := gathered(t, m, "newswatch_events_pending", "newswatch_events_dropped_total")
		if got["newswatch_events_pending"] != float64(c.pending) || got["newswatch_events_dropped_total"] != float64(c.dropped) || len(got) != 2 {
			t.Errorf("pending %d dropped %d: gathered %v", c.pending, c.dropped, got)
		}
	}
	var none *Metrics
	none.RegisterEvents(func() int { return 0 }, func() int64 { return 0 })
}
