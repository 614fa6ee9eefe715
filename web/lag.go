package web

import (
	"context"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"newswatch/metrics"
	"newswatch/pipeline"
)

// backlogCollector reports each subscriber's consumer lag at scrape time:
// the alerts waiting for it in the stream, the one in flight included.
type backlogCollector struct {
	p    *pipeline.Pipeline
	desc *prometheus.Desc
}

// RegisterBacklog adds newswatch_subscriber_backlog (consumer lag per
// subscriber) to m's registry; it does nothing when m is nil.
func RegisterBacklog(m *metrics.Metrics, p *pipeline.Pipeline) {
	if m == nil {
		return
	}
	_ = m.Registry.Register(&backlogCollector{p: p, desc: prometheus.NewDesc(
		"newswatch_subscriber_backlog",
		"Alerts waiting for delivery to a subscriber (consumer lag), the one in flight included.",
		[]string{"subscriber"}, nil)})
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, s := range c.p.Config().Subscribers {
		n, err := c.p.Dispatcher().Backlog(ctx, s.ID)
		if err != nil {
			continue // no consumer yet: nothing to report
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), s.ID)
	}
}

// Loopback reports whether addr is a loopback address.
func Loopback(addr net.Addr) bool {
	if a, ok := addr.(*net.TCPAddr); ok {
		return a.IP.IsLoopback()
	}
	return false
}
