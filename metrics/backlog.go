package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// backlogWait bounds one scrape's reading of the backlogs.
const backlogWait = 2 * time.Second

var backlogDesc = prometheus.NewDesc("newswatch_subscriber_backlog",
	"Alerts waiting for delivery to a subscriber (consumer lag), the one in flight included.",
	[]string{"subscriber"}, nil)

// RegisterBacklog exports newswatch_subscriber_backlog{subscriber}, the
// consumer lag per subscriber, as read returns it at each scrape (a
// subscriber without a consumer yet is left out of the map). It does
// nothing when m is nil.
func (m *Metrics) RegisterBacklog(read func(ctx context.Context) map[string]int64) {
	if m == nil {
		return
	}
	_ = m.Registry.Register(backlogCollector{read})
}

type backlogCollector struct {
	read func(ctx context.Context) map[string]int64
}

func (c backlogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- backlogDesc }

func (c backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), backlogWait)
	defer cancel()
	for sub, n := range c.read(ctx) {
		ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(n), sub)
	}
}
