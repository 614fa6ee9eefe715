package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// counter gathers reg and returns the value of the counter name for the
// subscriber sub (0 when it has no series).
func counter(t *testing.T, reg *prometheus.Registry, name, sub string) float64 {
	t.Helper()
	return labelled(t, reg, name, "subscriber", sub)
}

// labelled gathers reg and returns the value of the counter name whose
// label is value (0 when it has no such series).
func labelled(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// A 410 Gone disables the subscriber and leaves its alert queued (not
// dead-lettered), so it must not count as a dead letter: an operator
// alerting on newswatch_dead_letters_total would look for one that is not
// there.
func TestDeliveredCountsRetriesAndDeadLetters(t *testing.T) {
	for _, tc := range []struct {
		outcome       string
		retries, dead float64
	}{
		{"ok", 0, 0},
		{"retry", 1, 0},
		{"dead", 0, 1},
		{"gone", 0, 0},
		{"folded", 0, 0},
		{"failed", 0, 0},
	} {
		t.Run(tc.outcome, func(t *testing.T) {
			m := New()
			m.Delivered("desk", tc.outcome)
			if got := counter(t, m.Registry, "newswatch_deliveries_total", "desk"); got != 1 {
				t.Errorf("deliveries = %v, want 1", got)
			}
			if got := counter(t, m.Registry, "newswatch_delivery_retries_total", "desk"); got != tc.retries {
				t.Errorf("retries = %v, want %v", got, tc.retries)
			}
			if got := counter(t, m.Registry, "newswatch_dead_letters_total", "desk"); got != tc.dead {
				t.Errorf("dead letters = %v, want %v", got, tc.dead)
			}
		})
	}
}

// TestFaultCountsExported: the counts read at a scrape reach the
// registry, under the consumer's or stream's label.
func TestFaultCountsExported(t *testing.T) {
	m := New()
	m.RegisterFaults(func() FaultCounts {
		return FaultCounts{
			Lost:   map[string]uint64{"NEWSWATCH_ALERTS": 200},
			Remade: map[string]int64{"classifier": 2},
			Faults: map[string]int{"consumer.error": 0},
		}
	})
	if got := labelled(t, m.Registry, "newswatch_consumers_remade_total", "consumer", "classifier"); got != 2 {
		t.Errorf("newswatch_consumers_remade_total{consumer=classifier} = %v, want 2", got)
	}
	if got := labelled(t, m.Registry, "newswatch_data_lost_messages_total", "stream", "NEWSWATCH_ALERTS"); got != 200 {
		t.Errorf("newswatch_data_lost_messages_total{stream=NEWSWATCH_ALERTS} = %v, want 200", got)
	}
}
