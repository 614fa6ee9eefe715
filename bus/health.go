package bus

import (
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
)

// Fault kinds.
const (
	KindStoreError = "store.error" // writes to the store fail: the pipeline is blocked
	KindDataLost   = "data.lost"   // messages the store held are gone
	// KindConsumerError: a subscriber or a stage has no consumer to pull
	// from (lost and not made again, or pulls from it keep failing);
	// nothing is delivered to it, or the stage takes no work. Its key is
	// "consumer.error:<subscriber>", or StageConsumerFault(durable).
	KindConsumerError = "consumer.error"
)

// StageConsumerFault is the key of the consumer.error fault of a stage's
// consumer (the classifier's, the fetch workers'). The dot keeps it apart
// from every subscriber's, whose ids cannot hold one.
func StageConsumerFault(durable string) string { return KindConsumerError + ":stage." + durable }

// Health collects the faults that stop the pipeline from doing its work
// although the connection is up: store writes that fail (a full disk, a
// read-only store), data found lost at start. Stages report what they see;
// /readyz, the status page, the metrics and operational events read it.
// A nil *Health ignores reports, so stages work without one.
type Health struct {
	mu     sync.Mutex
	faults map[string]Fault
	notify []func(Fault)
	log    *slog.Logger

	reports map[string]int64  // store.error reports per key (op), ever
	lost    map[string]uint64 // messages found lost per stream, ever
	remade  map[string]int64  // lost consumers made again, per durable name, ever
}

// Fault is one problem that lasts until it is cleared.
type Fault struct {
	Key    string    // what failed, e.g. "store.write.fetch" or "data.lost:NEWSWATCH_ALERTS"
	Kind   string    // "store.error" or "data.lost"
	Detail string    // the error in words
	Since  time.Time // first seen
	Last   time.Time // last seen
	Count  int64     // how often it was reported while it lasted
}

// NewHealth returns an empty Health.
func NewHealth() *Health {
	// The store.write.* series exist from the start, so that a rule on it
	// can fire the first time.
	return &Health{faults: map[string]Fault{}, reports: map[string]int64{"store.write.fetch": 0, "store.write.classify": 0}, lost: map[string]uint64{}, remade: map[string]int64{}}
}

// newHealth is NewHealth that logs each fault at ERROR when it appears
// and at INFO when it clears.
func newHealth(log *slog.Logger) *Health {
	h := NewHealth()
	h.log = log
	return h
}

// Report records a fault under key; a later Report under the same key
// updates it.
func (h *Health) Report(key, kind, detail string) { h.report(key, kind, detail, true) }

// ReportLogged is Report for a reporter that logs the fault itself, with
// more context than the bus has: the bus adds no log line of its own.
func (h *Health) ReportLogged(key, kind, detail string) { h.report(key, kind, detail, false) }

func (h *Health) report(key, kind, detail string, logIt bool) {
	if h == nil {
		return
	}
	now := time.Now().UTC()
	h.mu.Lock()
	f, ok := h.faults[key]
	if !ok {
		f = Fault{Key: key, Kind: kind, Since: now}
	}
	f.Detail, f.Last = detail, now
	f.Count++
	h.faults[key] = f
	if kind == KindStoreError {
		h.reports[key]++
	}
	notify := h.notify
	h.mu.Unlock()
	if !ok {
		if logIt && h.log != nil {
			h.log.Error(faultMessage(key, kind), "fault", key, "kind", kind, "err", detail)
		}
		for _, fn := range notify {
			fn(f)
		}
	}
}

// Clear removes the fault under key, if any, and reports whether there was one.
func (h *Health) Clear(key string) bool { return h.remove(key, "fault cleared") }

// Withdraw removes the fault under key because whatever had it stopped
// (a subscriber removed by a reload, or stopped at the end of a single
// pass): the fault did not clear, so it is not logged as cleared.
func (h *Health) Withdraw(key, why string) bool {
	return h.remove(key, "fault withdrawn, not cleared: "+why)
}

// remove drops the fault under key, if any, logging msg at INFO.
func (h *Health) remove(key, msg string) bool {
	if h == nil {
		return false
	}
	h.mu.Lock()
	f, ok := h.faults[key]
	delete(h.faults, key)
	h.mu.Unlock()
	if ok && h.log != nil {
		h.log.Info(msg, "fault", key, "kind", f.Kind, "lasted", time.Since(f.Since).Round(time.Second))
	}
	return ok
}

func faultMessage(key, kind string) string {
	switch {
	case kind == KindStoreError:
		return "store write failing: fetching and delivery are blocked until it recovers"
	case kind == KindDataLost:
		return "data lost from the store"
	case kind == KindConsumerError && strings.HasPrefix(key, StageConsumerFault("")):
		return "a stage has no consumer to pull from: it takes no work until it recovers"
	case kind == KindConsumerError:
		return "a subscriber has no consumer to pull from: deliveries to it are stopped, its alerts stay queued"
	}
	return "fault"
}

// DataLost records that n messages of stream are gone (a damaged store),
// as the fault "data.lost:<stream>". Lost data cannot come back, so the
// fault lasts until the process restarts; the count stays in the metrics.
func (h *Health) DataLost(stream string, n uint64, detail string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.lost[stream] += n
	h.mu.Unlock()
	key := KindDataLost + ":" + stream
	h.mu.Lock()
	prev, ok := h.faults[key]
	h.mu.Unlock()
	if ok {
		detail = prev.Detail + "; " + detail
	}
	h.Report(key, KindDataLost, detail)
}

// BlockingKind reports whether faults of kind keep the pipeline from
// working: /readyz fails while there are any.
func BlockingKind(kind string) bool {
	return kind == KindStoreError || kind == KindConsumerError
}

// Blocking returns the faults that keep the pipeline from working (see
// BlockingKind); /readyz fails while there are any.
func (h *Health) Blocking() []Fault {
	var out []Fault
	for _, f := range h.Faults() {
		if BlockingKind(f.Kind) {
			out = append(out, f)
		}
	}
	return out
}

// Counts are the cumulative numbers behind the metrics.
type Counts struct {
	StoreErrors map[string]int64  // per key (op)
	Lost        map[string]uint64 // per stream
	Remade      map[string]int64  // lost consumers made again, per durable name
	Faults      map[string]int    // current faults per kind
}

// ConsumerRemade counts a durable consumer that was found lost (deleted
// by hand, gone with a damaged store) and made again. The work recovers,
// but a consumer that keeps vanishing says something is wrong with the
// store or with whoever deletes it; the log line alone is easy to miss.
func (h *Health) ConsumerRemade(durable string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.remade[durable]++
	h.mu.Unlock()
}

// WatchConsumer makes the remade count of durable exist at 0, so that a
// rule on its increase fires the first time it is made again.
func (h *Health) WatchConsumer(durable string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	if _, ok := h.remade[durable]; !ok {
		h.remade[durable] = 0
	}
	h.mu.Unlock()
}

// Counts returns a copy of the counters and the current faults per kind.
func (h *Health) Counts() Counts {
	c := Counts{StoreErrors: map[string]int64{}, Lost: map[string]uint64{}, Remade: map[string]int64{}, Faults: map[string]int{KindStoreError: 0, KindDataLost: 0, KindConsumerError: 0}}
	if h == nil {
		return c
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, v := range h.reports {
		c.StoreErrors[k] = v
	}
	for k, v := range h.lost {
		c.Lost[k] = v
	}
	for k, v := range h.remade {
		c.Remade[k] = v
	}
	for _, f := range h.faults {
		c.Faults[f.Kind]++
	}
	return c
}

// LostIn is how many messages were found lost in stream, ever: cheaper
// than Counts on a hot path.
func (h *Health) LostIn(stream string) uint64 {
	if h == nil {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lost[stream]
}

// Summary says the faults in one line, for /readyz.
func Summary(faults []Fault) string {
	parts := make([]string, len(faults))
	for i, f := range faults {
		parts[i] = f.Key + ": " + f.Detail + " (since " + f.Since.Format(time.RFC3339) + ")"
	}
	return strings.Join(parts, "; ")
}

// Faults returns the current faults, oldest first.
func (h *Health) Faults() []Fault {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	out := make([]Fault, 0, len(h.faults))
	for _, f := range h.faults {
		out = append(out, f)
	}
	h.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out
}

// OnFault registers fn to be called once when a new fault appears (not
// on repeats of one that lasts).
func (h *Health) OnFault(fn func(Fault)) {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.notify = append(h.notify, fn)
	h.mu.Unlock()
}
