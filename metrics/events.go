package metrics

import "github.com/prometheus/client_golang/prometheus"

var (
	eventsPendingDesc = prometheus.NewDesc("newswatch_events_pending",
		"Operational events queued in memory, not yet taken by the store.", nil, nil)
	eventsDroppedDesc = prometheus.NewDesc("newswatch_events_dropped_total",
		"Operational events dropped because the queue was full while the store refused them.", nil, nil)
)

// RegisterEvents exports the operational event queue: how many events wait
// for the store and how many were dropped, read at each scrape. An event
// queue that grows is the one fault that can't raise an event of its own,
// so it has to be seen here. It does nothing when m is nil.
func (m *Metrics) RegisterEvents(pending func() int, dropped func() int64) {
	if m == nil {
		return
	}
	_ = m.Registry.Register(eventsCollector{pending, dropped})
}

type eventsCollector struct {
	pending func() int
	dropped func() int64
}

func (c eventsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- eventsPendingDesc
	ch <- eventsDroppedDesc
}

func (c eventsCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(eventsPendingDesc, prometheus.GaugeValue, float64(c.pending()))
	ch <- prometheus.MustNewConstMetric(eventsDroppedDesc, prometheus.CounterValue, float64(c.dropped()))
}
