package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/fetcher"
	"newswatch/news"
)

const (
	// publishWindow is how many articles are published before their acks
	// are awaited: well under the client's limit of outstanding async
	// publishes (4,000), which a 100,000-item feed would otherwise hit.
	publishWindow = 256
	// defaultAckWait bounds the wait for one window's acks: a store that
	// cannot write (a full disk) fails the job instead of parking it.
	defaultAckWait = 30 * time.Second
	// busTimeout bounds every other call to the bus in the fetch path.
	busTimeout = 10 * time.Second
	// headerRoom is what a message's subject and headers may take of the
	// server's maximum payload.
	headerRoom = 1 << 10
	// minFieldBytes is where shrinking an article to fit a message stops:
	// below it the item is set aside instead.
	minFieldBytes = 4 << 10
)

// publishResult counts what publishArticles did with a feed's items.
type publishResult struct {
	New      int // articles stored for the first time
	SetAside int // items the store refused, marked seen with a WARN log
	Deferred int // items left unseen for the next fetch (full text)
}

// publishArticles publishes the articles not seen before. The order
// matters: publish (and wait for the stream's acks) first, then remember
// the ids as seen. A crash in between re-publishes on the next fetch and
// the stream's duplicate window drops the repeats; the reverse order
// would lose articles. Articles go out in windows of publishWindow, each
// awaited within ackWait, so that a feed costs a few round trips per
// window and a huge feed never overruns the client. One item the store
// refuses is set aside; its siblings go on. The counts are right up to
// the window that failed, when one does. The ids the source's last fetch
// found seen are not looked up again (seenMemo), and only the articles
// not seen before get their plain text (fetcher.FillText).
func (s *fetchStage) publishArticles(ctx context.Context, log *slog.Logger, src config.Source, arts []news.Article) (publishResult, error) {
	var res publishResult
	if len(arts) == 0 {
		// A 304 or an empty feed: what the memo holds stays right.
		return res, nil
	}
	fresh := make([]*news.Article, 0, len(arts))
	epoch := s.storeEpoch()
	known := s.memo.known(src.ID, epoch)
	seenNow := make([]uint64, 0, len(arts))
	for i := range arts {
		a := &arts[i]
		if a.ID == "" {
			a.ID = news.ArticleID(a.GUID, a.URL)
		}
		key := s.memo.key(a.ID)
		if has(known, key) {
			seenNow = append(seenNow, key)
			continue
		}
		seen, err := s.seen(ctx, a.ID)
		if err != nil {
			return res, err
		}
		if seen {
			seenNow = append(seenNow, key)
			continue
		}
		if err := fetcher.FillText(a); err != nil {
			stack, _ := fetcher.PanicStack(err)
			log.Error("making the text of an item failed; its HTML is used as its text. Please report this bug with the stack",
				"id", a.ID, "url", a.URL, "err", err, "stack", stack)
			s.m.Panicked("parse")
		}
		fresh = append(fresh, a)
	}
	if len(fresh) > 0 && src.FullText {
		fresh, res.Deferred = s.fullTexts(ctx, log, src, fresh)
	}
	now := time.Now().UTC()
	for start := 0; start < len(fresh); start += publishWindow {
		n, aside, err := s.publishWindow(ctx, log, src, fresh[start:min(start+publishWindow, len(fresh))], now)
		res.New += n
		res.SetAside += aside
		if err != nil {
			return res, err
		}
	}
	// Every article kept is now marked seen (stored or set aside); the
	// deferred ones were not kept.
	for _, a := range fresh {
		seenNow = append(seenNow, s.memo.key(a.ID))
	}
	var configured []config.Source
	if s.sources != nil {
		configured = s.sources()
	}
	s.memo.remember(src.ID, seenNow, configured, epoch)
	return res, nil
}

// storeEpoch changes whenever the seen bucket may have lost ids it was
// told (see seenMemo): at each reconnect to a server, and when data is
// found lost in the bucket.
func (s *fetchStage) storeEpoch() uint64 {
	return s.b.Reconnects() + s.b.Health.LostIn("KV_"+s.b.Names.SeenBucket)
}

func (s *fetchStage) seen(ctx context.Context, id string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, busTimeout)
	defer cancel()
	_, err := s.b.SeenKV().Get(ctx, id)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, bus.ErrKeyNotFound):
		return false, nil
	}
	return false, fmt.Errorf("seen %s: %w", id, err)
}

// publishWindow publishes arts, waits for their acks, then marks them seen.
func (s *fetchStage) publishWindow(ctx context.Context, log *slog.Logger, src config.Source, arts []*news.Article, now time.Time) (n, aside int, err error) {
	type sent struct {
		a *news.Article
		f *bus.PendingAck
	}
	futures := make([]sent, 0, len(arts))
	done := make([]*news.Article, 0, len(arts)) // stored or set aside: seen
	setAside := func(a *news.Article, why error) {
		aside++
		done = append(done, a)
		s.m.SetAside(src.ID)
		log.Warn("article set aside: the store cannot take it", "id", a.ID, "url", a.URL, "err", why)
	}
	for _, a := range arts {
		a.V = news.Version
		a.Source = src.ID
		if a.Fetched.IsZero() {
			a.Fetched = now
		}
		data, err := s.encode(a)
		if err != nil {
			setAside(a, err)
			continue
		}
		f, err := s.b.PublishAsync(s.b.Names.ArticleSubject(src.ID), data, a.ID)
		if bus.TooLarge(err) {
			setAside(a, err)
			continue
		}
		if err != nil {
			return n, aside, fmt.Errorf("publish article %s: %w", a.ID, err)
		}
		futures = append(futures, sent{a, f})
	}
	wctx, cancel := context.WithTimeoutCause(ctx, s.ackWait, fmt.Errorf("no ack from the store within %s", s.ackWait))
	defer cancel()
	var failed error
wait:
	for _, p := range futures {
		ack, err := p.f.Wait(wctx)
		switch {
		case err == nil:
			done = append(done, p.a)
			if !ack.Duplicate {
				n++
				s.m.Published(src.ID)
			}
		case bus.TooLarge(err):
			setAside(p.a, err)
		default:
			failed = fmt.Errorf("publish articles of %s: %w", src.ID, err)
			break wait
		}
	}
	// What was stored is marked seen even when the window failed part
	// way: a repeat would be dropped by the duplicate window, but need
	// not be sent at all.
	if err := s.markSeen(ctx, src, done); err != nil && failed == nil {
		failed = err
	}
	return n, aside, failed
}

// markSeen writes the ids of arts to the seen bucket and waits for the acks.
func (s *fetchStage) markSeen(ctx context.Context, src config.Source, arts []*news.Article) error {
	if len(arts) == 0 {
		return nil
	}
	futures := make([]*bus.PendingAck, 0, len(arts))
	for _, a := range arts {
		f, err := s.b.PublishAsync(s.b.Names.SeenKey(a.ID), []byte(src.ID), "")
		if err != nil {
			return fmt.Errorf("mark %s seen: %w", a.ID, err)
		}
		futures = append(futures, f)
	}
	if err := awaitAcks(ctx, futures, s.ackWait); err != nil {
		return fmt.Errorf("mark articles of %s seen: %w", src.ID, err)
	}
	return nil
}

// encode caps a's text fields (news.MaxFieldBytes each) and encodes it;
// an article still too large for one message loses its HTML copies, then
// ever more of its text, down to minFieldBytes a field.
func (s *fetchStage) encode(a *news.Article) ([]byte, error) {
	a.Cap(0)
	limit := int64(1 << 20)
	if mp := s.b.MaxPayload(); mp > 0 {
		limit = mp
	}
	limit -= headerRoom
	field := news.MaxFieldBytes
	for {
		data, err := json.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("encode article %s: %w", a.ID, err)
		}
		if int64(len(data)) <= limit {
			return data, nil
		}
		switch {
		case a.SummaryHTML != "" || a.ContentHTML != "":
			a.SummaryHTML, a.ContentHTML, a.Truncated = "", "", true
		case field > minFieldBytes:
			field /= 2
			a.Cap(field)
		default:
			return nil, fmt.Errorf("article %s: %d bytes encoded, more than a message holds (%d)", a.ID, len(data), limit)
		}
	}
}

// awaitAcks waits for every future, for at most wait in all; it fails on
// the first error.
func awaitAcks(ctx context.Context, futures []*bus.PendingAck, wait time.Duration) error {
	ctx, cancel := context.WithTimeoutCause(ctx, wait, fmt.Errorf("no ack from the store within %s", wait))
	defer cancel()
	for _, f := range futures {
		if _, err := f.Wait(ctx); err != nil {
			return err
		}
	}
	return nil
}
