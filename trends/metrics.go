package trends

import (
	"github.com/prometheus/client_golang/prometheus"
)

var (
	bucketArticlesDesc = prometheus.NewDesc("newswatch_topic_bucket_articles",
		"Articles matching the topic in the current hour (the series' last bucket).", []string{"topic"}, nil)
	bucketSourcesDesc = prometheus.NewDesc("newswatch_topic_bucket_sources",
		"Distinct sources of the topic's articles in the current hour.", []string{"topic"}, nil)
)

type spikeMetrics struct{ total *prometheus.CounterVec }

func newSpikeMetrics() *spikeMetrics {
	return &spikeMetrics{total: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "newswatch_spike_alerts_total", Help: "Spike alerts published per topic, follow-ups included.",
	}, []string{"topic"})}
}

func (m *spikeMetrics) sent(topic string) { m.total.WithLabelValues(topic).Inc() }

// collector reads the current bucket of every configured topic at
// scrape time, so keeping the series costs the metrics nothing.
type collector struct{ s *Service }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- bucketArticlesDesc
	ch <- bucketSourcesDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	hour := HourOf(c.s.now())
	for _, t := range c.s.cfg.Load().Topics {
		h := c.s.mem.Get(t.ID, hour)
		ch <- prometheus.MustNewConstMetric(bucketArticlesDesc, prometheus.GaugeValue, float64(h.Articles), t.ID)
		ch <- prometheus.MustNewConstMetric(bucketSourcesDesc, prometheus.GaugeValue, float64(len(h.Sources)), t.ID)
	}
}

// Register adds the trends metrics to reg: the current bucket's
// articles and sources per topic, and the spike alerts sent.
func (s *Service) Register(reg prometheus.Registerer) error {
	if err := reg.Register(collector{s}); err != nil {
		return err
	}
	return reg.Register(s.spikes.total)
}
