package web

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"newswatch/classifier"
	"newswatch/config"
	"newswatch/news"
)

// Preview bounds: the cache of normalised archived articles the preview
// runs a query over, and what one answer may hold.
const (
	PreviewMaxArticles = 10000    // newest archived articles kept
	previewMaxBytes    = 96 << 20 // normalised text and its vocabulary kept, at most
	previewMaxQuery    = 8 << 10  // bytes of query accepted
	previewResults     = 50       // matches listed (counts stay exact)
	previewChanges     = 20       // new and lost matches listed
	previewRefresh     = 2 * time.Second
	previewMaxDays     = 90 // per-day series: the newest days of the window
)

// ArchiveReader reads archived articles with a stream sequence above
// after, oldest first, calling f for each until f returns false. at is
// when the article was archived (when the classifier saw it).
type ArchiveReader func(ctx context.Context, after uint64, f func(seq uint64, at time.Time, a *news.Article) bool) error

// Previewer runs queries over an in-memory cache of the newest archived
// articles, each normalised once (classifier.Prepare) and its words
// numbered once (classifier.Vocab) when it enters the cache, so a
// keystroke costs one automaton pass over the cached articles that have
// the words its query needs, and no pass for the saved query, whose
// verdicts are kept until the config changes.
// The cache is refreshed incrementally (only messages it has not seen
// are read) and bounded in articles and bytes; one preview runs at a
// time, so previews cannot pile up on the CPU the pipeline needs.
type Previewer struct {
	read   ArchiveReader
	topics func() []config.Topic

	mu       sync.Mutex // guards the cache
	items    []previewItem
	bytes    int
	lastSeq  uint64
	loadedAt time.Time
	// vocab numbers the cached articles' words, so that a query skips,
	// without scanning, the articles that name none of its terms.
	vocab *classifier.Vocab
	// maxBytes bounds the cache's articles and vocabulary together.
	maxBytes int

	run chan struct{} // one preview at a time

	// The saved query's verdicts per archived article: they change only
	// when the config does, so a keystroke scans the archive once (for
	// the edited query), not twice. Guarded by run.
	savedKey      string
	saved         *classifier.Classifier // the saved topic and those it names
	savedIdx      int
	savedVerdicts map[uint64]verdict // by archive sequence
}

// verdict is one topic's decision on one article.
type verdict struct {
	ok    bool
	score float64
}

type previewItem struct {
	seq       uint64
	at        time.Time
	published time.Time
	id        string
	url       string
	source    string
	p         *classifier.Prepared
	words     []uint32 // distinct word ids in vocab
	size      int
}

// previewMaxVocab bounds the vocabulary, which only grows as articles
// come and go: past it, the cached articles are numbered afresh.
const previewMaxVocab = 1 << 21

// NewPreviewer previews over the archive read reads, with the topics in
// force from topics.
func NewPreviewer(read ArchiveReader, topics func() []config.Topic) *Previewer {
	return &Previewer{read: read, topics: topics, run: make(chan struct{}, 1), vocab: classifier.NewVocab(), maxBytes: previewMaxBytes}
}

// refresh adds the articles archived since the last refresh, at most
// every previewRefresh, and evicts the oldest beyond the bounds.
func (pv *Previewer) refresh(ctx context.Context) ([]previewItem, error) {
	pv.mu.Lock()
	defer pv.mu.Unlock()
	if time.Since(pv.loadedAt) < previewRefresh {
		return pv.items, nil
	}
	err := pv.read(ctx, pv.lastSeq, func(seq uint64, at time.Time, a *news.Article) bool {
		p := classifier.Prepare(a)
		words := pv.vocab.Words(p)
		it := previewItem{seq: seq, at: at, published: a.Published, id: a.ID, url: a.URL, source: a.Source, p: p, words: words, size: p.Size() + 4*len(words) + len(a.ID) + len(a.URL) + len(a.Source)}
		pv.items = append(pv.items, it)
		pv.bytes += it.size
		pv.lastSeq = seq
		if len(pv.items) > PreviewMaxArticles+PreviewMaxArticles/4 || pv.held() > pv.maxBytes+pv.maxBytes/4 {
			// Bounded while reading, not only after: a first read of a
			// large archive never holds much more than the bounds.
			pv.fit()
		}
		return ctx.Err() == nil
	})
	pv.fit()
	if err != nil {
		return pv.items, fmt.Errorf("read the archive: %w", err)
	}
	pv.loadedAt = time.Now()
	return pv.items, nil
}

// held is the memory the cache holds: its articles, and the vocabulary
// that numbers their words.
func (pv *Previewer) held() int { return pv.bytes + pv.vocab.Bytes() }

// fit drops the oldest articles beyond the bounds. The vocabulary only
// grows, so when it is over its bound, or the cache with it is over the
// byte bound, the words are numbered afresh, which drops those of evicted
// articles; while still over (articles of many rare words), the oldest
// articles go in proportion to the excess, down to a tenth below the
// bound, so that the next refreshes need no renumbering. pv.mu is held.
func (pv *Previewer) fit() {
	pv.evict(0)
	if pv.vocab.Len() <= previewMaxVocab && pv.held() <= pv.maxBytes {
		return
	}
	pv.renumber()
	target := pv.maxBytes - pv.maxBytes/10
	for len(pv.items) > 0 && (pv.vocab.Len() > previewMaxVocab || pv.held() > target) {
		excess := max(float64(pv.held()-target)/float64(pv.held()), float64(pv.vocab.Len()-previewMaxVocab)/float64(pv.vocab.Len()))
		pv.evict(max(1, int(excess*float64(len(pv.items)))+1))
		pv.renumber()
	}
}

// renumber numbers the cached articles' words in a new vocabulary.
func (pv *Previewer) renumber() {
	pv.vocab = classifier.NewVocab()
	for i := range pv.items {
		pv.items[i].words = pv.vocab.Words(pv.items[i].p)
	}
}

// evict drops the oldest articles beyond the bounds, and at least the
// oldest n; pv.mu is held.
func (pv *Previewer) evict(n int) {
	drop := 0
	for drop < len(pv.items) && (drop < n || len(pv.items)-drop > PreviewMaxArticles || pv.bytes > pv.maxBytes) {
		pv.bytes -= pv.items[drop].size
		drop++
	}
	if drop > 0 {
		// Copy, so that answers holding the old slice keep their view.
		pv.items = append([]previewItem(nil), pv.items[drop:]...)
	}
}

// PreviewRequest is the body of POST /api/preview.
type PreviewRequest struct {
	// Topic is the id of the topic being edited: its saved query is the
	// one compared against, and other topics may refer to it. Empty or
	// unknown: a new topic.
	Topic string `json:"topic"`
	Query string `json:"query"`
	// MinScore applies to the edited query; absent: the topic's own.
	MinScore *float64 `json:"min_score,omitempty"`
}

// PreviewError is a compile error of the query, at a byte offset.
type PreviewError struct {
	Pos int    `json:"pos"`
	Msg string `json:"msg"`
	// Topic is set when the error is in another topic's query.
	Topic string `json:"topic,omitempty"`
}

// PreviewMatch is one archived article the query matches.
type PreviewMatch struct {
	ID        string       `json:"id"`
	Title     string       `json:"title"`
	URL       string       `json:"url"`
	Source    string       `json:"source"`
	Published time.Time    `json:"published,omitzero"`
	Archived  time.Time    `json:"archived"`
	Score     float64      `json:"score"`
	Matches   []news.Match `json:"matches,omitempty"` // snippets mark hits with « »
}

// PreviewDay is one day of the archive window (UTC).
type PreviewDay struct {
	Date     string `json:"date"`     // 2006-01-02
	Articles int    `json:"articles"` // archived that day
	Matches  int    `json:"matches"`  // of those, matched by the query
	// Alerts is how many alerts the query would have sent that day: one
	// per matching article, when it was archived and classified.
	Alerts int `json:"alerts"`
	Saved  int `json:"saved"` // alerts the saved query sent (would send)
}

// PreviewResult is the answer of POST /api/preview.
type PreviewResult struct {
	Topic    string         `json:"topic"`
	Query    string         `json:"query"`
	Errors   []PreviewError `json:"errors"`
	Archived int            `json:"archived"` // articles in the window
	From     time.Time      `json:"from,omitzero"`
	To       time.Time      `json:"to,omitzero"`
	Matched  int            `json:"matched"`
	// SavedMatched is what the saved query matches in the same window;
	// -1 for a new topic.
	SavedMatched int            `json:"saved_matched"`
	Matches      []PreviewMatch `json:"matches"` // newest first, at most 50
	New          []PreviewMatch `json:"new"`     // matched now, not by the saved query
	Lost         []PreviewMatch `json:"lost"`    // matched by the saved query, not now
	NewCount     int            `json:"new_count"`
	LostCount    int            `json:"lost_count"`
	Days         []PreviewDay   `json:"days"`
	TookMS       float64        `json:"took_ms"`
	Error        string         `json:"error,omitempty"` // the archive could not be read in full
}

// Preview compiles req's query with the topics in force (the edited
// topic replaced) and runs it, and the saved query, over the cache.
func (pv *Previewer) Preview(ctx context.Context, req PreviewRequest) (*PreviewResult, error) {
	start := time.Now()
	select {
	case pv.run <- struct{}{}:
		defer func() { <-pv.run }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	res := &PreviewResult{Topic: req.Topic, Query: req.Query, Errors: []PreviewError{}, Matches: []PreviewMatch{}, New: []PreviewMatch{}, Lost: []PreviewMatch{}, Days: []PreviewDay{}, SavedMatched: -1}
	if len(req.Query) > previewMaxQuery {
		res.Errors = append(res.Errors, PreviewError{Pos: previewMaxQuery, Msg: fmt.Sprintf("the query is longer than %d bytes", previewMaxQuery)})
		return res, nil
	}
	topics := pv.topics()
	id := req.Topic
	if id == "" {
		id = "preview"
	}
	edited := config.Topic{ID: id, Name: id, Query: req.Query}
	savedIdx := -1
	var tried []config.Topic
	for i, t := range topics {
		if t.ID == id {
			savedIdx = i
			edited.Name, edited.Weights, edited.MinScore = t.Name, t.Weights, t.MinScore
			tried = append(tried, edited)
			continue
		}
		tried = append(tried, t)
	}
	if savedIdx < 0 {
		tried = append(tried, edited)
	}
	if req.MinScore != nil {
		for i := range tried {
			if tried[i].ID == id {
				tried[i].MinScore = *req.MinScore
			}
		}
	}
	c, err := classifier.New(tried)
	if err != nil {
		for _, e := range classifier.Errors(err) {
			var pe *classifier.ParseError
			if errors.As(e, &pe) {
				pErr := PreviewError{Pos: pe.Pos, Msg: pe.Msg}
				if pe.Topic != id {
					pErr.Topic = pe.Topic
				}
				res.Errors = append(res.Errors, pErr)
				continue
			}
			res.Errors = append(res.Errors, PreviewError{Msg: e.Error()})
		}
		return res, nil
	}
	// The scan costs per byte and per term the automaton holds: compile
	// only the edited topic and the topics it names, not every topic.
	if sub, err := classifier.New(needed(tried, c.Needs(c.TopicIndex(id)))); err == nil {
		c = sub
	}
	var saved *classifier.Classifier
	si := -1
	if savedIdx >= 0 {
		saved, si = pv.savedFor(topics, id)
		if saved != nil {
			res.SavedMatched = 0
		}
	}
	items, rerr := pv.refresh(ctx)
	if rerr != nil {
		res.Error = rerr.Error()
	}
	ti := c.TopicIndex(id)
	pv.mu.Lock()
	wf := c.Filter(ti, pv.vocab) // nil: every article may match
	pv.mu.Unlock()
	if saved != nil && len(pv.savedVerdicts) > 2*len(items)+1024 {
		// Evicted articles' verdicts: drop them now and then.
		keep := make(map[uint64]verdict, len(items))
		for i := range items {
			if v, ok := pv.savedVerdicts[items[i].seq]; ok {
				keep[items[i].seq] = v
			}
		}
		pv.savedVerdicts = keep
	}
	res.Archived = len(items)
	if len(items) > 0 {
		res.From, res.To = items[0].at, items[len(items)-1].at
	}
	days := map[string]*PreviewDay{}
	day := func(t time.Time) *PreviewDay {
		k := t.UTC().Format(time.DateOnly)
		d := days[k]
		if d == nil {
			d = &PreviewDay{Date: k}
			days[k] = d
		}
		return d
	}
	type hit struct {
		i     int
		score float64
	}
	var hits, added, lost []hit
	for i := range items {
		if i%256 == 255 {
			// A superseded request (the page aborts it, or the client
			// went away) stops here; and the pipeline's goroutines get
			// the processor between batches.
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			runtime.Gosched()
		}
		it := &items[i]
		d := day(it.at)
		d.Articles++
		ok, score := false, 0.0
		if wf.May(it.words) {
			ok, score = c.MatchPrepared(it.p, ti)
		}
		was := false
		if si >= 0 {
			v, known := pv.savedVerdicts[it.seq]
			if !known {
				v.ok, v.score = saved.MatchPrepared(it.p, si)
				pv.savedVerdicts[it.seq] = v
			}
			was = v.ok
		}
		if ok {
			res.Matched++
			d.Alerts++
			pub := it.published
			if pub.IsZero() {
				pub = it.at
			}
			day(pub).Matches++
			hits = append(hits, hit{i, score})
			if si >= 0 && !was {
				added = append(added, hit{i, score})
			}
		}
		if was {
			res.SavedMatched++
			d.Saved++
			if !ok {
				lost = append(lost, hit{i, 0})
			}
		}
	}
	res.NewCount, res.LostCount = len(added), len(lost)
	// Newest first; snippets (a second scan) only for those listed.
	list := func(hs []hit, n int, cl *classifier.Classifier, topic string) []PreviewMatch {
		out := []PreviewMatch{}
		for k := len(hs) - 1; k >= 0 && len(out) < n; k-- {
			it := &items[hs[k].i]
			m := PreviewMatch{ID: it.id, Title: it.p.Title(), URL: it.url, Source: it.source, Published: it.published, Archived: it.at, Score: hs[k].score}
			if ex := cl.ExplainPrepared(it.p, topic); len(ex) == 1 {
				m.Matches, m.Score = ex[0].Matches, ex[0].Score
			}
			out = append(out, m)
		}
		return out
	}
	res.Matches = list(hits, previewResults, c, id)
	res.New = list(added, previewChanges, c, id)
	if saved != nil {
		res.Lost = list(lost, previewChanges, saved, id)
	}
	keys := make([]string, 0, len(days))
	for k := range days {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > previewMaxDays {
		keys = keys[len(keys)-previewMaxDays:]
	}
	for _, k := range keys {
		res.Days = append(res.Days, *days[k])
	}
	res.TookMS = float64(time.Since(start).Microseconds()) / 1000
	return res, nil
}

// needed returns the topics of all whose ids are in ids, in order.
func needed(all []config.Topic, ids []string) []config.Topic {
	var out []config.Topic
	for _, t := range all {
		if slices.Contains(ids, t.ID) {
			out = append(out, t)
		}
	}
	return out
}

// savedFor returns the saved topic id compiled from topics (with the
// topics it names), and its index, reusing the last one and its cached
// verdicts while the config is the same. pv.run is held.
func (pv *Previewer) savedFor(topics []config.Topic, id string) (*classifier.Classifier, int) {
	key, err := json.Marshal(struct {
		ID     string
		Topics []config.Topic
	}{id, topics})
	if err == nil && string(key) == pv.savedKey && pv.saved != nil {
		return pv.saved, pv.savedIdx
	}
	pv.savedKey, pv.saved, pv.savedVerdicts = "", nil, map[uint64]verdict{}
	all, err := classifier.New(topics) // the config in force
	if err != nil {
		return nil, -1
	}
	c, err := classifier.New(needed(topics, all.Needs(all.TopicIndex(id))))
	if err != nil {
		return nil, -1
	}
	pv.savedKey, pv.saved, pv.savedIdx = string(key), c, c.TopicIndex(id)
	return pv.saved, pv.savedIdx
}

// apiPreview serves POST /api/preview.
func (pv *Previewer) apiPreview(w http.ResponseWriter, r *http.Request) {
	var req PreviewRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		http.Error(w, "expected a JSON body {\"topic\": id, \"query\": text}: "+err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	res, err := pv.Preview(ctx, req)
	if err != nil {
		http.Error(w, "preview: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(res)
}

// previewPage serves the editor of /topics/{id}/preview.
func (pv *Previewer) previewPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	data := struct {
		ID, Name, Query string
		Known           bool
	}{ID: id, Name: id}
	for _, t := range pv.topics() {
		if t.ID == id {
			data.Name, data.Query, data.Known = t.Name, strings.TrimSpace(t.Query), true
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := previewTmpl.Execute(w, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// WithPreview serves the query preview: the page /topics/{id}/preview
// and POST /api/preview, behind the same auth as the rest.
func WithPreview(pv *Previewer) Option {
	return func(s *Server) {
		s.handle("GET /topics/{id}/preview", scrubbing(s.secretList, http.HandlerFunc(pv.previewPage)))
		s.handle("POST /api/preview", scrubbing(s.secretList, http.HandlerFunc(pv.apiPreview)))
	}
}

//go:embed templates/preview.html
var previewFS embed.FS

var previewTmpl = template.Must(template.ParseFS(previewFS, "templates/preview.html"))
