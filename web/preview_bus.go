package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"newswatch/bus"
	"newswatch/news"
)

// BusArchive reads the article stream of b for the preview: only the
// messages after the last one read, and never more than the newest
// PreviewMaxArticles, each fetch with a deadline.
func BusArchive(b *bus.Bus) ArchiveReader {
	return func(ctx context.Context, after uint64, f func(seq uint64, at time.Time, a *news.Article) bool) error {
		str, err := b.JS.Stream(ctx, b.Names.ArticleStream)
		if err != nil {
			return fmt.Errorf("stream %s: %w", b.Names.ArticleStream, err)
		}
		info, err := str.Info(ctx)
		if err != nil {
			return fmt.Errorf("stream %s: %w", b.Names.ArticleStream, err)
		}
		st := info.State
		if st.Msgs == 0 || st.LastSeq <= after {
			return nil
		}
		start := max(after+1, st.FirstSeq)
		if st.LastSeq >= PreviewMaxArticles && start < st.LastSeq-PreviewMaxArticles+1 {
			start = st.LastSeq - PreviewMaxArticles + 1
		}
		cons, err := str.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
			DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:   start,
		})
		if err != nil {
			return fmt.Errorf("read %s: %w", b.Names.ArticleStream, err)
		}
		for {
			batch, err := cons.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
			if err != nil {
				return fmt.Errorf("read %s: %w", b.Names.ArticleStream, err)
			}
			n := 0
			for m := range batch.Messages() {
				n++
				md, err := m.Metadata()
				if err != nil {
					continue
				}
				var a news.Article
				if json.Unmarshal(m.Data(), &a) == nil && !f(md.Sequence.Stream, md.Timestamp, &a) {
					return nil
				}
				if md.Sequence.Stream >= st.LastSeq {
					return nil
				}
			}
			if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
				return fmt.Errorf("read %s: %w", b.Names.ArticleStream, err)
			}
			if n == 0 {
				return nil // the rest expired meanwhile
			}
		}
	}
}
