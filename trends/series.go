// Package trends keeps each topic's coverage as an hourly series (matched
// articles and distinct sources per hour), detects spikes in it, and
// serves it as JSON, SVG charts and Prometheus metrics.
//
// The series lives in the trends KV bucket: one entry per topic and hour
// (key "<topic>.<hour unix>") that holds the ids of the articles counted
// and the sources they came from. An entry is changed only by an
// optimistic-concurrency update, and an article already in it is not
// counted again, so replaying alerts or articles (a restart, a rebuild,
// two replicas at once) never double-counts. See docs/trends.md.
package trends

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"newswatch/news"
)

// Bucket is the width of one point of the series.
const Bucket = time.Hour

const (
	// maxIDs bounds the ids kept per entry (about 30 bytes each, far
	// below the 1 MB message limit); articles beyond it are counted
	// without de-duplication, which only a runaway topic reaches.
	maxIDs = 20000
	// topN is how many highest-scoring articles an entry keeps, for spike
	// alerts and the chart's article lists.
	topN = 5
)

// Obs is one matched article, as the series sees it.
type Obs struct {
	Topic  string
	Hour   int64 // unix time of the start of the article's hour
	ID     string
	Source string
	Title  string
	URL    string
	Score  float64
}

// ObsFromAlert is the observation of an article alert; ok is false for
// other alerts (spikes).
func ObsFromAlert(a *news.Alert) (Obs, bool) {
	if a.Kind != "" || a.Topic == "" || a.Article.ID == "" {
		return Obs{}, false
	}
	return ObsOf(a.Topic, &a.Article, a.Score, a.Created), true
}

// ObsOf is the observation of article a matching topic.
func ObsOf(topic string, a *news.Article, score float64, fallback time.Time) Obs {
	return Obs{
		Topic: topic, Hour: HourOf(ArticleTime(a, fallback)), ID: a.ID, Source: a.Source,
		Title: a.Title, URL: a.URL, Score: score,
	}
}

// ArticleTime is when an article was written: its published time when
// the feed gives a plausible one (not ahead of the fetch by more than an
// hour of clock skew), else when it was fetched. Counting by publication
// keeps a new source's back catalogue out of the current hour, where it
// would look like a spike.
func ArticleTime(a *news.Article, fallback time.Time) time.Time {
	f := a.Fetched
	if f.IsZero() {
		f = fallback
	}
	if p := a.Published; !p.IsZero() && (f.IsZero() || !p.After(f.Add(time.Hour))) {
		return p
	}
	return f
}

// HourOf is the unix time of the start of t's bucket.
func HourOf(t time.Time) int64 { return t.Unix() - mod(t.Unix(), int64(Bucket/time.Second)) }

func mod(a, b int64) int64 { return ((a % b) + b) % b }

// Key is the KV key of a topic's hour.
func Key(topic string, hour int64) string { return topic + "." + strconv.FormatInt(hour, 10) }

// parseKey splits a KV key; ok is false for keys that are not series.
func parseKey(key string) (topic string, hour int64, ok bool) {
	i := strings.LastIndexByte(key, '.')
	if i <= 0 {
		return "", 0, false
	}
	h, err := strconv.ParseInt(key[i+1:], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return key[:i], h, true
}

// entry is the stored value of one topic-hour.
type entry struct {
	IDs     []string            `json:"ids"`
	Sources map[string]int      `json:"sources"`         // source → articles
	Extra   int                 `json:"extra,omitempty"` // articles past maxIDs
	Top     []news.SpikeArticle `json:"top,omitempty"`   // highest scores first

	have map[string]bool // IDs as a set, built on the first add
}

func decodeEntry(data []byte) (*entry, error) {
	e := &entry{}
	if err := json.Unmarshal(data, e); err != nil {
		return nil, fmt.Errorf("decode series entry: %w", err)
	}
	return e, nil
}

// add counts the observations not yet in e; it reports whether e changed.
func (e *entry) add(obs []Obs) bool {
	if e.have == nil {
		e.have = make(map[string]bool, len(e.IDs)+len(obs))
		for _, id := range e.IDs {
			e.have[id] = true
		}
	}
	have := e.have
	if e.Sources == nil {
		e.Sources = map[string]int{}
	}
	changed := false
	for _, o := range obs {
		if have[o.ID] {
			continue
		}
		have[o.ID] = true
		changed = true
		if len(e.IDs) < maxIDs {
			e.IDs = append(e.IDs, o.ID)
		} else {
			e.Extra++
		}
		e.Sources[o.Source]++
		e.addTop(news.SpikeArticle{ID: o.ID, Title: o.Title, URL: o.URL, Source: o.Source, Score: o.Score})
	}
	return changed
}

func (e *entry) addTop(a news.SpikeArticle) {
	i, _ := slices.BinarySearchFunc(e.Top, a, func(x, y news.SpikeArticle) int {
		if x.Score > y.Score {
			return -1
		}
		if x.Score < y.Score {
			return 1
		}
		return strings.Compare(x.ID, y.ID)
	})
	if i >= topN {
		return
	}
	e.Top = slices.Insert(e.Top, i, a)
	if len(e.Top) > topN {
		e.Top = e.Top[:topN]
	}
}

// Hour is one bucket of a topic's series as it is read.
type Hour struct {
	Articles int
	Sources  map[string]int // source → articles; nil when none
	Top      []news.SpikeArticle
}

// hour is the entry as the series reads it, sharing nothing with e.
func (e *entry) hour() Hour {
	return Hour{Articles: len(e.IDs) + e.Extra, Sources: cloneCounts(e.Sources), Top: slices.Clone(e.Top)}
}

// Memory is the series of every topic in memory, as the trends bucket
// holds it; it answers reads without a round trip to the bus.
type Memory struct {
	mu     sync.RWMutex
	topics map[string]map[int64]Hour
}

// NewMemory returns an empty series.
func NewMemory() *Memory { return &Memory{topics: map[string]map[int64]Hour{}} }

// Set puts a topic-hour's state.
func (m *Memory) Set(topic string, hour int64, h Hour) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.topics[topic]
	if t == nil {
		t = map[int64]Hour{}
		m.topics[topic] = t
	}
	t[hour] = h
}

// Delete forgets a topic-hour.
func (m *Memory) Delete(topic string, hour int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.topics[topic], hour)
}

// Prune forgets every hour before the bucket of t.
func (m *Memory) Prune(t time.Time) {
	cut := HourOf(t)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, hours := range m.topics {
		for h := range hours {
			if h < cut {
				delete(hours, h)
			}
		}
	}
}

// Get returns a topic-hour (zero when nothing was counted).
func (m *Memory) Get(topic string, hour int64) Hour {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.topics[topic][hour]
}

// First is the earliest hour with a count for topic; ok is false when
// there is none.
func (m *Memory) First(topic string) (hour int64, ok bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for h := range m.topics[topic] {
		if !ok || h < hour {
			hour, ok = h, true
		}
	}
	return hour, ok
}

// Topics lists the topics with counts.
func (m *Memory) Topics() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []string
	for t, hours := range m.topics {
		if len(hours) > 0 {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// Hours returns the dense series of topic for the hours [from, to]
// (unix times of bucket starts), zero-filled.
func (m *Memory) Hours(topic string, from, to int64) []Hour {
	step := int64(Bucket / time.Second)
	if to < from {
		return nil
	}
	out := make([]Hour, (to-from)/step+1)
	m.mu.RLock()
	defer m.mu.RUnlock()
	hours := m.topics[topic]
	if len(hours) < len(out) {
		for h, v := range hours {
			if h >= from && h <= to {
				out[(h-from)/step] = v
			}
		}
		return out
	}
	for i := range out {
		out[i] = hours[from+int64(i)*step]
	}
	return out
}

// Add counts observations straight into memory, with the same
// de-duplication as the bucket: for backtests, which keep nothing.
func (m *Memory) Add(obs []Obs, ids map[string]bool) {
	for _, o := range obs {
		k := Key(o.Topic, o.Hour) + "/" + o.ID
		if ids[k] {
			continue
		}
		ids[k] = true
		h := m.Get(o.Topic, o.Hour)
		e := entry{Sources: cloneCounts(h.Sources), Top: slices.Clone(h.Top)}
		e.add([]Obs{o})
		m.Set(o.Topic, o.Hour, Hour{Articles: h.Articles + 1, Sources: e.Sources, Top: e.Top})
	}
}

func cloneCounts(m map[string]int) map[string]int {
	out := make(map[string]int, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}
