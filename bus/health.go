package bus

import (
	"sort"
	"sync"
	"time"
)

// Health collects the faults that stop the pipeline from doing its work
// although the connection is up: store writes that fail (a full disk, a
// read-only store), data found lost at start. Stages report what they see;
// /readyz, the status page, the metrics and operational events read it.
// A nil *Health ignores reports, so stages work without one.
type Health struct {
	mu     sync.Mutex
	faults map[string]Fault
	notify []func(Fault)
}

// Fault is one problem that lasts until it is cleared.
type Fault struct {
	Key    string    // what failed, e.g. "store.write" or "data.lost:NEWSWATCH_ALERTS"
	Kind   string    // "store.error" or "data.lost"
	Detail string    // the error in words
	Since  time.Time // first seen
	Last   time.Time // last seen
	Count  int64     // how often it was reported while it lasted
}

// NewHealth returns an empty Health.
func NewHealth() *Health { return &Health{faults: map[string]Fault{}} }

// Report records a fault under key; a later Report under the same key
// updates it.
func (h *Health) Report(key, kind, detail string) {
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
	notify := h.notify
	h.mu.Unlock()
	if !ok {
		for _, fn := range notify {
			fn(f)
		}
	}
}

// Clear removes the fault under key, if any, and reports whether there was one.
func (h *Health) Clear(key string) bool {
	if h == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.faults[key]
	delete(h.faults, key)
	return ok
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
