// Package metrics defines newswatch's Prometheus metrics. A *Metrics is
// created per process on its own registry (no global state); every method
// is safe to call on a nil *Metrics, so stages work without metrics too.
package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds every collector.
type Metrics struct {
	Registry *prometheus.Registry

	fetches     *prometheus.CounterVec
	fetchTime   *prometheus.HistogramVec
	lastSuccess *prometheus.GaugeVec
	articles    *prometheus.CounterVec
	alerts      *prometheus.CounterVec
	deliveries  *prometheus.CounterVec
	retries     *prometheus.CounterVec
	dead        *prometheus.CounterVec
	setAside    *prometheus.CounterVec
	digestHold  *prometheus.CounterVec
	consErrors  *prometheus.CounterVec
	panics      *prometheus.CounterVec

	srcMu   sync.Mutex
	sources map[string]bool // sources with a last-success series

	reloadOK, reloadAt prometheus.Gauge // the last reload: in force?, and when the config in force was loaded
}

// New registers every collector, plus Go runtime, process and build info
// collectors, on a new registry.
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		sources:  map[string]bool{},
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "newswatch_fetches_total", Help: "Fetches per source by outcome (ok, not_modified, error).",
		}, []string{"source", "outcome"}),
		fetchTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "newswatch_fetch_duration_seconds", Help: "Time to fetch and parse a source.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"source"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "newswatch_source_last_success_timestamp_seconds", Help: "Unix time of the last successful fetch of a source.",
		}, []string{"source"}),
		articles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "newswatch_articles_published_total", Help: "New articles published per source.",
		}, []string{"source"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "newswatch_alerts_total", Help: "Alerts raised per topic.",
		}, []string{"topic"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "newswatch_deliveries_total", Help: "Delivery tries per subscriber by outcome (ok, retry, dead, gone, folded, failed).",
		}, []string{"subscriber", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "newswatch_delivery_retries_total", Help: "Deliveries scheduled for another try, per subscriber.",
		}, []string{"subscriber"}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "newswatch_dead_letters_total", Help: "Alerts moved to the dead-letter stream, per subscriber.",
		}, []string{"subscriber"}),
	}
	m.setAside = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "newswatch_articles_set_aside_total", Help: "Items the store refused even after capping, skipped with a WARN log, per source.",
	}, []string{"source"})
	r.MustRegister(m.setAside)
	m.digestHold = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "newswatch_digest_hold_errors_total",
		Help: "Alerts held for a digest that the server could not be told about, per subscriber and op (renew: still in progress; release: handed back at stop).",
	}, []string{"subscriber", "op"})
	r.MustRegister(m.digestHold)
	m.consErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "newswatch_consumer_errors_total",
		Help: "Errors of a subscriber's consumer, per subscriber and op (recreate: a lost consumer could not be made again; pull: a pull from it failed).",
	}, []string{"subscriber", "op"})
	r.MustRegister(m.consErrors)
	m.panics = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "newswatch_panics_total",
		Help: "Bugs met and survived, per stage (parse: a parser on a document; fetch, classify, deliver: a handler on one message or job, which is retried a minute later). Each is logged at ERROR with its stack.",
	}, []string{"stage"})
	r.MustRegister(m.panics)
	m.reloadOK = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "newswatch_config_last_reload_successful",
		Help: "1 when the last reload (SIGHUP, POST /-/reload) put the config file in force, or none was tried; 0 when it was rejected and an older config runs.",
	})
	m.reloadAt = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "newswatch_config_last_reload_success_timestamp_seconds",
		Help: "Unix time the config in force was loaded (start or reload).",
	})
	r.MustRegister(m.reloadOK, m.reloadAt)
	r.MustRegister(m.fetches, m.fetchTime, m.lastSuccess, m.articles, m.alerts, m.deliveries, m.retries, m.dead,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector())
	return m
}

// ConfigLoaded records a config load: at start or by a reload; ok false
// when a reload was rejected and the config in force stays.
func (m *Metrics) ConfigLoaded(ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.reloadOK.Set(1)
		m.reloadAt.SetToCurrentTime()
		return
	}
	m.reloadOK.Set(0)
}

// Fetched records one fetch of a source.
func (m *Metrics) Fetched(source string, d time.Duration, outcome string) {
	if m == nil {
		return
	}
	m.fetches.WithLabelValues(source, outcome).Inc()
	m.fetchTime.WithLabelValues(source).Observe(d.Seconds())
	if outcome != "error" {
		m.srcMu.Lock()
		m.lastSuccess.WithLabelValues(source).SetToCurrentTime()
		m.sources[source] = true
		m.srcMu.Unlock()
	}
}

// Sources makes the last-success series those of exactly the given
// sources: one that has none yet gets the time given (0 for a source
// that never succeeded), so that an alert rule on the series fires for
// a source that never worked too; a source not given loses its series.
func (m *Metrics) Sources(last map[string]time.Time) {
	if m == nil {
		return
	}
	m.srcMu.Lock()
	defer m.srcMu.Unlock()
	for id := range m.sources {
		if _, ok := last[id]; !ok {
			m.lastSuccess.DeleteLabelValues(id)
			delete(m.sources, id)
		}
	}
	for id, t := range last {
		if m.sources[id] {
			continue
		}
		v := 0.0
		if !t.IsZero() {
			v = float64(t.UnixNano()) / 1e9
		}
		m.lastSuccess.WithLabelValues(id).Set(v)
		m.sources[id] = true
	}
}

// Published records a new article.
func (m *Metrics) Published(source string) {
	if m != nil {
		m.articles.WithLabelValues(source).Inc()
	}
}

// SetAside records an item that could not be stored and was skipped.
func (m *Metrics) SetAside(source string) {
	if m != nil {
		m.setAside.WithLabelValues(source).Inc()
	}
}

// Alerted records a new alert.
func (m *Metrics) Alerted(topic string) {
	if m != nil {
		m.alerts.WithLabelValues(topic).Inc()
	}
}

// Delivered records a delivery try's outcome: ok, retry, dead, gone,
// folded, or failed (a delivery by hand that failed).
func (m *Metrics) Delivered(subscriber, outcome string) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(subscriber, outcome).Inc()
	switch outcome {
	case "retry":
		m.retries.WithLabelValues(subscriber).Inc()
	case "dead":
		// Not "gone": a 410 leaves its alert queued, not dead-lettered.
		m.dead.WithLabelValues(subscriber).Inc()
	}
}

// DigestHoldErrors records n held alerts whose renewal or release (op)
// failed.
func (m *Metrics) DigestHoldErrors(subscriber, op string, n int) {
	if m != nil && n > 0 {
		m.digestHold.WithLabelValues(subscriber, op).Add(float64(n))
	}
}

// ConsumerError records an error of a subscriber's consumer (op: recreate
// or pull).
func (m *Metrics) ConsumerError(subscriber, op string) {
	if m != nil {
		m.consErrors.WithLabelValues(subscriber, op).Inc()
	}
}

// Panicked records a panic survived in stage (parse, fetch, classify,
// deliver).
func (m *Metrics) Panicked(stage string) {
	if m != nil {
		m.panics.WithLabelValues(stage).Inc()
	}
}

// FaultCounts is what RegisterFaults reads at each scrape.
type FaultCounts struct {
	StoreErrors map[string]int64  // store write failures reported, per op, ever
	Lost        map[string]uint64 // messages found lost, per stream, ever
	Remade      map[string]int64  // lost consumers made again, per durable name, ever
	Faults      map[string]int    // faults that last now, per kind
}

// RegisterFaults exports the faults read returns:
// newswatch_store_errors_total{op}, newswatch_data_lost_messages_total{stream},
// newswatch_consumers_remade_total{consumer}, newswatch_faults{kind} and
// newswatch_store_healthy.
func (m *Metrics) RegisterFaults(read func() FaultCounts) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(faultCollector{read})
}

var (
	storeErrorsDesc = prometheus.NewDesc("newswatch_store_errors_total",
		"Store writes that failed (a full disk, a read-only or damaged store), per operation.", []string{"op"}, nil)
	lostDesc = prometheus.NewDesc("newswatch_data_lost_messages_total",
		"Messages found missing from the store (damaged or lost files), per stream.", []string{"stream"}, nil)
	remadeDesc = prometheus.NewDesc("newswatch_consumers_remade_total",
		"Durable consumers found lost (deleted by hand, gone with a damaged store) and made again, per consumer.", []string{"consumer"}, nil)
	faultsDesc = prometheus.NewDesc("newswatch_faults",
		"Faults that last now, per kind (store.error, data.lost, consumer.error: one per subscriber or stage without a working consumer).", []string{"kind"}, nil)
	storeHealthyDesc = prometheus.NewDesc("newswatch_store_healthy",
		"1 while the store accepts writes, 0 while store writes fail.", nil, nil)
)

type faultCollector struct{ read func() FaultCounts }

func (c faultCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- storeErrorsDesc
	ch <- lostDesc
	ch <- remadeDesc
	ch <- faultsDesc
	ch <- storeHealthyDesc
}

func (c faultCollector) Collect(ch chan<- prometheus.Metric) {
	fc := c.read()
	for op, n := range fc.StoreErrors {
		ch <- prometheus.MustNewConstMetric(storeErrorsDesc, prometheus.CounterValue, float64(n), op)
	}
	for stream, n := range fc.Lost {
		ch <- prometheus.MustNewConstMetric(lostDesc, prometheus.CounterValue, float64(n), stream)
	}
	for consumer, n := range fc.Remade {
		ch <- prometheus.MustNewConstMetric(remadeDesc, prometheus.CounterValue, float64(n), consumer)
	}
	for kind, n := range fc.Faults {
		ch <- prometheus.MustNewConstMetric(faultsDesc, prometheus.GaugeValue, float64(n), kind)
	}
	healthy := 1.0
	if fc.Faults["store.error"] > 0 {
		healthy = 0
	}
	ch <- prometheus.MustNewConstMetric(storeHealthyDesc, prometheus.GaugeValue, healthy)
}
