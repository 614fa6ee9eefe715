package learn

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the learned stages' series. A nil *Metrics records nothing.
type Metrics struct {
	vetoes *prometheus.CounterVec
	acting *prometheus.GaugeVec
	failed prometheus.Gauge
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
		failed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "newswatch_learned_training_failed", Help: "1 when the last training of the learned stages failed (the feedback bucket could not be read): the stages in force are stale or off.",
		}),
	}
	for _, c := range []prometheus.Collector{m.vetoes, m.acting, m.failed} {
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

// TrainingDone records whether a training failed (err non-nil).
func (m *Metrics) TrainingDone(err error) {
	if m == nil {
		return
	}
	v := 0.0
	if err != nil {
		v = 1
	}
	m.failed.Set(v)
}
