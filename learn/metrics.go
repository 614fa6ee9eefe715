package learn

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the learned stages' series. A nil *Metrics records nothing.
type Metrics struct {
	vetoes *prometheus.CounterVec
	acting *prometheus.GaugeVec
}

// NewMetrics registers the series on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		vetoes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "newswatch_learned_vetoes_total", Help: "Matches of a topic's query that its learned stage vetoed (no alert sent).",
		}, []string{"topic"}),
		acting: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "newswatch_learned_acting", Help: "1 when a topic's learned stage is enabled and its cross-validation lets it act, 0 when enabled and held back.",
		}, []string{"topic"}),
	}
	for _, c := range []prometheus.Collector{m.vetoes, m.acting} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Vetoed counts a veto.
func (m *Metrics) Vetoed(topic string) {
	if m != nil {
		m.vetoes.WithLabelValues(topic).Inc()
	}
}

// Trained records a gate's verdict on itself.
func (m *Metrics) Trained(r Report) {
	if m == nil {
		return
	}
	v := 0.0
	if r.Allowed {
		v = 1
	}
	m.acting.WithLabelValues(r.Topic).Set(v)
}
