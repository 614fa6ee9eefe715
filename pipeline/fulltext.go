package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/fetcher"
	"newswatch/news"
)

const (
	// fullTextPerJob bounds the pages one fetch job asks for; the other
	// new items wait, unseen, for the next fetch.
	fullTextPerJob = 50
	// An item whose page failed for a reason that may pass (a timeout, a
	// 5xx, a reset) stays unseen and is tried again at the source's next
	// fetches, up to fullTextAttempts times within fullTextRetryFor; then
	// it is published on its teaser with FullTextError set.
	fullTextAttempts = 4
	fullTextRetryFor = 6 * time.Hour
	// fullTextDeferMax bounds the items one job leaves for later because
	// the job's cap or budget ran out (each is counted in the store, and
	// after fullTextAttempts such jobs published on its teaser); the
	// items beyond it are published on their teaser at once, so that a
	// feed that grows faster than full text can follow loses no item.
	fullTextDeferMax = 4 * fullTextPerJob
)

// errFullTextDeferred is the failure noted for an item whose page was not
// fetched because its job's cap or budget ran out.
var errFullTextDeferred = errors.New("full text not fetched: the fetch job's full-text cap or budget ran out")

// ftRecord is what the store bucket keeps of an item whose full text failed.
type ftRecord struct {
	Attempts int       `json:"attempts"`
	First    time.Time `json:"first"`
	Error    string    `json:"error"`
}

func ftKey(articleID string) string { return "fulltext." + articleID }

// fullTexts fetches the pages of fresh items on the process-wide
// full-text pool, within the job's budget, and returns the items to
// publish now; the others (over the budget, or failed and to be retried)
// are left unseen and counted as deferred.
func (s *fetchStage) fullTexts(ctx context.Context, log *slog.Logger, src config.Source, fresh []*news.Article) (ready []*news.Article, deferred int) {
	budget := s.ftBudget
	if half := src.Interval / 2; src.Schedule == "" && half > 0 && half < budget {
		// A source's job never runs past half its interval on full text.
		budget = half
	}
	out := s.fetchPages(ctx, budget, src, fresh)
	ready = make([]*news.Article, 0, len(fresh))
	for i, a := range fresh {
		o := out[i]
		switch {
		case a.URL == "":
			ready = append(ready, a)
		case !o.started:
			if deferred >= fullTextDeferMax {
				a.FullTextError = errFullTextDeferred.Error()
				ready = append(ready, a)
				continue
			}
			rec := s.noteFullTextFailure(ctx, log, a.ID, errFullTextDeferred)
			if rec.Attempts < fullTextAttempts && time.Since(rec.First) < fullTextRetryFor {
				deferred++
				continue
			}
			a.FullTextError = fmt.Sprintf("%s (%d times)", errFullTextDeferred, rec.Attempts)
			s.forgetFullText(ctx, a.ID)
			ready = append(ready, a)
		case o.err == nil:
			s.forgetFullText(ctx, a.ID)
			ready = append(ready, a)
		case fetcher.Permanent(o.err):
			a.FullTextError = o.err.Error()
			log.Warn("full text failed; classifying on the teaser", "url", a.URL, "err", o.err)
			ready = append(ready, a)
		default:
			rec := s.noteFullTextFailure(ctx, log, a.ID, o.err)
			if rec.Attempts < fullTextAttempts && time.Since(rec.First) < fullTextRetryFor {
				log.Info("full text failed; trying again at the next fetch", "url", a.URL, "attempt", rec.Attempts, "err", o.err)
				deferred++
				continue
			}
			a.FullTextError = fmt.Sprintf("%s (gave up after %d attempts)", o.err, rec.Attempts)
			log.Warn("full text failed; classifying on the teaser", "url", a.URL, "attempts", rec.Attempts, "err", o.err)
			s.forgetFullText(ctx, a.ID)
			ready = append(ready, a)
		}
	}
	if deferred > 0 {
		log.Warn("items left for the next fetch", "deferred", deferred, "budget", budget)
	}
	return ready, deferred
}

// ftOutcome is one item's full-text fetch: whether it started within the
// budget, and how it ended.
type ftOutcome struct {
	started bool
	err     error
}

// fetchPages fetches the pages of up to fullTextPerJob items on the
// full-text pool within budget, oldest first (feeds list the newest
// first): the items nearest to dropping off the feed get their pages
// before the others.
func (s *fetchStage) fetchPages(ctx context.Context, budget time.Duration, src config.Source, fresh []*news.Article) []ftOutcome {
	bctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	out := make([]ftOutcome, len(fresh))
	var wg sync.WaitGroup
	asked := 0
	for i := len(fresh) - 1; i >= 0; i-- {
		a := fresh[i]
		if a.URL == "" || asked == fullTextPerJob {
			continue
		}
		asked++
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case s.ftPool <- struct{}{}:
			case <-bctx.Done():
				return // never started: the next fetch tries it
			}
			defer func() { <-s.ftPool }()
			out[i].started = true
			out[i].err = s.fullText(bctx, src, a)
		}()
	}
	wg.Wait()
	return out
}

// fullText fetches a's page; a link on the scheme, host and port of a
// configured source is as trusted as that source.
func (s *fetchStage) fullText(ctx context.Context, src config.Source, a *news.Article) error {
	if s.trustedLink(src, a.URL) {
		return s.f.FullTextTrusted(ctx, a)
	}
	return s.f.FullText(ctx, a)
}

func (s *fetchStage) trustedLink(src config.Source, link string) bool {
	o := origin(link)
	if o == "" {
		return false
	}
	if origin(src.URL) == o {
		return true
	}
	if s.sources != nil {
		for _, c := range s.sources() {
			if origin(c.URL) == o {
				return true
			}
		}
	}
	return false
}

// origin is scheme://host:port of an http(s) URL, port made explicit; ""
// for anything else.
func origin(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return u.Scheme + "://" + strings.ToLower(strings.TrimSuffix(u.Hostname(), ".")) + ":" + port
}

// noteFullTextFailure counts one more failed attempt for an item. When the
// store cannot keep the count, the item counts as failed for good rather
// than be retried without end.
func (s *fetchStage) noteFullTextFailure(ctx context.Context, log *slog.Logger, id string, ferr error) ftRecord {
	ctx, cancel := context.WithTimeout(ctx, busTimeout)
	defer cancel()
	rec := ftRecord{First: time.Now().UTC()}
	if e, err := s.b.StoreKV().Get(ctx, ftKey(id)); err == nil {
		if err := json.Unmarshal(e.Value, &rec); err != nil {
			log.Warn("full-text attempts unreadable; counting from 1", "id", id, "err", err)
		}
	} else if !errors.Is(err, bus.ErrKeyNotFound) {
		log.Error("full-text attempts", "id", id, "err", err)
		return ftRecord{Attempts: fullTextAttempts, First: rec.First}
	}
	rec.Attempts++
	rec.Error = ferr.Error()
	data, _ := json.Marshal(rec)
	if _, err := s.b.StoreKV().Put(ctx, ftKey(id), data); err != nil {
		s.storeFailed(log, fmt.Errorf("full-text attempts of %s: %w", id, err))
		return ftRecord{Attempts: fullTextAttempts, First: rec.First}
	}
	return rec
}

// forgetFullText drops the failure count of an item, if it has one.
func (s *fetchStage) forgetFullText(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(ctx, busTimeout)
	defer cancel()
	if _, err := s.b.StoreKV().Get(ctx, ftKey(id)); err == nil {
		if err := s.b.StoreKV().Purge(ctx, ftKey(id)); err != nil {
			s.log.Warn("forget full-text attempts", "id", id, "err", err)
		}
	}
}
