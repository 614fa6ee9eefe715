package notifier

import (
	"hash/fnv"
	"math/bits"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"newswatch/news"
)

// DefaultStoryWindow is how long a story stays open to new reports.
const DefaultStoryWindow = 24 * time.Hour

// storyMaxDistance is the largest Hamming distance between two title
// SimHashes that still counts as the same story. Titles are short, so the
// fingerprint is coarse: the usual web-page setting (3 of 64 bits) misses
// reworded headlines. On the pairs in TestStoriesSeparation one story's
// headlines are at most 14 bits apart and different stories of the same
// topic at least 23; 18 sits between (unrelated titles average 32).
const storyMaxDistance = 18

// Stories groups alerts about the same story, reported by several outlets
// within a window, by near-duplicate titles (SimHash). The first alert of
// a story is delivered as usual; later ones are follow-ups, to attach as
// "also reported by" or fold into a digest.
//
// Stories lives in memory: after a restart a story seen before it starts
// again, so a report may be delivered as new once more — a duplicate, never
// a loss. It is safe for concurrent use.
type Stories struct {
	window time.Duration

	mu    sync.Mutex
	byKey map[string][]*storyEntry
}

type storyEntry struct {
	story  Story
	hashes []uint64 // one per report: a story drifts as outlets reword it
	alerts map[string]bool
	last   time.Time
}

// Story is a cluster of alerts.
type Story struct {
	ID      string    // id of the story's first alert
	Started time.Time // when its first alert was added
	Count   int       // alerts in the story, this one included
	// Sources are the source ids that reported it, in order, once each.
	Sources []string
}

// NewStories returns an empty set of stories that stay open for window
// after their latest report (DefaultStoryWindow if window <= 0).
func NewStories(window time.Duration) *Stories {
	if window <= 0 {
		window = DefaultStoryWindow
	}
	return &Stories{window: window, byKey: map[string][]*storyEntry{}}
}

// Add files alert a under key (for instance the subscriber id and the
// topic: stories never span keys) and returns its story; first reports
// whether a starts the story. Adding an alert again (a redelivery) gives
// the same answer as the first time.
func (s *Stories) Add(key string, a *news.Alert, now time.Time) (st Story, first bool) {
	h := SimHash(a.Article.Title)
	s.mu.Lock()
	defer s.mu.Unlock()

	// Forget stories closed for good, so memory stays bounded by the
	// window's traffic.
	live := s.byKey[key][:0]
	for _, e := range s.byKey[key] {
		if now.Sub(e.last) <= s.window {
			live = append(live, e)
		}
	}
	s.byKey[key] = live

	var best *storyEntry
	bestDist := storyMaxDistance + 1
	for _, e := range live {
		if e.alerts[a.ID] {
			return e.story, e.story.ID == a.ID
		}
		for _, eh := range e.hashes {
			if d := bits.OnesCount64(eh ^ h); d < bestDist {
				best, bestDist = e, d
			}
		}
	}
	if best == nil || h == 0 {
		// h == 0: a title without words matches nothing.
		e := &storyEntry{
			story:  Story{ID: a.ID, Started: now, Count: 1, Sources: []string{a.Article.Source}},
			hashes: []uint64{h},
			alerts: map[string]bool{a.ID: true},
			last:   now,
		}
		s.byKey[key] = append(s.byKey[key], e)
		return e.story, true
	}
	best.alerts[a.ID] = true
	best.hashes = append(best.hashes, h)
	best.last = now
	best.story.Count++
	if !containsString(best.story.Sources, a.Article.Source) {
		best.story.Sources = append(best.story.Sources, a.Article.Source)
	}
	st = best.story
	st.Sources = append([]string(nil), st.Sources...)
	return st, false
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// SimHash is a 64-bit fingerprint of a title: similar titles give
// fingerprints a few bits apart. Features are the title's words (lower
// case, NFKC, common function words dropped) and word pairs; Han, kana and
// Hangul text, written without spaces, contributes character pairs.
func SimHash(title string) uint64 {
	var v [64]int
	add := func(feature string, weight int) {
		f := fnv.New64a()
		f.Write([]byte(feature))
		x := f.Sum64()
		for i := range 64 {
			if x&(1<<i) != 0 {
				v[i] += weight
			} else {
				v[i] -= weight
			}
		}
	}
	words := titleWords(title)
	if len(words) == 0 {
		return 0
	}
	for i, w := range words {
		add(w, 2)
		if i > 0 {
			add(words[i-1]+" "+w, 1)
		}
	}
	var h uint64
	for i := range 64 {
		if v[i] > 0 {
			h |= 1 << i
		}
	}
	return h
}

// titleWords splits a title into comparable words.
func titleWords(title string) []string {
	s := strings.ToLower(norm.NFKC.String(title))
	// "U.S." would split into letters that carry nothing.
	s = strings.NewReplacer("u.s.", "us", "u.k.", "uk", "u.n.", "un", "e.u.", "eu").Replace(s)
	var words []string
	var cjk []rune
	flushCJK := func() {
		if len(cjk) == 1 {
			words = append(words, string(cjk))
		}
		for i := 0; i+1 < len(cjk); i++ {
			words = append(words, string(cjk[i:i+2]))
		}
		cjk = cjk[:0]
	}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r) && !isCJK(r)
	}) {
		var latin strings.Builder
		for _, r := range f {
			if isCJK(r) {
				if latin.Len() > 0 {
					words = appendWord(words, latin.String())
					latin.Reset()
				}
				cjk = append(cjk, r)
				continue
			}
			flushCJK()
			latin.WriteRune(r)
		}
		flushCJK()
		if latin.Len() > 0 {
			words = appendWord(words, latin.String())
		}
	}
	return words
}

func isCJK(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}

// appendWord adds w unless it carries no meaning of its own. Plural "s"
// is folded so that "flow" and "flows" agree.
func appendWord(words []string, w string) []string {
	switch w {
	case "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "at", "by", "with",
		"from", "as", "is", "are", "was", "were", "be", "it", "its", "that", "this", "after",
		"over", "into", "amid", "says", "said", "new", "s":
		return words
	}
	if len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") {
		w = w[:len(w)-1]
	}
	return append(words, w)
}
